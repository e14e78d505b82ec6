"""Which EU law applies to a trial (RULES.md eu-ctr, "Which EU law applies"), decided before any
EU duty: Regulation 536/2014 (the CTR), Directive 2001/20/EC, the EU window, or unknown.

A pure function of the facts and parameters: `eu_law(facts, params) -> EuLaw`.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from .dates import format_date
from .facts import Facts
from .params import Params

__all__ = [
    "CTR",
    "CTR_APPLIED",
    "DIRECTIVE",
    "DIRECTIVE_APPLIED",
    "TRANSITION_DEADLINE",
    "UNKNOWN",
    "WINDOW",
    "EuLaw",
    "eu_law",
    "law_applied_from",
]

CTR = "ctr"
DIRECTIVE = "directive"
WINDOW = "window"  # ended in all member states before the EU window: history only
UNKNOWN = "unknown"

# RULES.md "Which EU law applies": "The CTR applied from 31 January 2022"; "trials still running
# under the Directive on 30 January 2025 had to be transitioned" (a Directive trial still running
# on 31 January 2025 gets a warning).
CTR_APPLIED = date(2022, 1, 31)
TRANSITION_DEADLINE = date(2025, 1, 31)
# Directive 2001/20/EC: member states applied it from 1 May 2004 (Article 22).
DIRECTIVE_APPLIED = date(2004, 5, 1)

CTR_BASIS = "Regulation (EU) No 536/2014 (the EU Clinical Trials Regulation)"
DIRECTIVE_BASIS = (
    "Directive 2001/20/EC and Commission Guideline 2012/C 302/03 (results in EudraCT, shown on "
    "the EU Clinical Trials Register)"
)


class EuLaw(NamedTuple):
    """The EU law a trial's EU duties come from.

    `law`: CTR, DIRECTIVE, WINDOW or UNKNOWN. `applies_from`: the first day events belong to that
    law (CTR: its transition, else 31 January 2022, when the CTR applied). `end_all`: the
    end of trial in all member states used (with `end_estimated` when month-only). `reason`: the
    sentence every EU verdict starts with, naming the legal basis.
    """

    law: str
    basis: str
    reason: str
    applies_from: date | None
    end_all: date | None
    end_estimated: bool
    eu_ct_number: str | None
    eudract_number: str | None


def _numbers(f: Facts) -> tuple[str | None, str | None]:
    """(EU CT number, EudraCT number) from the facts, else from CTIS / EUCTR registry entries."""
    eu_ct, eudract = f.eu_ct_number, f.eudract_number
    for r in f.registrations or ():
        if r.registry == "CTIS":
            eu_ct = eu_ct or r.id or "recorded (no number)"
        elif r.registry == "EUCTR":
            eudract = eudract or r.id or "recorded (no number)"
    return eu_ct, eudract


def end_in_all_member_states(f: Facts) -> tuple[date | None, bool, str]:
    """The end of trial in all member states: the latest recorded `end_all_member_states` event,
    else an `early_termination` event, else `end_of_trial_on`. Returns (date, estimated, what)."""
    for kind, what in (
        ("end_all_member_states", "end of trial in all member states"),
        ("early_termination", "early termination"),
    ):
        ends = [e for e in f.eu_events or () if e.event == kind]
        if ends:
            e = max(ends, key=lambda e: e.on)
            return e.on, "on" in e.estimated, what
    if f.end_of_trial_on is not None:
        return (
            f.end_of_trial_on,
            "end_of_trial_on" in f.estimated,
            "end of trial in all member states, taken from the end of trial date",
        )
    return None, False, ""


def eu_law(f: Facts, p: Params) -> EuLaw:
    """RULES.md "Which EU law applies (decide this before any EU duty)", in its order:
    the EU window first (a trial that ended before it is history only), then the CTR (an EU CT
    number or a recorded transition), then the Directive (a EudraCT number), else unknown."""
    eu_ct, eudract = _numbers(f)
    end, est, _ = end_in_all_member_states(f)
    if end is not None and end < p.eu_window_start:
        reason = (
            f"Ended before the EU results rules: history only. The trial ended in all member "
            f"states on {format_date(end)}, before {format_date(p.eu_window_start)}, when results "
            "posting in EudraCT became possible, so no EU duty applies."
        )
        return EuLaw(WINDOW, "", reason, None, end, est, eu_ct, eudract)
    transition = f.eu_transition_on
    if eu_ct is not None or transition is not None:
        # The CTIS application date is not a fact the portal holds (a CTIS entry's registration
        # date may be later than its first events): a trial with an EU CT number is under the
        # CTR from the day the CTR applied, a transitioned one from its transition.
        start = max(transition or CTR_APPLIED, CTR_APPLIED)
        if transition is not None:
            how = f"transitioned to the CTR on {format_date(transition)}"
        else:
            how = f"EU CT number {eu_ct}"
        reason = (
            f"Legal basis: {CTR_BASIS} ({how}); it applies to events on or after "
            f"{format_date(start)}."
        )
        return EuLaw(CTR, CTR_BASIS, reason, start, end, est, eu_ct, eudract)
    if eudract is not None:
        reason = f"Legal basis: {DIRECTIVE_BASIS} (EudraCT number {eudract}, no EU CT number)."
        return EuLaw(DIRECTIVE, DIRECTIVE_BASIS, reason, DIRECTIVE_APPLIED, end, est, None, eudract)
    reason = (
        "EudraCT or EU CT number needed to tell which EU law applies (the EU Clinical Trials "
        "Regulation or the Directive)."
    )
    return EuLaw(UNKNOWN, "", reason, None, end, est, None, None)


def law_applied_from(law: EuLaw, p: Params) -> date | None:
    """The first day an EU duty under `law` can be due: no EU duty is ever due before the law it
    comes from applied (RULES.md), nor before the EU window."""
    if law.law == CTR:
        return law.applies_from
    if law.law == DIRECTIVE:
        return max(DIRECTIVE_APPLIED, p.eu_window_start)
    return None
