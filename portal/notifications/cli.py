"""``flask notifications send``: the daily reminders job for one day."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup

notifications = AppGroup("notifications", help="Reminders and notification digests.")


@notifications.command("send")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="The day to run for (YYYY-MM-DD); default today in London.",
)
@click.option("--dry-run", is_flag=True, help="Work out the digests, print them, save nothing.")
def send_command(as_of: str | None, dry_run: bool) -> None:
    """Record today's reminders and send each person one digest (safe to run twice)."""
    from portal.services.notifications import london_today, run_daily

    if as_of:
        try:
            day = date.fromisoformat(as_of)
        except ValueError as exc:
            raise click.BadParameter(
                "Give the day as year-month-day, for example 2026-12-04.", param_hint="--as-of"
            ) from exc
    else:
        day = london_today()
    summary = run_daily(day, dry_run=dry_run)
    click.echo(summary.words())
