"""Uploaded import files: checking, storing, queueing and sweeping them."""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.services import ServiceError, transactional
from portal.services.audit import record as audit_record
from portal.services.imports.runs import (
    start_run,
)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- uploads

UPLOAD_SUBFOLDER = "imports"
IMPORT_JOB_KIND = "import"
UPLOAD_JOB_TIMEOUT_SECONDS = 3600
_CHUNK = 1024 * 1024


def upload_problem(head: bytes) -> str | None:
    """Why the start of an uploaded file is not something the importer reads (None: fine)."""
    from portal.registries import FORMATS, detect_format
    from portal.registries.detect import CONTAINERS, REJECTED_FORMATS

    if not head.strip():
        return "The selected file is empty"
    fmt = detect_format(head)
    if fmt in FORMATS or fmt in CONTAINERS:
        return None
    if fmt in REJECTED_FORMATS:
        return (
            f"The selected file is not a registry export the portal reads: {REJECTED_FORMATS[fmt]}"
        )
    return (
        "The selected file is not a registry export the portal reads. Upload a "
        "ClinicalTrials.gov, ISRCTN, EU or WHO ICTRP export (JSON, XML, CSV or text), or a zip file"
    )


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MB"
    return f"{max(1, size // 1024)} KB"


def _display_filename(name: str | None) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "upload"


def store_upload(stream, head: bytes, folder: str, max_bytes: int | None) -> tuple[str, int, bool]:
    """Write ``head`` + the rest of ``stream`` to ``folder``/<sha256>; return (sha256, size,
    whether the file is new). A file over ``max_bytes`` is removed and refused."""
    import tempfile

    os.makedirs(folder, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ServiceError(
                        f"The selected file must be smaller than {size_text(max_bytes)}",
                        field="export",
                    )
                digest.update(chunk)
                out.write(chunk)
                chunk = stream.read(_CHUNK)
        sha = digest.hexdigest()
        final = os.path.join(folder, sha)
        if os.path.exists(final):
            os.remove(temp)
            return sha, size, False
        os.replace(temp, final)
        return sha, size, True
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def accept_upload(actor: Any, upload: Any) -> int:
    """Check and store an uploaded registry export, create its ImportRun and BackgroundJob and
    enqueue the import (after commit). Returns the run id. Refusals raise ServiceError and
    store nothing."""
    from flask import current_app

    from portal.registries.streams import HEAD_SIZE

    head = upload.stream.read(HEAD_SIZE)
    problem = upload_problem(head)
    if problem:
        raise ServiceError(problem, field="export")
    folder = os.path.join(current_app.config["UPLOAD_FOLDER"], UPLOAD_SUBFOLDER)
    max_bytes = current_app.config.get("MAX_CONTENT_LENGTH")
    sha, size, created = store_upload(upload.stream, head, folder, max_bytes)
    try:
        return _record_upload(actor, _display_filename(upload.filename), sha, size, head)
    except BaseException:
        if created:
            os.remove(os.path.join(folder, sha))
        raise


@transactional
def _record_upload(actor: Any, filename: str, sha: str, size: int, head: bytes) -> int:
    from portal.models import BackgroundJob
    from portal.registries import detect_format
    from portal.services import after_commit

    job = BackgroundJob(
        kind=IMPORT_JOB_KIND,
        status="queued",
        progress=0,
        message="Waiting for a worker",
        params={"file": f"{UPLOAD_SUBFOLDER}/{sha}", "filename": filename},
        requested_by_id=getattr(actor, "id", None),
    )
    db.session.add(job)
    db.session.flush()
    job_id = job.id
    run_id = start_run(filename, actor=actor, job_id=job_id)
    job.params = {**job.params, "run_id": run_id}
    audit_record(
        "import.uploaded",
        "import_run",
        run_id,
        actor=actor,
        after={"filename": filename, "sha256": sha, "bytes": size, "format": detect_format(head)},
    )

    after_commit(lambda: enqueue_upload(job_id))
    return run_id


def enqueue_upload(job_id: str, *, reason: str | None = None) -> bool:
    """Put an upload's import on the import queue and mark its job enqueued (committed).
    False when Redis is unreachable: the job stays saved, and ``flask jobs sweep`` (every
    minute) calls this again until it succeeds."""
    from portal.jobs import QUEUE_IMPORT, try_enqueue
    from portal.models import BackgroundJob
    from workers.imports import import_upload

    queued = try_enqueue(
        import_upload,
        job_id,
        queue_name=QUEUE_IMPORT,
        job_id=job_id,
        timeout=UPLOAD_JOB_TIMEOUT_SECONDS,
    )
    if queued is None:
        return False
    db.session.execute(
        sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(enqueued=True)
    )
    if reason:  # enqueued late (by the sweeper): say when and why
        audit_record("import.enqueued", "background_job", job_id, after={"reason": reason})
    db.session.commit()
    return True


def sweep_uploads() -> tuple[int, int]:
    """Enqueue the uploads saved while Redis was unreachable. Returns (enqueued, still waiting)."""
    from portal.models import BackgroundJob

    waiting = (
        db.session.execute(
            sa.select(BackgroundJob.id)
            .where(
                BackgroundJob.kind == IMPORT_JOB_KIND,
                BackgroundJob.status == "queued",
                BackgroundJob.enqueued.is_(False),
            )
            .order_by(BackgroundJob.created_at)
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    done = 0
    for job_id in waiting:
        if not enqueue_upload(job_id, reason="the job queue is reachable again"):
            break  # Redis is still away: the next sweep tries again
        done += 1
    return done, len(waiting) - done
