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


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="two writers at once need PostgreSQL (set TEST_DATABASE_URL)",
)
def test_two_concurrent_runs_send_each_digest_once(app):
    day = date(2026, 12, 4)
    people = []
    for _ in range(6):
        org = OrganisationFactory()
        people += [member("sponsor", org).id, member("compliance_officer", org).id]
        for n in range(15):
            held = trial(owner=org)
            duty(held, "UK-END", day - timedelta(days=7 * (n + 1)), "overdue")
            duty(held, "UK-RES", day + timedelta(days=30))
    db.session.commit()
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
