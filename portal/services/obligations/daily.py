"""The daily (and after-change) recompute of every trial: starting and queueing it, and its id
ranges."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    BackgroundJob,
)
from portal.services import after_commit
from portal.services.obligations.recompute import (
    CHUNK,
)
from portal.services.obligations.storing import (
    T,
)

log = logging.getLogger(__name__)

RECOMPUTE_JOB_KIND = "obligations.recompute"


def start_recompute_all(
    *,
    reason: str,
    requested_by: Any | None = None,
    as_of: date | None = None,
    from_records: bool = False,
) -> BackgroundJob:
    """Record a recompute of every trial and enqueue it after the current transaction commits
    (inside a @transactional service). The BackgroundJob row drives what pages show."""
    from portal.jobs import try_enqueue
    from workers.obligations import CHUNK as JOB_CHUNK
    from workers.obligations import DAILY_TIMEOUT_SECONDS, recompute_all

    job = BackgroundJob(
        kind=RECOMPUTE_JOB_KIND,
        params={
            "reason": reason,
            "as_of": as_of.isoformat() if as_of else None,
            "from_records": from_records,
        },
        requested_by_id=getattr(requested_by, "id", None),
        message="Waiting for a worker",
    )
    db.session.add(job)
    db.session.flush()
    job_id = job.id
    as_of_iso = as_of.isoformat() if as_of else None

    def enqueue() -> None:
        queued = try_enqueue(
            recompute_all,
            as_of_iso,
            job_id,
            reason,
            0,
            None,
            JOB_CHUNK,
            from_records,
            job_id=job_id,
            timeout=DAILY_TIMEOUT_SECONDS,
        )
        if queued is not None:
            db.session.execute(
                sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(enqueued=True)
            )
            db.session.commit()

    after_commit(enqueue)
    return job


def enqueue_recompute_all(
    *, reason: str, as_of: date | None = None, from_records: bool = False
) -> str | None:
    """Enqueue a recompute of every trial now (command line); None when Redis is unreachable."""
    from portal.services import transactional

    @transactional
    def start() -> str:
        return start_recompute_all(reason=reason, as_of=as_of, from_records=from_records).id

    job_id = start()
    job = db.session.get(BackgroundJob, job_id)
    return job_id if job is not None and job.enqueued else None


def latest_recompute_job() -> BackgroundJob | None:
    return db.session.execute(
        sa.select(BackgroundJob)
        .where(BackgroundJob.kind == RECOMPUTE_JOB_KIND)
        .order_by(BackgroundJob.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def id_ranges(
    chunk: int = CHUNK, after_id: int = 0, last_id: int | None = None
) -> Iterator[tuple[int, int]]:
    """(after_id, last_id) bounds of consecutive chunks of ``chunk`` trial ids, in id order."""
    while True:
        query = sa.select(T.c.id).where(T.c.id > after_id)
        if last_id is not None:
            query = query.where(T.c.id <= last_id)
        bound = db.session.execute(query.order_by(T.c.id).offset(chunk - 1).limit(1)).scalar()
        if bound is None:
            top = sa.select(sa.func.max(T.c.id)).where(T.c.id > after_id)
            if last_id is not None:
                top = top.where(T.c.id <= last_id)
            bound = db.session.execute(top).scalar()
            if bound is None:
                return
            yield after_id, bound
            return
        yield after_id, bound
        after_id = bound
