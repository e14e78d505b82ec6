"""``flask trials import PATH...``: registry exports into trials, with a progress bar and a summary.

Needs only DATABASE_URL (no Redis): the import runs in this process, committing per batch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

trials = AppGroup("trials", help="Trials and their registry records.")


@trials.command("import")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the summary as JSON to this file.",
)
@click.option(
    "--resume",
    "resume_run_id",
    type=int,
    default=None,
    metavar="RUN_ID",
    help="Continue an interrupted run after what it already committed (same paths).",
)
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None, hidden=True)
def import_command(
    paths: tuple[str, ...],
    report_file: Path | None,
    resume_run_id: int | None,
    batch_size: int | None,
) -> None:
    """Import registry records from files, folders and zip files (any supported format,
    recognised by content). Importing the same files again changes nothing."""
    from portal.services import ServiceError
    from portal.services.imports import BATCH_SIZE, import_paths
    from portal.services.imports.runs import report_text

    if not paths and resume_run_id is None:
        raise click.UsageError("Give at least one file, folder or zip file to import.")
    with click.progressbar(
        length=1,
        label="Importing",
        show_percent=True,
        show_eta=True,
        file=sys.stderr,
    ) as bar:
        state = {"done": 0, "run_id": None, "seen": 0}

        def progress(p) -> None:
            state["run_id"], state["seen"] = p.run_id, p.counts.records_seen
            if bar.length != max(p.bytes_total, 1):
                bar.length = max(p.bytes_total, 1)
            step = max(0, p.bytes_done - state["done"])
            state["done"] += step
            bar.label = f"Importing ({p.counts.records_seen:,} records)"
            bar.update(step)

        try:
            run_id, report = import_paths(
                list(paths),
                resume_run_id=resume_run_id,
                progress=progress,
                batch_size=batch_size or BATCH_SIZE,
            )
        except ServiceError as exc:
            raise click.ClickException(exc.message) from None
        except KeyboardInterrupt:
            run_id = resume_run_id or state["run_id"]
            if run_id is not None:
                click.echo(
                    f"\nImport run {run_id} interrupted after {state['seen']:,} records. "
                    f"Continue it with: flask trials import --resume {run_id} PATH...",
                    err=True,
                )
            raise SystemExit(130) from None

    click.echo(report_text(f"Import run {run_id} finished", report))
    if report_file is not None:
        report_file.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        click.echo(f"Report written to {report_file}")
