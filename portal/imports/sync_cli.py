"""``flask registries sync``: pull the registries' changes through their APIs (issue 19).

Needs only DATABASE_URL (no Redis): the sync runs in this process, committing page by page.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

registries = AppGroup("registries", help="Registry sync: ClinicalTrials.gov and ISRCTN APIs.")


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("give a date as YYYY-MM-DD", param_hint="--since") from None


@registries.command("sync")
@click.option(
    "--registry",
    type=click.Choice(["ctgov", "isrctn", "all"]),
    default="all",
    show_default=True,
    help="Which registry to sync.",
)
@click.option(
    "--since",
    default=None,
    help="Ask for changes since this date (YYYY-MM-DD) instead of since the last successful sync.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the summary and every rejection as JSON to this file.",
)
def sync_command(registry: str, since: str | None, report_file: Path | None) -> None:
    """Pull the trials changed since the last successful sync (UK studies, and every trial id
    and sponsor name an organisation watches) and store them like an import: merged by
    cross-reference; a second sync with nothing new changes nothing."""
    from portal.services import ServiceError
    from portal.services.imports.runs import report_text
    from portal.services.registry_sync import (
        SOURCES,
        SyncError,
        SyncSettings,
        combined_report,
        sync_source,
    )

    start = _day(since)
    # The progress bar is the display: the HTTP client's request log and the retry notes stay
    # out of it (failures end in one "Error:" line).
    for name in ("httpx", "httpcore", "portal.registries.remote"):
        logging.getLogger(name).setLevel(logging.WARNING)
    settings = SyncSettings.from_config(current_app.config)
    sources = list(SOURCES) if registry == "all" else [registry]
    reports, failures = [], []
    for source in sources:
        with click.progressbar(
            length=1, label=f"Syncing {SOURCES[source]}", show_pos=True, file=sys.stderr
        ) as bar:
            state = {"done": 0}

            def progress(p, bar=bar, state=state, name=SOURCES[source]) -> None:
                if bar.length != max(p.bytes_total, 1):
                    bar.length = max(p.bytes_total, 1)
                step = max(0, p.bytes_done - state["done"])
                state["done"] += step
                bar.label = f"Syncing {name} ({p.counts.records_seen:,} records)"
                bar.update(step)

            try:
                run_id, report = sync_source(
                    source, since=start, settings=settings, progress=progress
                )
            except SyncError as exc:
                failures.append(exc.message)
                continue
            except ServiceError as exc:
                raise click.ClickException(exc.message) from None
        reports.append(report)
        click.echo(report_text(f"{SOURCES[source]} sync (import run {run_id}) finished", report))
    if reports and report_file is not None:
        combined = combined_report(reports)
        report_file.write_text(json.dumps(combined, indent=2, ensure_ascii=False) + "\n")
        click.echo(f"Report written to {report_file}")
    if failures:
        for line in failures:
            click.echo(f"Error: {line}", err=True)
        raise SystemExit(1)
