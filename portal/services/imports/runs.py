"""Import runs: start, resume, run, finish and report (the command line and the upload job)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    ImportRejection,
    ImportRun,
)
from portal.services import ServiceError, transactional
from portal.services.audit import record as audit_record
from portal.services.imports.batches import (
    _commit_batch,
)
from portal.services.imports.parallel import (
    _ahead_for_today,
    _fewer_collections,
    _input_files,
    _ProcessReader,
    _reader,
    _size,
)
from portal.services.imports.records import (
    BATCH_SIZE,
    Counts,
    Progress,
    _Item,
    _Position,
)
from portal.timeutil import utcnow

log = logging.getLogger(__name__)


SHOWN_REJECTIONS = 20  # rejections a command prints; the rest are in its --report file


def report_text(heading: str, report: dict[str, Any]) -> str:
    """An import's or a sync's report as the commands print it: the counts, then the first
    rejections with their reasons (``flask trials import``, ``flask registries sync``)."""
    rejected = report["rejected"]
    lines = [
        f"{heading}: {report['records_seen']:,} records seen",
        f"  created    {report['created']:>9,}",
        f"  updated    {report['updated']:>9,}",
        f"  unchanged  {report['unchanged']:>9,}",
        f"  merged     {report['merged']:>9,}",
        f"  rejected   {len(rejected):>9,}",
    ]
    for item in rejected[:SHOWN_REJECTIONS]:
        where = f" {item['record']}" if item["record"] else ""
        lines.append(f"    {item['file']}{where}: {item['reason']}")
    if len(rejected) > SHOWN_REJECTIONS:
        lines.append(
            f"    ... and {len(rejected) - SHOWN_REJECTIONS:,} more (see --report FILE.json)"
        )
    return "\n".join(lines)


def run_report(run_id: int) -> dict[str, Any]:
    """The summary of a run as ``--report`` writes it (every rejection, in order)."""
    run = db.session.get(ImportRun, run_id)
    if run is None:
        raise ServiceError(f"There is no import run {run_id}.")
    rejections = db.session.execute(
        sa.select(ImportRejection.file, ImportRejection.record, ImportRejection.reason)
        .where(ImportRejection.run_id == run_id)
        .order_by(ImportRejection.id)
    )
    return {
        "records_seen": run.records_seen,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "merged": run.merged,
        "rejected": [{"file": f, "record": r, "reason": why} for f, r, why in rejections],
    }


# --------------------------------------------------------------------------- runs


@transactional
def start_run(source: str, *, actor: Any | None = None, job_id: str | None = None) -> int:
    """Create an ImportRun (status running) and audit its start."""
    run = ImportRun(
        source=source,
        status="running",
        requested_by_id=getattr(actor, "id", None),
        job_id=job_id,
        started_at=utcnow(),
    )
    db.session.add(run)
    db.session.flush()
    audit_record("import.started", "import_run", run.id, actor=actor, after={"source": source})
    return run.id


@transactional
def _mark_resumed(run_id: int, actor: Any | None) -> None:
    run = db.session.get(ImportRun, run_id)
    run.status = "running"
    run.error = None
    run.finished_at = None
    audit_record(
        "import.resumed",
        "import_run",
        run_id,
        actor=actor,
        after={"resume_after": run.resume_after, **Counts.of_run(run).as_dict()},
    )


@transactional
def finish_run(
    run_id: int, *, status: str = "finished", error: str | None = None, actor: Any | None = None
) -> None:
    """Close the run and audit its outcome with the counts."""
    run = db.session.get(ImportRun, run_id)
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    audit_record(
        "import.finished" if status == "finished" else "import.failed",
        "import_run",
        run_id,
        actor=actor,
        after={"status": status, **Counts.of_run(run).as_dict(), "error": error},
    )


def _resume_position(run: ImportRun) -> _Position | None:
    if not run.resume_after:
        return None
    try:
        data = json.loads(run.resume_after)
        return _Position(int(data["file_index"]), str(data["file"]), int(data["items"]))
    except (ValueError, KeyError, TypeError):
        raise ServiceError(f"Import run {run.id} has an unreadable resume position.") from None


def run_import(
    run_id: int,
    paths: Sequence[str],
    *,
    actor: Any | None = None,
    progress: Callable[[Progress], None] | None = None,
    display_names: dict[str, str] | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """Import ``paths`` into run ``run_id`` (resuming after its committed position, if any),
    finish the run and return its report."""
    run = db.session.get(ImportRun, run_id)
    if run is None:
        raise ServiceError(f"There is no import run {run_id}.")
    paths = [os.fspath(p) for p in paths]
    resume = _resume_position(run)
    counts = Counts.of_run(run)
    if resume is not None or run.status != "running":
        _mark_resumed(run_id, actor)
    display = _display_function(display_names or {})

    total_bytes = sum(_size(f) for f in _input_files(paths))
    last_done = 0

    def report(done: int) -> None:
        if progress is not None:
            progress(Progress(run_id, done, total_bytes, Counts(**counts.as_dict())))

    batch: list[_Item] = []
    report(0)
    reader = _reader(run_id, paths, resume, 2 * batch_size, total_bytes)
    try:
        with _fewer_collections():
            for item in reader:
                batch.append(item)
                if len(batch) >= batch_size:
                    done = _commit_batch(run_id, batch, counts, display)
                    counts.add(done)
                    if isinstance(reader, _ProcessReader):
                        reader.balance(
                            new_trials=done.created >= len(batch) // 2,
                            current=reader.ahead == _ahead_for_today(),
                        )
                    last_done = batch[-1].bytes_done
                    batch.clear()
                    report(last_done)
            if batch:
                counts.add(_commit_batch(run_id, batch, counts, display))
                batch.clear()
        report(total_bytes)
    except BaseException as exc:
        reader.close()
        db.session.rollback()
        try:
            finish_run(run_id, status="failed", error=_describe(exc), actor=actor)
        except Exception:  # the database itself may be what failed; the run stays resumable
            log.exception("import run %s: could not record the failure", run_id)
        raise
    finish_run(run_id, actor=actor)
    return run_report(run_id)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


def _display_function(names: dict[str, str]) -> Callable[[str], str]:
    if not names:
        return lambda path: path

    def display(path: str) -> str:
        for stored, shown in names.items():
            if path == stored or path.startswith(stored + "!"):
                return shown + path[len(stored) :]
        return path

    return display


def import_paths(
    paths: Sequence[str],
    *,
    actor: Any | None = None,
    resume_run_id: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> tuple[int, dict[str, Any]]:
    """Import files, folders and zips (the command line); return (run id, report).

    With ``resume_run_id`` the run continues after the position it last committed; without
    ``paths`` it reads the paths it was started with."""
    if resume_run_id is not None:
        run = db.session.get(ImportRun, resume_run_id)
        if run is None:
            raise ServiceError(f"There is no import run {resume_run_id}.")
        if run.status == "finished":
            raise ServiceError(f"Import run {resume_run_id} has already finished.")
        stored = [p for p in (run.source or "").split("\n") if p]
        paths = list(paths) or stored
        run_id = resume_run_id
    else:
        if not paths:
            raise ServiceError("Give at least one file or folder to import.")
        run_id = start_run("\n".join(os.path.abspath(p) for p in paths), actor=actor)
    report = run_import(run_id, paths, actor=actor, progress=progress, batch_size=batch_size)
    return run_id, report
