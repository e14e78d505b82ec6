"""Status derivation shared by every rule set (RULES.md "Status words") and verdict building."""

from __future__ import annotations

from datetime import date
from typing import Any

from .dates import add_months, format_date
from .duties import DUTIES, RULESET_DUTIES
from .facts import Facts
from .labels import plain_missing
from .model import (
    DATA_NEEDED,
    DEFERRED,
    DUE_SOON,
    MET,
    MET_LATE,
    NOT_APPLICABLE,
    OVERDUE,
    UPCOMING,
    WAIVED,
    Obligation,
    new_obligation,
)
from .params import Params

ESTIMATED = "estimated from a month-only date"
ESTIMATED_NOTE = " Estimated: a month-only date was read as the last day of that month."


def done(d: date | None, as_of: date) -> date | None:
    """`d` if it happened on or before `as_of`; a later date has not happened yet as of then."""
    return d if d is not None and d <= as_of else None


def emit(
    duty: str,
    f: Facts,
    p: Params,
    status: str,
    due: date | None,
    trigger: date | None,
    days_overdue: int,
    days_remaining: int | None,
    explanation: str,
    assumptions: list[str],
    estimated: bool,
    missing: list[str],
    deferred_until: date | None = None,
    met_on: date | None = None,
) -> Obligation:
    """Build the Obligation for `duty`, adding the static parts (ruleset, title, source, inputs)."""
    ruleset, title, source, _ = DUTIES[duty]
    inputs = f.duty_inputs[duty]  # type: ignore[attr-defined]  # built once per Facts
    if estimated:
        assumptions.append(ESTIMATED)
        explanation += ESTIMATED_NOTE
    return new_obligation(  # see model.new_obligation
        Obligation,
        (
            duty,
            ruleset,
            p.version,
            title,
            status,
            due,
            trigger,
            days_overdue,
            days_remaining,
            explanation,
            inputs,
            assumptions,
            source,
            estimated,
            missing,
            deferred_until,
            met_on,
        ),
    )


# Per rule set: (duty, title, source) of each of its duties, for not_applicable_all.
_NA_PARTS = {
    ruleset: tuple((duty, DUTIES[duty][1], DUTIES[duty][2]) for duty in duties)
    for ruleset, duties in RULESET_DUTIES.items()
}


def not_applicable_all(ruleset: str, f: Facts, p: Params, reason: str) -> list[Obligation]:
    """Every duty of `ruleset` as `not_applicable` with the same reason."""
    version, inputs = p.version, f.duty_inputs  # type: ignore[attr-defined]
    return [
        new_obligation(Obligation, (
            duty, ruleset, version, title, NOT_APPLICABLE, None, None, 0, None, reason,
            inputs[duty], [], source, False, [], None, None,
        ))
        for duty, title, source in _NA_PARTS[ruleset]
    ]  # fmt: skip


def not_applicable(duty: str, f: Facts, p: Params, reason: str) -> Obligation:
    """A `not_applicable` verdict with its reason."""
    ruleset, title, source, _ = DUTIES[duty]
    return new_obligation(Obligation, (
        duty, ruleset, p.version, title, NOT_APPLICABLE, None, None, 0, None, reason,
        f.duty_inputs[duty], [], source, False, [], None, None,  # type: ignore[attr-defined]
    ))  # fmt: skip


def data_needed(
    duty: str, f: Facts, p: Params, missing: list[str], why: str, trigger: date | None = None
) -> Obligation:
    """A `data_needed` verdict naming the missing facts."""
    text = f"Cannot work out this duty yet: {why} Add: {plain_missing(missing)}."
    return emit(duty, f, p, DATA_NEEDED, None, trigger, 0, None, text, [], False, missing)


def waiver_for(duty: str, f: Facts) -> tuple[Any, str]:
    """The waiver recorded for `duty` (or None) and a note about any waiver that does not count."""
    note = ""
    for w in f.waivers or ():
        if w.duty != duty:
            continue
        if w.ground and "commercial" in w.ground.lower():
            # RULES.md: "commercial confidentiality is never a ground for a waiver".
            note = (
                f"A waiver ({w.reference or 'no reference'}) on the ground of "
                f"'{w.ground}' does not count: commercial confidentiality is never a ground "
                "for a waiver. "
            )
            continue
        return w, note
    return None, note


def waived(duty: str, f: Facts, p: Params, w: Any, trigger: date | None) -> Obligation:
    """A `waived` verdict citing the waiver reference."""
    text = (
        f"Waived: the sponsor holds a waiver for this duty (reference "
        f"{w.reference or 'not recorded'}), confirmed by a reviewer."
    )
    return emit(duty, f, p, WAIVED, None, trigger, 0, None, text, [], False, [])


def settle(
    duty: str,
    f: Facts,
    as_of: date,
    p: Params,
    head: str,
    due: date,
    trigger: date | None,
    met_on: date | None,
    assumptions: list[str],
    estimated: bool,
    missing: list[str],
    deferred: bool = False,
    soon_days: int | None = None,
    soon_key: str = "due_soon_days",
) -> Obligation:
    """Derive the status against `due` (RULES.md "Status words") and build the verdict.

    Met on or before due: met; after: met_late by the days late. Not met: overdue once as_of is
    past due; with `deferred` (due is the end of a valid deferral) deferred until then; else
    due_soon within `soon_days` (default due_soon_days) of due, upcoming before that.
    `met_on` must already exclude dates after `as_of`.
    """
    over, left = 0, None
    if met_on is not None:
        if met_on <= due:
            status, text = MET, f"{head}Done on {format_date(met_on)}, on time."
        else:
            over = (met_on - due).days
            late = "1 day" if over == 1 else f"{over} days"
            status, text = MET_LATE, f"{head}Done on {format_date(met_on)}, {late} late."
    else:
        n = (due - as_of).days
        if n < 0:
            # The text names no day count and no as_of date: it stays the same from one day to
            # the next until the status changes, so the daily recompute rewrites nothing for a
            # duty that is simply one day further on (the counts are worked out when shown,
            # portal.models.Obligation.days_overdue_on / days_remaining_on).
            over = -n
            status, text = OVERDUE, f"{head}Not done by the due date: overdue."
        else:
            left = n
            if deferred:
                status, text = DEFERRED, f"{head}Deferred: not done yet."
            else:
                assumptions.append(p.texts[soon_key])  # type: ignore[attr-defined]
                if n <= (p.due_soon_days if soon_days is None else soon_days):
                    status = DUE_SOON
                else:
                    status = UPCOMING
                text = f"{head}Not done yet."
    if estimated:
        assumptions.append(ESTIMATED)
        text += ESTIMATED_NOTE
    ruleset, title, source, _ = DUTIES[duty]
    return new_obligation(Obligation, (  # see model.new_obligation
        duty, ruleset, p.version, title, status, due, trigger, over, left, text,
        f.duty_inputs[duty], assumptions, source, estimated, missing,  # type: ignore[attr-defined]
        due if deferred else None, met_on,
    ))  # fmt: skip


def uk_deferral(
    duty: str, due: date, f: Facts, as_of: date, p: Params, assumptions: list[str]
) -> tuple[date | None, bool, str, bool, list[str]]:
    """Apply the UK deferrals for `duty` (RULES.md uk-2026 "Deferrals and waivers").

    Returns (due, deferred, note, estimated, missing). `due` is None when a deferral applies but
    its end cannot be worked out (it runs from an end of trial not yet recorded).
    A request counts only if made before the due date in force when it was made (strictly before:
    RULES.md says "before that duty's due date"), so a renewal must precede the deferred date.
    """
    automatic = f.phase == "1" and f.healthy_volunteers is True
    if not automatic and not f.deferrals:
        return due, False, "", False, []
    end = f.end_of_trial_on
    deferred = False
    estimated = False
    note = ""
    new_due: date | None = due
    if automatic:
        assumptions.append(p.texts["deferral_months"])  # type: ignore[attr-defined]
        if end is None:
            note = (
                f"Phase 1 trials in healthy volunteers get a deferral automatically, running "
                f"{p.deferral_months} months from the end of trial, which is not recorded yet. "
            )
            return None, True, note, False, ["end_of_trial_on"]
        until = add_months(end, p.deferral_months)
        if until > due:
            new_due, deferred = until, True
            estimated = "end_of_trial_on" in f.estimated
            note = (
                f"Deferred automatically (Phase 1 trial in healthy volunteers) until "
                f"{format_date(until)}, {p.deferral_months} months after the end of trial. "
            )
    requests = sorted((d for d in f.deferrals or () if d.duty == duty), key=_requested)
    for d in requests:
        ref = f"reference {d.reference}" if d.reference else "no reference recorded"
        if d.requested_on > as_of:
            note += (
                f"A deferral ({ref}) requested on {format_date(d.requested_on)}, a date still "
                "to come, is not counted yet. "
            )
            continue
        assert new_due is not None
        if d.requested_on >= new_due:
            note += (
                f"A deferral ({ref}) requested on {format_date(d.requested_on)} is ignored: it was "
                f"not requested before the due date of {format_date(new_due)}. "
            )
            continue
        until = d.until
        if until is None:
            if end is None:
                note += f"A deferral ({ref}) has no end date and the end of trial is not recorded. "
                return None, True, note, estimated, ["end_of_trial_on"]
            until = add_months(end, p.deferral_months)
            estimated = estimated or "end_of_trial_on" in f.estimated
            _assume(assumptions, p.texts["deferral_months"])  # type: ignore[attr-defined]
        if end is not None:
            cap = add_months(end, 12 * p.deferral_max_years)
            if until > cap:
                note += (
                    f"The deferral ({ref}) to {format_date(until)} is cut to {format_date(cap)}: "
                    f"a deferral cannot run beyond {p.deferral_max_years} years after the end of "
                    "trial. "
                )
                until = cap
                estimated = estimated or "end_of_trial_on" in f.estimated
                _assume(assumptions, p.texts["deferral_max_years"])  # type: ignore[attr-defined]
        if until <= new_due:
            note += (
                f"A deferral ({ref}) until {format_date(until)} ends on or before the due date "
                "and changes nothing. "
            )
            continue
        new_due, deferred = until, True
        estimated = estimated or "until" in d.estimated
        note += (
            f"Deferred until {format_date(until)} ({ref}, requested "
            f"{format_date(d.requested_on)}). "
        )
    return new_due, deferred, note, estimated, []


def _assume(assumptions: list[str], text: str) -> None:
    if text not in assumptions:
        assumptions.append(text)


def _requested(d: Any) -> date:
    return d.requested_on
