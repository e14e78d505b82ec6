"""The verdict on one duty of one trial: `Obligation`, and its JSON contract."""

from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

__all__ = [
    "DATA_NEEDED",
    "DEFERRED",
    "DUE_SOON",
    "MET",
    "MET_LATE",
    "NOT_APPLICABLE",
    "OVERDUE",
    "STATUSES",
    "UPCOMING",
    "WAIVED",
    "Obligation",
    "new_obligation",
]

NOT_APPLICABLE = "not_applicable"
DATA_NEEDED = "data_needed"
UPCOMING = "upcoming"
DUE_SOON = "due_soon"
OVERDUE = "overdue"
MET = "met"
MET_LATE = "met_late"
DEFERRED = "deferred"
WAIVED = "waived"
# RULES.md "Status words", in the order the spec lists them.
STATUSES = (
    NOT_APPLICABLE,
    DATA_NEEDED,
    UPCOMING,
    DUE_SOON,
    OVERDUE,
    MET,
    MET_LATE,
    DEFERRED,
    WAIVED,
)


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


class Obligation(NamedTuple):
    """One duty's verdict: status, dates, and everything a sponsor needs to see why.

    Immutable (a named tuple: evaluate() builds ~10 a trial, and a tuple is built in half the
    time of a frozen dataclass). `inputs` maps each fact used to {"value": ..., "source":
    provenance}; treat it as read-only. `days_overdue` is the days past due (overdue) or the days
    late (met_late), else 0; `days_remaining` is the days until `due` while the duty is open
    (upcoming, due_soon, deferred).
    """

    id: str
    ruleset: str
    ruleset_version: str
    title: str
    status: str
    due: date | None
    trigger: date | None
    days_overdue: int
    days_remaining: int | None
    explanation: str
    inputs: dict[str, Any]
    assumptions: list[str]
    source: str
    estimated: bool
    missing: list[str]
    deferred_until: date | None
    met_on: date | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (dates as ISO strings); the keys are the contract with the web app."""
        return {
            "id": self.id,
            "ruleset": self.ruleset,
            "ruleset_version": self.ruleset_version,
            "title": self.title,
            "status": self.status,
            "due": _iso(self.due),
            "trigger": _iso(self.trigger),
            "days_overdue": self.days_overdue,
            "days_remaining": self.days_remaining,
            "explanation": self.explanation,
            "inputs": {k: dict(v) for k, v in self.inputs.items()},
            "assumptions": list(self.assumptions),
            "source": self.source,
            "estimated": self.estimated,
            "missing": list(self.missing),
            "deferred_until": _iso(self.deferred_until),
            "met_on": _iso(self.met_on),
        }


# Obligation(...) goes through a Python-level __new__ with 17 parameters; the hot paths build
# the tuple directly: new_obligation(Obligation, (field values in declaration order)).
new_obligation = tuple.__new__
