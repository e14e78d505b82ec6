"""Named parameters of the rule sets: every RULES.md [param] plus the statutory periods.

Values marked [param] in RULES.md are open in the public sources; each verdict that uses one lists
it in `Obligation.assumptions` with its value, so a reviewer can see and change it without code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

__all__ = ["DEFAULT_PARAMS", "Params", "ParamsError"]


class ParamsError(ValueError):
    """A parameter set failed validation; the message names the parameter and the problem."""


@dataclass(frozen=True)
class Params:
    """Parameters for `evaluate`. Frozen; build variants with `dataclasses.replace` or from_dict."""

    version: str = "2026.2"
    # [param] RULES.md status words: "due_soon (due within 30 days [param])".
    due_soon_days: int = 30
    # [param] uk-2026 deferrals: HRA non-CTIMP policy assumed for CTIMPs.
    deferral_months: int = 30
    deferral_max_years: int = 10
    # [param] uk-2026 UK-LAPSE: "warn from 90 days before [param]".
    lapse_warning_days: int = 90
    # [param] uk-2026 transitional: old rules trial ending on/after 28 Apr 2026, "UK-PART is assumed
    # to apply [param]".
    old_rules_part_applies: bool = True
    # [param] eu-ctr "Which EU law applies": the EU window, when EudraCT results posting became
    # possible; a trial that ended in all member states before it has no EU duty.
    eu_window_start: date = date(2014, 7, 21)
    # [param] "Facts that contradict each other", END-DATES-DISAGREE: how far a registry's end of
    # trial may differ from the sponsor's before a warning.
    end_date_tolerance_days: int = 90

    # Statutory values (not [param] in RULES.md), named so that no magic numbers hide in the rules.
    uk_in_force: date = date(2026, 4, 28)
    # S.I. 2004/1031 (the end-of-trial notice UK-END comes from) came into force on 1 May 2004.
    uk_2004_in_force: date = date(2004, 5, 1)
    uk_reg_days: int = 90
    uk_res_months: int = 12
    uk_part_months: int = 12
    uk_end_days: int = 90
    uk_end_early_days: int = 15
    uk_lapse_months: int = 24
    eu_notify_days: int = 15
    eu_res_months: int = 12
    eu_res_paediatric_months: int = 6
    # Directive 2001/20/EC (RULES.md "Which EU law applies"): end-of-trial declaration within 90
    # days (15 if terminated early).
    eu_directive_end_days: int = 90
    eu_directive_end_early_days: int = 15
    us_final_rule_effective: date = date(2017, 1, 18)
    us_reg_days: int = 21
    us_res_months: int = 12
    us_delay_max_months: int = 36

    def __post_init__(self) -> None:
        _validate(self)
        # Assumption texts are built once per parameter set, not once per verdict.
        object.__setattr__(self, "texts", _assumption_texts(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        """Build from a dict (as stored in the database or a JSON file); dates as YYYY-MM-DD."""
        if not isinstance(data, dict):
            raise ParamsError(f"params: expected an object, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            f = known.get(key)
            if f is None:
                raise ParamsError(f"{key}: unknown parameter")
            if f.type == "date" and isinstance(value, str):
                try:
                    value = date.fromisoformat(value)
                except ValueError:
                    raise ParamsError(f'{key}: "{value}" is not a date (use YYYY-MM-DD)') from None
            values[key] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; round-trips through from_dict."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, date) else value
        return out


def _validate(p: Params) -> None:
    for f in fields(p):
        value = getattr(p, f.name)
        if f.type == "str":
            if not isinstance(value, str) or not value.strip():
                raise ParamsError(f"{f.name}: expected a non-empty string, got {value!r}")
        elif f.type == "bool":
            if not isinstance(value, bool):
                raise ParamsError(f"{f.name}: expected true or false, got {value!r}")
        elif f.type == "int":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 36500:
                raise ParamsError(
                    f"{f.name}: expected a whole number from 0 to 36500, got {value!r}"
                )
        elif f.type == "date" and (not isinstance(value, date) or not 1900 <= value.year <= 2199):
            raise ParamsError(f"{f.name}: expected a date from 1900 to 2199, got {value!r}")
    if p.deferral_max_years * 12 < p.deferral_months:
        raise ParamsError(
            f"deferral_max_years: {p.deferral_max_years} years is shorter than one deferral "
            f"of {p.deferral_months} months"
        )


def _assumption_texts(p: Params) -> dict[str, str]:
    return {
        "due_soon_days": (
            f"due_soon_days={p.due_soon_days}: a duty is 'due soon' within {p.due_soon_days} days "
            "of its due date"
        ),
        "deferral_months": (
            f"deferral_months={p.deferral_months}: a deferral runs {p.deferral_months} months from "
            "the end of trial (HRA non-CTIMP policy assumed for CTIMPs)"
        ),
        "deferral_max_years": (
            f"deferral_max_years={p.deferral_max_years}: a deferral cannot run beyond "
            f"{p.deferral_max_years} years after the end of trial"
        ),
        "lapse_warning_days": (
            f"lapse_warning_days={p.lapse_warning_days}: warn {p.lapse_warning_days} days before "
            "the approval lapses"
        ),
        "old_rules_part_applies": (
            f"old_rules_part_applies={p.old_rules_part_applies}: UK-PART is assumed to "
            f"{'apply' if p.old_rules_part_applies else 'not apply'} to old rules trials ending "
            f"on or after {p.uk_in_force.isoformat()}"
        ),
        "eu_window_start": (
            f"eu_window_start={p.eu_window_start.isoformat()}: a trial that ended in all member "
            f"states before {p.eu_window_start.isoformat()} (when EudraCT results posting became "
            "possible) has no EU duty"
        ),
        "end_date_tolerance_days": (
            f"end_date_tolerance_days={p.end_date_tolerance_days}: a registry's end of trial more "
            f"than {p.end_date_tolerance_days} days from the sponsor's is flagged"
        ),
    }


DEFAULT_PARAMS = Params()
