"""Fixtures for the certificate and report tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def work(app):
    """Run every queued job in a real RQ worker (burst mode, forking a work-horse per job).

    Like tests/conftest.py ``run_jobs``, but the session is committed rather than closed, so the
    rows a test holds stay usable afterwards (they reload); the signed-in user cached in the
    shared app context is dropped so that the next request loads it afresh."""
    from flask import g
    from rq import Worker

    from portal.extensions import db
    from portal.jobs import ALL_QUEUES, redis_connection

    def run() -> None:
        db.session.commit()
        Worker(list(ALL_QUEUES), connection=redis_connection()).work(burst=True)
        db.session.expire_all()
        g.pop("_login_user", None)

    return run
