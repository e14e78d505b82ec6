"""Plain normalised records produced by the registry readers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date

from .phases import combined_phase

CROSS_REF_KEYS = ("nct", "isrctn", "eudract", "euct", "iras")


class BadValue(ValueError):
    """A value that makes the whole record unusable; the message is shown to people."""


@dataclass(frozen=True, slots=True)
class DateValue:
    value: date  # month-only dates => last day of month
    precision: str  # "day" | "month"
    actual: bool | None  # True actual, False anticipated/estimated, None unknown

    def to_fact(self) -> str:
        if self.precision == "month":
            return self.value.strftime("%Y-%m")
        return self.value.isoformat()


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    registry: str
    registry_id: str
    registered_on: date | None
    results_posted_on: date | None
    last_updated: date | None
    url: str | None


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One registry record of a trial, normalised.

    ``countries`` empty means the record names none (unknown), hence ``uk_site`` None.
    ``source_record`` is the id for one-record files, else the position with the id:
    "row 17 (ISRCTN12345678)", "item 3 (NCT01234567)", "2012-003632-23-GB" (EUCTR
    member-state record). ``content_hash`` covers the normalised fields, not the source
    location, so the same content read from another file hashes the same.
    """

    entry: RegistryEntry
    cross_refs: dict[str, str]
    title: str | None
    sponsor_name: str | None
    phases: tuple[str, ...]
    study_type: str | None
    fda_regulated_drug: bool | None
    fda_regulated_device: bool | None
    healthy_volunteers: bool | None
    age_groups: tuple[str, ...]
    paediatric: bool | None
    countries: tuple[str, ...]
    overall_status: str | None
    start: DateValue | None
    primary_completion: DateValue | None
    completion: DateValue | None
    source_file: str
    source_record: str
    content_hash: str

    @property
    def interventional(self) -> bool | None:
        if self.study_type is None:
            return None
        return self.study_type == "interventional"

    @property
    def uk_site(self) -> bool | None:
        """None when the record names no countries at all (unknown, not "no UK site")."""
        if not self.countries:
            return None
        return "United Kingdom" in self.countries

    @property
    def us_site(self) -> bool | None:
        if not self.countries:
            return None
        return "United States" in self.countries

    def to_facts(self) -> dict:
        e = self.entry
        facts = {
            "study_type": self.study_type,
            "phase": combined_phase(self.phases),
            "healthy_volunteers": self.healthy_volunteers,
            "paediatric": self.paediatric,
            "countries": list(self.countries) if self.countries else None,
            "fda_regulated_drug": self.fda_regulated_drug,
            "fda_regulated_device": self.fda_regulated_device,
            "us_site": self.us_site,
            "primary_completion_on": _fact(self.primary_completion),
            "end_of_trial_on": _fact(self.completion),
            "start_on": _fact(self.start),
            "registrations": [
                {
                    "registry": e.registry,
                    "id": e.registry_id,
                    "registered_on": _iso(e.registered_on),
                    "results_posted_on": _iso(e.results_posted_on),
                }
            ],
        }
        return {k: v for k, v in facts.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Rejected:
    file: str
    record: str
    reason: str


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _fact(d: DateValue | None) -> str | None:
    return d.to_fact() if d else None


def _dv(d: DateValue | None) -> list | None:
    return [d.value.isoformat(), d.precision, d.actual] if d else None


# built once: json.dumps() with non-default options builds a new encoder on every call
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def content_hash(
    entry: RegistryEntry,
    cross_refs: dict[str, str],
    title: str | None,
    sponsor_name: str | None,
    phases: tuple[str, ...],
    study_type: str | None,
    fda_regulated_drug: bool | None,
    fda_regulated_device: bool | None,
    healthy_volunteers: bool | None,
    age_groups: tuple[str, ...],
    paediatric: bool | None,
    countries: tuple[str, ...],
    overall_status: str | None,
    start: DateValue | None,
    primary_completion: DateValue | None,
    completion: DateValue | None,
) -> str:
    """sha256 over a canonical JSON of the normalised fields (not the source location),
    so the same registry content read from another file or folder hashes the same."""
    canonical = [
        entry.registry,
        entry.registry_id,
        _iso(entry.registered_on),
        _iso(entry.results_posted_on),
        _iso(entry.last_updated),
        entry.url,
        sorted(cross_refs.items()),
        title,
        sponsor_name,
        list(phases),
        study_type,
        fda_regulated_drug,
        fda_regulated_device,
        healthy_volunteers,
        list(age_groups),
        paediatric,
        list(countries),
        overall_status,
        _dv(start),
        _dv(primary_completion),
        _dv(completion),
    ]
    blob = _CANONICAL_JSON.encode(canonical)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def make_record(
    *,
    registry: str,
    registry_id: str,
    source_file: str,
    source_record: str,
    registered_on: date | None = None,
    results_posted_on: date | None = None,
    last_updated: date | None = None,
    url: str | None = None,
    cross_refs: dict[str, str] | None = None,
    title: str | None = None,
    sponsor_name: str | None = None,
    phases: tuple[str, ...] = (),
    study_type: str | None = None,
    fda_regulated_drug: bool | None = None,
    fda_regulated_device: bool | None = None,
    healthy_volunteers: bool | None = None,
    age_groups: tuple[str, ...] = (),
    paediatric: bool | None = None,
    countries: tuple[str, ...] = (),
    overall_status: str | None = None,
    start: DateValue | None = None,
    primary_completion: DateValue | None = None,
    completion: DateValue | None = None,
) -> TrialRecord:
    entry = RegistryEntry(
        registry, registry_id, registered_on, results_posted_on, last_updated, url
    )
    refs = {k: v for k, v in (cross_refs or {}).items() if v and k in CROSS_REF_KEYS}
    refs = dict(sorted(refs.items()))
    fields = (
        refs,
        title,
        sponsor_name,
        phases,
        study_type,
        fda_regulated_drug,
        fda_regulated_device,
        healthy_volunteers,
        age_groups,
        paediatric,
        countries,
        overall_status,
        start,
        primary_completion,
        completion,
    )
    return TrialRecord(entry, *fields, source_file, source_record, content_hash(entry, *fields))


def safe_extract(fn, source_file: str, locator: str | None, *args) -> TrialRecord | Rejected:
    """Run one record extractor; a record whose structure the extractor did not expect
    becomes a Rejected instead of stopping the file."""
    try:
        return fn(*args)
    except BadValue as err:
        return Rejected(source_file, locator or "", str(err))
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as err:
        return Rejected(
            source_file, locator or "", f"unexpected record structure ({type(err).__name__}: {err})"
        )
