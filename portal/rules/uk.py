"""Rule set `uk-2026`: S.I. 2025/538 amending S.I. 2004/1031 (RULES.md "Rule set uk-2026").

One function per duty row of the RULES.md table. Order of checks in each: not_applicable (the
transitional arrangements), waived, data_needed, then the status from the due date.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from .common import (
    data_needed,
    done,
    emit,
    not_applicable,
    settle,
    uk_deferral,
    waived,
    waiver_for,
)
from .dates import add_days, add_months, format_date
from .facts import Facts
from .model import DEFERRED, MET, NOT_APPLICABLE, Obligation
from .params import Params
from .transitional import (
    NO_WAIVER,
    OLD_END_UNKNOWN,
    OLD_RULES_REGISTRIES,
    OLD_UNKNOWN,
    REG_HISTORY,
    RES_HISTORY,
    boundary_month,
    flag_estimated,
    old_ended_before,
    old_rules,
)

ONE_DAY = timedelta(days=1)


# RULES.md uk-2026 table row UK-REG, plus the transitional arrangements for old rules trials.
def uk_reg(f: Facts, as_of: date, p: Params, old: bool | None, old_note: str) -> Obligation:
    """UK-REG: registered by the earlier of (first participant - 1 day) and (approval + 90 days)."""
    duty = "UK-REG"
    if old and f.end_of_trial_on is not None and f.end_of_trial_on < p.uk_in_force:
        return old_ended_before(duty, f, p, old_note, REG_HISTORY)
    approval = f.approved_on
    w, wnote = waiver_for(duty, f) if f.waivers else NO_WAIVER
    if w is not None:
        return waived(duty, f, p, w, approval)
    if old is None:
        return data_needed(duty, f, p, ["application_submitted_on"], OLD_UNKNOWN, approval)
    end = f.end_of_trial_on
    if old and end is None:
        return data_needed(duty, f, p, ["end_of_trial_on"], OLD_END_UNKNOWN, approval)
    regs = f.registrations or ()
    history = REG_HISTORY if old else ""
    assumptions: list[str] = []
    if old:
        # "UK-REG applies, and is already met if the trial is on ISRCTN or ClinicalTrials.gov."
        on = [
            r
            for r in regs
            if r.registry in OLD_RULES_REGISTRIES
            and (r.registered_on is None or r.registered_on <= as_of)
        ]
        dated = [r for r in on if r.registered_on is not None]
        if on and (approval is None or not dated):
            # No date to check against a deadline: the spec's presumption decides.
            first = min(dated, key=_registered) if dated else on[0]
            text = (
                f"{old_note}Already met: this old rules trial (application submitted before 28 "
                f"April 2026, ending on or after it) is registered on {first.registry}. {history}"
            )
            est = "registered_on" in first.estimated
            return emit(
                duty, f, p, MET, None, None, 0, None, text, assumptions, est, [], None,
                first.registered_on,
            )  # fmt: skip
    if approval is None:
        why = "the registration deadline runs from the UK approval date."
        return data_needed(duty, f, p, ["approved_on"], why)
    # Due: the earlier of the day before the first participant and approval + 90 days.
    fp = f.first_participant_on
    due = _reg_due(approval, fp, old, p)
    by_approval = add_days(approval, p.uk_reg_days)
    rule = f"{p.uk_reg_days} days after approval ({format_date(by_approval)})"
    note = old_note
    if fp is not None:
        rule = (
            f"the earlier of the day before the first participant is recruited "
            f"({format_date(fp - ONE_DAY)}) and {rule}"
        )
        if fp <= approval:
            note += "The first participant date is not after the approval date: check the facts. "
    if old and due == p.uk_in_force:
        note += (
            "For an old rules trial the legal duty cannot fall due before the new rules came "
            "into force on 28 April 2026. "
        )
    # A month-only date is read as the month's last day; the verdict is estimated if reading it
    # as the month's first day would give another due date.
    estimated = False
    est = f.estimated
    if "approved_on" in est or (fp is not None and "first_participant_on" in est):
        lo_approval = approval.replace(day=1) if "approved_on" in est else approval
        lo_fp = fp.replace(day=1) if fp is not None and "first_participant_on" in est else fp
        estimated = _reg_due(lo_approval, lo_fp, old, p) != due
    head = (
        f"Register the trial in a public registry (a WHO ICTRP primary or partner registry, or a "
        f"data provider to it; ISRCTN and ClinicalTrials.gov qualify) by {format_date(due)}: "
        f"{rule}. {note}{history}"
    )
    # Met when a qualifying entry has a registration date on or before due.
    met_on = first = None
    undated = []
    for r in regs:  # the earliest registration as of as_of, and entries without a date
        d = r.registered_on
        if d is None:
            undated.append(r.registry)
        elif d <= as_of and (met_on is None or d < met_on):
            met_on, first = d, r
    if undated and (met_on is None or met_on > due):
        missing = [f"registered_on of the {name} entry" for name in undated]
        why = "a registry entry has no registration date, so whether it was on time is unknown."
        return data_needed(duty, f, p, missing, why, approval)
    if first is not None:
        estimated = estimated or "registered_on" in first.estimated
        head += f"Registered on {first.registry}. "
    elif not regs:
        head += "No registry entry is recorded. "
    return _finish(duty, f, as_of, p, head + wnote, due, approval, met_on, assumptions, estimated)


def _reg_due(approval: date, fp: date | None, old: bool, p: Params) -> date:
    """UK-REG due date: earlier of (first participant - 1 day) and (approval + 90 days).

    Never before approval (a first participant recorded on or before approval is a data error),
    and for old rules trials never before the new rules came into force.
    """
    due = add_days(approval, p.uk_reg_days)
    if fp is not None and fp - ONE_DAY < due:
        due = max(fp - ONE_DAY, approval)
    if old and due < p.uk_in_force:
        due = p.uk_in_force
    return due


def _ref(d) -> str:
    return f"reference {d.reference}" if d.reference else "no reference recorded"


def _registered(r) -> date:
    return r.registered_on


def _finish(
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
    missing: list[str] | None = None,
) -> Obligation:
    """Apply the UK deferrals to `due`, then derive the status.

    RULES.md uk-2026 "Deferrals and waivers": a deferral is asked for a duty not yet done and
    "before that duty's due date". A duty done on or before its own due date needs no deferral:
    its verdict keeps that due date (so the page and the text name the same one), and a
    deferral requested on or after the day the duty was done is ignored. When a deferral moves
    the due date, the text's "by" date is the new one.
    """
    missing = missing if missing is not None else []
    if not f.deferrals and (f.phase != "1" or f.healthy_volunteers is not True):
        return settle(
            duty, f, as_of, p, head, due, trigger, met_on, assumptions, estimated, missing
        )
    if met_on is not None and met_on <= due:  # done on time: nothing to defer
        note = "".join(
            f"A deferral ({_ref(d)}) requested on {format_date(d.requested_on)} is ignored: "
            f"the duty was already done. "
            for d in f.deferrals or ()
            if d.duty == duty and d.requested_on >= met_on
        )
        return settle(duty, f, as_of, p, head + note, due, trigger, met_on, assumptions,
                      estimated, missing)  # fmt: skip
    ignored = ""
    fd = f  # the facts the deferrals are worked out from
    if met_on is not None and f.deferrals:
        late = [d for d in f.deferrals if d.duty == duty and d.requested_on >= met_on]
        if late:
            ignored = "".join(
                f"A deferral ({_ref(d)}) requested on {format_date(d.requested_on)} is ignored: "
                f"the duty was already done on {format_date(met_on)}. "
                for d in late
            )
            fd = replace(f, deferrals=tuple(d for d in f.deferrals if d not in late))
            if not fd.deferrals and (f.phase != "1" or f.healthy_volunteers is not True):
                return settle(duty, f, as_of, p, head + ignored, due, trigger, met_on,
                              assumptions, estimated, missing)  # fmt: skip
    new_due, deferred, note, est, need = uk_deferral(duty, due, fd, as_of, p, assumptions)
    note = ignored + note
    if new_due is not None and new_due != due:  # the text names the due date in force
        head = head.replace(
            f"by {format_date(due)}",
            f"by {format_date(new_due)} (deferred from {format_date(due)})",
            1,
        )
    if new_due is None:  # deferred, but the end of the deferral is not known yet
        if met_on is not None and met_on <= due:
            return settle(duty, f, as_of, p, head + note, due, trigger, met_on, assumptions,
                          estimated, missing)  # fmt: skip
        if met_on is not None:  # done while deferred: the deferral runs from a later end
            text = f"{head}{note}Done on {format_date(met_on)}, during the deferral."
            return emit(duty, f, p, MET, None, trigger, 0, None, text, assumptions, estimated,
                        missing, None, met_on)  # fmt: skip
        text = f"{head}{note}Deferred until the end of the deferral can be worked out."
        return emit(duty, f, p, DEFERRED, None, trigger, 0, None, text, assumptions, estimated,
                    missing + need)  # fmt: skip
    return settle(
        duty, f, as_of, p, head + note, new_due, trigger, met_on, assumptions, estimated or est,
        missing, deferred,
    )  # fmt: skip


# RULES.md uk-2026 table row UK-RES ("in every registry the trial is registered in").
def uk_res(f: Facts, as_of: date, p: Params, old: bool | None, old_note: str) -> Obligation:
    """UK-RES: results summary in every registry entry by end of trial + 12 months."""
    duty = "UK-RES"
    if old and f.end_of_trial_on is not None and f.end_of_trial_on < p.uk_in_force:
        return old_ended_before(duty, f, p, old_note, RES_HISTORY)
    end = f.end_of_trial_on
    w, wnote = waiver_for(duty, f) if f.waivers else NO_WAIVER
    if w is not None:
        return waived(duty, f, p, w, end)
    if end is None:
        why = "results are due 12 months after the end of trial."
        return data_needed(duty, f, p, ["end_of_trial_on"], why)
    if old is None and end < p.uk_in_force:
        return data_needed(duty, f, p, ["application_submitted_on"], OLD_UNKNOWN, end)
    due = add_months(end, p.uk_res_months)
    estimated = "end_of_trial_on" in f.estimated
    paed = " (paediatric trials too: the old 6-month rule is gone)" if f.paediatric else ""
    head = (
        f"{old_note}Publish a summary of results, including a lay summary, in every registry the "
        f"trial is registered in by {format_date(due)}, {p.uk_res_months} months after the end "
        f"of trial ({format_date(end)}){paed}; a link to results elsewhere does not count. "
    )
    if old:
        head += RES_HISTORY
    regs = f.registrations or ()
    met_on = None
    if not regs:
        missing = ["registry entry"]
        head += (
            "The trial has no registry entry, so results cannot be published in one: "
            "register it first. "
        )
    else:
        missing = []
        latest = None
        interim = []
        for r in regs:
            posted = r.results_posted_on
            if posted is not None and posted < end:
                # RULES.md RESULTS-BEFORE-END: interim results do not meet a duty.
                interim.append(f"{r.registry} ({format_date(posted)})")
                posted = None
            if posted is None or posted > as_of:  # not posted (yet, as of as_of)
                if r.registry not in missing:
                    missing.append(r.registry)
            elif latest is None or posted > latest[0]:
                latest = (posted, r)
        if interim:
            head += (
                f"Results dated before the end of trial are interim results and do not count: "
                f"{', '.join(interim)}. "
            )
        if missing:
            head += f"Results are still missing on: {', '.join(missing)}. "
        elif latest is not None:
            met_on = latest[0]
            estimated = estimated or "results_posted_on" in latest[1].estimated
            head += f"Results are posted in every registry entry ({len(regs)}). "
    return _finish(duty, f, as_of, p, head + wnote, due, end, met_on, [], estimated, missing)


# RULES.md uk-2026 table row UK-PART; old rules trials ending on/after 28 April 2026 use the
# [param] old_rules_part_applies.
def uk_part(f: Facts, as_of: date, p: Params, old: bool | None, old_note: str) -> Obligation:
    """UK-PART: offer participants a lay summary by end of trial + 12 months."""
    duty = "UK-PART"
    if old and f.end_of_trial_on is not None and f.end_of_trial_on < p.uk_in_force:
        return old_ended_before(duty, f, p, old_note, "")
    end = f.end_of_trial_on
    assumptions: list[str] = []
    if old and end is not None:  # ends on or after 28 April 2026 (earlier ends returned above)
        assumptions.append(p.texts["old_rules_part_applies"])  # type: ignore[attr-defined]
        if not p.old_rules_part_applies:
            return emit(
                duty, f, p, NOT_APPLICABLE, None, None, 0, None,
                "Not assumed to apply to an old rules trial (application submitted before 28 April "
                "2026) under the current parameters.",
                assumptions, False, [],
            )  # fmt: skip
    w, wnote = waiver_for(duty, f) if f.waivers else NO_WAIVER
    if w is not None:
        return waived(duty, f, p, w, end)
    if end is None:
        why = "the offer is due 12 months after the end of trial."
        return data_needed(duty, f, p, ["end_of_trial_on"], why)
    if old is None and end < p.uk_in_force:
        return data_needed(duty, f, p, ["application_submitted_on"], OLD_UNKNOWN, end)
    due = add_months(end, p.uk_part_months)
    estimated = "end_of_trial_on" in f.estimated
    head = (
        f"{old_note}Offer participants (and other relevant people, such as parents or legal "
        f"representatives) a lay summary of the whole-trial results by {format_date(due)}, "
        f"{p.uk_part_months} months after the end of trial ({format_date(end)}). "
    )
    met_on = done(f.participant_summary_offered_on, as_of)
    if met_on is not None and met_on < end:
        head += (
            f"An offer dated {format_date(met_on)}, before the end of trial, cannot be the offer "
            "of the whole-trial results: check the date. "
        )
        met_on = None
    if met_on is not None:
        estimated = estimated or "participant_summary_offered_on" in f.estimated
        head += "The sponsor recorded the offer. "
    return _finish(duty, f, as_of, p, head + wnote, due, end, met_on, assumptions, estimated)


EARLY_UNKNOWN = "early_termination not recorded: treated as a normal end of trial (90 days)"


# RULES.md uk-2026 table row UK-END.
def uk_end(f: Facts, as_of: date, p: Params) -> Obligation:
    """UK-END: notify MHRA and the ethics committee within 90 days (15 if terminated early)."""
    duty = "UK-END"
    end = f.end_of_trial_on
    if end is None:
        why = "the notification is due 90 days after the end of trial (15 if it ended early)."
        return data_needed(duty, f, p, ["end_of_trial_on"], why)
    if end < p.uk_2004_in_force:  # no duty is due before the law it comes from applied
        return not_applicable(
            duty, f, p,
            f"The trial ended on {format_date(end)}, before the UK Clinical Trials Regulations "
            "(S.I. 2004/1031) came into force on 1 May 2004: no end of trial notification "
            "duty applies.",
        )  # fmt: skip
    assumptions: list[str] = []
    if f.early_termination:
        n, how = p.uk_end_early_days, "the trial was terminated early"
    else:
        n, how = p.uk_end_days, "the trial ended as planned"
        if f.early_termination is None:
            assumptions.append(EARLY_UNKNOWN)
    due = add_days(end, n)
    head = (
        f"Notify MHRA and the ethics committee of the end of trial by {format_date(due)}, "
        f"{n} days after the end of trial ({format_date(end)}), because {how}. "
    )
    met_on = done(f.end_of_trial_notified_on, as_of)
    if met_on is not None and met_on < end:
        head += (
            f"A notification dated {format_date(met_on)}, before the end of trial, is not "
            "counted: check the date. "
        )
        met_on = None
    estimated = "end_of_trial_on" in f.estimated or (
        met_on is not None and "end_of_trial_notified_on" in f.estimated
    )
    return settle(duty, f, as_of, p, head, due, end, met_on, assumptions, estimated, [])


# RULES.md uk-2026 table row UK-LAPSE (trials applied for on or after 28 April 2026 only).
def uk_lapse(f: Facts, as_of: date, p: Params, old: bool | None, old_note: str) -> Obligation:
    """UK-LAPSE: approval lapses unless a UK participant is recruited within 2 years."""
    duty = "UK-LAPSE"
    if old:
        return not_applicable(
            duty,
            f,
            p,
            f"{old_note}Approval lapse applies only to trials applied for on or after 28 April "
            "2026; this is an old rules trial.",
        )
    approval = f.approved_on
    if old is None:
        return data_needed(duty, f, p, ["application_submitted_on"], OLD_UNKNOWN, approval)
    if approval is None:
        why = "the approval lapses 2 years after the approval date."
        return data_needed(duty, f, p, ["approved_on"], why)
    due = add_months(approval, p.uk_lapse_months)
    head = (
        f"The approval lapses on {format_date(due)}, 2 years after approval "
        f"({format_date(approval)}), unless a first UK participant is recruited by then. "
    )
    met_on = done(f.first_participant_on, as_of)
    if met_on is not None:
        head += "First participant recorded. "
        if met_on > due:
            head += "The approval had already lapsed. "
    estimated = "approved_on" in f.estimated or (
        met_on is not None and "first_participant_on" in f.estimated
    )
    return settle(
        duty, f, as_of, p, head, due, approval, met_on, [], estimated, [],
        False, p.lapse_warning_days, "lapse_warning_days",
    )  # fmt: skip


def uk_duties(f: Facts, as_of: date, p: Params) -> list[Obligation]:
    """All uk-2026 verdicts for a trial the rule set applies to, in RULES.md order."""
    old, note, est = old_rules(f, p)
    end = f.end_of_trial_on
    if old and end is not None:  # did it end before 28 April 2026? A month-only end may not say
        est = est or ("end_of_trial_on" in f.estimated and boundary_month(end, p.uk_in_force))
    out = [
        uk_reg(f, as_of, p, old, note),
        uk_res(f, as_of, p, old, note),
        uk_part(f, as_of, p, old, note),
        uk_end(f, as_of, p),
        uk_lapse(f, as_of, p, old, note),
    ]
    if est:  # the old/new decision came from a month-only date in April 2026
        out = [flag_estimated(o) for o in out[:3]] + [out[3], flag_estimated(out[4])]
    return out
