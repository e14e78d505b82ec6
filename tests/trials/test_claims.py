"""Claiming trials: automatic matches, reviewer decisions, disputes, release and transfer."""

from __future__ import annotations

import os
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.domain.claims.matching import normalise_sponsor_name, sponsor_name_matches
from portal.extensions import db
from portal.models import AuditEvent, Claim, Trial
from tests.factories import PASSWORD, OrganisationFactory, member, staff, trial


@pytest.mark.parametrize(
    "registered, names, expected",
    [
        ("ACME Pharma Ltd", ["Acme Pharma Limited"], True),
        ("Acme Pharma, Inc.", ["acme pharma"], True),
        (
            "Guy's & St Thomas' NHS Foundation Trust",
            ["Guys and St Thomas NHS Foundation Trust"],
            True,
        ),
        ("Université de Paris", ["Universite de Paris"], True),
        ("Acme Pharmaceuticals", ["Acme Pharma"], False),
        (None, ["Acme"], False),
        ("Ltd", ["Limited"], False),
    ],
)
def test_sponsor_names_match_after_normalising(registered, names, expected):
    assert sponsor_name_matches(registered, names) is expected


def test_normalising_drops_case_punctuation_and_legal_forms():
    assert normalise_sponsor_name("  The ACME Pharma plc. ") == "acme pharma"


def _org(**kw):
    return OrganisationFactory(
        name="Acme", email_domains=["acme.example"], sponsor_names=["Acme Pharma"], **kw
    )


def test_a_matching_claim_is_approved_automatically(browser):
    org = _org()
    user = member("sponsor", org)
    t = trial(sponsor_name="ACME PHARMA LIMITED")
    browser.login(user.email, PASSWORD)
    response = browser.post(
        f"/trials/{t.id}/claim",
        {"relation": "sponsor", "confirm": "y"},
        token_from="/trials/find",
    )
    assert response.status_code == 302 and response.location.endswith(f"/trials/{t.id}")
    db.session.expire_all()
    assert db.session.get(Trial, t.id).owner_organisation_id == org.id
    claim = db.session.execute(sa.select(Claim)).scalar_one()
    assert claim.status == "approved" and "Matched automatically" in claim.match_reason
    assert db.session.execute(
        sa.select(AuditEvent.action).where(AuditEvent.action == "claim.approved")
    ).scalar()


def test_a_claim_that_does_not_match_waits_for_a_reviewer_who_sees_why(browser):
    org = _org()
    user = member("sponsor", org)
    t = trial(sponsor_name="Someone Else Ltd")
    browser.login(user.email, PASSWORD)
    browser.post(
        f"/trials/{t.id}/claim",
        {"relation": "sponsor", "confirm": "y"},
        token_from="/trials/find",
    )
    claim = db.session.execute(sa.select(Claim)).scalar_one()
    assert claim.status == "pending"
    assert "does not match the organisation's names" in claim.match_reason
    assert "Pending" in browser.get("/trials/claims").get_data(as_text=True)
    # The trial is not the sponsor's yet: its page is a 404.
    assert browser.client.get(f"/trials/{t.id}").status_code == 404
    browser.logout()

    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    page = browser.get(f"/review/claims/{claim.id}").get_data(as_text=True)
    assert "does not match the organisation" in page
    html = browser.submit(f"/review/claims/{claim.id}", {"decision": "reject"}).get_data(
        as_text=True
    )
    assert "Enter the reason for rejecting this claim" in html
    assert browser.submit(f"/review/claims/{claim.id}", {"decision": "approve"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Trial, t.id).owner_organisation_id == org.id


def test_claiming_an_owned_trial_opens_a_dispute_both_sides_see(browser):
    owner_org = _org()
    other_org = OrganisationFactory(
        name="Other", email_domains=["other.example"], sponsor_names=["Acme Pharma"]
    )
    t = trial(sponsor_name="Acme Pharma", owner=owner_org)
    claimant = member("sponsor", other_org)
    browser.login(claimant.email, PASSWORD)
    browser.post(
        f"/trials/{t.id}/claim",
        {"relation": "sponsor", "confirm": "y"},
        token_from="/trials/find",
    )
    claim = db.session.execute(sa.select(Claim)).scalar_one()
    assert claim.status == "disputed"
    assert "Disputed" in browser.get("/trials/claims").get_data(as_text=True)
    browser.logout()

    owner_user = member("sponsor", owner_org)
    browser.login(owner_user.email, PASSWORD)
    assert "Ownership is disputed" in browser.get(f"/trials/{t.id}").get_data(as_text=True)
    assert "Another organisation" in browser.get("/trials/claims").get_data(as_text=True)
    browser.logout()

    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    browser.submit(f"/review/claims/{claim.id}", {"decision": "approve"})
    db.session.expire_all()
    assert db.session.get(Trial, t.id).owner_organisation_id == other_org.id
    statuses = sorted(db.session.execute(sa.select(Claim.status)).scalars())
    assert statuses == ["approved"]  # the claimant's; the owner never had a claim row here


def test_owner_can_release_and_transfer(browser):
    org = _org()
    other = OrganisationFactory(name="Next Sponsor")
    user = member("sponsor_admin", org)
    t1 = trial(owner=org)
    t2 = trial(owner=org)
    browser.login(user.email, PASSWORD)
    html = browser.submit(f"/trials/{t1.id}/release", {"reason": ""}).get_data(as_text=True)
    assert "Enter a reason" in html
    assert (
        browser.submit(f"/trials/{t1.id}/release", {"reason": "Claimed by mistake"}).status_code
        == 302
    )
    response = browser.submit(f"/trials/{t2.id}/release", {"t-organisation": str(other.id)})
    assert response.status_code == 200  # the release form posted without a reason
    token_page = f"/trials/{t2.id}/release"
    response = browser.post(
        f"/trials/{t2.id}/transfer", {"t-organisation": str(other.id)}, token_from=token_page
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Trial, t1.id).owner_organisation_id is None
    assert db.session.get(Trial, t2.id).owner_organisation_id == other.id


def test_compliance_officer_cannot_claim(browser):
    org = _org()
    officer = member("compliance_officer", org)
    t = trial(sponsor_name="Acme Pharma")
    browser.login(officer.email, PASSWORD)
    response = browser.post(
        f"/trials/{t.id}/claim",
        {"relation": "sponsor", "confirm": "y"},
        token_from="/trials/find",
    )
    assert response.status_code == 403
    assert db.session.execute(sa.select(sa.func.count()).select_from(Claim)).scalar() == 0


def test_a_sponsor_adds_a_trial_no_import_knows(browser):
    org = _org()
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    html = browser.submit("/trials/new", {"identifier": "NCT123", "title": "X"}).get_data(
        as_text=True
    )
    assert "Enter a registry id like NCT01234567" in html
    response = browser.submit(
        "/trials/new",
        {
            "identifier": "isrctn12345678",
            "title": "My new trial",
            "registered_on": ["1", "6", "2026"],
        },
    )
    assert response.status_code == 302
    t = db.session.execute(sa.select(Trial)).scalar_one()
    assert t.sponsor_entered and t.owner_organisation_id == org.id
    assert [(e.registry_name, e.registry_id) for e in t.entries] == [("ISRCTN", "ISRCTN12345678")]
    html = browser.submit(
        "/trials/new", {"identifier": "ISRCTN12345678", "title": "Again"}
    ).get_data(as_text=True)
    assert "already knows this trial" in html


def test_the_database_allows_one_approved_claim_per_trial(app):
    a, b = _org(), OrganisationFactory()
    t = trial()
    db.session.add(Claim(trial_id=t.id, organisation_id=a.id, status="approved"))
    db.session.commit()
    db.session.add(Claim(trial_id=t.id, organisation_id=b.id, status="approved"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs two PostgreSQL sessions")
def test_concurrent_claims_cannot_both_win_on_postgres(app):
    """Two sessions claim the same unowned trial at once: exactly one becomes the owner."""
    from portal.services.claims import claim_trial

    a = _org()
    b = OrganisationFactory(
        name="Rival", email_domains=["rival.example"], sponsor_names=["Acme Pharma"]
    )
    user_a, user_b = member("sponsor", a), member("sponsor", b)
    t = trial(sponsor_name="Acme Pharma")
    ids = {"a": user_a.id, "b": user_b.id}
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def claim(which: str) -> None:
        with app.app_context():
            from portal.models import User

            user = db.session.get(User, ids[which])
            barrier.wait()
            try:
                results[which] = claim_trial(user, t.id).status
            except Exception as exc:  # a serialisation refusal is also "did not win"
                results[which] = f"refused: {exc}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=claim, args=(w,)) for w in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    db.session.expire_all()
    assert sorted(results.values()).count("approved") == 1, results
    owner = db.session.get(Trial, t.id).owner_organisation_id
    winner = a.id if results["a"] == "approved" else b.id
    assert owner == winner
    approved = db.session.execute(
        sa.select(sa.func.count()).select_from(Claim).where(Claim.status == "approved")
    ).scalar()
    assert approved == 1
