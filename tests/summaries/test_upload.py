"""Uploading a lay summary through the pages: each file type, refusals that store nothing,
safe display of the text, and downloads for authorised users only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.domain.summaries.extract import MAX_BYTES
from portal.extensions import db
from portal.models import AuditEvent, StoredFile, SummaryVersion
from tests.factories import PASSWORD, member, staff
from tests.summaries.helpers import (
    LAY_SUMMARY,
    count,
    docx_bytes,
    nothing_stored,
    pdf_bytes,
    sponsor_with_trial,
    upload,
    zip_bomb,
)

MARKDOWN = "# Why was the trial done?\n\n" + LAY_SUMMARY


@pytest.fixture
def sponsor(app, browser):
    org, user, trial = sponsor_with_trial()
    browser.login(user.email, PASSWORD)
    return org, user, trial


@pytest.mark.parametrize(
    "make, name, kind, content_type",
    [
        (pdf_bytes, "summary.pdf", "pdf", "application/pdf"),
        (docx_bytes, "summary.docx", "docx", "wordprocessingml"),
        (lambda: LAY_SUMMARY.encode(), "summary.txt", "text", "text/plain"),
        (lambda: MARKDOWN.encode(), "summary.md", "markdown", "text/markdown"),
    ],
    ids=["pdf", "docx", "text", "markdown"],
)
def test_each_file_type_is_read_scored_and_shown(sponsor, browser, make, name, kind, content_type):
    _org, _user, trial = sponsor
    response = upload(browser, trial.id, make(), name, follow=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Version 1 uploaded" in html
    assert "Flesch reading ease" in html and "Flesch-Kincaid grade" in html and "SMOG" in html
    assert "120 adults with asthma took part." in html  # the extracted text, shown
    assert "Side effects" in html and "Found" in html  # the checklist
    assert "placebo" in html  # jargon from the starter list
    version = db.session.execute(sa.select(SummaryVersion)).scalar_one()
    assert version.version == 1 and version.status == "draft"
    assert version.readability["kind"] == kind and version.word_count > 100
    assert content_type in version.file.content_type
    assert db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "summary.uploaded")
    ).scalar_one()


def test_a_pdf_renamed_txt_is_refused_because_its_content_does_not_match(sponsor, browser):
    _org, _user, trial = sponsor
    html = upload(browser, trial.id, pdf_bytes(), "innocent.txt").get_data(as_text=True)
    assert "There is a problem" in html
    assert "The file&#39;s name ends in .txt, but it holds a PDF, not plain text." in html
    assert nothing_stored()


def test_a_text_file_named_pdf_is_refused_with_the_reason_beside_the_field(sponsor, browser):
    _org, _user, trial = sponsor
    response = upload(browser, trial.id, LAY_SUMMARY.encode(), "fake.pdf")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    message = "The file&#39;s name ends in .pdf, but it holds plain text, not a PDF."
    assert message in html
    # beside the field (GOV.UK error message) and linked from the error summary
    assert 'id="file-error"' in html and 'href="#file"' in html
    assert nothing_stored()


def test_a_file_with_no_ending_is_judged_by_its_content(sponsor, browser):
    _org, _user, trial = sponsor
    upload(browser, trial.id, pdf_bytes(), "lay summary")
    version = db.session.execute(sa.select(SummaryVersion)).scalar_one()
    assert version.readability["kind"] == "pdf"
    assert version.file.original_name == "lay summary.pdf"


def test_an_upload_over_the_request_limit_comes_back_to_the_form(sponsor, browser, app):
    _org, _user, trial = sponsor
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = upload(browser, trial.id, b"A" * (limit + 1), "big.txt")
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "Upload the lay summary" in html and 'enctype="multipart/form-data"' in html
    assert 'id="file-error"' in html
    assert "The selected file must be smaller than 10 MB" in html
    assert nothing_stored()


def test_an_offer_over_the_request_limit_comes_back_to_the_offer_form(sponsor, browser, app):
    from tests.summaries.helpers import post_multipart

    _org, _user, trial = sponsor
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = post_multipart(
        browser,
        f"/trials/{trial.id}/participant-offer",
        {"method": "letter"},
        {"file": (b"A" * (limit + 1), "sent.txt")},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "Record the offer" in html and 'id="file-error"' in html
    assert "smaller than 10 MB" in html and "Enter your answers again" in html


def test_an_outsider_over_the_request_limit_gets_the_plain_page(sponsor, browser, app):
    _org, _user, trial = sponsor
    browser.logout()
    browser.login(member("sponsor").email, PASSWORD)
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = browser.client.post(
        f"/trials/{trial.id}/summaries/new",
        data=b"A" * (limit + 1),
        content_type="multipart/form-data; boundary=x",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 413 and "The file is too large" in html
    assert trial.title not in html


BAD_FILES = [
    (pdf_bytes(password="secret"), "summary.pdf", "The PDF is password-protected"),
    (b"%PDF-1.4\n1 0 obj <<>> broken", "summary.pdf", "The PDF could not be read"),
    (b"", "summary.txt", "The selected file is empty"),
    (b"   \n", "blank.txt", "The file has no text in it."),
    (zip_bomb(), "summary.docx", "expands to far more data than a lay summary"),
    (b"A" * (MAX_BYTES + 100), "big.txt", "The selected file must be smaller than 10 MB"),
    (b"\xff\xfe\x00\x01binary", "summary.pdf", "The file type is not accepted"),
    (b"Some words.", "summary.html", "Files whose names end in .html are not accepted"),
    (docx_bytes(), "summary.pdf", "it holds a Word document (DOCX), not a PDF"),
]


def test_bad_files_get_a_clear_message_and_nothing_is_stored(sponsor, browser, app):
    _org, _user, trial = sponsor
    for data, name, message in BAD_FILES:
        response = upload(browser, trial.id, data, name)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, message
        assert "There is a problem" in html and message in html, message
    assert nothing_stored()
    from pathlib import Path

    assert not [p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file()]
    response = browser.submit(f"/trials/{trial.id}/summaries/new", {})
    assert "Select the file with the lay summary" in response.get_data(as_text=True)


def test_markup_in_a_text_file_is_shown_escaped_never_run(sponsor, browser):
    _org, _user, trial = sponsor
    data = b"<script>alert(1)</script>\n<b>Results</b> were good. The medicine worked."
    html = upload(browser, trial.id, data, "x.txt", follow=True).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Results&lt;/b&gt;" in html


def test_markdown_is_shown_as_text_not_rendered(sponsor, browser):
    _org, _user, trial = sponsor
    data = b"# Results\n\nPeople had **fewer** attacks. [link](javascript:alert(1))\n"
    html = upload(browser, trial.id, data, "x.md", follow=True).get_data(as_text=True)
    assert "**fewer**" in html and "<strong>fewer</strong>" not in html
    assert 'href="javascript' not in html


def test_the_file_downloads_as_an_attachment_of_the_right_type(sponsor, browser):
    _org, _user, trial = sponsor
    data = pdf_bytes()
    upload(browser, trial.id, data, "Lay summary.pdf")
    version = db.session.execute(sa.select(SummaryVersion)).scalar_one()
    response = browser.get(f"/trials/{trial.id}/summaries/{version.id}/download")
    assert response.data == data
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "Lay summary-v1.pdf" in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response.headers["Cache-Control"]


def test_the_stored_file_is_outside_static_and_named_by_its_hash(sponsor, browser, app):
    _org, _user, trial = sponsor
    upload(browser, trial.id, LAY_SUMMARY.encode(), "a.txt")
    stored = db.session.execute(sa.select(StoredFile)).scalar_one()
    from portal.services.files import path_for

    assert path_for(stored.sha256).is_file()
    assert "static" not in str(path_for(stored.sha256))


def test_another_organisation_gets_404_for_every_summary_page(sponsor, browser):
    _org, _user, trial = sponsor
    upload(browser, trial.id, LAY_SUMMARY.encode(), "a.txt")
    version = db.session.execute(sa.select(SummaryVersion)).scalar_one()
    browser.logout()
    outsider = member("sponsor")
    browser.login(outsider.email, PASSWORD)
    for url in (
        f"/trials/{trial.id}/summaries/new",
        f"/trials/{trial.id}/summaries/{version.id}",
        f"/trials/{trial.id}/summaries/{version.id}/download",
        f"/trials/{trial.id}/participant-offer",
    ):
        assert browser.client.get(url).status_code == 404, url
    response = browser.post(
        f"/trials/{trial.id}/summaries/{version.id}/submit", token_from="/trials"
    )
    assert response.status_code == 404


def test_a_version_id_from_another_trial_is_404(sponsor, browser):
    org, user, trial = sponsor
    from tests.factories import trial as make_trial

    other = make_trial(owner=org)
    upload(browser, other.id, LAY_SUMMARY.encode(), "a.txt")
    version = db.session.execute(sa.select(SummaryVersion)).scalar_one()
    assert browser.client.get(f"/trials/{trial.id}/summaries/{version.id}").status_code == 404


def test_compliance_officers_and_reviewers_read_but_cannot_upload(sponsor, browser):
    org, _user, trial = sponsor
    upload(browser, trial.id, LAY_SUMMARY.encode(), "a.txt")
    version = db.session.execute(sa.select(SummaryVersion)).scalar_one()
    browser.logout()
    for person in (member("compliance_officer", org), staff("reviewer")):
        browser.login(person.email, PASSWORD)
        assert browser.client.get(f"/trials/{trial.id}/summaries/{version.id}").status_code == 200
        assert browser.client.get(f"/trials/{trial.id}/summaries/new").status_code == 403
        trial_page = browser.get(f"/trials/{trial.id}").get_data(as_text=True)
        assert "Version 1" in trial_page and "Upload a new version" not in trial_page
        browser.logout()
    assert count(SummaryVersion) == 1


def test_anonymous_users_are_sent_to_sign_in(app, client):
    _org, _user, trial = sponsor_with_trial()
    for url in (f"/trials/{trial.id}/summaries/new", f"/trials/{trial.id}/summaries/1/download"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location


def test_a_short_summary_is_too_short_to_score_not_meeting_the_target(sponsor, browser):
    _org, _user, trial = sponsor
    data = b"We gave people a pill. It helped them."
    html = upload(browser, trial.id, data, "short.txt", follow=True).get_data(as_text=True)
    assert "Too short to score." in html and "The summary has 8 words" in html
    assert "Meets the target" not in html
    version = db.session.execute(sa.select(SummaryVersion)).scalar_one()
    assert version.readability["scores"]["too_short"] is True
    assert not any(version.readability["scores"]["meets_target"].values())


def test_a_title_mentioning_results_does_not_count_as_the_results(sponsor, browser):
    _org, _user, trial = sponsor
    data = LAY_SUMMARY.replace(
        "What were the results?\nPeople who had Breathwell had fewer asthma attacks.\n", ""
    ).replace("A trial of", "Results of a trial of")
    upload(browser, trial.id, data.encode(), "s.txt")
    version = db.session.execute(sa.select(SummaryVersion)).scalar_one()
    rows = {row["key"]: row for row in version.readability["checklist"]}
    assert rows["results"]["found"] is False
    assert "only the title" in rows["results"]["evidence"]
    assert rows["side_effects"]["found"] is True
