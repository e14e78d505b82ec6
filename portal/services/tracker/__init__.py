"""The public tracker (issue 21): figures from registry records only, organisations' opt-ins
and sponsors' responses. The names below are its interface."""

from __future__ import annotations

from portal.services.tracker.compute import (
    COUNTED,
    NOT_JUDGED,
    STATES,
    evaluate_trial,
    recompute,
    sponsor_slug,
)

__all__ = ["COUNTED", "NOT_JUDGED", "STATES", "evaluate_trial", "recompute", "sponsor_slug"]
