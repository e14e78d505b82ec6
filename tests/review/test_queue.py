"""The reviewer's queue: every kind of submission and claim disputes, most urgent duty first,
filtered by organisation and type, with how long each item has waited."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Claim, Submission
from portal.services import summaries
from portal.timeutil import utcnow
from tests.factories import PASSWORD, OrganisationFactory, member, staff
from tests.summaries.helpers import LAY_SUMMARY, sponsor_with_trial


@pytest.fixture
def queue_items(app):
    """Org A's summary (UK-RES due 2027-09-30), org B's participant offer (UK-PART due
    2027-08-31, waiting 3 days), and org B disputing org A's trial (no deadline)."""
    org_a, sponsor_a, trial_a = sponsor_with_trial(title="Alpha trial")
    version = summaries.upload_summary(sponsor_a, trial_a, LAY_SUMMARY.encode(), "a.txt")
    summaries.submit_summary(sponsor_a, trial_a, version.id)
    org_b, sponsor_b, trial_b = sponsor_with_trial(
        title="Bravo trial", facts={"end_of_trial_on": date(2026, 8, 31)}
    )
    summaries.record_offer(
        sponsor_b,
        trial_b,
        offered_on=date(2026, 11, 2),
        method="email",
        audience=["participants"],
        summary_version_id=None,
        data=LAY_SUMMARY.encode(),
        filename="sent.txt",
    )
    offer_sub = db.session.execute(
        sa.select(Submission).where(Submission.kind == "participant_offer")
    ).scalar_one()
    offer_sub.submitted_at = utcnow() - timedelta(days=3)
    claim = Claim(
        trial_id=trial_a.id, organisation_id=org_b.id, status="disputed", match_reason="ours"
    )
    db.session.add(claim)
    db.session.commit()
    return {"a": org_a, "b": org_b, "claim": claim, "trial_a": trial_a, "trial_b": trial_b}


def _rows(html: str) -> list[str]:
    return [
        chunk.split("</tr>")[0]
        for chunk in html.split('class="govuk-table__row app-queue-row"')[1:]
    ]


def test_items_are_ordered_by_the_duty_due_date_and_disputes_come_last(queue_items, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    rows = _rows(browser.get("/review/queue").get_data(as_text=True))
    assert len(rows) == 3
    assert "Participant offer" in rows[0] and "UK-PART 31 August 2027" in rows[0]
    assert "3 days" in rows[0]
    assert "Lay summary" in rows[1] and "UK-RES 30 September 2027" in rows[1]
    assert "Today" in rows[1]
    assert "Claim dispute" in rows[2] and "No deadline" in rows[2]
    assert f'href="/review/claims/{queue_items["claim"].id}"' in rows[2]


def test_the_queue_filters_by_organisation_and_type(queue_items, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    org_a = queue_items["a"].id
    by_org = _rows(browser.get(f"/review/queue?organisation={org_a}").get_data(as_text=True))
    assert [("Lay summary" in r, "Claim dispute" in r) for r in by_org] == [
        (True, False),
        (False, True),
    ]
    offers = _rows(browser.get("/review/queue?kind=participant_offer").get_data(as_text=True))
    assert len(offers) == 1 and "Bravo trial" in offers[0]
    disputes = _rows(browser.get("/review/queue?kind=claim_dispute").get_data(as_text=True))
    assert len(disputes) == 1 and "Alpha trial" in disputes[0]
    unknown = _rows(
        browser.get("/review/queue?kind=nonsense&organisation=x").get_data(as_text=True)
    )
    assert len(unknown) == 3  # bad filter values are ignored, never a 500


def test_decided_items_leave_the_queue(queue_items, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    summary = db.session.execute(
        sa.select(Submission).where(Submission.kind == "summary")
    ).scalar_one()
    browser.submit(f"/review/submissions/{summary.id}", {"decision": "approve"})
    rows = _rows(browser.get("/review/queue").get_data(as_text=True))
    assert len(rows) == 2 and not any("Lay summary" in r for r in rows)


def test_sponsors_cannot_see_the_queue_or_a_submission(queue_items, browser):
    sponsor = member("sponsor", queue_items["a"])
    browser.login(sponsor.email, PASSWORD)
    submission = db.session.execute(sa.select(Submission)).scalars().first()
    assert browser.client.get("/review/queue").status_code == 403
    assert browser.client.get(f"/review/submissions/{submission.id}").status_code == 403
    assert browser.client.get("/review/samples").status_code == 403
    assert browser.client.get("/review/jargon").status_code == 403


def test_an_unknown_submission_is_404(app, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    assert browser.client.get("/review/submissions/999").status_code == 404


def test_reviewers_extend_the_jargon_list_and_reports_show_it(app, browser):
    _org, sponsor, trial = sponsor_with_trial()
    version = summaries.upload_summary(sponsor, trial, LAY_SUMMARY.encode(), "a.txt")
    summaries.submit_summary(sponsor, trial, version.id)
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    response = browser.submit("/review/jargon", {"term": "Inhaler", "plain": "puffer"})
    assert response.status_code == 302
    again = browser.submit("/review/jargon", {"term": "inhaler", "plain": ""})
    assert "“inhaler” is already on the list." in again.get_data(as_text=True)
    starter = browser.submit("/review/jargon", {"term": "Placebo", "plain": ""})
    assert "already on the list" in starter.get_data(as_text=True)
    submission = db.session.execute(sa.select(Submission)).scalar_one()
    page = browser.get(f"/review/submissions/{submission.id}").get_data(as_text=True)
    assert "inhaler" in page and "puffer" in page


def test_anonymous_users_are_sent_to_sign_in(client):
    for url in ("/review/queue", "/review/submissions/1", "/review/samples", "/review/jargon"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location


def test_the_organisation_filter_lists_approved_organisations(queue_items, browser):
    outsider_org = OrganisationFactory(status="pending")
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    html = browser.get("/review/queue").get_data(as_text=True)
    assert queue_items["a"].name in html and outsider_org.name not in html  # approved only
