"""Rule set `us-fdaaa`: FDAAA 801 and 42 CFR Part 11 (RULES.md "Rule set us-fdaaa")."""

from __future__ import annotations

from datetime import date

from .common import data_needed, done, settle
from .dates import add_days, add_months, format_date
from .facts import Facts
from .model import Obligation
from .params import Params

CTGOV = "ClinicalTrials.gov"


def fdaaa_applicability(f: Facts, p: Params) -> tuple[bool | None, str, list[str]]:
    """Is the trial an applicable clinical trial (ACT)? Returns (applies, reason, missing facts).

    RULES.md: interventional; FDA-regulated drug, biologic or device; not Phase 1 and not a device
    feasibility study; a US site or an IND/IDE (a US-made product exported is not among the facts);
    started on or after 18 January 2017.

    Simplifications, so that a trial with no US facts is not asked for them:
    - fda_regulated_*, us_site, ind_or_ide, device_feasibility not recorded count as false;
      a US entry in `countries` counts as a US site; a missing phase counts as not Phase 1.
    - Start date: start_on, else first_participant_on. Trials started before 18 January 2017
      follow the FDAAA TrialsTracker "probable ACT" logic: the same criteria, and the primary
      completion date (else completion date) on or after 18 January 2017; earlier ones are out
      of scope. Without any start date the trial is treated as started on or after that date.
    - study_type not recorded: applies is None (data_needed), the only open case.
    """
    if f.study_type == "observational":
        return False, "Not an applicable clinical trial: the study is observational.", []
    if not (f.fda_regulated_drug or f.fda_regulated_device):
        return (
            False,
            "Not an applicable clinical trial: no FDA-regulated drug, biologic or device is "
            "recorded.",
            [],
        )
    if f.phase == "1":
        return False, "Not an applicable clinical trial: Phase 1 trials are excluded.", []
    if f.device_feasibility:
        return (
            False,
            "Not an applicable clinical trial: device feasibility studies are excluded.",
            [],
        )
    us = f.us_countries  # type: ignore[attr-defined]
    if not (f.us_site or f.ind_or_ide or us):
        return (
            False,
            "Not an applicable clinical trial: no US site and no IND or IDE is recorded.",
            [],
        )
    start = f.start_on or f.first_participant_on
    completion = f.primary_completion_on or f.completion_on
    boundary = p.us_final_rule_effective
    when = ""
    if start is None:
        if completion is not None and completion < boundary:
            return (
                False,
                "Not covered by the final rule: the trial completed before 18 January 2017.",
                [],
            )
        when = " (start date not recorded: treated as started on or after 18 January 2017)"
    elif start < boundary:
        if completion is None:
            why = (
                "Started before 18 January 2017: it is a probable applicable clinical trial only "
                "if its primary completion date is on or after that date."
            )
            return None, why, ["primary_completion_on"]
        if completion < boundary:
            return (
                False,
                "Not covered by the final rule: started and completed before 18 January 2017.",
                [],
            )
        when = (
            " (a probable ACT, FDAAA TrialsTracker logic: started before 18 January 2017 and "
            "completed on or after it)"
        )
    if f.study_type is None:
        return None, "Whether FDAAA applies depends on the study type.", ["study_type"]
    nexus = "a US site" if (f.us_site or us) else "an IND or IDE"
    product = "drug or biologic" if f.fda_regulated_drug else "device"
    return (
        True,
        f"An applicable clinical trial: interventional, FDA-regulated {product}, not Phase 1, "
        f"with {nexus}{when}.",
        [],
    )


# RULES.md us-fdaaa table row US-REG (42 CFR 11.24).
def us_reg(f: Facts, as_of: date, p: Params) -> Obligation:
    """US-REG: registered on ClinicalTrials.gov within 21 days of the first participant."""
    duty = "US-REG"
    fp = f.first_participant_on
    if fp is None:
        why = "registration is due 21 days after the first participant is enrolled."
        return data_needed(duty, f, p, ["first_participant_on"], why)
    due = add_days(fp, p.us_reg_days)
    head = (
        f"Register on ClinicalTrials.gov by {format_date(due)}, {p.us_reg_days} days after the "
        f"first participant was enrolled ({format_date(fp)}). "
    )
    estimated = "first_participant_on" in f.estimated
    entries = [r for r in f.registrations or () if r.registry == CTGOV]
    dated = [r for r in entries if r.registered_on is not None and r.registered_on <= as_of]
    first = min(dated, key=lambda r: r.registered_on) if dated else None
    met_on = None
    missing: list[str] = []
    if first is None or first.registered_on > due:  # type: ignore[operator]
        undated = [r for r in entries if r.registered_on is None]
        if undated:
            why = "the ClinicalTrials.gov entry has no registration date."
            return data_needed(
                duty, f, p, ["registered_on of the ClinicalTrials.gov entry"], why, fp
            )
    if first is not None:
        met_on = first.registered_on
        estimated = estimated or "registered_on" in first.estimated
    elif not entries:
        head += "No ClinicalTrials.gov entry is recorded. "
        missing = [CTGOV]
    return settle(duty, f, as_of, p, head, due, fp, met_on, [], estimated, missing)


# RULES.md us-fdaaa table row US-RES (42 CFR 11.44), with its delay and extension notes.
def us_res(f: Facts, as_of: date, p: Params) -> Obligation:
    """US-RES: results 1 year after primary completion (else completion); delays and extensions.

    A delay certification counts only if filed before results would otherwise be due (42 CFR
    11.44(b)); it defers the deadline to 3 years after primary completion (`deferred`). A
    good-cause extension moves the deadline to its granted date (ordinary statuses). Results
    returned in quality-control review count from the first submission: `results_submitted_on`
    is that first submission date.
    """
    duty = "US-RES"
    base, what, key = f.primary_completion_on, "primary completion date", "primary_completion_on"
    assumptions: list[str] = []
    if base is None and f.completion_on is not None:
        base, what, key = f.completion_on, "completion date", "completion_on"
        assumptions.append("primary completion date not recorded: the completion date is used")
    if base is None:
        why = "results are due 1 year after the primary completion date (else completion date)."
        return data_needed(duty, f, p, ["primary_completion_on or completion_on"], why)
    due = add_months(base, p.us_res_months)
    estimated = key in f.estimated
    head = (
        f"Results are due on ClinicalTrials.gov 1 year after the {what} "
        f"({format_date(base)}): by {format_date(due)}. "
    )
    deferred = False
    cert = f.delay_certification_on
    if cert is not None and cert > as_of:
        head += f"A delay certification dated {format_date(cert)} is not counted yet. "
    elif cert is not None:
        if cert < due:
            due = add_months(base, p.us_delay_max_months)
            deferred = True
            head += (
                f"A delay certification filed on {format_date(cert)} moves the deadline to "
                f"{format_date(due)}, 3 years after the {what}. "
            )
        else:
            head += (
                f"A delay certification filed on {format_date(cert)} is ignored: it was not filed "
                "before the results were due. "
            )
    ext = f.good_cause_extension_until
    if ext is not None:
        if ext > due:
            due, deferred = ext, False
            estimated = "good_cause_extension_until" in f.estimated
            head += f"A good-cause extension moves the deadline to {format_date(ext)}. "
        else:
            head += f"A good-cause extension to {format_date(ext)} does not move the deadline. "
    met_on = done(f.results_submitted_on, as_of)
    if met_on is not None:
        estimated = estimated or "results_submitted_on" in f.estimated
        head += "Results submitted (first submission date). "
    else:
        posted = [
            r.results_posted_on
            for r in f.registrations or ()
            if r.registry == CTGOV and done(r.results_posted_on, as_of)
        ]
        if posted:
            met_on = min(posted)  # type: ignore[type-var]
            assumptions.append(
                "results_submitted_on not recorded: the ClinicalTrials.gov results posting date is "
                "used as the latest possible submission date"
            )
            head += "Results are posted on ClinicalTrials.gov. "
    if met_on is not None and met_on < base:  # RESULTS-BEFORE-END: interim results do not count
        head += (
            f"Results dated {format_date(met_on)}, before the {what}, are interim results and do "
            "not meet this duty. "
        )
        met_on = None
    return settle(duty, f, as_of, p, head, due, base, met_on, assumptions, estimated, [], deferred)


def us_duties(f: Facts, as_of: date, p: Params) -> list[Obligation]:
    """All us-fdaaa verdicts for an applicable clinical trial, in RULES.md order."""
    return [us_reg(f, as_of, p), us_res(f, as_of, p)]
