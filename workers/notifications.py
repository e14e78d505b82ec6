"""The scheduled daily notifications job."""

from __future__ import annotations

from datetime import datetime

from portal.services.notifications import run_daily, should_run
from workers.context import job


@job
def daily_tick(now: str | None = None) -> str:
    """Called every hour by the cron scheduler (RQ cron speaks UTC): runs the day's job once
    it is 07:00 or later in London and that day's run has not finished. ``now`` (ISO, with an
    offset) stands in for the clock."""
    day = should_run(datetime.fromisoformat(now) if now else None)
    if day is None:
        return "not yet, or already done today"
    return run_daily(day).words()
