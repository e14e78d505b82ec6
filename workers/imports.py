"""Import an uploaded registry export (queue ``import``); progress goes on its BackgroundJob."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import BackgroundJob, ImportRun, User
from portal.timeutil import utcnow
from workers.context import job

log = logging.getLogger(__name__)


def _update_job(job_id: str, **values) -> None:
    db.session.execute(sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(**values))
    db.session.commit()


@job
def import_upload(job_id: str) -> dict | None:
    """Run (or resume, when RQ retries) the import of the upload recorded on job ``job_id``."""
    from portal.services.imports import run_import

    record = db.session.get(BackgroundJob, job_id)
    if record is None or record.status == "finished":
        return None
    params = dict(record.params or {})
    run_id = int(params["run_id"])
    filename = params.get("filename") or "upload"
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], params["file"])
    actor = None
    if record.requested_by_id is not None:
        user = db.session.get(User, record.requested_by_id)
        if user is not None:  # a plain object: the import commits (and expunges) per batch
            actor = SimpleNamespace(id=user.id, email=user.email)
    _update_job(
        job_id,
        status="started",
        started_at=utcnow(),
        error=None,
        message="Reading the file",
    )
    if not os.path.exists(path):
        message = "The uploaded file is no longer in the file store; upload it again."
        _update_job(job_id, status="failed", error=message, message=message, finished_at=utcnow())
        db.session.execute(
            sa.update(ImportRun)
            .where(ImportRun.id == run_id)
            .values(status="failed", error=message, finished_at=utcnow())
        )
        db.session.commit()
        return None

    def progress(p) -> None:
        _update_job(
            job_id,
            progress=min(p.percent, 99),
            message=f"{p.counts.records_seen:,} records read",
        )

    try:
        report = run_import(
            run_id, [path], actor=actor, progress=progress, display_names={path: filename}
        )
    except Exception as exc:
        db.session.rollback()
        _update_job(job_id, status="failed", error=str(exc)[:500], message="The import stopped")
        raise  # RQ retries; the retry resumes the run after what it committed
    summary = {key: value for key, value in report.items() if key != "rejected"}
    summary["rejected"] = len(report["rejected"])
    _update_job(
        job_id,
        status="finished",
        progress=100,
        message=f"{report['records_seen']:,} records read",
        result={"run_id": run_id, **summary},
        finished_at=utcnow(),
    )
    return summary
