"""Journeys 3, 4 and 5: the lay summary and its review; the participant offer, a certificate
rendered by the worker and checked on the public verify page; the compliance officer's
portfolio report (PDF and CSV)."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

from pypdf import PdfReader

from tests.browser.test_journey_claims import OWN, OWN_TITLE, SETUP, claim_first_result

LAY_SUMMARY = """Lay summary of the raltegravir and amlodipine trial

Why was the trial done? Some people take two medicines: one for HIV and one for blood pressure. We
wanted to see whether the two medicines change each other in the body.

When and where? The trial ran in London in 2013.

Who took part? Healthy adults took part.

What were they given? Each person took one medicine, then both medicines together.

What were the main results? The medicines did not change each other much.

Side effects: a few people had mild headaches.

How has this trial helped? Doctors know the two medicines can be taken together.

Where can I find more? See ClinicalTrials.gov NCT01841593.
"""

PROFILE = """
from werkzeug.security import generate_password_hash
from portal.extensions import db
from portal.models import Membership, Organisation, User
from portal.timeutil import utcnow
org = db.session.execute(db.select(Organisation)).scalars().first()
user = User(email="officer@ststephens.example", full_name="Olu Officer",
            email_confirmed_at=utcnow(), password_hash=generate_password_hash("a long password"))
db.session.add(user); db.session.flush()
db.session.add(Membership(user_id=user.id, organisation_id=org.id, role="compliance_officer"))
db.session.commit()
"""


def _claimed(journey) -> None:
    journey.server.python(SETUP)
    journey.server.python(PROFILE)
    journey.server.flask("trials", "import", str(OWN))
    journey.login("sponsor@ststephens.example", "a long password")
    journey.go("/trials/find")
    journey.fill("Registry id, title or sponsor name", "NCT01841593")
    journey.click("Search")
    claim_first_result(journey)
    journey.check()


def _upload_summary(journey, text: str) -> None:
    journey.page.get_by_role("link", name="Upload the lay summary").or_(
        journey.page.get_by_role("link", name="Upload a new version of the lay summary")
    ).first.click()
    journey.check()
    journey.page.get_by_label("Upload the lay summary").set_input_files(
        files=[{"name": "summary.md", "mimeType": "text/markdown", "buffer": text.encode()}]
    )
    journey.click("Upload and check")


def test_lay_summary_is_reviewed_changed_and_approved(journey):
    _claimed(journey)
    _upload_summary(journey, "The pharmacokinetic endpoints were met.\n")
    journey.screenshot("readability-report")
    assert "pharmacokinetic" in journey.text().lower()
    journey.click("Send version 1 for review")
    journey.logout()

    journey.login("reviewer@hra.example", "a long password")
    journey.go("/review/queue")
    journey.screenshot("queue")
    journey.page.get_by_role("link", name="Lay summary").first.click()
    journey.check()
    journey.page.get_by_label("Request changes").check()
    journey.click("Save decision")
    assert (
        "Required when you request changes" in journey.text() or "comment" in journey.text().lower()
    )
    journey.page.get_by_label("Request changes").check()
    journey.page.get_by_label("Comment for the sponsor").fill(
        "Please explain the results in plain words."
    )
    journey.click("Save decision")
    journey.logout()

    journey.login("sponsor@ststephens.example", "a long password")
    journey.go("/trials")
    journey.link(OWN_TITLE)
    assert "Please explain the results in plain words." in journey.text()
    journey.screenshot("sponsor-sees-comment")
    _upload_summary(journey, LAY_SUMMARY)
    journey.click("Send version 2 for review")
    journey.logout()

    journey.login("reviewer@hra.example", "a long password")
    journey.go("/review/queue")
    journey.page.get_by_role("link", name="Lay summary").first.click()
    journey.check()
    journey.page.get_by_label("Approve").check()
    journey.click("Save decision")
    journey.screenshot("approved")
    assert "Approved" in journey.text()


def _wait_for(journey, text: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while text not in journey.text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} did not appear: {journey.text()[:800]}")
        time.sleep(1)
        journey.page.reload()


def test_offer_certificate_and_public_verification(journey):
    _claimed(journey)
    journey.link("Record how participants were offered the results")
    group = journey.page.get_by_role("group", name="Date participants were offered the results")
    group.get_by_label("Day").fill("2")
    group.get_by_label("Month").fill("11")
    group.get_by_label("Year").fill("2026")
    journey.page.get_by_label("Letter").check()
    journey.page.get_by_label("Participants", exact=True).check()
    journey.page.get_by_label("Or upload the summary that was sent").set_input_files(
        files=[{"name": "sent.txt", "mimeType": "text/plain", "buffer": LAY_SUMMARY.encode()}]
    )
    journey.click("Record the offer")
    journey.screenshot("offer-recorded")

    journey.page.get_by_role("button", name="Make a compliance certificate").click()
    journey.check("certificate-queued")
    _wait_for(journey, "Download the certificate (PDF)")
    journey.screenshot("certificate-ready")
    serial = journey.page.locator("strong.app-code").first.inner_text()
    with journey.page.expect_download() as download_info:
        journey.page.get_by_role("link", name="Download the certificate (PDF)").click()
    pdf = Path(download_info.value.path()).read_bytes()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert serial in text and "Raltegravir" in text
    journey.logout()

    journey.go(f"/verify/{serial}")
    journey.screenshot("verify")
    assert hashlib.sha256(pdf).hexdigest() in journey.text()
    journey.page.get_by_label("Upload the certificate PDF to check it").set_input_files(
        files=[{"name": "c.pdf", "mimeType": "application/pdf", "buffer": pdf}]
    )
    journey.click("Check the file")
    assert "The file matches" in journey.text()
    journey.page.get_by_label("Upload the certificate PDF to check it").set_input_files(
        files=[
            {"name": "c.pdf", "mimeType": "application/pdf", "buffer": pdf[:-10] + b"%%EOF\n   "}
        ]
    )
    journey.click("Check the file")
    assert "The file does not match" in journey.text()
    journey.screenshot("verify-mismatch")


def test_compliance_officer_downloads_the_portfolio_report(journey):
    _claimed(journey)
    journey.logout()
    journey.login("officer@ststephens.example", "a long password")
    journey.go("/reports")
    journey.click("Make the report")
    journey.check("report-queued")
    _wait_for(journey, "Ready", seconds=90)
    journey.screenshot("report-ready")
    with journey.page.expect_download() as pdf_info:
        journey.page.get_by_role("link", name="Download the report (PDF)").click()
    reader = PdfReader(io.BytesIO(Path(pdf_info.value.path()).read_bytes()))
    assert "Raltegravir" in "".join(p.extract_text() for p in reader.pages)
    with journey.page.expect_download() as csv_info:
        journey.page.get_by_role("link", name="Download the data (CSV)").click()
    assert "NCT01841593" in Path(csv_info.value.path()).read_text(encoding="utf-8")
