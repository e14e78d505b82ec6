"""Recompute every trial's obligations: daily (statuses move with the date), or after the rule
parameters change, from the facts stored with each trial's verdicts (or, on request, from its
records: see ``portal.services.obligations``). One transaction per chunk of trials, so a crash
loses at most one chunk and a re-run simply carries on (a recompute that changes nothing writes
nothing)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import DBAPIError

from portal.extensions import db
from portal.models import BackgroundJob, Trial
from portal.timeutil import today, utcnow
from workers.context import job

log = logging.getLogger(__name__)

DAILY_TIMEOUT_SECONDS = 4 * 3600
CHUNK = 2000
PROGRESS_EVERY_SECONDS = 2.0


def _set_job(job_id: str | None, **values: Any) -> None:
    if job_id:
        db.session.execute(
            sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(**values)
        )


@job
def recompute_all(
    as_of_iso: str | None = None,
    background_job_id: str | None = None,
    reason: str = "daily",
    after_id: int = 0,
    last_id: int | None = None,
    chunk: int = CHUNK,
    from_records: bool = False,
) -> dict[str, Any]:
    """The RQ job: see :func:`recompute_everything`. A full run over many trials is split into
    ``RECOMPUTE_PARTS`` jobs over id ranges, so that every worker takes a share (see
    :func:`_fan_out`)."""
    if after_id == 0 and last_id is None:
        parts = int(current_app.config.get("RECOMPUTE_PARTS", 4))
        total = db.session.execute(sa.select(sa.func.count(Trial.id))).scalar_one()
        db.session.rollback()
        if parts > 1 and total >= FAN_OUT_MIN_TRIALS:
            return _fan_out(as_of_iso, background_job_id, reason, parts, total, chunk, from_records)
    return recompute_everything(
        as_of_iso, background_job_id, reason, after_id, last_id, chunk, from_records=from_records
    )


# A full recompute of at least this many trials is shared between workers.
FAN_OUT_MIN_TRIALS = 20_000


def _fan_out(
    as_of_iso: str | None,
    background_job_id: str | None,
    reason: str,
    parts: int,
    total: int,
    chunk: int,
    from_records: bool = False,
) -> dict[str, Any]:
    """Enqueue one ``recompute_part`` job per id range and a ``finish_recompute`` job that runs
    when they have all ended. The parts report progress on the same BackgroundJob."""
    from portal.jobs import enqueue
    from portal.services.obligations import id_ranges

    as_of = date.fromisoformat(as_of_iso) if as_of_iso else today()
    started_at = utcnow()
    if background_job_id is None:
        background_job_id = _new_job(reason, as_of)
    size = -(-total // parts)  # ceil
    ranges = list(id_ranges(size))
    _set_job(
        background_job_id,
        status="started",
        started_at=started_at,
        progress=0,
        message=f"Recomputing {total:,} trials as of {as_of.isoformat()} in {len(ranges)} parts",
    )
    db.session.commit()
    try:
        _progress_key(background_job_id, reset=True)
        part_jobs = [
            enqueue(
                recompute_part,
                as_of.isoformat(),
                background_job_id,
                reason,
                lo,
                hi,
                total,
                chunk,
                from_records,
                timeout=DAILY_TIMEOUT_SECONDS,
                retry=None,
            )
            for lo, hi in ranges
        ]
        _enqueue_finish(background_job_id, as_of, started_at, [j.id for j in part_jobs])
    except Exception as exc:  # Redis went away between parts: say so rather than wait forever
        _set_job(
            background_job_id,
            status="failed",
            error=f"could not queue its parts: {exc}"[:2000],
            message="The recompute could not be shared between workers; run it again",
            finished_at=utcnow(),
        )
        db.session.commit()
        raise
    return {"as_of": as_of.isoformat(), "parts": [j.id for j in part_jobs], "trials": total}


def _enqueue_finish(job_id: str, as_of: date, started_at, part_ids: list[str]) -> None:
    from rq.job import Dependency

    from portal.jobs import queue

    queue("default").enqueue(
        finish_recompute,
        job_id,
        as_of.isoformat(),
        started_at.isoformat(),
        part_ids,
        depends_on=Dependency(jobs=part_ids, allow_failure=True),
        job_timeout=600,
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
    )


def _progress_key(job_id: str, reset: bool = False) -> str:
    from portal.jobs import redis_connection

    key = f"portal:recompute:{job_id}:done"
    if reset:
        redis_connection().delete(key)
    return key


@job
def recompute_part(
    as_of_iso: str,
    background_job_id: str,
    reason: str,
    after_id: int,
    last_id: int,
    total: int,
    chunk: int = CHUNK,
    from_records: bool = False,
) -> dict[str, Any]:
    """One id range of a shared recompute; adds its progress to the shared BackgroundJob."""
    from portal.jobs import redis_connection

    key = _progress_key(background_job_id)

    def report(trials: int) -> None:
        done = int(redis_connection().incrby(key, trials))
        percent = min(99, done * 100 // max(total, 1))
        db.session.execute(
            sa.update(BackgroundJob)
            .where(BackgroundJob.id == background_job_id, BackgroundJob.progress < percent)
            .values(
                progress=percent, message=f"{min(done, total):,} of {total:,} trials recomputed"
            )
        )
        db.session.commit()

    return recompute_everything(
        as_of_iso,
        None,
        reason,
        after_id,
        last_id,
        chunk,
        on_chunk=report,
        from_records=from_records,
    )


@job
def finish_recompute(
    background_job_id: str, as_of_iso: str, started_at_iso: str, part_ids: list[str]
) -> dict[str, Any]:
    """After every part has ended: add up their results and close the BackgroundJob (failed,
    naming the first error, if any part failed)."""
    from datetime import datetime

    from rq.job import Job

    from portal.jobs import redis_connection
    from portal.services.obligations import RecomputeStats

    stats = RecomputeStats()
    errors = []
    seconds = 0.0
    for part_id in part_ids:
        part = Job.fetch(part_id, connection=redis_connection())
        result = part.return_value() if part.get_status() == "finished" else None
        if not isinstance(result, dict):
            latest = part.latest_result()
            text = (getattr(latest, "exc_string", None) or "").strip()
            errors.append(text.splitlines()[-1] if text else f"part {part_id} did not finish")
            continue
        seconds = max(seconds, float(result.get("seconds") or 0))
        for name in stats.as_dict():
            setattr(stats, name, getattr(stats, name) + int(result.get(name) or 0))
    redis_connection().delete(_progress_key(background_job_id))
    if errors:
        _set_job(
            background_job_id,
            status="failed",
            error="; ".join(errors)[:2000],
            message=f"{len(errors)} of {len(part_ids)} parts failed; run it again",
            finished_at=utcnow(),
        )
        db.session.commit()
        return {"failed": errors}
    result = {"as_of": as_of_iso, "parts": len(part_ids), "seconds": seconds, **stats.as_dict()}
    _set_finished(background_job_id, result, stats)
    _supersede_waiting_jobs(
        datetime.fromisoformat(started_at_iso), background_job_id, date.fromisoformat(as_of_iso)
    )
    db.session.commit()
    log.info("obligations recomputed in %d parts: %s", len(part_ids), result)
    return result


def recompute_everything(
    as_of_iso: str | None = None,
    background_job_id: str | None = None,
    reason: str = "daily",
    after_id: int = 0,
    last_id: int | None = None,
    chunk: int = CHUNK,
    on_chunk: Callable[[int], None] | None = None,
    from_records: bool = False,
) -> dict[str, Any]:
    """Recompute trials (all, or ``after_id < id <= last_id``) as of ``as_of_iso`` (default
    today), updating the BackgroundJob ``background_job_id`` with progress when given, and
    calling ``on_chunk(trials)`` after each committed chunk. Needs an app context (the command
    line and the benchmark call this directly).

    Trials are evaluated from the facts stored with their verdicts; ``from_records`` rebuilds
    the facts from the registry entries and sponsor facts instead (``flask obligations
    recompute-all --from-records``, after a change to how facts are read)."""
    from portal.domain.parameters import current_params
    from portal.services.obligations import RecomputeStats, id_ranges

    started = time.perf_counter()
    started_at = utcnow()
    as_of = date.fromisoformat(as_of_iso) if as_of_iso else today()
    version, params = current_params()
    total_query = sa.select(sa.func.count(Trial.id)).where(Trial.id > after_id)
    if last_id is not None:
        total_query = total_query.where(Trial.id <= last_id)
    total = db.session.execute(total_query).scalar_one()
    if background_job_id is None and after_id == 0 and last_id is None:
        background_job_id = _new_job(reason, as_of)  # a full run shows its progress too
    _set_job(
        background_job_id,
        status="started",
        started_at=utcnow(),
        progress=0,
        message=f"Recomputing {total:,} trials as of {as_of.isoformat()}",
    )
    db.session.commit()

    stats = RecomputeStats()
    last_report = time.perf_counter()
    # Each chunk makes ~100k short-lived objects: collect young garbage less often (~5% faster).
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
    try:
        for lo, hi in list(id_ranges(chunk, after_id, last_id)):
            done = _chunk(lo, hi, reason, as_of, version, params, from_records)
            stats.add(done)
            if on_chunk is not None:
                on_chunk(done.trials)
            if background_job_id and time.perf_counter() - last_report > PROGRESS_EVERY_SECONDS:
                last_report = time.perf_counter()
                _set_job(
                    background_job_id,
                    progress=min(99, stats.trials * 100 // max(total, 1)),
                    message=f"{stats.trials:,} of {total:,} trials recomputed",
                )
                db.session.commit()
    except Exception as exc:
        db.session.rollback()
        _set_job(background_job_id, status="failed", error=str(exc)[:2000], finished_at=utcnow())
        db.session.commit()
        raise
    finally:
        gc.set_threshold(*thresholds)
    result = {
        "as_of": as_of.isoformat(),
        "params_version": version,
        "seconds": round(time.perf_counter() - started, 3),
        **stats.as_dict(),
    }
    _set_finished(background_job_id, result, stats)
    if after_id == 0 and last_id is None:
        _supersede_waiting_jobs(started_at, background_job_id, as_of, from_records)
    db.session.commit()
    log.info("obligations recomputed: %s", result)
    return result


def _set_finished(job_id: str | None, result: dict[str, Any], stats: Any) -> None:
    _set_job(
        job_id,
        status="finished",
        progress=100,
        finished_at=utcnow(),
        result=result,
        message=f"{stats.trials:,} trials recomputed ({stats.status_changes:,} status changes)",
    )


def _new_job(reason: str, as_of: date) -> str:
    from portal.services.obligations import RECOMPUTE_JOB_KIND

    job = BackgroundJob(
        kind=RECOMPUTE_JOB_KIND,
        params={"reason": reason, "as_of": as_of.isoformat()},
        enqueued=True,
    )
    db.session.add(job)
    db.session.flush()
    return job.id


def _supersede_waiting_jobs(
    started_at, job_id: str | None, as_of: date, from_records: bool | None = None
) -> None:
    """A full recompute does what older recomputes still waiting would do: mark them done, so
    that a recompute whose enqueueing failed (Redis down) does not show as waiting forever. One
    from the stored facts does not do what a waiting ``from_records`` recompute would."""
    from portal.services.obligations import RECOMPUTE_JOB_KIND

    if from_records is None:  # the shared job's parts: as its BackgroundJob was asked
        current = db.session.get(BackgroundJob, job_id) if job_id else None
        from_records = bool(((current.params if current else None) or {}).get("from_records"))
    waiting = [
        row.id
        for row in db.session.execute(
            sa.select(BackgroundJob.id, BackgroundJob.params).where(
                BackgroundJob.kind == RECOMPUTE_JOB_KIND,
                BackgroundJob.status == "queued",
                BackgroundJob.created_at < started_at,
                BackgroundJob.id != (job_id or ""),
            )
        )
        if from_records or not (row.params or {}).get("from_records")
    ]
    if not waiting:
        return
    db.session.execute(
        sa.update(BackgroundJob)
        .where(BackgroundJob.id.in_(waiting))
        .values(
            status="finished",
            progress=100,
            finished_at=utcnow(),
            message=f"Done by the recompute of every trial as of {as_of.isoformat()}",
        )
    )


def _chunk(
    lo: int, hi: int, reason: str, as_of: date, version: int, params, from_records: bool = False
) -> Any:
    """One chunk in its own transaction; retried once (e.g. a deadlock with an import)."""
    from portal.services.obligations import recompute_range

    for attempt in (1, 2):
        try:
            stats = recompute_range(
                lo,
                hi,
                reason=reason,
                as_of=as_of,
                version=version,
                params=params,
                from_records=from_records,
            )
            db.session.commit()
            return stats
        except DBAPIError:
            db.session.rollback()
            if attempt == 2:
                raise
            log.warning("recompute of trials %s..%s failed; retrying once", lo + 1, hi)
    raise AssertionError("unreachable")
