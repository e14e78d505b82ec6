"""``flask jobs sweep``: move on PDF jobs that are stuck (run it every minute from cron)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

jobs = AppGroup("jobs", help="Background jobs (certificates and reports).")


@jobs.command("sweep")
def sweep_command() -> None:
    """Enqueue saved jobs, requeue those whose worker died, fail those stuck too long."""
    from portal.services.pdf_jobs import sweep

    report = sweep()
    click.echo(f"PDF jobs: {report}.")
