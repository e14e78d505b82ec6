"""Rule set `eu-ctr`: Regulation (EU) No 536/2014 (RULES.md "Rule set eu-ctr").

Notifiable events come from `Facts.eu_events` ({event, on, notified_on, member_state}; event names
in facts.EU_START_EVENTS / EU_END_EVENTS). When no event of a kind is recorded, the general facts
stand in: first_participant_on for the first visit, end_of_trial_on for the end of trial in all
member states (or early termination). Such stand-in events have no notification date, so the duty
stays open until the notification is recorded in eu_events.
"""

from __future__ import annotations

from datetime import date

from .common import data_needed, done, settle
from .dates import add_days, add_months, format_date
from .facts import EU_END_EVENTS, EU_START_EVENTS, EuEvent, Facts
from .model import Obligation
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

# (label, event date, notification date or None, estimated)
_Event = tuple[str, date, date | None, bool]


def _on(e: EuEvent) -> date:
    return e.on


def _events(f: Facts, kinds: tuple[str, ...]) -> list[_Event]:
    out = []
    for e in f.eu_events or ():
        if e.event in kinds:
            label = EVENT_LABELS[e.event]
            if e.member_state:
                label = f"{label} ({e.member_state})"
            out.append((label, e.on, e.notified_on, bool(e.estimated)))
    return out


def _notify(
    duty: str, f: Facts, as_of: date, p: Params, what: str, events: list[_Event]
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
    head = f"Notify the {what} within {p.eu_notify_days} days of each event: {'; '.join(parts)}. "
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


# RULES.md eu-ctr table row EU-START (Art. 36).
def eu_start(f: Facts, as_of: date, p: Params) -> Obligation:
    """EU-START: start, first visit and end of recruitment, each notified within 15 days."""
    events = _events(f, EU_START_EVENTS) if f.eu_events else []
    fp = f.first_participant_on
    if fp is not None and not any(e.event == "first_visit" for e in f.eu_events or ()):
        est = "first_participant_on" in f.estimated
        events.append((EVENT_LABELS["first_visit"], fp, None, est))
    if not events:
        why = (
            "the first notification is due 15 days after the first visit of the first participant."
        )
        return data_needed("EU-START", f, p, ["first_participant_on or eu_events"], why)
    return _notify("EU-START", f, as_of, p, "start of trial events", events)


# RULES.md eu-ctr table row EU-END (Art. 37 and 38).
def eu_end(f: Facts, as_of: date, p: Params) -> Obligation:
    """EU-END: end in a member state / all member states / worldwide, early termination."""
    events = _events(f, EU_END_EVENTS) if f.eu_events else []
    end = f.end_of_trial_on
    if not events and end is not None:
        kind = "early_termination" if f.early_termination else "end_all_member_states"
        events.append((EVENT_LABELS[kind], end, None, "end_of_trial_on" in f.estimated))
    if not events:
        why = "the notification is due 15 days after the end of trial."
        return data_needed("EU-END", f, p, ["end_of_trial_on or eu_events"], why)
    return _notify("EU-END", f, as_of, p, "end of trial", events)


# RULES.md eu-ctr table row EU-RES (Art. 37(4), Annexes IV and V; paediatric: Reg. 1901/2006).
def eu_res(f: Facts, as_of: date, p: Params) -> Obligation:
    """EU-RES: results and lay summary in CTIS, 12 months after the end in all member states."""
    duty = "EU-RES"
    end, est, where = None, False, ""
    for kind in ("end_all_member_states", "early_termination") if f.eu_events else ():
        ends = [e for e in f.eu_events if e.event == kind]  # type: ignore[union-attr]
        if ends:
            e = max(ends, key=_on)
            end, est, where = e.on, "on" in e.estimated, EVENT_LABELS[kind]
            break
    if end is None and f.end_of_trial_on is not None:
        end, est = f.end_of_trial_on, "end_of_trial_on" in f.estimated
        where = "end of trial in all member states, taken from end_of_trial_on"
    if end is None:
        why = "results are due 12 months after the end of trial in all member states."
        return data_needed(duty, f, p, ["end_of_trial_on or eu_events"], why)
    assumptions: list[str] = []
    if f.paediatric:
        months, kind = p.eu_res_paediatric_months, "a paediatric trial"
    else:
        months, kind = p.eu_res_months, "not a paediatric trial"
        if f.paediatric is None:
            assumptions.append(PAED_UNKNOWN)
    due = add_months(end, months)
    head = (
        f"Submit the results summary (Annex IV) and lay summary (Annex V) to CTIS, irrespective "
        f"of outcome, by {format_date(due)}: {months} months after the {where} "
        f"({format_date(end)}), as this is {kind}. {NO_DEFERRAL}"
    )
    ctis = first = met_on = None
    for r in f.registrations or ():
        if r.registry == "CTIS":
            ctis = r
            posted = r.results_posted_on
            if posted is not None and posted <= as_of and (met_on is None or posted < met_on):
                met_on, first = posted, r
    missing: list[str] = []
    if first is not None:
        est = est or "results_posted_on" in first.estimated
        head += "Results are posted in CTIS. "
    else:
        missing = ["CTIS"]
        head += "Results are not posted in CTIS. " if ctis else "No CTIS entry is recorded. "
    return settle(duty, f, as_of, p, head, due, end, met_on, assumptions, est, missing)


def eu_duties(f: Facts, as_of: date, p: Params) -> list[Obligation]:
    """All eu-ctr verdicts for a trial the rule set applies to, in RULES.md order."""
    return [eu_start(f, as_of, p), eu_end(f, as_of, p), eu_res(f, as_of, p)]
