"""A sync as a background job: the "Sync now" button and the daily schedule (issue 19)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import BackgroundJob
from portal.services import transactional
from portal.services.audit import record as audit_record
from portal.timeutil import utcnow

SYNC_JOB_KIND = "registry_sync"
SYNC_JOB_TIMEOUT_SECONDS = 6 * 3600


def running_sync_job() -> BackgroundJob | None:
    """The sync job waiting or running, if any (one that outlived its timeout is not)."""
    stale = utcnow() - timedelta(seconds=SYNC_JOB_TIMEOUT_SECONDS)
    return db.session.scalars(
        sa.select(BackgroundJob)
        .where(
            BackgroundJob.kind == SYNC_JOB_KIND,
            BackgroundJob.status.in_(("queued", "started")),
            BackgroundJob.created_at >= stale,
        )
        .order_by(BackgroundJob.created_at.desc())
        .limit(1)
    ).first()


@transactional
def request_sync(actor: Any | None, registry: str = "all", *, reason: str = "requested") -> str:
    """Record a sync job (or return the one already waiting or running) and enqueue it after
    commit on the import queue. Returns the job id."""
    from portal.services import after_commit

    waiting = running_sync_job()
    if waiting is not None:
        return waiting.id
    job = BackgroundJob(
        kind=SYNC_JOB_KIND,
        status="queued",
        progress=0,
        message="Waiting for a worker",
        params={"registry": registry, "reason": reason},
        requested_by_id=getattr(actor, "id", None),
    )
    db.session.add(job)
    db.session.flush()
    job_id = job.id
    audit_record(
        "registry_sync.requested",
        "background_job",
        job_id,
        actor=actor,
        after={"registry": registry, "reason": reason},
    )
    after_commit(lambda: enqueue_sync(job_id))
    return job_id


def enqueue_sync(job_id: str) -> bool:
    from portal.jobs import QUEUE_IMPORT, try_enqueue
    from workers.registry_sync import registry_sync

    queued = try_enqueue(
        registry_sync,
        job_id,
        queue_name=QUEUE_IMPORT,
        job_id=job_id,
        timeout=SYNC_JOB_TIMEOUT_SECONDS,
    )
    if queued is None:
        return False
    db.session.execute(
        sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(enqueued=True)
    )
    db.session.commit()
    return True
