"""The cached trend (issue 18): the officer's home page reads it from one row while the verdicts
stay the same, and never shows it after a verdict, or a trial's owner, changes (database
triggers change the verdicts' token on every write, however it is made)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from portal.domain.obligations.trend import monthly_trend
from portal.extensions import db
from portal.models import Obligation, Trial, VerdictCache
from portal.services import reports
from portal.timeutil import today
from tests.certificates.helpers import obligation
from tests.factories import PASSWORD, OrganisationFactory, member, trial
from tests.trials.test_dashboard import count_queries

GROUPED = "GROUP BY obligations.status, obligations.due"


def legend(html: str) -> tuple[bool, bool]:
    """(one overdue, one met) in the chart's legend: the last month's counts."""
    return "Overdue (1)" in html, "Met (1)" in html


def test_the_officer_home_and_the_report_change_as_soon_as_a_verdict_changes(browser):
    org = OrganisationFactory()
    t = trial(title="Cached trial", owner=org)
    ob = obligation(t, "UK-RES", "overdue", due=today() - timedelta(days=40))
    officer = member("compliance_officer", org)
    db.session.commit()
    browser.login(officer.email, PASSWORD)

    assert legend(browser.get("/").get_data(as_text=True)) == (True, False)
    kept = db.session.get(VerdictCache, (org.id, "trend of 24 months"))
    assert kept is not None  # kept for every web process
    with count_queries() as statements:
        html = browser.get("/").get_data(as_text=True)
    assert legend(html) == (True, False)
    assert not any(GROUPED in s for s in statements)  # read from the cache

    # the verdict changes (as the recompute writes it): the next page shows it
    ob.status = "met"
    ob.verdict = {**ob.verdict, "status": "met", "met_on": today().isoformat()}
    db.session.commit()
    with count_queries() as statements:
        html = browser.get("/").get_data(as_text=True)
    assert legend(html) == (False, True)
    assert any(GROUPED in s for s in statements)  # worked out again
    assert monthly_trend(org.id, today())[-1].met == 1
    assert reports.gather(org.id, today()).months[-1].met == 1  # and the portfolio report

    # a bulk statement, which no ORM event sees, counts too
    db.session.execute(
        sa.update(Obligation).where(Obligation.id == ob.id).values(status="overdue", verdict={})
    )
    db.session.commit()
    assert legend(browser.get("/").get_data(as_text=True)) == (True, False)
    assert reports.gather(org.id, today()).months[-1].overdue == 1


def test_a_trial_given_to_another_organisation_leaves_its_trend(browser):
    org, other = OrganisationFactory(), OrganisationFactory()
    t = trial(owner=org)
    obligation(t, "UK-RES", "overdue")
    db.session.commit()
    assert monthly_trend(org.id, today())[-1].overdue == 1
    assert monthly_trend(org.id, today())[-1].overdue == 1  # from the cache
    assert monthly_trend(other.id, today())[-1].overdue == 0
    db.session.execute(
        sa.update(Trial).where(Trial.id == t.id).values(owner_organisation_id=other.id)
    )
    db.session.commit()
    assert monthly_trend(org.id, today())[-1].overdue == 0
    assert monthly_trend(other.id, today())[-1].overdue == 1


def test_a_transaction_sees_its_own_changes_and_caches_none_of_them(app):
    org = OrganisationFactory()
    t = trial(owner=org)
    ob = obligation(t, "UK-RES", "overdue")
    db.session.commit()
    assert monthly_trend(org.id, today())[-1].overdue == 1  # cached
    ob.status = "deferred"
    db.session.flush()  # not committed
    assert monthly_trend(org.id, today())[-1].deferred == 1
    db.session.rollback()
    points = monthly_trend(org.id, today())
    assert (points[-1].overdue, points[-1].deferred) == (1, 0)


def test_the_cache_is_per_day_and_per_number_of_months(app):
    org = OrganisationFactory()
    obligation(trial(owner=org), "UK-RES", "upcoming", due=today() + timedelta(days=45))
    db.session.commit()
    assert monthly_trend(org.id, today())[-1].upcoming == 1
    later = today() + timedelta(days=20)  # the same verdict, due soon by then
    assert monthly_trend(org.id, later)[-1].due_soon == 1
    assert len(monthly_trend(org.id, later, months=6)) == 6
    assert len(monthly_trend(org.id, later)) == 24


def test_a_transaction_of_several_statements_changes_the_token_once_it_commits(app):
    org = OrganisationFactory()
    t = trial(owner=org)
    first = obligation(t, "UK-RES", "overdue")
    second = obligation(t, "UK-REG", "overdue")
    db.session.commit()
    assert monthly_trend(org.id, today())[-1].overdue == 2
    nothing = sa.update(Obligation).where(Obligation.id == -1).values(status="met")
    db.session.execute(nothing)  # changes no row: the triggers must still see the next ones
    for ob in (first, second):
        db.session.execute(
            sa.update(Obligation).where(Obligation.id == ob.id).values(status="deferred")
        )
    db.session.commit()
    points = monthly_trend(org.id, today())
    assert (points[-1].overdue, points[-1].deferred) == (0, 2)
