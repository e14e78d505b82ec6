"""Trial certificates: requested from the trial page, rendered by a real RQ worker, downloaded,
read back with pypdf, superseded, revoked, and checked on the public verify page."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.extensions import db
from portal.models import AuditEvent, BackgroundJob, Certificate
from portal.timeutil import today
from tests.certificates.helpers import certificate_rows, obligation, pdf_text, request_certificate
from tests.factories import PASSWORD, OrganisationFactory, member, staff, trial


def _signed_in(browser, role="sponsor", org=None, **kwargs):
    org = org or OrganisationFactory(name="Northfield NHS Trust")
    user = member(role, org, **kwargs)
    browser.login(user.email, PASSWORD)
    return user, org


def test_a_sponsor_gets_a_certificate_that_states_the_trials_duties_and_verdict(
    browser, work, tmp_path
):
    user, org = _signed_in(browser, full_name="Dr Ada Lovelace")
    t = trial(title="Aspirin after stroke", sponsor_name="Northfield NHS Trust", owner=org)
    obligation(t, "UK-REG", "met", due=date(2026, 5, 10), met_on="2026-05-01")
    obligation(t, "UK-RES", "overdue")

    html = browser.get(f"/trials/{t.id}").get_data(as_text=True)
    assert "Make a compliance certificate" in html
    response = request_certificate(browser, t.id)
    assert response.status_code == 302
    page = browser.get(response.location).get_data(as_text=True)
    assert "Queued" in page and 'data-poll-ms="2000"' in page

    [cert] = certificate_rows()
    assert re.fullmatch(r"TTP-[0-9A-Z]{5}(-[0-9A-Z]{5}){3}", cert.serial)
    assert cert.statement["verdict"]["text"] == "not compliant: 1 outstanding"
    assert db.session.get(BackgroundJob, cert.job_id).enqueued

    cert_id = cert.id
    work()
    page = browser.get(f"/certificates/{cert_id}").get_data(as_text=True)
    assert "http-equiv" not in page and "Download the certificate" in page
    cert = certificate_rows()[0]
    assert cert.status == "ready" and cert.sha256 in page

    download = browser.get(f"/certificates/{cert.id}/certificate.pdf")
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    data = download.get_data()
    assert hashlib.sha256(data).hexdigest() == cert.sha256
    text = pdf_text(data)
    for expected in (
        "Aspirin after stroke",
        "NCT",
        "Northfield NHS Trust",
        "NOT COMPLIANT: 1 outstanding",
        "UK-RES",
        "OVERDUE",
        "UK-REG",
        "Met on 1 May 2026",
        "uk-2026.1",
        "One deferral lasts: 30 months",
        "Dr Ada Lovelace",
        cert.serial,
        f"http://localhost/verify/{cert.serial}",
        f"Certificate {cert.serial}, page 1 of 2",  # the stylesheet's page footer
    ):
        assert expected in text, expected

    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata.title.startswith(f"Compliance certificate {cert.serial}")
    assert reader.trailer["/Root"]["/Lang"] == "en-GB"
    assert reader.trailer["/Root"]["/MarkInfo"]["/Marked"]  # tagged PDF
    assert "/StructTreeRoot" in reader.trailer["/Root"]
    assert reader.trailer["/Root"]["/ViewerPreferences"]["/DisplayDocTitle"]
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b'pdfuaid:part="1"' in xmp  # identifies itself as PDF/UA-1
    width, height = (float(v) for v in reader.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    assert _qr_modules(reader) == _expected_qr(f"http://localhost/verify/{cert.serial}")

    pdf_file = tmp_path / "certificate.pdf"
    pdf_file.write_bytes(data)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf_file), str(tmp_path / "p")],
        check=True,
        timeout=60,
    )
    [png] = list(tmp_path.glob("p*.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000

    actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert ["certificate.requested", "certificate.rendering", "certificate.issued"] == [
        a for a in actions if a.startswith("certificate.")
    ]


def _qr_modules(reader: PdfReader) -> list[list[bool]]:
    """The QR code drawn on the first page, read back from the PDF's one image as dark modules
    (the image has 4 pixels a module and a 2-module margin: workers/pdf_render.qr_png_data_url)."""
    [image] = reader.pages[0].images
    grey = image.image.convert("L")
    size = grey.width // 4
    assert grey.size == (size * 4, size * 4)
    return [[grey.getpixel((x * 4 + 2, y * 4 + 2)) < 128 for x in range(size)] for y in range(size)]


def _expected_qr(url: str) -> list[list[bool]]:
    """The modules of the QR code of ``url`` (error correction M) with a 2-module margin."""
    import segno

    from workers.pdf_render import QR_MASK

    matrix = [[bool(m) for m in row] for row in segno.make(url, error="m", mask=QR_MASK).matrix]
    width = len(matrix) + 4
    blank = [[False] * width for _ in range(2)]
    return blank + [[False, False, *row, False, False] for row in matrix] + blank


def test_a_trial_with_nothing_overdue_or_missing_is_compliant_as_of_the_date(browser, work):
    user, org = _signed_in(browser, "compliance_officer")
    t = trial(title="Everything on time", owner=org)
    obligation(t, "UK-REG", "met", due=date(2026, 5, 10), met_on="2026-05-01")
    obligation(t, "UK-RES", "upcoming", due=today() + timedelta(days=200))
    obligation(t, "US-RES", "deferred", due=today() + timedelta(days=900), ruleset="us-fdaaa")
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    expected = f"compliant as of {today().day} {today():%B %Y}"
    assert (cert.compliant, cert.statement["verdict"]["text"]) == (True, expected)
    cert_id = cert.id
    work()
    text = pdf_text(browser.get(f"/certificates/{cert_id}/certificate.pdf").get_data())
    assert "COMPLIANT" in text and "NOT COMPLIANT" not in text
    assert "COMPLIANT" + expected[len("compliant") :] in text
    assert "Compliant: compliant" not in text and "COMPLIANT: Compliant" not in text
    assert "United States: FDAAA 801" in text and "DEFERRED" in text


def test_a_trial_whose_duties_are_not_worked_out_is_not_compliant(browser):
    user, org = _signed_in(browser)
    t = trial(title="No facts yet", owner=org)
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    assert cert.statement["verdict"]["text"] == "not compliant: 1 outstanding"
    assert "not been worked out" in cert.statement["verdict"]["outstanding"][0]["reason"]


def test_an_open_duty_whose_due_date_has_passed_since_its_verdict_counts_as_overdue(browser):
    user, org = _signed_in(browser)
    t = trial(owner=org)
    obligation(t, "UK-END", "due_soon", due=today() - timedelta(days=2))
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    [ob] = cert.statement["obligations"]
    assert (ob["status"], ob["days_overdue"]) == ("overdue", 2)
    assert cert.statement["verdict"]["text"] == "not compliant: 1 outstanding"


def test_asking_twice_while_one_is_pending_reuses_it(browser):
    user, org = _signed_in(browser)
    t = trial(owner=org)
    obligation(t)
    first = request_certificate(browser, t.id)
    second = request_certificate(browser, t.id)
    assert first.location == second.location
    page = browser.get(second.location).get_data(as_text=True)
    assert "already being made" in page
    assert len(certificate_rows()) == 1
    assert db.session.query(BackgroundJob).count() == 1


def _issue(browser, work, trial_id: int) -> Certificate:
    request_certificate(browser, trial_id)
    cert_id = certificate_rows()[-1].id
    work()
    return db.session.get(Certificate, cert_id)


def test_a_new_certificate_supersedes_the_old_and_the_verify_page_says_which_is_current(
    app, client, browser, work
):
    user, org = _signed_in(browser)
    t = trial(title="Superseded trial", owner=org)
    obligation(t)
    trial_id = t.id
    old = _issue(browser, work, trial_id)
    old_id, old_serial, old_sha = old.id, old.serial, old.sha256
    old_pdf = browser.get(f"/certificates/{old_id}/certificate.pdf").get_data()
    new = _issue(browser, work, trial_id)
    new_id, new_serial = new.id, new.serial
    new_pdf = browser.get(f"/certificates/{new_id}/certificate.pdf").get_data()
    db.session.expire_all()
    assert db.session.get(Certificate, old_id).superseded_by_id == new_id
    assert db.session.query(AuditEvent).filter_by(action="certificate.superseded").count() == 1
    browser.logout()

    page = client.get(f"/verify/{old_serial}").get_data(as_text=True)
    assert "Superseded" in page and new_serial in page and old_sha in page
    assert "cannot contain its own fingerprint" in page
    page = client.get(f"/verify/{new_serial}").get_data(as_text=True)
    assert "Current" in page and "Superseded trial" in page

    from tests.conftest import csrf_token_from

    token = csrf_token_from(page)
    url = f"/verify/{old_serial}"

    def upload(data: bytes, name: str = "c.pdf"):
        # Encoded here, in memory: the test client's own encoder leaves a temporary file open
        # for large bodies (a ResourceWarning, which is an error in this suite).
        upload = FileStorage(io.BytesIO(data), filename=name, content_type="application/pdf")
        boundary, body = encode_multipart({"csrf_token": token, "file": upload})
        return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")

    response = upload(old_pdf)
    assert response.status_code == 200 and "The file matches" in response.get_data(as_text=True)
    response = upload(new_pdf)
    assert response.status_code == 200
    assert "The file does not match" in response.get_data(as_text=True)
    response = upload(b"GIF89a not a pdf", "c.gif")
    assert response.status_code == 400
    assert "The file must be a PDF" in response.get_data(as_text=True)
    response = upload(b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024 + 10))
    assert response.status_code == 400
    assert "smaller than 10 MB" in response.get_data(as_text=True)
    response = upload(b"%PDF-1.7\n" + b"0" * (12 * 1024 * 1024))  # over the app's own limit
    assert response.status_code == 413 and "too large" in response.get_data(as_text=True)
    response = client.post(url, data={"csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Select the certificate PDF file" in response.get_data(as_text=True)
    response = client.post(
        url, data={"file": (io.BytesIO(old_pdf), "c.pdf")}, content_type="multipart/form-data"
    )
    assert response.status_code == 400  # no CSRF token


def test_a_reviewer_revokes_a_certificate_with_a_reason_and_everyone_sees_it(client, browser, work):
    user, org = _signed_in(browser)
    t = trial(owner=org)
    obligation(t)
    cert = _issue(browser, work, t.id)
    cert_id, serial = cert.id, cert.serial
    page = browser.get(f"/certificates/{cert_id}").get_data(as_text=True)
    assert "Revoke this certificate" not in page
    response = browser.post(
        f"/certificates/{cert_id}/revoke", {"reason": "x"}, token_from=f"/certificates/{cert_id}"
    )
    assert response.status_code == 403
    browser.logout()

    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    url = f"/certificates/{cert_id}"
    response = browser.post(f"{url}/revoke", {"reason": "  "}, token_from=url)
    assert response.status_code == 400
    assert "Enter the reason for revoking" in response.get_data(as_text=True)
    response = browser.post(f"{url}/revoke", {"reason": "Facts were wrong"}, token_from=url)
    assert response.status_code == 302
    cert = db.session.get(Certificate, cert_id)
    assert cert.revoked_reason == "Facts were wrong" and cert.revoked_at is not None
    event = db.session.query(AuditEvent).filter_by(action="certificate.revoked").one()
    assert (event.actor_id, event.after["reason"]) == (reviewer.id, "Facts were wrong")
    browser.logout()

    page = client.get(f"/verify/{serial}").get_data(as_text=True)
    assert "Revoked" in page and "Facts were wrong" in page


def test_unknown_and_unissued_serials_are_not_found_on_the_verify_page(client, browser):
    user, org = _signed_in(browser)
    t = trial(owner=org)
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    browser.logout()
    for serial in (cert.serial, "TTP-00000-00000-00000-00000", "x" * 300):
        response = client.get(f"/verify/{serial}")
        assert response.status_code == 404
        assert "No certificate with this serial" in response.get_data(as_text=True)
    lower = client.get(f"/verify/{cert.serial.lower()}")
    assert lower.status_code == 404  # not issued yet, whatever the case


def test_another_organisations_certificates_are_not_found(browser, work):
    user, org = _signed_in(browser)
    t = trial(owner=org)
    obligation(t)
    trial_id = t.id
    cert = _issue(browser, work, trial_id)
    cert_id, serial = cert.id, cert.serial
    browser.logout()

    outsider = member("compliance_officer", OrganisationFactory())
    browser.login(outsider.email, PASSWORD)
    for url in (f"/certificates/{cert_id}", f"/certificates/{cert_id}/certificate.pdf"):
        assert browser.client.get(url).status_code == 404
    token_page = "/reports"
    assert browser.post(f"/certificates/{cert_id}/retry", token_from=token_page).status_code == 404
    assert (
        browser.post(f"/trials/{trial_id}/certificates", token_from=token_page).status_code == 404
    )
    browser.logout()

    colleague = member("compliance_officer", org)
    browser.login(colleague.email, PASSWORD)
    assert browser.client.get(f"/certificates/{cert_id}/certificate.pdf").status_code == 200
    html = browser.get(f"/trials/{trial_id}").get_data(as_text=True)
    assert serial in html and "Current" in html


def test_anonymous_users_are_sent_to_sign_in_and_posts_need_a_csrf_token(client, browser):
    user, org = _signed_in(browser)
    t = trial(owner=org)
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    for url in (f"/trials/{t.id}/certificates", f"/certificates/{cert.id}/retry"):
        assert browser.client.post(url).status_code == 400  # signed in, but no token
    browser.logout()
    for url in (f"/certificates/{cert.id}", f"/certificates/{cert.id}/certificate.pdf"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location


def test_issuing_is_once_only_and_a_second_rendering_gives_the_same_bytes(browser):
    from portal.services.certificates import issue
    from workers.pdf import certificate_html, certificate_pdf

    user, org = _signed_in(browser)
    t = trial(owner=org)
    obligation(t)
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    first = certificate_pdf(certificate_html(cert), cert.serial)
    second = certificate_pdf(certificate_html(cert), cert.serial)
    assert first == second  # a job run twice issues the same file, with the same SHA-256

    assert issue(cert.id, first) is True
    assert issue(cert.id, second) is False  # the second execution records nothing
    [cert] = certificate_rows()
    assert cert.status == "ready" and cert.sha256 == hashlib.sha256(first).hexdigest()
    assert db.session.query(AuditEvent).filter_by(action="certificate.issued").count() == 1


def test_the_certificate_stylesheet_is_parsed_once_and_a_missing_one_fails_the_render():
    from workers.pdf_render import RenderError, stylesheet

    assert stylesheet("certificate.css") is stylesheet("certificate.css")
    with pytest.raises(RenderError):
        stylesheet("missing.css")
