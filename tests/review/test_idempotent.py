"""Review actions are idempotent (issue 16): repeating a decision (approving an organisation,
a claim or evidence already approved; the same audit finding) changes nothing, records nothing,
sends no email, and says so plainly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    AuditEvent,
    AuditSampleItem,
    Claim,
    Membership,
    Obligation,
    Organisation,
    OutboxEmail,
    ReviewComment,
    Submission,
)
from portal.services import AlreadyDone, ServiceError, accounts, review, summaries
from portal.services import claims as claims_service
from tests.factories import PASSWORD, OrganisationFactory, UserFactory, staff, trial
from tests.summaries.helpers import LAY_SUMMARY, sponsor_with_trial


def _count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _snapshot() -> tuple[int, int, int]:
    return _count(AuditEvent), _count(OutboxEmail), _count(ReviewComment)


@pytest.fixture
def pending_org(app):
    founder = UserFactory(email="founder@newtrust.example")
    org = OrganisationFactory(
        name="New Trust", status="pending", email_domains=["newtrust.example"]
    )
    db.session.add(Membership(user_id=founder.id, organisation_id=org.id, role="sponsor_admin"))
    db.session.commit()
    return org


def test_approving_an_approved_organisation_again_changes_and_sends_nothing(pending_org):
    reviewer = staff("reviewer")
    accounts.decide_organisation(reviewer, pending_org.id, True)
    assert _count(OutboxEmail) == 1
    decided_at = db.session.get(Organisation, pending_org.id).decided_at
    before = _snapshot()
    with pytest.raises(AlreadyDone, match="New Trust is already approved: nothing was changed"):
        accounts.decide_organisation(reviewer, pending_org.id, True)
    assert _snapshot() == before
    org = db.session.get(Organisation, pending_org.id)
    assert org.status == "approved" and org.decided_at == decided_at


def test_the_page_says_already_approved_and_sends_no_second_email(pending_org, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    url = f"/review/organisations/{pending_org.id}"
    first = browser.submit(url, {"decision": "approve"}, follow=True).get_data(as_text=True)
    assert "New Trust is now approved" in first
    before = _snapshot()
    again = browser.submit(url, {"decision": "approve"})
    assert again.status_code == 302
    page = browser.get(again.location).get_data(as_text=True)
    assert "New Trust is already approved" in page and "no email was sent" in page
    assert "is now approved" not in page
    assert _snapshot() == before


def test_a_rejected_organisation_can_still_be_approved(pending_org):
    reviewer = staff("reviewer")
    accounts.decide_organisation(reviewer, pending_org.id, False, "Unknown sponsor")
    with pytest.raises(AlreadyDone):
        accounts.decide_organisation(reviewer, pending_org.id, False, "Still unknown")
    accounts.decide_organisation(reviewer, pending_org.id, True)
    assert db.session.get(Organisation, pending_org.id).status == "approved"


def test_a_repeated_claim_decision_changes_nothing(app, browser):
    org = OrganisationFactory()
    t = trial(title="Claimed trial")
    claim = Claim(trial_id=t.id, organisation_id=org.id, status="pending", match_reason="ours")
    db.session.add(claim)
    db.session.commit()
    reviewer = staff("reviewer")
    claims_service.decide_claim(reviewer, claim.id, True, "")
    before = _snapshot()
    with pytest.raises(AlreadyDone, match="already approved: nothing was changed"):
        claims_service.decide_claim(reviewer, claim.id, True, "")
    with pytest.raises(ServiceError, match="already been decided"):
        claims_service.decide_claim(reviewer, claim.id, False, "changed my mind")
    assert _snapshot() == before

    browser.login(reviewer.email, PASSWORD)
    before = _snapshot()  # signing in is audited
    again = browser.submit(f"/review/claims/{claim.id}", {"decision": "approve"})
    assert again.status_code == 302
    assert "already approved" in browser.get(again.location).get_data(as_text=True)
    assert _snapshot() == before


def _offer_submission():
    _org, user, t = sponsor_with_trial()
    summaries.record_offer(
        user,
        t,
        offered_on=__import__("datetime").date(2026, 10, 15),
        method="email",
        audience=["participants"],
        summary_version_id=None,
        data=LAY_SUMMARY.encode(),
        filename="sent.txt",
    )
    sub = db.session.execute(sa.select(Submission).where(Submission.trial_id == t.id)).scalar_one()
    return t, sub


def test_a_repeated_evidence_decision_changes_nothing(app, browser):
    t, sub = _offer_submission()
    reviewer = staff("reviewer")
    review.decide(reviewer, sub.id, "request_changes", "Unsigned.")
    status = db.session.execute(
        sa.select(Obligation.status).where(
            Obligation.trial_id == t.id, Obligation.duty == "UK-PART"
        )
    ).scalar_one()
    before = _snapshot()
    with pytest.raises(AlreadyDone, match="sent back with changes requested: nothing was changed"):
        review.decide(reviewer, sub.id, "request_changes", "Unsigned, again.")
    assert _snapshot() == before

    browser.login(reviewer.email, PASSWORD)
    before = _snapshot()  # signing in is audited
    url = f"/review/submissions/{sub.id}"
    again = browser.submit(url, {"decision": "request_changes", "comment": "Unsigned."})
    assert again.status_code == 302
    assert "nothing was changed" in browser.get(again.location).get_data(as_text=True)
    assert _snapshot() == before
    assert (
        db.session.execute(
            sa.select(Obligation.status).where(
                Obligation.trial_id == t.id, Obligation.duty == "UK-PART"
            )
        ).scalar_one()
        == status
    )


def test_the_same_audit_finding_twice_is_recorded_once(app):
    t, _sub = _offer_submission()
    reviewer = staff("reviewer")
    sample = review.draw_sample(reviewer, 50)
    item = (
        db.session.execute(
            sa.select(AuditSampleItem).where(
                AuditSampleItem.sample_id == sample.id, AuditSampleItem.trial_id == t.id
            )
        )
        .scalars()
        .first()
    )
    review.record_finding(reviewer, item.id, "confirmed", "")
    before = _snapshot()
    with pytest.raises(AlreadyDone, match="already recorded"):
        review.record_finding(reviewer, item.id, "confirmed", "")
    assert _snapshot() == before
