"""uk-2026 transitional arrangements (RULES.md "Transitional arrangements"): old or new rules."""

from __future__ import annotations

from datetime import date

from .common import ESTIMATED, not_applicable
from .dates import format_date
from .facts import Facts
from .model import Obligation
from .params import Params

# RULES.md transitional arrangements: registries that make an old rules trial "already met".
OLD_RULES_REGISTRIES = ("ISRCTN", "ClinicalTrials.gov")
REG_HISTORY = (
    "Before 28 April 2026 the old baseline (a condition of the ethics opinion) was to register "
    "within 6 weeks of the first participant; shown as history only. "
)
RES_HISTORY = (
    "Before 28 April 2026 the old baseline (a condition of the ethics opinion) was to publish "
    "results within 12 months of the end of trial (6 months for paediatric trials); shown as "
    "history only. "
)
BEST_PRACTICE = "Best practice, not a legal duty: "
NO_WAIVER = (None, "")
OLD_UNKNOWN = (
    "whether the old or the new rules apply depends on when the application was submitted "
    "(before 28 April 2026 means old rules)."
)
OLD_END_UNKNOWN = (
    "for an old rules trial (application submitted before 28 April 2026) this duty is a legal "
    "duty only if the trial ends on or after 28 April 2026."
)


def old_rules(f: Facts, p: Params) -> tuple[bool | None, str, bool]:
    """Is this an "old rules trial" (application submitted before 28 April 2026)?

    Returns (old, note, estimated); old is None when it cannot be told. Without an application
    date, an approval before 28 April 2026 implies an earlier application, so old rules.
    `estimated` is True when a month-only date in the in-force month decided it.
    """
    app = f.application_submitted_on
    start = p.uk_in_force
    if app is not None:
        est = "application_submitted_on" in f.estimated and boundary_month(app, start)
        return app < start, "", est
    if f.approved_on is not None and f.approved_on < start:
        note = (
            "The application date is not recorded; approval before 28 April 2026 means the "
            "application was submitted before it, so the old rules apply. "
        )
        return True, note, False
    return None, "", False


def boundary_month(d: date, boundary: date) -> bool:
    # A month-only date read as the month's last day can flip a decision only in the boundary month.
    return d.year == boundary.year and d.month == boundary.month


def old_ended_before(duty: str, f: Facts, p: Params, old_note: str, history: str) -> Obligation:
    """The transitional verdict for an old rules trial that ended before 28 April 2026."""
    end = f.end_of_trial_on
    return not_applicable(
        duty,
        f,
        p,
        f"{old_note}{BEST_PRACTICE}this is an old rules trial (application submitted before 28 "
        f"April 2026) that ended on {format_date(end)}, before the new rules came into force. "
        + history,
    )


def flag_estimated(o: Obligation) -> Obligation:
    """`o`, flagged estimated: old or new rules was decided by a month-only date."""
    if o.estimated:
        return o
    note = " Estimated: whether the old or new rules apply was read from a month-only date."
    return o._replace(
        estimated=True, assumptions=[*o.assumptions, ESTIMATED], explanation=o.explanation + note
    )
