"""Evaluate every duty of every rule set for one trial: `evaluate` and `applicable_rulesets`.

A rule set that does not apply still yields each of its duties, as `not_applicable` with the
reason, so that every verdict is visible; one whose applicability cannot be told yet yields its
duties as `data_needed`, naming the facts that would decide it.
"""

from __future__ import annotations

from datetime import date

from .common import data_needed, not_applicable_all
from .conflicts import Conflict, check_facts, find_conflicts
from .duties import RULESET_DUTIES
from .eu import eu_duties
from .facts import Facts
from .model import DATA_NEEDED, NOT_APPLICABLE, WAIVED, Obligation
from .params import DEFAULT_PARAMS, Params
from .uk import uk_duties
from .us import fdaaa_applicability, us_duties

__all__ = [
    "RULESETS",
    "applicable_rulesets",
    "apply_conflicts",
    "evaluate",
    "facts_to_check",
]

RULESETS = ("uk-2026", "eu-ctr", "us-fdaaa")
_OBSERVATIONAL = "an observational study is not a clinical trial of a medicinal product"


def _uk(f: Facts) -> tuple[bool, str]:
    """uk-2026 applies to CTIMPs with UK approval: an approval or application date, or a UK site."""
    if f.study_type == "observational":
        return False, f"The UK clinical trials regulations do not apply: {_OBSERVATIONAL}."
    if f.approved_on is not None:
        return True, "The trial has a UK approval date."
    if f.application_submitted_on is not None:
        return True, "The trial has a UK application date."
    uk = f.uk_countries  # type: ignore[attr-defined]
    if uk:
        return True, f"The trial has a site in {uk[0]}."
    return (
        False,
        "The UK clinical trials regulations do not apply: no UK approval, application or "
        "site is recorded.",
    )


def _eu(f: Facts) -> tuple[bool, str]:
    """eu-ctr applies to clinical trials with a site in an EU/EEA member state (or a CTIS entry)."""
    if f.study_type == "observational":
        return False, f"The EU Clinical Trials Regulation does not apply: {_OBSERVATIONAL}."
    eu = f.eu_countries  # type: ignore[attr-defined]
    if eu:
        return True, f"The trial has sites in the EU/EEA: {', '.join(eu)}."
    if f.eu_ct_number or any(r.registry == "CTIS" for r in f.registrations or ()):
        return True, "The trial is registered in CTIS."
    if f.eudract_number or any(r.registry == "EUCTR" for r in f.registrations or ()):
        return True, "The trial has a EudraCT number (EU Clinical Trials Register)."
    if f.eu_transition_on is not None:
        return True, "The trial was transitioned to the EU Clinical Trials Regulation."
    return (
        False,
        "The EU Clinical Trials Regulation does not apply: no site in an EU/EEA member "
        "state is recorded.",
    )


def applicable_rulesets(
    facts: Facts, params: Params = DEFAULT_PARAMS
) -> dict[str, tuple[bool, str]]:
    """Rule set -> (applies, reason). A rule set that cannot be decided yet reports False with a
    reason saying which facts are needed (evaluate() shows its duties as data_needed)."""
    applies, reason, missing = fdaaa_applicability(facts, params)
    if applies is None:
        reason = f"{reason} Needed: {', '.join(missing)}."
    return {"uk-2026": _uk(facts), "eu-ctr": _eu(facts), "us-fdaaa": (bool(applies), reason)}


def evaluate(facts: Facts, as_of: date, params: Params = DEFAULT_PARAMS) -> list[Obligation]:
    """Every verdict for the trial as of `as_of`: a pure, deterministic function of its inputs.

    Ordered by rule set (uk-2026, eu-ctr, us-fdaaa), then by the duty order of RULES.md.
    """
    if type(as_of) is not date:  # a datetime would fail later, comparing with dates
        raise TypeError(f"as_of must be a datetime.date, not {type(as_of).__name__}")
    if not isinstance(facts, Facts):
        raise TypeError(f"facts must be Facts (see Facts.from_dict), not {type(facts).__name__}")
    out: list[Obligation] = []
    applies, reason = _uk(facts)
    if applies:
        out += uk_duties(facts, as_of, params)
    else:
        out += not_applicable_all("uk-2026", facts, params, reason)
    applies, reason = _eu(facts)
    if applies:
        out += eu_duties(facts, as_of, params)
    else:
        out += not_applicable_all("eu-ctr", facts, params, reason)
    us, reason, missing = fdaaa_applicability(facts, params)
    if us:
        out += us_duties(facts, as_of, params)
    elif us is None:
        why = reason[0].lower() + reason[1:]
        out += [data_needed(d, facts, params, missing, why) for d in RULESET_DUTIES["us-fdaaa"]]
    else:
        out += not_applicable_all("us-fdaaa", facts, params, reason)
    if _may_conflict(facts):
        found = [c for c in find_conflicts(facts, params) if c.duties]
        if found:
            out = apply_conflicts(out, found)
    return out


def facts_to_check(facts: Facts, as_of: date, params: Params = DEFAULT_PARAMS) -> list[Conflict]:
    """Every finding of RULES.md "Facts that contradict each other" for the trial (conflicts,
    which make duties data_needed, and warnings), plus the Directive transition warning when
    the EU rule set applies. What pages, certificates and the CLI list as "facts to check"."""
    return check_facts(facts, as_of, params, eu_applies=_eu(facts)[0])


def _may_conflict(f: Facts) -> bool:
    """False when no check of RULES.md "Facts that contradict each other" can make a duty
    data_needed (no end of trial, or no application date to compare): the usual case."""
    return f.end_of_trial_on is not None or (
        f.approved_on is not None and f.application_submitted_on is not None
    )


def apply_conflicts(verdicts: list[Obligation], conflicts: list[Conflict]) -> list[Obligation]:
    """RULES.md "Facts that contradict each other": each duty a conflict affects becomes
    data_needed ("facts conflict: ..."), naming the facts to correct; a duty that does not apply
    or is waived keeps its verdict. Never a confident verdict from impossible facts."""
    by_duty: dict[str, list[Conflict]] = {}
    for c in conflicts:
        for duty in c.duties:
            by_duty.setdefault(duty, []).append(c)
    out = []
    for o in verdicts:
        hits = by_duty.get(o.id)
        if not hits or o.status in (NOT_APPLICABLE, WAIVED):
            out.append(o)
            continue
        keys: list[str] = []
        for c in hits:
            for key, _, _ in c.facts:
                if key not in keys:
                    keys.append(key)
        text = (
            "Cannot work out this duty yet: "
            + " ".join(c.message for c in hits)
            + " Correct the facts (the sponsor's value is used, the registry's is kept beside it)."
        )
        out.append(
            o._replace(
                status=DATA_NEEDED, due=None, trigger=None, days_overdue=0, days_remaining=None,
                explanation=text, assumptions=[], estimated=False, missing=keys,
                deferred_until=None, met_on=None,
            )
        )  # fmt: skip
    return out
