"""Exactly once under two concurrent runs of the daily job (PostgreSQL)."""

from __future__ import annotations

import os
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Notification, NotificationDigest, OutboxEmail
from portal.services.notifications import run_daily
from tests.factories import OrganisationFactory, member, trial
from tests.notifications.conftest import duty

pytestmark = pytest.mark.postgres


def _portfolios(day: date, organisations: int, trials_each: int) -> list[int]:
    """Organisations of a sponsor and a compliance officer each, every trial with one duty
    overdue and one due in 30 days; committed. Returns the people's ids."""
    people = []
    for _ in range(organisations):
        org = OrganisationFactory()
        people += [member("sponsor", org).id, member("compliance_officer", org).id]
        for n in range(trials_each):
            held = trial(owner=org)
            duty(held, "UK-END", day - timedelta(days=7 * (n + 1)), "overdue")
            duty(held, "UK-RES", day + timedelta(days=30))
    db.session.commit()
    return people


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="two writers at once need PostgreSQL (set TEST_DATABASE_URL)",
)
def test_two_concurrent_runs_send_each_digest_once(app):
    day = date(2026, 12, 4)
    people = _portfolios(day, organisations=6, trials_each=15)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def worker() -> None:
        with app.app_context():
            try:
                barrier.wait()
                results.append(run_daily(day, deliver=False))
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert sum(r.digests for r in results) == len(people)
    db.session.expire_all()
    digests = db.session.execute(sa.select(NotificationDigest.user_id)).scalars().all()
    assert sorted(digests) == sorted(people)
    assert db.session.execute(sa.select(sa.func.count(OutboxEmail.id))).scalar_one() == len(people)
    keys = db.session.execute(sa.select(Notification.user_id, Notification.key)).all()
    assert len(keys) == len(set(keys)) == len(people) * 30 + 6  # + each officer's summary
    unsent = db.session.execute(
        sa.select(sa.func.count(Notification.id)).where(Notification.digest_id.is_(None))
    ).scalar_one()
    assert unsent == 0


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="the digests are built in several processes only on PostgreSQL",
)
def test_digests_built_by_two_processes_once_each(app, monkeypatch):
    """With NOTIFY_SPLIT_FROM reached, two forked processes build the digests, each for a range
    of people: every person gets one digest carrying all their items, and the summary adds up."""
    from portal.services.notifications import daily

    app.config.update(NOTIFY_PROCESSES=2, NOTIFY_SPLIT_FROM=2)
    split = []
    real = daily._send_in_processes

    def spy(*args, **kwargs):
        split.append(args[4])
        return real(*args, **kwargs)

    monkeypatch.setattr(daily, "_send_in_processes", spy)
    day = date(2026, 12, 4)
    people = _portfolios(day, organisations=4, trials_each=5)
    summary = run_daily(day, deliver=False)
    assert split == [2]
    assert summary.digests == len(people)
    assert sum(summary.sent.values()) == len(people) * 10 + 4  # + each officer's summary
    db.session.expire_all()
    digests = db.session.execute(
        sa.select(NotificationDigest.user_id, NotificationDigest.items)
    ).all()
    assert sorted(u for u, _ in digests) == sorted(people)
    assert sum(n for _, n in digests) == len(people) * 10 + 4
    emails = db.session.execute(sa.select(OutboxEmail.to, OutboxEmail.subject)).all()
    assert len(emails) == len(people)
    assert all(subject.startswith("5 overdue: ") for _, subject in emails)
    unsent = db.session.execute(
        sa.select(sa.func.count(Notification.id)).where(Notification.digest_id.is_(None))
    ).scalar_one()
    assert unsent == 0
    again = run_daily(day, deliver=False)
    assert again.digests == 0
