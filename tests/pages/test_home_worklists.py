"""Each role's home page is a work list: counts, the most urgent items with their one action,
and an empty state that says what to do first (issue 18)."""

from __future__ import annotations

from datetime import timedelta

from portal.extensions import db
from portal.models import Claim
from portal.timeutil import today
from tests.certificates.helpers import obligation
from tests.factories import PASSWORD, OrganisationFactory, member, staff, trial
from tests.trials.test_dashboard import count_queries


def test_new_sponsor_is_told_to_find_and_claim_trials(browser):
    user = member("sponsor")
    browser.login(user.email, PASSWORD)
    html = browser.get("/").get_data(as_text=True)
    assert "What to do next" in html
    assert "Find and claim your trials" in html and "Welcome" not in html


def test_sponsor_home_lists_overdue_facts_to_check_and_due_soon_with_actions(browser):
    org = OrganisationFactory()
    late = trial(title="Late trial", owner=org)
    obligation(late, "UK-RES", "overdue", due=today() - timedelta(days=40))
    gap = trial(title="Gap trial", owner=org)
    obligation(
        gap, "UK-REG", "data_needed", due=None, missing=["first_participant_on or eu_events"]
    )
    soon = trial(title="Soon trial", owner=org)
    obligation(soon, "UK-END", "due_soon", due=today() + timedelta(days=10))
    later = trial(title="Later trial", owner=org)
    obligation(later, "UK-END", "upcoming", due=today() + timedelta(days=200))
    other = trial(title="Not ours", owner=OrganisationFactory())
    obligation(other, "UK-RES", "overdue")

    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    html = browser.get("/").get_data(as_text=True)
    assert "Not ours" not in html and "Later trial" not in html
    overdue, facts, due = (
        html.index("Overdue</h2>"),
        html.index("Facts to check</h2>"),
        html.index("Due within 30 days</h2>"),
    )
    assert overdue < html.index("Late trial") < facts < html.index("Gap trial") < due
    assert due < html.index("Soon trial")
    # The missing fact is named by its label, never by its key.
    assert (
        "First UK participant recruited or EU notifications (start, first visit, end of "
        "recruitment, end of trial)" in html
    )
    assert "first_participant_on" not in html
    assert f"/trials/{gap.id}/facts" in html and "Enter the facts" in html
    assert f"/trials/{late.id}#duty-UK-RES" in html


def test_home_page_query_count_does_not_grow_with_the_portfolio(browser):
    org = OrganisationFactory()
    user = member("sponsor", org)
    officer = member("compliance_officer", org)
    t = trial(owner=org)
    obligation(t, "UK-RES", "overdue")
    browser.login(user.email, PASSWORD)
    browser.get("/")
    db.session.commit()
    with count_queries() as small:
        browser.get("/")
    for i in range(30):
        t = trial(title=f"Trial {i}", owner=org)
        obligation(t, "UK-RES", "overdue")
        obligation(t, "UK-REG", "data_needed", due=None, missing=["approved_on"])
        obligation(t, "UK-END", "due_soon", due=today() + timedelta(days=5))
    db.session.commit()
    with count_queries() as large:
        browser.get("/")
    assert len(large) == len(small)
    browser.logout()
    browser.login(officer.email, PASSWORD)
    with count_queries() as officer_large:
        html = browser.get("/").get_data(as_text=True)
    assert "Trials most overdue" in html and "Trial 0" in html
    assert len(officer_large) <= len(large) + 2


def test_reviewer_home_lists_claims_oldest_first_with_waiting_time(browser):
    org = OrganisationFactory(name="Claimant Ltd")
    old = trial(title="Old claim trial")
    new = trial(title="New claim trial")
    now = today()
    from datetime import UTC, datetime

    db.session.add(
        Claim(
            trial_id=new.id,
            organisation_id=org.id,
            status="pending",
            created_at=datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=1),
        )
    )
    db.session.add(
        Claim(
            trial_id=old.id,
            organisation_id=org.id,
            status="pending",
            created_at=datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=9),
        )
    )
    db.session.commit()
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    html = browser.get("/").get_data(as_text=True)
    assert "Waiting for you" in html
    assert html.index("Old claim trial") < html.index("New claim trial")
    assert "waiting 9 days" in html or "waiting 8 days" in html
    assert "Decide the claim" in html


def test_admin_home_shows_workers_jobs_imports_and_failed_emails(browser):
    from portal.models import OutboxEmail

    db.session.add(
        OutboxEmail(to="x@example.org", subject="Your certificate", body_text="b", status="failed")
    )
    db.session.commit()
    admin = staff("admin")
    browser.login(admin.email, PASSWORD)
    html = browser.get("/").get_data(as_text=True)
    assert "Service health" in html
    assert "worker" in html and "email not sent" in html
    assert "Your certificate" in html and "Imports" in html
