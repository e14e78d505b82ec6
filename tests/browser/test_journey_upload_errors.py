"""Journey: a sponsor's uploads that are refused come back to the form with the message beside the
field (issue 18): a file over the 11 MB request limit, and a text file named like a PDF."""

from __future__ import annotations

SETUP = """
from werkzeug.security import generate_password_hash
from portal.extensions import db
from portal.models import Membership, Organisation, User
from portal.timeutil import utcnow
from tests.factories import trial
org = Organisation(name="Upload Trials Unit", email_domains=["upload.example"],
                   sponsor_names=["Upload Trials Unit"], status="approved")
db.session.add(org); db.session.flush()
user = User(email="sponsor@upload.example", full_name="Sam Sponsor", email_confirmed_at=utcnow(),
            password_hash=generate_password_hash("a long password"))
db.session.add(user); db.session.flush()
db.session.add(Membership(user_id=user.id, organisation_id=org.id, role="sponsor"))
db.session.commit()
print(trial(title="The Breathwell asthma trial", owner=org).id)
"""


def _choose(journey, name: str, data: bytes, mime: str) -> None:
    journey.page.get_by_label("Upload the lay summary").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )
    journey.click("Upload and check")


def _error_beside_the_field(journey) -> str:
    """The message shown beside the file field, after checking the summary links to it."""
    summary = journey.page.locator(".govuk-error-summary")
    assert summary.is_visible()
    assert summary.get_by_role("link").first.get_attribute("href") == "#file"
    return journey.page.locator("#file-error").inner_text()


def test_refused_uploads_come_back_to_the_form_with_the_reason(journey):
    trial_id = journey.server.python(SETUP).strip().splitlines()[-1]
    journey.login("sponsor@upload.example", "a long password")
    journey.go(f"/trials/{trial_id}/summaries/new")

    _choose(journey, "big.txt", b"A" * (11 * 1024 * 1024 + 10), "text/plain")
    journey.check("too-large")
    assert journey.page.get_by_role("heading", name="Upload the lay summary").is_visible()
    assert "The selected file must be smaller than 10 MB" in _error_beside_the_field(journey)

    summary = b"We gave people a new medicine for asthma. It helped them breathe.\n"
    _choose(journey, "fake.pdf", summary, "application/pdf")
    journey.check("wrong-kind")
    message = _error_beside_the_field(journey)
    assert "name ends in .pdf, but it holds plain text, not a PDF" in message

    _choose(journey, "summary.txt", summary, "text/plain")
    journey.check("short-summary")
    text = journey.text()
    assert "Version 1 uploaded" in text
    assert "Too short to score." in text and "meets the target" not in text.lower()
