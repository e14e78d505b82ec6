"""The scheduled daily notifications job."""

from __future__ import annotations

from portal.services.notifications import run_daily, should_run
from workers.context import job


@job
def daily_tick() -> str:
    """Called every hour by the cron scheduler (RQ cron speaks UTC): runs the day's job once
    it is 07:00 or later in London and today's run has not finished."""
    day = should_run()
    if day is None:
        return "not yet, or already done today"
    return run_daily(day).words()
