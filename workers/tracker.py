"""The public tracker's daily recompute (registered with the cron scheduler)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from workers.context import job

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 4 * 3600


@job
def recompute_tracker(as_of: str | None = None) -> dict[str, Any]:
    from portal.services.tracker import recompute

    run = recompute(date.fromisoformat(as_of) if as_of else None)
    result = {"as_of": run.as_of.isoformat(), "trials": run.trials, "sponsors": run.sponsors}
    log.info("tracker recomputed: %s", result)
    return result
