"""Decisions and events go out in the next digest; role digests for officers and reviewers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Claim, ObligationStatusChange, OutboxEmail, Submission
from portal.services import claims as claims_service
from portal.services import review, summaries
from portal.services.notifications import london_today, notify_trial_changed, run_daily
from tests.factories import OrganisationFactory, member, staff, trial
from tests.notifications.conftest import duty
from tests.summaries.helpers import LAY_SUMMARY, sponsor_with_trial


def _body(address: str) -> str:
    emails = db.session.execute(
        sa.select(OutboxEmail.body_text).where(OutboxEmail.to == address)
    ).scalars()
    return "\n".join(emails)


def test_a_reviewers_decisions_reach_the_sponsor_in_the_next_digest(app):
    org, user, t = sponsor_with_trial(title="Offered trial")
    address = user.email
    summaries.record_offer(
        user,
        t,
        offered_on=date(2026, 10, 15),
        method="email",
        audience=["participants"],
        summary_version_id=None,
        data=LAY_SUMMARY.encode(),
        filename="sent.txt",
    )
    sub = db.session.execute(sa.select(Submission).where(Submission.trial_id == t.id)).scalar_one()
    reviewer = staff("reviewer")
    reviewer_address = reviewer.email
    review.decide(reviewer, sub.id, "request_changes", "The letter is not signed.")
    other = trial(title="Claimed trial")
    claim = Claim(trial_id=other.id, organisation_id=org.id, status="pending", match_reason="x")
    db.session.add(claim)
    db.session.commit()
    claims_service.decide_claim(reviewer, claim.id, True, "")
    notify_trial_changed(
        t, ["Primary completion moved to 4 December 2026"], source="ClinicalTrials.gov", key="v2"
    )
    notify_trial_changed(
        t, ["Primary completion moved to 4 December 2026"], source="ClinicalTrials.gov", key="v2"
    )
    db.session.commit()

    run_daily(london_today(), deliver=False)
    body = _body(address)
    assert (
        "A reviewer asked for changes to Participants offered the results on 15 October 2026: "
        "\u201cThe letter is not signed.\u201d"
    ) in body
    assert "A reviewer decided your claim on this trial: your organisation now holds" in body
    assert body.count("ClinicalTrials.gov changed this trial: Primary completion moved") == 1
    assert body.index("Claimed trial") > 0 and "Offered trial" in body
    assert "sent.txt" not in body
    # The reviewer made the decisions: nothing about them in a reviewer's digest.
    assert "changes to" not in _body(reviewer_address)


def test_officer_monday_portfolio_and_reviewer_queue(app):
    org = OrganisationFactory()
    officer = member("compliance_officer", org).email
    reviewer = staff("reviewer").email
    monday = date(2026, 12, 7)
    held = trial(owner=org)
    duty(held, "UK-END", monday - timedelta(days=3), "overdue")
    duty(held, "UK-RES", monday + timedelta(days=20))
    db.session.add(
        ObligationStatusChange(
            trial_id=held.id,
            duty="UK-END",
            old_status="due_soon",
            new_status="overdue",
            changed_on=monday - timedelta(days=2),
            reason="daily",
        )
    )
    waiting = trial(title="Waiting claim")
    db.session.add(
        Claim(
            trial_id=waiting.id,
            organisation_id=org.id,
            status="pending",
            match_reason="x",
            created_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
    )
    db.session.commit()
    run_daily(monday - timedelta(days=1), deliver=False)  # Sunday: no portfolio yet
    assert "(Monday 7 December 2026)" not in _body(officer)
    run_daily(monday, deliver=False)
    text = _body(officer)
    assert "Your portfolio this week (Monday 7 December 2026)" in text
    assert "Newly overdue in the last week: 1" in text
    assert "Due in the next 30 days: 1" in text
    queue = _body(reviewer)
    assert "Your review queue" in queue
    assert "Claims waiting longer than 5 working days: 1" in queue
