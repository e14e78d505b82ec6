"""Versions, sending one for review, a reviewer asking for changes (comment required), the sponsor
seeing the comment, a new version, and the reviewer approving it; every step audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, ReviewComment, Submission, SummaryVersion
from portal.services.audit import verify_chain
from tests.factories import PASSWORD, staff
from tests.summaries.helpers import DUE, LAY_SUMMARY, docx_bytes, sponsor_with_trial, upload


def _versions():
    db.session.expire_all()
    return {v.version: v for v in db.session.execute(sa.select(SummaryVersion)).scalars()}


def _submit(browser, trial_id, version_id):
    return browser.post(
        f"/trials/{trial_id}/summaries/{version_id}/submit",
        token_from=f"/trials/{trial_id}/summaries/{version_id}",
        follow_redirects=True,
    )


def test_the_full_review_cycle(app, browser):
    _org, sponsor, trial = sponsor_with_trial(title="Breathwell in asthma")
    reviewer = staff("reviewer")
    browser.login(sponsor.email, PASSWORD)

    # Version 1, sent for review: it waits in the queue, due with UK-RES.
    upload(browser, trial.id, LAY_SUMMARY.encode(), "v1.txt")
    v1 = _versions()[1]
    html = _submit(browser, trial.id, v1.id).get_data(as_text=True)
    assert "Sent for review" in html
    submission = db.session.execute(sa.select(Submission)).scalar_one()
    assert (submission.kind, submission.status, submission.duty) == ("summary", "waiting", "UK-RES")
    assert submission.due == DUE and submission.object_id == v1.id
    assert _versions()[1].status == "submitted"
    browser.logout()

    # The reviewer asks for changes: a comment is required.
    browser.login(reviewer.email, PASSWORD)
    assert "Breathwell in asthma" in browser.get("/review/queue").get_data(as_text=True)
    page = browser.get(f"/review/submissions/{submission.id}").get_data(as_text=True)
    assert "Flesch reading ease" in page and "What a lay summary needs" in page
    assert "UK-RES" in page  # the trial's obligations
    url = f"/review/submissions/{submission.id}"
    refused = browser.submit(url, {"decision": "request_changes", "comment": "  "})
    assert "Enter a comment saying what the sponsor needs to change" in refused.get_data(
        as_text=True
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewComment)) == 0
    response = browser.submit(
        url, {"decision": "request_changes", "comment": "Explain what a placebo is."}
    )
    assert response.status_code == 302
    assert _versions()[1].status == "changes_requested"
    browser.logout()

    # The sponsor sees the comment, cannot resend version 1, and uploads version 2.
    browser.login(sponsor.email, PASSWORD)
    trial_page = browser.get(f"/trials/{trial.id}").get_data(as_text=True)
    assert "Changes requested" in trial_page and "Explain what a placebo is." in trial_page
    again = _submit(browser, trial.id, v1.id).get_data(as_text=True)
    assert "has already been sent for review" in again
    upload(browser, trial.id, docx_bytes(), "v2.docx")
    v2 = _versions()[2]
    _submit(browser, trial.id, v2.id)
    version_page = browser.get(f"/trials/{trial.id}/summaries/{v2.id}").get_data(as_text=True)
    assert "Version 1" in version_page and "Version 2 (this one)" in version_page  # history
    browser.logout()

    # The reviewer approves version 2.
    browser.login(reviewer.email, PASSWORD)
    second = db.session.execute(
        sa.select(Submission).where(Submission.object_id == v2.id)
    ).scalar_one()
    approved = browser.submit(f"/review/submissions/{second.id}", {"decision": "approve"})
    assert approved.status_code == 302
    versions = _versions()
    assert versions[2].status == "approved" and versions[1].status == "changes_requested"
    queue = browser.get("/review/queue").get_data(as_text=True)
    assert "Nothing is waiting" in queue

    actions = set(db.session.execute(sa.select(AuditEvent.action)).scalars())
    assert {
        "summary.uploaded",
        "review.submitted",
        "review.changes_requested",
        "review.approved",
    } <= actions
    assert verify_chain().ok


def test_sending_a_newer_version_replaces_the_one_still_waiting(app, browser):
    _org, sponsor, trial = sponsor_with_trial()
    browser.login(sponsor.email, PASSWORD)
    upload(browser, trial.id, LAY_SUMMARY.encode(), "v1.txt")
    upload(browser, trial.id, (LAY_SUMMARY + "\nMore.").encode(), "v2.txt")
    versions = _versions()
    _submit(browser, trial.id, versions[1].id)
    _submit(browser, trial.id, versions[2].id)
    rows = {s.object_id: s.status for s in db.session.execute(sa.select(Submission)).scalars()}
    assert rows == {versions[1].id: "withdrawn", versions[2].id: "waiting"}
    assert _versions()[1].status == "withdrawn"


def test_a_decision_on_a_decided_submission_is_refused(app):
    from portal.services import ServiceError, summaries
    from portal.services.review import decide

    _org, sponsor, trial = sponsor_with_trial()
    version = summaries.upload_summary(sponsor, trial, LAY_SUMMARY.encode(), "v1.txt")
    submission = summaries.submit_summary(sponsor, trial, version.id)
    reviewer = staff("reviewer")
    decide(reviewer, submission.id, "approve", "")
    with pytest.raises(ServiceError, match="already been decided"):
        decide(reviewer, submission.id, "request_changes", "late")
    with pytest.raises(ServiceError, match="Enter a comment"):
        decide(reviewer, submission.id, "request_changes", "")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewComment)) == 1
