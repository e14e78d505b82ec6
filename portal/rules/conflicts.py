"""Facts that contradict each other (RULES.md "Facts that contradict each other").

`find_conflicts(facts, params)` runs every check of that section on a trial's facts, before the
rules use them, and returns the `Conflict`s found: each names its check, every fact involved with
its value and where it came from, and (for a conflict, not a warning) the duties it makes
`data_needed`. `evaluate()` applies them; pages, certificates and the CLI list them.
A pure function of the facts and parameters.
"""

from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

from .dates import format_date
from .facts import Facts
from .labels import fact_label, fact_words
from .params import Params

__all__ = [
    "CHECKS",
    "CONFLICT",
    "WARNING",
    "Conflict",
    "check_facts",
    "directive_warnings",
    "find_conflicts",
]

CONFLICT = "conflict"
WARNING = "warning"

# check -> (kind, duties it makes data_needed), in RULES.md order.
END_DUTIES = ("UK-RES", "UK-PART", "UK-END", "EU-END", "EU-RES")
CHECKS: dict[str, tuple[str, tuple[str, ...]]] = {
    # "duties that start from the end of trial are data_needed"
    "END-BEFORE-START": (CONFLICT, END_DUTIES),
    # "UK duties that start from either date are data_needed" (UK-REG and UK-LAPSE run from the
    # approval date)
    "APPROVAL-BEFORE-APPLICATION": (CONFLICT, ("UK-REG", "UK-LAPSE")),
    "END-BEFORE-APPLICATION": (CONFLICT, ("UK-RES", "UK-PART", "UK-END")),
    "PARTICIPANT-BEFORE-APPROVAL": (WARNING, ()),
    "RESULTS-BEFORE-END": (WARNING, ()),
    "END-DATES-DISAGREE": (WARNING, ()),
    # RULES.md "Which EU law applies", Directive bullet: a data-quality warning.
    "NOT-TRANSITIONED": (WARNING, ()),
}


class Conflict(NamedTuple):
    """One finding. `facts`: (fact key, value as shown, source) for each fact involved."""

    check: str
    kind: str  # CONFLICT or WARNING
    message: str
    facts: tuple[tuple[str, str, str], ...]
    duties: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "kind": self.kind,
            "message": self.message,
            "facts": [
                {"fact": key, "label": fact_label(key), "value": value, "source": source}
                for key, value, source in self.facts
            ],
            "duties": list(self.duties),
        }


def _shown(f: Facts, key: str, d: date) -> str:
    if key in f.estimated:
        return f"{d.year:04d}-{d.month:02d} (read as {d.isoformat()})"
    return d.isoformat()


def _fact(f: Facts, key: str) -> tuple[str, str, str]:
    return (key, _shown(f, key, getattr(f, key)), f.source(key))


def _words(f: Facts, key: str) -> str:
    d = getattr(f, key)
    return f"{fact_words(key)} {format_date(d)} ({f.source(key)})"


def _make(check: str, message: str, facts: tuple[tuple[str, str, str], ...]) -> Conflict:
    kind, duties = CHECKS[check]
    prefix = "Facts conflict" if kind == CONFLICT else "Check the facts"
    return Conflict(check, kind, f"{prefix} ({check}): {message}", facts, duties)


def find_conflicts(f: Facts, p: Params) -> list[Conflict]:
    """Every check of RULES.md "Facts that contradict each other" on `f` (conflicts first, then
    warnings, each in RULES.md order). Cheap: a handful of date comparisons."""
    out: list[Conflict] = []
    end = f.end_of_trial_on
    applied, approved, first = f.application_submitted_on, f.approved_on, f.first_participant_on
    if end is not None:
        for key in ("start_on", "first_participant_on"):
            d = getattr(f, key)
            if d is not None and end < d:
                out.append(
                    _make(
                        "END-BEFORE-START",
                        f"the {_words(f, 'end_of_trial_on')} is before the {_words(f, key)}.",
                        (_fact(f, "end_of_trial_on"), _fact(f, key)),
                    )
                )
                break
    if applied is not None and approved is not None and approved < applied:
        out.append(
            _make(
                "APPROVAL-BEFORE-APPLICATION",
                f"the {_words(f, 'approved_on')} is before the "
                f"{_words(f, 'application_submitted_on')}.",
                (_fact(f, "approved_on"), _fact(f, "application_submitted_on")),
            )
        )
    # With no application date, the UK approval (which always follows the application) stands
    # in: a trial cannot end before its UK application, so neither before its approval.
    applied_key = "application_submitted_on" if applied is not None else "approved_on"
    applied_on = applied if applied is not None else approved
    if applied_on is not None and end is not None and end < applied_on:
        out.append(
            _make(
                "END-BEFORE-APPLICATION",
                f"the {_words(f, 'end_of_trial_on')} is before the {_words(f, applied_key)}"
                + ("" if applied is not None else " (no application date is recorded)")
                + ": a record of an old trial with new dates?",
                (_fact(f, "end_of_trial_on"), _fact(f, applied_key)),
            )
        )
    if first is not None and approved is not None and first < approved:
        out.append(
            _make(
                "PARTICIPANT-BEFORE-APPROVAL",
                f"the {_words(f, 'first_participant_on')} is before the "
                f"{_words(f, 'approved_on')}.",
                (_fact(f, "first_participant_on"), _fact(f, "approved_on")),
            )
        )
    if end is not None:
        early = []
        for r in f.registrations or ():
            posted = r.results_posted_on
            if posted is not None and posted < end:
                early.append((r, posted))
        if f.results_submitted_on is not None and f.results_submitted_on < end:
            early.append((None, f.results_submitted_on))
        for r, posted in early:
            if r is None:
                what, key, src = (
                    "results first submitted to ClinicalTrials.gov",
                    "results_submitted_on",
                    f.source("results_submitted_on"),
                )
            else:
                what = f"results posted on {r.registry}" + (f" {r.id}" if r.id else "")
                key, src = "registrations", f.source("registrations")
            out.append(
                _make(
                    "RESULTS-BEFORE-END",
                    f"{what} on {format_date(posted)} ({src}) is before the "
                    f"{_words(f, 'end_of_trial_on')}: interim results do not meet a duty.",
                    ((key, f"{what}: {posted.isoformat()}", src), _fact(f, "end_of_trial_on")),
                )
            )
    registry_end = f.registry_end_of_trial_on
    if registry_end is not None and end is not None:
        gap = abs((registry_end - end).days)
        if gap > p.end_date_tolerance_days:
            out.append(
                _make(
                    "END-DATES-DISAGREE",
                    f"the {_words(f, 'registry_end_of_trial_on')} and the sponsor's end of trial "
                    f"{format_date(end)} ({f.source('end_of_trial_on')}) are {gap} days apart "
                    f"(more than {p.end_date_tolerance_days}); the sponsor's date is used.",
                    (_fact(f, "end_of_trial_on"), _fact(f, "registry_end_of_trial_on")),
                )
            )
    return out


def check_facts(f: Facts, as_of: date, p: Params, eu_applies: bool = True) -> list[Conflict]:
    """Every finding for a trial: the checks of "Facts that contradict each other", then the
    Directive transition warning (when the EU rule set applies)."""
    out = find_conflicts(f, p)
    if eu_applies:
        out += directive_warnings(f, p, as_of)
    return out


def directive_warnings(f: Facts, p: Params, as_of: date) -> list[Conflict]:
    """RULES.md "Which EU law applies": a Directive trial still running on 31 January 2025
    without a recorded transition "should have been transitioned to the CTR"."""
    from .eulaw import DIRECTIVE, TRANSITION_DEADLINE, end_in_all_member_states, eu_law

    if as_of < TRANSITION_DEADLINE:
        return []
    law = eu_law(f, p)
    if law.law != DIRECTIVE:
        return []
    end, _, _ = end_in_all_member_states(f)
    started = f.start_on or f.first_participant_on
    if (end is not None and end < TRANSITION_DEADLINE) or (
        started is not None and started > TRANSITION_DEADLINE
    ):
        return []
    running = "no end of trial is recorded" if end is None else f"it ended {format_date(end)}"
    key = "eudract_number" if f.eudract_number else "registrations"
    facts = [(key, f"EudraCT {law.eudract_number}", f.source(key))]
    if end is not None and f.end_of_trial_on == end:
        facts.append(_fact(f, "end_of_trial_on"))
    elif end is not None:  # from an EU end-of-trial event
        facts.append(("eu_events", f"end of trial: {end.isoformat()}", f.source("eu_events")))
    return [
        _make(
            "NOT-TRANSITIONED",
            f"this Directive trial (EudraCT {law.eudract_number}) was still running on "
            f"{format_date(TRANSITION_DEADLINE)} ({running}) and no transition is recorded: it "
            "should have been transitioned to the CTR. Enter its EU CT number or transition "
            "date if it was.",
            tuple(facts),
        )
    ]
