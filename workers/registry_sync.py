"""Registry sync jobs (queue ``import``): "Sync now" and the daily schedule. Progress goes on
the BackgroundJob; a failed sync is retried by RQ and resumes after its last committed page."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import BackgroundJob
from portal.timeutil import utcnow
from workers.context import job

log = logging.getLogger(__name__)


def _update_job(job_id: str, **values) -> None:
    db.session.execute(sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(**values))
    db.session.commit()


@job
def registry_sync(job_id: str) -> dict | None:
    """Run (or resume, when RQ retries) the sync recorded on job ``job_id``."""
    from portal.services.registry_sync import (
        SOURCES,
        SyncError,
        SyncSettings,
        combined_report,
        sync_source,
    )

    record = db.session.get(BackgroundJob, job_id)
    if record is None or record.status == "finished":
        return None
    registry = (record.params or {}).get("registry") or "all"
    sources = list(SOURCES) if registry == "all" else [registry]
    _update_job(job_id, status="started", started_at=utcnow(), error=None, message="Starting")
    settings = SyncSettings.from_config(current_app.config)
    reports = []
    for number, source in enumerate(sources):
        name = SOURCES[source]

        def progress(p, number=number, name=name) -> None:
            share = (number + p.percent / 100) / len(sources)
            _update_job(
                job_id,
                progress=min(99, int(100 * share)),
                message=f"{name}: {p.counts.records_seen:,} records read",
            )

        try:
            _run_id, report = sync_source(source, settings=settings, progress=progress)
        except SyncError as exc:
            db.session.rollback()
            _update_job(job_id, status="failed", error=exc.message[:500], message=exc.message)
            raise  # RQ retries; the retry resumes after what was committed
        except Exception as exc:
            db.session.rollback()
            _update_job(job_id, status="failed", error=str(exc)[:500], message="The sync stopped")
            raise
        reports.append(report)
    total = combined_report(reports)
    summary = {key: value for key, value in total.items() if key != "rejected"}
    summary["rejected"] = len(total["rejected"])
    _update_job(
        job_id,
        status="finished",
        progress=100,
        message=f"{total['records_seen']:,} records read",
        result=summary,
        finished_at=utcnow(),
    )
    return summary


@job
def daily_sync() -> str | None:
    """The scheduler's job: record and enqueue a sync of every registry (a sync already
    waiting or running is left to finish)."""
    from portal.services.registry_sync.jobs import request_sync

    return request_sync(None, "all", reason="daily")
