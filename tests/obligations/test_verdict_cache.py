"""The dashboard's counts by status, cached per organisation with its verdicts (issue 22): read
from one row while the verdicts stay the same, worked out again as soon as a verdict, or a
trial's owner, changes (the verdicts' token of migration 0014, changed by database triggers)."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Obligation, Trial, VerdictCache
from portal.timeutil import today
from portal.trials.queries import headline_counts
from tests.certificates.helpers import obligation
from tests.factories import PASSWORD, OrganisationFactory, member, staff, trial
from tests.trials.test_dashboard import count_queries

COUNTED = "GROUP BY obligations.status"


def overdue_shown(html: str) -> int:
    found = re.search(
        r'app-counts__number">(\d+)</span>\s*<span class="app-counts__label">Overdue', html
    )
    assert found, "no overdue count on the dashboard"
    return int(found.group(1))


def test_the_dashboard_counts_change_as_soon_as_a_verdict_changes(browser):
    org = OrganisationFactory()
    t = trial(title="Counted trial", owner=org)
    ob = obligation(t, "UK-RES", "overdue", due=today() - timedelta(days=40))
    officer = member("compliance_officer", org)
    db.session.commit()
    browser.login(officer.email, PASSWORD)

    assert overdue_shown(browser.get("/trials").get_data(as_text=True)) == 1
    assert db.session.get(VerdictCache, (org.id, "headline counts")) is not None
    with count_queries() as statements:
        html = browser.get("/trials?page=1").get_data(as_text=True)
    assert overdue_shown(html) == 1
    assert not any(COUNTED in s and "count(" in s for s in statements)  # from the cache

    # the verdict changes (as the recompute writes it): the next page shows it
    ob.status = "met"
    db.session.commit()
    with count_queries() as statements:
        html = browser.get("/trials").get_data(as_text=True)
    assert overdue_shown(html) == 0
    assert any(COUNTED in s for s in statements)  # worked out again

    # a bulk statement, which no ORM event sees, counts too
    db.session.execute(sa.update(Obligation).where(Obligation.id == ob.id).values(status="overdue"))
    db.session.commit()
    assert overdue_shown(browser.get("/trials").get_data(as_text=True)) == 1


def test_a_trial_given_to_another_organisation_leaves_its_counts(app):
    org, other = OrganisationFactory(), OrganisationFactory()
    t = trial(owner=org)
    obligation(t, "UK-RES", "overdue")
    mine, theirs = member("compliance_officer", org), member("compliance_officer", other)
    db.session.commit()
    assert headline_counts(mine)["overdue"] == 1
    assert headline_counts(mine)["overdue"] == 1  # from the cache
    assert headline_counts(theirs)["overdue"] == 0
    db.session.execute(
        sa.update(Trial).where(Trial.id == t.id).values(owner_organisation_id=other.id)
    )
    db.session.commit()
    assert headline_counts(mine)["overdue"] == 0
    assert headline_counts(theirs)["overdue"] == 1


def test_a_transaction_sees_its_own_changes_and_caches_none_of_them(app):
    org = OrganisationFactory()
    ob = obligation(trial(owner=org), "UK-RES", "overdue")
    officer = member("compliance_officer", org)
    db.session.commit()
    assert headline_counts(officer)["overdue"] == 1  # cached
    ob.status = "deferred"
    db.session.flush()  # not committed
    counts = headline_counts(officer)
    assert (counts["overdue"], counts["deferred"]) == (0, 1)
    db.session.rollback()
    counts = headline_counts(officer)
    assert (counts["overdue"], counts["deferred"]) == (1, 0)


def test_people_who_see_every_organisation_are_counted_afresh(app):
    org = OrganisationFactory()
    obligation(trial(owner=org), "UK-RES", "overdue")
    reviewer = staff("reviewer")
    db.session.commit()
    before = headline_counts(reviewer)["overdue"]
    obligation(trial(owner=OrganisationFactory()), "UK-END", "overdue")
    db.session.commit()
    assert headline_counts(reviewer)["overdue"] == before + 1
    assert db.session.execute(sa.select(sa.func.count()).select_from(VerdictCache)).scalar() == 0
