"""``flask tracker recompute``: work out the public tracker's figures now."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup

tracker = AppGroup("tracker", help="The public transparency tracker.")


@tracker.command("recompute")
@click.option("--as-of", "as_of", default=None, help="The date to work out (YYYY-MM-DD).")
def recompute_command(as_of: str | None) -> None:
    """Work out every trial's registry-only verdicts and every sponsor's figures."""
    from portal.services.tracker import recompute

    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError as exc:
        raise click.BadParameter("give the date as YYYY-MM-DD", param_hint="--as-of") from exc
    run = recompute(day)
    trials = f"{run.trials:,} trial" + ("" if run.trials == 1 else "s")
    sponsors = f"{run.sponsors:,} sponsor" + ("" if run.sponsors == 1 else "s")
    click.echo(
        f"Tracker figures worked out as of {run.as_of:%-d %B %Y}: {trials}, {sponsors}, "
        f"in {run.seconds:.1f} s."
    )
