"""``flask jobs sweep``: move on PDF jobs that are stuck and enqueue uploaded imports saved while
Redis was unreachable (run it every minute from cron)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

jobs = AppGroup("jobs", help="Background jobs (certificates, reports, uploaded imports).")


@jobs.command("sweep")
def sweep_command() -> None:
    """Enqueue saved jobs, requeue those whose worker died, fail those stuck too long."""
    from portal.services.imports import sweep_uploads
    from portal.services.pdf_jobs import sweep

    report = sweep()
    click.echo(f"PDF jobs: {report}.")
    enqueued, waiting = sweep_uploads()
    note = " (Redis is still unreachable)" if waiting else ""
    click.echo(f"Uploaded imports: {enqueued} enqueued, {waiting} still waiting{note}.")
