"""The life of a PDF job (a certificate or a portfolio report), from request to file.

A web request only writes rows: the ``BackgroundJob`` (whose id is also the RQ job id) and, for a
certificate, the ``Certificate``. After the transaction commits, the job is put on the ``pdf``
queue; if Redis is down the row keeps ``enqueued = False`` and the sweeper enqueues it later.

The worker marks the job started, holds a *lease* (a Redis key with a short TTL that a thread in
the work-horse keeps renewing) while it renders, and finishes or fails the job. The lease is how
the sweeper tells a job that is still being worked on from one whose worker died (SIGKILL, a lost
machine): RQ itself notices a dead worker only after its heartbeat TTL (60 s at least), and does
not requeue a job whose whole worker died.

``sweep()`` (``flask jobs sweep``, run every minute by cron; the status pages also sweep their
own job) makes sure no job waits forever:

* saved but never enqueued (Redis was down): enqueue it now;
* started, lease gone (the worker died): queue it again, up to ``PDF_MAX_ATTEMPTS`` starts;
* queued, but its RQ job is gone (Redis lost it): queue it again;
* failed in RQ (retries exhausted, e.g. killed every time) but not in the database: fail it;
* started for longer than its timeout, or queued for longer than ``PDF_QUEUE_WAIT_SECONDS``
  (no worker running): fail it, with a reason a person can act on.

Running a job twice is harmless: a job that is finished (or failed) does nothing, and issuing is a
compare-and-set on the row, so exactly one result is recorded (see services.certificates.issue).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from rq import Retry

from portal.extensions import db
from portal.models import BackgroundJob, Certificate
from portal.services import after_commit, transactional
from portal.services.audit import record
from portal.timeutil import aware, utcnow

log = logging.getLogger(__name__)

KIND_CERTIFICATE = "certificate"
KIND_REPORT = "report"
KINDS = (KIND_CERTIFICATE, KIND_REPORT)
OPEN = ("queued", "started")
# RQ's own retry, for a failure it sees (an exception, a killed work-horse with a live worker).
RETRY = Retry(max=2, interval=[5, 30])
LEASE_KEY = "portal:pdf-lease:{}"
CERTIFICATE_STATUS = {
    "queued": "queued",
    "started": "rendering",
    "finished": "ready",
    "failed": "failed",
}


def setting(name: str, default: int) -> int:
    """An integer setting: app config, else the environment (workers, tests), else ``default``."""
    value = current_app.config.get(name)
    if value is None:
        value = os.environ.get(name)
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def lease_seconds() -> int:
    return max(1, setting("PDF_LEASE_SECONDS", 30))


def timeout_for(kind: str) -> int:
    if kind == KIND_REPORT:
        return setting("PDF_REPORT_TIMEOUT_SECONDS", 3600)
    return setting("PDF_CERTIFICATE_TIMEOUT_SECONDS", 300)


def _job_function(kind: str) -> Callable[..., Any]:
    from workers.pdf import render_certificate, render_report

    return render_certificate if kind == KIND_CERTIFICATE else render_report


def _job_argument(job: BackgroundJob) -> Any:
    params = job.params or {}
    return params["certificate_id"] if job.kind == KIND_CERTIFICATE else job.id


def _subject(job: BackgroundJob) -> tuple[str, Any]:
    """The audit object of a job: the certificate it makes, or the report job itself."""
    if job.kind == KIND_CERTIFICATE:
        return "certificate", (job.params or {}).get("certificate_id")
    return "report", job.id


def _audit(job: BackgroundJob, event: str, actor: Any = None, **after: Any) -> None:
    object_type, object_id = _subject(job)
    record(
        f"{object_type}.{event}",
        object_type,
        object_id,
        actor=actor,
        organisation_id=job.organisation_id,
        after={"job": job.id, "status": job.status, **after},
    )


def _set_status(job: BackgroundJob, status: str) -> None:
    job.status = status
    if job.kind == KIND_CERTIFICATE:
        db.session.execute(
            sa.update(Certificate)
            .where(Certificate.job_id == job.id, Certificate.status != "ready")
            .values(status=CERTIFICATE_STATUS[status])
        )


def attempts(job: BackgroundJob) -> int:
    return int((job.params or {}).get("attempts", 0))


def _queued_at(job: BackgroundJob) -> datetime | None:
    text = (job.params or {}).get("queued_at")
    try:
        return aware(datetime.fromisoformat(text)) if text else aware(job.created_at)
    except ValueError:
        return aware(job.created_at)


# --- request side --------------------------------------------------------------------------------


def create_job(
    kind: str, params: dict[str, Any], user: Any | None, organisation_id: int | None
) -> BackgroundJob:
    """Add a queued job row inside the caller's transaction (flushed, so it has its id)."""
    job = BackgroundJob(
        kind=kind,
        status="queued",
        progress=0,
        params={**params, "queued_at": utcnow().isoformat()},
        requested_by_id=getattr(user, "id", None),
        organisation_id=organisation_id,
        enqueued=False,
        message="Waiting for a worker",
    )
    db.session.add(job)
    db.session.flush()
    return job


def dispatch_after_commit(job_id: str) -> None:
    """Enqueue the job once the current service transaction has committed."""
    after_commit(lambda: dispatch(job_id))


def dispatch(job_id: str) -> bool:
    """Put the job on the pdf queue; mark it enqueued. False (and logged) if Redis is down."""
    from portal.jobs import QUEUE_PDF, try_enqueue

    job = db.session.get(BackgroundJob, job_id)
    if job is None or job.status not in OPEN:
        return False
    kind, argument = job.kind, _job_argument(job)
    _forget_rq_job(job_id)
    queued = try_enqueue(
        _job_function(kind),
        argument,
        queue_name=QUEUE_PDF,
        job_id=job_id,
        timeout=timeout_for(kind),
        retry=RETRY,
    )
    if queued is None:
        db.session.rollback()
        return False
    db.session.execute(
        sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(enqueued=True)
    )
    db.session.commit()
    return True


def _forget_rq_job(job_id: str) -> None:
    """Delete an earlier RQ job with this id (a dead execution, a failure) before re-enqueueing."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from portal.jobs import redis_connection

    try:
        Job.fetch(job_id, connection=redis_connection()).delete()
    except NoSuchJobError:
        pass
    except Exception as exc:  # Redis down: try_enqueue will fail and say so
        log.debug("could not clear RQ job %s: %s", job_id, exc)


@transactional
def retry(user: Any, job: BackgroundJob) -> None:
    """Start a failed job again (the retry button)."""
    if job.status != "failed":
        return
    job.error = None
    job.progress = 0
    job.enqueued = False
    job.started_at = None
    job.finished_at = None
    job.message = "Waiting for a worker"
    job.params = {**(job.params or {}), "attempts": 0, "queued_at": utcnow().isoformat()}
    _set_status(job, "queued")
    _audit(job, "retried", actor=user)
    dispatch_after_commit(job.id)


# --- worker side ---------------------------------------------------------------------------------


@transactional
def begin(job_id: str) -> bool:
    """Mark the job started (one more attempt). False if there is nothing to do any more."""
    job = db.session.execute(
        sa.select(BackgroundJob).where(BackgroundJob.id == job_id).with_for_update()
    ).scalar_one_or_none()
    if job is None or job.status not in OPEN:
        return False
    if job.kind == KIND_CERTIFICATE:
        certificate = db.session.execute(
            sa.select(Certificate).where(Certificate.job_id == job_id)
        ).scalar_one_or_none()
        if certificate is None or certificate.status == "ready":
            return False
    job.params = {**(job.params or {}), "attempts": attempts(job) + 1}
    job.started_at = utcnow()
    job.progress = 0
    job.error = None
    job.message = "Rendering the PDF"
    _set_status(job, "started")
    _audit(job, "rendering", attempt=attempts(job), worker=_whoami())
    return True


def report_progress(job_id: str, percent: int, message: str) -> None:
    """Progress for the status page (its own short transaction; not audited)."""
    db.session.execute(
        sa.update(BackgroundJob)
        .where(BackgroundJob.id == job_id, BackgroundJob.status == "started")
        .values(progress=max(0, min(99, int(percent))), message=message[:500])
    )
    db.session.commit()


def finish(job: BackgroundJob, result: dict[str, Any], message: str) -> None:
    """Mark the job finished inside the caller's transaction (the one that stores the file)."""
    job.result = result
    job.progress = 100
    job.finished_at = utcnow()
    job.message = message
    job.error = None
    _set_status(job, "finished")
    _audit(job, "issued" if job.kind == KIND_CERTIFICATE else "finished", **result)
    _notify_ready(job)


def _notify_ready(job: BackgroundJob) -> None:
    """Tell the person who asked for the document in their next digest (issue 20)."""
    from portal.models import Trial, User
    from portal.services.notifications import notify_users

    user = db.session.get(User, job.requested_by_id) if job.requested_by_id else None
    if user is None:
        return
    trial_id = (job.params or {}).get("trial_id")
    trial = db.session.get(Trial, trial_id) if trial_id else None
    if job.kind == KIND_CERTIFICATE:
        text = "Your compliance certificate is ready to download from the trial page."
    else:
        text = "Your portfolio report is ready to download."
    extra = {} if trial is not None else {"heading": "Ready to download", "link": "/"}
    notify_users(
        [user], "documents", f"job:{job.id}", text, trial=trial,
        organisation_id=job.organisation_id, extra=extra,
    )  # fmt: skip


@transactional
def fail(job_id: str, reason: str, *, actor: Any | None = None) -> None:
    """Mark the job failed with a reason a person can read; the page shows a retry button."""
    job = db.session.execute(
        sa.select(BackgroundJob).where(BackgroundJob.id == job_id).with_for_update()
    ).scalar_one_or_none()
    if job is None or job.status in ("finished", "failed"):
        return
    job.error = reason[:2000]
    job.finished_at = utcnow()
    job.message = "Failed"
    _set_status(job, "failed")
    _audit(job, "failed", actor=actor, reason=reason[:500])


@transactional
def attempt_failed(job_id: str, reason: str, retries_left: int) -> None:
    """A transient failure: queued again if RQ will retry it, failed otherwise."""
    if retries_left <= 0:
        fail(job_id, reason)
        return
    job = db.session.get(BackgroundJob, job_id)
    if job is None or job.status != "started":
        return
    job.message = f"Attempt {attempts(job)} did not finish ({reason[:200]}); trying again"
    job.params = {**(job.params or {}), "queued_at": utcnow().isoformat()}
    _set_status(job, "queued")
    _audit(job, "requeued", reason=reason[:500])


def _whoami() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def lease(job_id: str) -> Iterator[None]:
    """Hold the job's lease while the body runs: a Redis key renewed every third of its TTL."""
    from portal.jobs import redis_connection

    conn = redis_connection()
    key = LEASE_KEY.format(job_id)
    ttl = lease_seconds()
    me = _whoami()
    conn.set(key, me, ex=ttl)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 3):
            try:
                conn.set(key, me, ex=ttl)
            except Exception as exc:  # Redis blip: the next renewal may work
                log.warning("could not renew the lease of job %s: %s", job_id, exc)

    thread = threading.Thread(target=renew, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        try:
            conn.delete(key)
        except Exception:  # the key expires by itself
            log.debug("could not delete the lease of job %s", job_id)


def lease_holder(job_id: str) -> str | None:
    """Who holds the lease (``host:pid``), or None if nobody is rendering the job."""
    from portal.jobs import redis_connection

    value = redis_connection().get(LEASE_KEY.format(job_id))
    return value.decode() if value is not None else None


# --- the sweeper -----------------------------------------------------------------------------


@dataclass
class SweepReport:
    enqueued: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    redis_down: bool = False

    def __str__(self) -> str:
        text = (
            f"{len(self.enqueued)} enqueued, {len(self.requeued)} requeued after a lost worker, "
            f"{len(self.failed)} marked failed"
        )
        return text + (" (Redis is still unreachable)" if self.redis_down else "")


def sweep(job_ids: list[str] | None = None, now: datetime | None = None) -> SweepReport:
    """Look at every open PDF job (or just ``job_ids``) and move on the ones that are stuck."""
    now = now or utcnow()
    query = sa.select(BackgroundJob.id).where(
        BackgroundJob.kind.in_(KINDS), BackgroundJob.status.in_(OPEN)
    )
    if job_ids is not None:
        query = query.where(BackgroundJob.id.in_(job_ids))
    ids = db.session.execute(query.order_by(BackgroundJob.created_at)).scalars().all()
    db.session.rollback()
    report = SweepReport()
    for job_id in ids:
        try:
            _sweep_one(job_id, now, report)
        except Exception:
            db.session.rollback()
            log.exception("sweeping job %s failed", job_id)
    return report


def _rq_state(job_id: str) -> tuple[str | None, datetime | None, str | None]:
    """(RQ status or None if RQ has no such job, when it started, its failure reason)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from portal.jobs import redis_connection

    try:
        rq_job = Job.fetch(job_id, connection=redis_connection())
    except NoSuchJobError:
        return None, None, None
    status = rq_job.get_status(refresh=False)
    reason = None
    if status == "failed":
        result = rq_job.latest_result()
        text = (getattr(result, "exc_string", None) or "").strip()
        reason = text.splitlines()[-1] if text else "the worker gave up"
    started = rq_job.started_at
    if started is not None and started.tzinfo is None:
        started = aware(started)
    return str(status), started, reason


def _sweep_one(job_id: str, now: datetime, report: SweepReport) -> None:
    job = db.session.get(BackgroundJob, job_id)
    if job is None or job.status not in OPEN:
        return
    kind = job.kind
    timeout = timeout_for(kind)
    grace = lease_seconds() * 2
    started_at = aware(job.started_at)
    queued_at = _queued_at(job) or now

    if (
        job.status == "started"
        and started_at
        and now - started_at > timedelta(seconds=timeout + grace)
    ):
        _stop_rq_job(job_id)
        minutes = max(1, round(timeout / 60))
        fail(job_id, f"It took longer than {minutes} minute(s), so it was stopped. Try again.")
        report.failed.append(job_id)
        return
    wait_limit = setting("PDF_QUEUE_WAIT_SECONDS", 1800)
    if job.status == "queued" and now - queued_at > timedelta(seconds=wait_limit):
        _stop_rq_job(job_id)
        fail(
            job_id,
            f"No worker started it within {max(1, round(wait_limit / 60))} minute(s). "
            "Try again; if it happens again, tell the portal's administrator.",
        )
        report.failed.append(job_id)
        return

    if not job.enqueued:
        db.session.rollback()
        if dispatch(job_id):
            _mark(job_id, "enqueued", reason="the job queue is reachable again")
            report.enqueued.append(job_id)
        else:
            report.redis_down = True
        return

    try:
        rq_status, rq_started, rq_reason = _rq_state(job_id)
        holder = lease_holder(job_id)
    except Exception as exc:
        log.warning("sweep: Redis unreachable (%s)", exc)
        report.redis_down = True
        db.session.rollback()
        return

    if rq_status == "failed":
        fail(job_id, f"The worker could not make it: {rq_reason}")
        report.failed.append(job_id)
        return
    if holder is not None:
        return  # a worker is rendering it right now
    lease = timedelta(seconds=lease_seconds())
    abandoned = (
        job.status == "started" and started_at is not None and now - started_at > lease
    ) or (rq_status == "started" and rq_started is not None and now - rq_started > 2 * lease)
    # Redis lost the job (flushed, restored from an old snapshot), or it ended without a result.
    lost = rq_status in (None, "finished", "stopped", "canceled")
    if not (abandoned or lost):
        return
    if attempts(job) >= setting("PDF_MAX_ATTEMPTS", 3):
        _stop_rq_job(job_id)
        fail(
            job_id,
            f"The worker stopped in the middle {attempts(job)} times. Try again later; if it "
            "happens again, tell the portal's administrator.",
        )
        report.failed.append(job_id)
        return
    _requeue(job_id, "the worker running it stopped" if abandoned else "the queue lost it")
    db.session.rollback()
    if dispatch(job_id):
        report.requeued.append(job_id)
    else:
        report.redis_down = True


@transactional
def _requeue(job_id: str, reason: str) -> None:
    job = db.session.get(BackgroundJob, job_id)
    if job is None or job.status not in OPEN:
        return
    job.enqueued = False
    job.progress = 0
    job.message = f"Queued again: {reason}"
    job.params = {**(job.params or {}), "queued_at": utcnow().isoformat()}
    _set_status(job, "queued")
    _audit(job, "requeued", reason=reason)


@transactional
def _mark(job_id: str, event: str, **after: Any) -> None:
    job = db.session.get(BackgroundJob, job_id)
    if job is not None:
        _audit(job, event, **after)


def _stop_rq_job(job_id: str) -> None:
    """Best effort: stop a still-running execution and drop the RQ job."""
    from rq.command import send_stop_job_command

    from portal.jobs import redis_connection

    try:
        send_stop_job_command(redis_connection(), job_id)
    except Exception as exc:  # not running, or Redis down
        log.debug("stop command for %s: %s", job_id, exc)
    _forget_rq_job(job_id)
