"""Rule set `eu-ctr` (RULES.md "Rule set eu-ctr" and "Which EU law applies").

Which EU law applies is decided first (`eulaw.eu_law`): Regulation 536/2014 (the CTR), Directive
2001/20/EC, the EU window (history only) or unknown (every EU duty `data_needed`). Each verdict
starts with that decision and cites its legal basis.

Under the CTR, notifiable events come from `Facts.eu_events` ({event, on, notified_on,
member_state}; event names in facts.EU_START_EVENTS / EU_END_EVENTS); only events on or after the
day the CTR began to apply to the trial count (earlier ones belong to the Directive). When no event
of a kind is recorded, the general facts stand in: first_participant_on for the first visit,
end_of_trial_on for the end of trial in all member states (or early termination). Such stand-in
events have no notification date, so the duty stays open until the notification is recorded.
A notification dated before its event is not counted (it cannot be right).
"""

from __future__ import annotations

from datetime import date

from .common import data_needed, done, emit, settle
from .dates import add_days, add_months, format_date
from .duties import DUTIES
from .eulaw import CTR, DIRECTIVE, WINDOW, EuLaw, end_in_all_member_states, eu_law
from .facts import EU_END_EVENTS, EU_START_EVENTS, Facts
from .model import NOT_APPLICABLE, Obligation
from .params import Params

EVENT_LABELS = {
    "trial_start": "start of trial",
    "first_visit": "first visit of the first participant",
    "recruitment_end": "end of recruitment",
    "end_member_state": "end of trial in a member state",
    "end_all_member_states": "end of trial in all member states",
    "end_worldwide": "end of trial worldwide",
    "early_termination": "early termination",
}
NO_DEFERRAL = "No deferral is possible: the CTIS deferral mechanism was removed on 18 June 2024. "
PAED_UNKNOWN = "paediatric not recorded: treated as not a paediatric trial (12 months)"
NUMBER_NEEDED = "eudract_number or eu_ct_number"

_DIRECTIVE_SRC = (
    "RULES.md eu-ctr 'Which EU law applies' (Directive); Directive 2001/20/EC, Article 10(c); "
    "Commission Guideline 2012/C 302/03"
)
DIRECTIVE_SOURCES = {
    "EU-START": f"{_DIRECTIVE_SRC}",
    "EU-END": f"{_DIRECTIVE_SRC}; end-of-trial declaration (90 days, 15 if terminated early)",
    "EU-RES": f"{_DIRECTIVE_SRC}; results summary in EudraCT (12 months, paediatric 6 months)",
}
DIRECTIVE_TITLES = {
    "EU-END": "Declare the end of trial in all member states",
    "EU-RES": "Post the results summary in EudraCT",
}

# (label, event date, notification date or None, estimated)
_Event = tuple[str, date, date | None, bool]


def _events(f: Facts, kinds: tuple[str, ...], since: date) -> tuple[list[_Event], int]:
    """Recorded events of `kinds` on or after `since`, and how many earlier ones were left out."""
    out = []
    before = 0
    for e in f.eu_events or ():
        if e.event in kinds:
            if e.on < since:
                before += 1
                continue
            label = EVENT_LABELS[e.event]
            if e.member_state:
                label = f"{label} ({e.member_state})"
            out.append((label, e.on, e.notified_on, bool(e.estimated)))
    return out, before


def _notify(
    duty: str, f: Facts, as_of: date, p: Params, what: str, events: list[_Event], lead: str
) -> Obligation:
    """One verdict for a set of events, each to be notified within 15 days of the event.

    The worst event decides: an event past its deadline and not notified (overdue), else an event
    notified late (met_late, by the largest lateness), else the earliest event still to notify
    (due_soon / upcoming), else met. `missing` lists every event not notified yet.
    """
    step = p.eu_notify_days
    parts = []
    open_: list[tuple[date, str]] = []
    late: tuple[int, date, date] | None = None  # (days late, due, notified)
    last: tuple[date, date] | None = None  # (due, notified) of the latest notification
    estimated = False
    trigger = None
    for label, on, notified, est in events:
        due = add_days(on, step)
        trigger = on if trigger is None or on < trigger else trigger
        n = done(notified, as_of)
        if n is not None and n < on:
            parts.append(
                f"{label} on {format_date(on)}: due {format_date(due)}, a notification dated "
                f"{format_date(n)} is before the event and is not counted"
            )
            n = None
            open_.append((due, label))
            estimated = estimated or est
            continue
        if n is None:
            open_.append((due, label))
            estimated = estimated or est
            parts.append(f"{label} on {format_date(on)}: due {format_date(due)}, not notified")
        else:
            parts.append(
                f"{label} on {format_date(on)}: due {format_date(due)}, notified {format_date(n)}"
            )
            if n > due and (late is None or (n - due).days > late[0]):
                late = ((n - due).days, due, n)
            if last is None or n > last[1]:
                last = (due, n)
    head = (
        f"{lead}Notify the {what} within {p.eu_notify_days} days of each event: "
        f"{'; '.join(parts)}. "
    )
    missing: list[str] = []
    if open_:
        if len(open_) > 1:
            open_.sort()
        due = open_[0][0]
        missing = [label for _, label in open_]
        if late is None or due < as_of:  # an overdue event outranks a late notification
            return settle(duty, f, as_of, p, head, due, trigger, None, [], estimated, missing)
    due, met_on = (late[1], late[2]) if late is not None else last  # type: ignore[misc]
    estimated = any(e[3] for e in events)
    return settle(duty, f, as_of, p, head, due, trigger, met_on, [], estimated, missing)


def _na(duty: str, f: Facts, p: Params, text: str, assumptions: list[str] | None = None):
    return emit(duty, f, p, NOT_APPLICABLE, None, None, 0, None, text, assumptions or [], False, [])


# --- Regulation 536/2014 (CTR) ------------------------------------------------------------------


# RULES.md eu-ctr table row EU-START (Art. 36), for events on or after the CTR applied.
def eu_start(f: Facts, as_of: date, p: Params, law: EuLaw) -> Obligation:
    """EU-START: start, first visit and end of recruitment, each notified within 15 days."""
    since = law.applies_from or date.min
    events, before = _events(f, EU_START_EVENTS, since)
    fp = f.first_participant_on
    if fp is not None and not any(e.event == "first_visit" for e in f.eu_events or ()):
        if fp >= since:
            est = "first_participant_on" in f.estimated
            events.append((EVENT_LABELS["first_visit"], fp, None, est))
        else:
            before += 1
    if not events:
        if before:
            return _na(
                "EU-START", f, p,
                f"{law.reason} The start of trial events happened before "
                f"{format_date(since)}: they belong to the Directive, which had no start "
                "notification duty in this rule set.",
            )  # fmt: skip
        why = (
            f"{law.reason} The first notification is due 15 days after the first visit of the "
            "first participant."
        )
        return data_needed("EU-START", f, p, ["first_participant_on or eu_events"], why)
    return _notify("EU-START", f, as_of, p, "start of trial events", events, law.reason + " ")


# RULES.md eu-ctr table row EU-END (Art. 37 and 38), for events on or after the CTR applied.
def eu_end(f: Facts, as_of: date, p: Params, law: EuLaw) -> Obligation:
    """EU-END: end in a member state / all member states / worldwide, early termination."""
    since = law.applies_from or date.min
    events, before = _events(f, EU_END_EVENTS, since)
    end = f.end_of_trial_on
    if not events and not before and end is not None:
        if end >= since:
            kind = "early_termination" if f.early_termination else "end_all_member_states"
            events.append((EVENT_LABELS[kind], end, None, "end_of_trial_on" in f.estimated))
        else:
            before += 1
    if not events:
        if before:
            return _na(
                "EU-END", f, p,
                f"{law.reason} The trial ended before {format_date(since)}: its end belongs "
                "to the Directive.",
            )  # fmt: skip
        why = f"{law.reason} The notification is due 15 days after the end of trial."
        return data_needed("EU-END", f, p, ["end_of_trial_on or eu_events"], why)
    return _notify("EU-END", f, as_of, p, "end of trial", events, law.reason + " ")


def _results(f: Facts, registry: str, end: date, as_of: date):
    """(entry, earliest results date counted, any entry, note) for `registry`'s entries: results
    dated before the end of trial are interim results and do not meet the duty."""
    entry = first = met_on = None
    note = ""
    for r in f.registrations or ():
        if r.registry != registry:
            continue
        entry = r
        posted = r.results_posted_on
        if posted is None or posted > as_of:
            continue
        if posted < end:
            note = (
                f"Results dated {format_date(posted)}, before the end of trial, are interim "
                "results and do not meet this duty. "
            )
            continue
        if met_on is None or posted < met_on:
            met_on, first = posted, r
    return entry, first, met_on, note


def _paediatric(f: Facts, p: Params, assumptions: list[str]) -> tuple[int, str]:
    if f.paediatric:
        return p.eu_res_paediatric_months, "a paediatric trial"
    if f.paediatric is None:
        assumptions.append(PAED_UNKNOWN)
    return p.eu_res_months, "not a paediatric trial"


# RULES.md eu-ctr table row EU-RES (Art. 37(4), Annexes IV and V; paediatric: Reg. 1901/2006).
def eu_res(f: Facts, as_of: date, p: Params, law: EuLaw) -> Obligation:
    """EU-RES: results and lay summary in CTIS, 12 months after the end in all member states."""
    duty = "EU-RES"
    end, est, where = end_in_all_member_states(f)
    if end is None:
        why = f"{law.reason} Results are due 12 months after the end of trial in all member states."
        return data_needed(duty, f, p, ["end_of_trial_on or eu_events"], why)
    since = law.applies_from or date.min
    if end < since:
        return _na(
            duty, f, p,
            f"{law.reason} The trial ended before {format_date(since)}: its results belong to "
            "the Directive.",
        )  # fmt: skip
    assumptions: list[str] = []
    months, kind = _paediatric(f, p, assumptions)
    due = add_months(end, months)
    head = (
        f"{law.reason} Submit the results summary (Annex IV) and lay summary (Annex V) to CTIS, "
        f"irrespective of outcome, by {format_date(due)}: {months} months after the {where} "
        f"({format_date(end)}), as this is {kind}. {NO_DEFERRAL}"
    )
    ctis, first, met_on, note = _results(f, "CTIS", end, as_of)
    head += note
    missing: list[str] = []
    if first is not None:
        est = est or "results_posted_on" in first.estimated
        head += "Results are posted in CTIS. "
    else:
        missing = ["CTIS"]
        head += "Results are not posted in CTIS. " if ctis else "No CTIS entry is recorded. "
    return settle(duty, f, as_of, p, head, due, end, met_on, assumptions, est, missing)


# --- Directive 2001/20/EC -----------------------------------------------------------------------


def directive_end(f: Facts, as_of: date, p: Params, law: EuLaw) -> Obligation:
    """EU-END under the Directive: declare the end of trial in all member states within 90 days
    (15 if terminated early). RULES.md "Which EU law applies", Directive bullet."""
    duty = "EU-END"
    end, est, where = end_in_all_member_states(f)
    if end is None:
        why = (
            f"{law.reason} The end of trial must be declared within {p.eu_directive_end_days} "
            "days of the end of trial in all member states."
        )
        return data_needed(duty, f, p, ["end_of_trial_on or eu_events"], why)
    early_events = [e for e in f.eu_events or () if e.event == "early_termination"]
    assumptions: list[str] = []
    if early_events or f.early_termination:
        days, how = p.eu_directive_end_early_days, "the trial was terminated early"
    else:
        days, how = p.eu_directive_end_days, "the trial ended as planned"
    due = add_days(end, days)
    head = (
        f"{law.reason} Declare the end of trial to the member states' competent authorities and "
        f"ethics committees by {format_date(due)}, {days} days after the {where} "
        f"({format_date(end)}), because {how}. "
    )
    met_on = None
    for e in f.eu_events or ():
        if e.event in ("end_all_member_states", "early_termination", "end_worldwide"):
            n = done(e.notified_on, as_of)
            if n is not None and n >= end and (met_on is None or n < met_on):
                met_on = n
    if met_on is not None:
        head += "The declaration is recorded. "
    return settle(duty, f, as_of, p, head, due, end, met_on, assumptions, est, [])


def directive_res(f: Facts, as_of: date, p: Params, law: EuLaw) -> Obligation:
    """EU-RES under the Directive: results summary in EudraCT within 12 months of the end of trial
    in all member states (paediatric 6); adult phase 1 trials outside a paediatric investigation
    plan are out of scope (RULES.md "Which EU law applies", Directive bullet)."""
    duty = "EU-RES"
    if f.phase == "1" and not f.paediatric:
        return _na(
            duty, f, p,
            f"{law.reason} Adult phase 1 trials outside a paediatric investigation plan are not "
            "in scope of results posting under the Directive.",
        )  # fmt: skip
    end, est, where = end_in_all_member_states(f)
    if end is None:
        why = (
            f"{law.reason} Results are due 12 months after the end of trial in all member states "
            "(6 for paediatric trials)."
        )
        return data_needed(duty, f, p, ["end_of_trial_on or eu_events"], why)
    assumptions: list[str] = []
    months, kind = _paediatric(f, p, assumptions)
    due = add_months(end, months)
    head = (
        f"{law.reason} Post the results summary in EudraCT (shown on the EU Clinical Trials "
        f"Register) by {format_date(due)}: {months} months after the {where} "
        f"({format_date(end)}), as this is {kind}. "
    )
    entry, first, met_on, note = _results(f, "EUCTR", end, as_of)
    head += note
    missing: list[str] = []
    if first is not None:
        est = est or "results_posted_on" in first.estimated
        head += "Results are posted on the EU Clinical Trials Register. "
    else:
        missing = ["EUCTR"]
        head += "Results are not posted on the EU Clinical Trials Register. "
    return settle(duty, f, as_of, p, head, due, end, met_on, assumptions, est, missing)


def _directive(o: Obligation) -> Obligation:
    """A Directive verdict names its own legal basis (source) and duty title."""
    return o._replace(
        source=DIRECTIVE_SOURCES[o.id], title=DIRECTIVE_TITLES.get(o.id, DUTIES[o.id][1])
    )


def eu_duties(f: Facts, as_of: date, p: Params) -> list[Obligation]:
    """All eu-ctr verdicts for a trial with an EU/EEA site, in RULES.md order, under the EU law
    that applies to it (RULES.md "Which EU law applies")."""
    law = eu_law(f, p)
    if law.law == CTR:
        return [eu_start(f, as_of, p, law), eu_end(f, as_of, p, law), eu_res(f, as_of, p, law)]
    if law.law == DIRECTIVE:
        start = _na(
            "EU-START", f, p,
            f"{law.reason} The Directive has no start of trial notification duty in this rule "
            "set.",
        )  # fmt: skip
        return [
            _directive(start),
            _directive(directive_end(f, as_of, p, law)),
            _directive(directive_res(f, as_of, p, law)),
        ]
    if law.law == WINDOW:
        texts = p.texts  # type: ignore[attr-defined]
        return [
            _na(duty, f, p, law.reason, [texts["eu_window_start"]])
            for duty in ("EU-START", "EU-END", "EU-RES")
        ]
    return [
        data_needed(duty, f, p, [NUMBER_NEEDED], law.reason)
        for duty in ("EU-START", "EU-END", "EU-RES")
    ]
