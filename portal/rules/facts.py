"""The facts about one trial that the rules read, validated once at the boundary.

`Facts.from_dict` is the only way untrusted data should enter the rules: it rejects unknown keys,
bad dates and wrong types with a one-line message naming the key. Every fact is optional; a rule
that needs a missing fact reports `data_needed` instead of guessing.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from .dates import _PARSED, parse_date
from .duties import DUTIES, READERS
from .records import (
    DEFERRABLE_DUTIES,
    EU_CT_FORM,
    EU_END_EVENTS,
    EU_START_EVENTS,
    EUDRACT_FORM,
    PHASES,
    STUDY_TYPES,
    WAIVABLE_DUTIES,
    Deferral,
    EuEvent,
    FactsError,
    Registration,
    Waiver,
)
from .reference import EU_EEA_COUNTRIES, UK_COUNTRIES, US_COUNTRIES, canonical_registry, country_key

# The record types and vocabulary live in records.py; they are re-exported here.
__all__ = [
    "DEFERRABLE_DUTIES",
    "EU_END_EVENTS",
    "EU_START_EVENTS",
    "FACT_KEYS",
    "PHASES",
    "STUDY_TYPES",
    "WAIVABLE_DUTIES",
    "Deferral",
    "EuEvent",
    "Facts",
    "FactsError",
    "Registration",
    "Waiver",
]

DEFAULT_SOURCE = "given"
_UNSET = object()
_DATE_HINT = "(use YYYY-MM-DD or YYYY-MM)"


@dataclass(frozen=True)
class Facts:
    """Validated facts about one trial; build with `Facts.from_dict`. Absent facts are None.

    Derived on construction (read-only): `inputs` (fact -> {"value", "source"} as shown on
    verdicts), `duty_inputs` (duty id -> the inputs its verdict shows), and the recognised
    `uk_countries`, `eu_countries`, `us_countries`.
    """

    study_type: str | None = None
    application_submitted_on: date | None = None
    approved_on: date | None = None
    first_participant_on: date | None = None
    end_of_trial_on: date | None = None
    early_termination: bool | None = None
    primary_completion_on: date | None = None
    completion_on: date | None = None
    start_on: date | None = None
    phase: str | None = None
    healthy_volunteers: bool | None = None
    paediatric: bool | None = None
    countries: tuple[str, ...] | None = None
    fda_regulated_drug: bool | None = None
    fda_regulated_device: bool | None = None
    us_site: bool | None = None
    ind_or_ide: bool | None = None
    device_feasibility: bool | None = None
    registrations: tuple[Registration, ...] | None = None
    participant_summary_offered_on: date | None = None
    end_of_trial_notified_on: date | None = None
    deferrals: tuple[Deferral, ...] | None = None
    waivers: tuple[Waiver, ...] | None = None
    delay_certification_on: date | None = None
    good_cause_extension_until: date | None = None
    results_submitted_on: date | None = None
    eu_events: tuple[EuEvent, ...] | None = None
    # RULES.md "Which EU law applies": the trial's EU numbers and its transition to the CTR.
    eudract_number: str | None = None
    eu_ct_number: str | None = None
    eu_transition_on: date | None = None
    # RULES.md "Facts that contradict each other" (END-DATES-DISAGREE): the registry's end of
    # trial, kept when the sponsor gave their own end_of_trial_on.
    registry_end_of_trial_on: date | None = None
    # Names of the top-level date facts that were given month-only (read as the month's last day).
    estimated: frozenset[str] = frozenset()
    # Fact key -> provenance, e.g. "ClinicalTrials.gov NCT01234567, imported 2026-11-20";
    # facts without one show "given".
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Derived once per trial so that evaluate() does no repeated work: the inputs shown on each
        # verdict, and which countries trigger the UK, EU and US rule sets.
        inputs = {}
        values = self.__dict__
        estimated = self.estimated
        source = self.sources.get
        for name in FACT_KEYS:
            value = values[name]
            if value is None:
                continue
            kind = type(value)
            if kind is date:
                if name in estimated:
                    value = f"{_month_only(value)} (read as {value.isoformat()})"
                else:
                    value = value.isoformat()
            elif kind is tuple:
                value = _plain(name, value, estimated)
            inputs[name] = {"value": value, "source": source(name, DEFAULT_SOURCE)}
        # Each verdict shows the facts its duty reads; these dicts are shared, read-only.
        duty_inputs: dict[str, dict] = {duty: {} for duty in DUTIES}
        for key, entry in inputs.items():
            for duty in READERS.get(key, ()):
                duty_inputs[duty][key] = entry
        uk, eu, us = _regions(self.countries)
        # Not fields, so set straight into the instance dict (what object.__setattr__ would do),
        # in one call rather than five.
        values.update(
            inputs=inputs,
            duty_inputs=duty_inputs,
            uk_countries=uk,
            eu_countries=eu,
            us_countries=us,
        )

    def source(self, key: str) -> str:
        """Where fact `key` came from."""
        return self.sources.get(key, DEFAULT_SOURCE)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> Facts:
        """Validate `data` (fact key -> value) and return Facts; raise FactsError on any problem.

        None values count as absent. Dates are "YYYY-MM-DD" or "YYYY-MM" strings (datetime.date
        objects are accepted too). `as_of` is not a fact: pass it to evaluate().
        """
        if type(data) is not dict and not isinstance(data, Mapping):  # dict first: ABCs are slow
            raise FactsError(f"facts: expected an object, got {type(data).__name__}")
        values: dict[str, Any] = {}
        estimated: set[str] = set()
        for key, value in data.items():
            check = _CHECKS.get(key)
            if check is None:
                raise FactsError(_unknown(key, FACT_KEYS, "fact"))
            if value is None:
                continue
            if check is _date:
                # Fast path: a date text parsed before (parse_date's memo), without two calls.
                d, est = (type(value) is str and _PARSED.get(value)) or _date(key, value)
                values[key] = d
                if est:
                    estimated.add(key)
            elif check is _bool and (value is True or value is False):
                values[key] = value
            else:
                values[key] = check(key, value)
        src: dict[str, str] = {}
        if sources:
            # An import gives most facts the same source text: check and strip it once.
            last: Any = _UNSET  # never a source text, so the first is always checked
            last_stripped = ""
            for key, text in sources.items():
                if key not in _CHECKS:
                    raise FactsError("sources: " + _unknown(key, FACT_KEYS, "fact"))
                if text is not last:
                    if not isinstance(text, str) or not text.strip():
                        raise FactsError(
                            f"sources.{key}: expected a description of where it came from"
                        )
                    last, last_stripped = text, text.strip()
                src[key] = last_stripped
        if cls is not Facts:  # a subclass may have its own __init__
            return cls(**values, estimated=frozenset(estimated), sources=src)
        # What the dataclass __init__ does (every field set, in field order, then __post_init__),
        # with one dict copy instead of a frozen-bypassing setattr per field.
        state = _DEFAULT_STATE.copy()
        state.update(values)
        state["estimated"] = frozenset(estimated)
        state["sources"] = src
        facts = object.__new__(cls)
        facts.__dict__.update(state)
        facts.__post_init__()
        return facts

    def to_dict(self) -> dict[str, Any]:
        """The facts as from_dict accepts them (month-only dates stay month-only)."""
        out: dict[str, Any] = {}
        values = self.__dict__
        estimated = self.estimated
        for name in FACT_KEYS:
            value = values[name]
            if value is None:
                continue
            # Inline the common kinds; anything else (records, date subclasses) goes to _plain.
            kind = type(value)
            if kind is date:
                out[name] = _month_only(value) if name in estimated else value.isoformat()
            elif kind is str or kind is bool:
                out[name] = value
            else:
                out[name] = _plain(name, value, estimated)
        return out


# --- validation -------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return f"a {type(value).__name__}"


def _unknown(key: Any, known: tuple[str, ...], what: str) -> str:
    if key == "as_of":
        return "as_of: not a fact (pass as_of to evaluate() instead)"
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{key}: unknown {what}{hint}"


def _date(key: str, value: Any) -> tuple[date, bool]:
    if isinstance(value, date) and not hasattr(value, "hour"):  # a date, not a datetime
        return value, False
    if not isinstance(value, str):
        raise FactsError(f"{key}: expected a date string {_DATE_HINT}, got {_show(value)}")
    try:
        return parse_date(value)
    except ValueError:
        raise FactsError(f"{key}: {_show(value)} is not a date {_DATE_HINT}") from None


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FactsError(f"{key}: expected true or false, got {_show(value)}")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FactsError(f"{key}: expected text, got {_show(value)}")
    return value.strip()


def _choice(options: tuple[str, ...]):
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise FactsError(f"{key}: expected one of {', '.join(options)}, got {_show(value)}")
        v = value.strip().lower()
        if v not in options:
            raise FactsError(f"{key}: {_show(value)} is not one of {', '.join(options)}")
        return v

    return check


def _list(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise FactsError(f"{key}: expected a list, got {_show(value)}")
    return list(value)


def _countries(key: str, value: Any) -> tuple[str, ...]:
    out = []
    for i, c in enumerate(_list(key, value)):
        # Fast path: plain non-blank text; otherwise _text (which names the item) decides.
        text = c.strip() if type(c) is str else ""
        out.append(text or _text(f"{key}[{i}]", c))
    return tuple(out)


def _record(key: str, i: int, item: Any, spec: dict[str, Any], required: tuple[str, ...]):
    """Validate one list item (a dict); return (values, estimated field names)."""
    where = f"{key}[{i}]"
    if type(item) is not dict and not isinstance(item, Mapping):  # dict first: ABC check is slow
        raise FactsError(f"{where}: expected an object, got {_show(item)}")
    values: dict[str, Any] = {}
    estimated = set()
    for name, value in item.items():
        check = spec.get(name)
        if check is None:
            raise FactsError(f"{where}.{_unknown(name, tuple(spec), 'field')}")
        if value is None:
            continue
        # Fast paths for valid dates and text skip formatting the key, which only errors show.
        if check is _date:
            d, est = (type(value) is str and _PARSED.get(value)) or _date(f"{where}.{name}", value)
            values[name] = d
            if est:
                estimated.add(name)
        elif check is _text and type(value) is str and value.strip():
            values[name] = value.strip()
        else:
            values[name] = check(f"{where}.{name}", value)
    for name in required:
        if name not in values:
            raise FactsError(f"{where}.{name}: required")
    return values, frozenset(estimated)


def _registry_name(key: str, value: Any) -> str:
    name = canonical_registry(_text(key, value))
    if name is None:
        raise FactsError(
            f"{key}: {_show(value)} is not a WHO ICTRP primary registry or data provider "
            "(e.g. ISRCTN, ClinicalTrials.gov, CTIS, EUCTR, DRKS, ANZCTR)"
        )
    return name


_REGISTRATION_SPEC = {
    "registry": _registry_name,
    "id": _text,
    "registered_on": _date,
    "results_posted_on": _date,
}


def _registrations(key: str, value: Any) -> tuple[Registration, ...]:
    out = []
    for i, item in enumerate(_list(key, value)):
        values, est = _record(key, i, item, _REGISTRATION_SPEC, ("registry",))
        out.append(Registration(**values, estimated=est))
    return tuple(out)


def _duty(allowed: tuple[str, ...], what: str):
    def check(key: str, value: Any) -> str:
        duty = _text(key, value).upper()
        if duty in allowed:
            return duty
        if duty.startswith("EU-") and what == "deferral":
            reason = "the EU CTR has had no deferrals since 18 June 2024"
        elif duty == "US-RES" and what == "deferral":
            reason = "use delay_certification_on or good_cause_extension_until"
        else:
            reason = f"only {', '.join(allowed)} can have a {what}"
        raise FactsError(f"{key}: {_show(value)} cannot be given a {what} ({reason})")

    return check


def _deferrals(key: str, value: Any) -> tuple[Deferral, ...]:
    spec = {
        "duty": _duty(DEFERRABLE_DUTIES, "deferral"),
        "requested_on": _date,
        "until": _date,
        "reference": _text,
    }
    out = []
    for i, item in enumerate(_list(key, value)):
        values, est = _record(key, i, item, spec, ("duty", "requested_on"))
        out.append(Deferral(**values, estimated=est))
    return tuple(out)


def _waivers(key: str, value: Any) -> tuple[Waiver, ...]:
    spec = {"duty": _duty(WAIVABLE_DUTIES, "waiver"), "reference": _text, "ground": _text}
    return tuple(
        Waiver(**_record(key, i, item, spec, ("duty",))[0])
        for i, item in enumerate(_list(key, value))
    )


def _eu_events(key: str, value: Any) -> tuple[EuEvent, ...]:
    spec = {
        "event": _choice(EU_START_EVENTS + EU_END_EVENTS),
        "on": _date,
        "notified_on": _date,
        "member_state": _text,
    }
    out = []
    for i, item in enumerate(_list(key, value)):
        values, est = _record(key, i, item, spec, ("event", "on"))
        out.append(EuEvent(**values, estimated=est))
    return tuple(out)


def _eudract(key: str, value: Any) -> str:
    text = _text(key, value)
    if not EUDRACT_FORM.fullmatch(text):
        raise FactsError(f"{key}: {_show(value)} is not a EudraCT number (like 2017-001234-56)")
    return text


def _eu_ct(key: str, value: Any) -> str:
    text = _text(key, value)
    if not EU_CT_FORM.fullmatch(text):
        raise FactsError(f"{key}: {_show(value)} is not an EU CT number (like 2023-501234-12-00)")
    return text


_CHECKS: dict[str, Any] = {
    "study_type": _choice(STUDY_TYPES),
    "application_submitted_on": _date,
    "approved_on": _date,
    "first_participant_on": _date,
    "end_of_trial_on": _date,
    "early_termination": _bool,
    "primary_completion_on": _date,
    "completion_on": _date,
    "start_on": _date,
    "phase": _choice(PHASES),
    "healthy_volunteers": _bool,
    "paediatric": _bool,
    "countries": _countries,
    "fda_regulated_drug": _bool,
    "fda_regulated_device": _bool,
    "us_site": _bool,
    "ind_or_ide": _bool,
    "device_feasibility": _bool,
    "registrations": _registrations,
    "participant_summary_offered_on": _date,
    "end_of_trial_notified_on": _date,
    "deferrals": _deferrals,
    "waivers": _waivers,
    "delay_certification_on": _date,
    "good_cause_extension_until": _date,
    "results_submitted_on": _date,
    "eu_events": _eu_events,
    "eudract_number": _eudract,
    "eu_ct_number": _eu_ct,
    "eu_transition_on": _date,
    "registry_end_of_trial_on": _date,
}
FACT_KEYS: tuple[str, ...] = tuple(_CHECKS)
assert FACT_KEYS == tuple(f.name for f in fields(Facts))[: len(FACT_KEYS)]
# Every field at its default, in field order: from_dict's starting point (sources is always given).
_DEFAULT_STATE: dict[str, Any] = {f.name: f.default for f in fields(Facts)}
assert tuple(_DEFAULT_STATE)[len(FACT_KEYS) :] == ("estimated", "sources")


# --- derived attributes -------------------------------------------------------------------------

# Countries tuple -> (UK, EU/EEA, US countries among them): trials share few country lists. Bounded.
_REGIONS: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}


def _regions(countries: Any) -> tuple[tuple[str, ...], ...]:
    if not countries:
        return (), (), ()
    cacheable = type(countries) is tuple
    hit = _REGIONS.get(countries) if cacheable else None
    if hit is None:
        keys = [(c, country_key(c)) for c in countries]
        hit = (
            tuple(c for c, k in keys if k in UK_COUNTRIES),
            tuple(c for c, k in keys if k in EU_EEA_COUNTRIES),
            tuple(c for c, k in keys if k in US_COUNTRIES),
        )
        if cacheable and len(_REGIONS) < 10_000:
            _REGIONS[countries] = hit
    return hit


# --- display ------------------------------------------------------------------------------------


def _month_only(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _plain(name: str, value: Any, estimated: frozenset[str]) -> Any:
    """A fact value in from_dict form (dates as text, records as dicts)."""
    if isinstance(value, date):
        return _month_only(value) if name in estimated else value.isoformat()
    if isinstance(value, tuple):
        return [v if isinstance(v, str) else _record_plain(v) for v in value]
    return value


_RECORD_FIELDS = {
    cls: tuple(f.name for f in fields(cls) if f.name != "estimated")
    for cls in (Registration, Deferral, Waiver, EuEvent)
}


def _record_plain(item: Any) -> dict[str, Any]:
    est = getattr(item, "estimated", frozenset())
    out = {}
    for name in _RECORD_FIELDS[type(item)]:
        v = getattr(item, name)
        if v is not None:
            if type(v) is date:
                v = _month_only(v) if name in est else v.isoformat()
            out[name] = v
    return out
