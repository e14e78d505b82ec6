"""Records as the importer stores them: counts, stored documents, EUCTR member states, changes."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from portal.models import (
    ImportRejection,
    ImportRun,
    RegistryEntry,
    Trial,
    TrialChange,
    TrialIdentifier,
)
from portal.registries import Rejected, TrialRecord
from portal.services.obligations import Worked

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
REGISTRY_PRIORITY = ("ClinicalTrials.gov", "ISRCTN", "CTIS", "EUCTR")
DISPLAY_FACTS = ("title", "sponsor_name", "overall_status", "age_groups", "phases")
MAX_PREVIOUS_HASHES = 20
RETRIES_PER_RECORD = 3

# Column sizes (portal/models/trials.py): longer values are refused or cut, never a DB error.
MAX_REGISTRY = 40
MAX_ID = 60
MAX_URL = 500
MAX_SPONSOR = 500
MAX_STATUS = 60


TRIALS = Trial.__table__
ENTRIES = RegistryEntry.__table__
IDENTIFIERS = TrialIdentifier.__table__
CHANGES = TrialChange.__table__
REJECTIONS = ImportRejection.__table__


# --------------------------------------------------------------------------- counts and report


@dataclass
class Counts:
    records_seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def of_run(cls, run: ImportRun) -> Counts:
        return cls(**{f.name: getattr(run, f.name) or 0 for f in fields(cls)})


@dataclass(frozen=True)
class Progress:
    """Where a run is: bytes of input read (of the total) and the counts so far."""

    run_id: int
    bytes_done: int
    bytes_total: int
    counts: Counts

    @property
    def percent(self) -> int:
        if self.bytes_total <= 0:
            return 100
        return min(100, int(100 * self.bytes_done / self.bytes_total))


# --------------------------------------------------------------------------- records as stored


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


@functools.lru_cache(maxsize=4096)
def _stamp(moment: datetime | None) -> str | None:
    """A timestamp as the provenance of facts shows it (UTC, whatever the backend returns)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def record_facts(rec: TrialRecord) -> dict[str, Any]:
    """The facts of one record: ``to_facts()`` without registrations, plus display fields."""
    facts = rec.to_facts()
    facts.pop("registrations", None)
    for name in DISPLAY_FACTS:
        value = getattr(rec, name)
        if isinstance(value, tuple):
            value = list(value) or None
        if value not in (None, ""):
            facts[name] = value
    return facts


_DATE_FACTS = {
    "start": "start_on",
    "primary_completion": "primary_completion_on",
    "completion": "end_of_trial_on",
}


def record_document(rec: TrialRecord, previous_hashes: Sequence[str] = ()) -> dict[str, Any]:
    """The normalised record kept on ``RegistryEntry.record`` (what merging and diffs read)."""
    e = rec.entry
    facts = record_facts(rec)
    dates = {}
    for name, fact in _DATE_FACTS.items():
        value = getattr(rec, name)
        if value is not None:
            dates[name] = {
                "value": facts.get(fact) or value.to_fact(),
                "precision": value.precision,
                "actual": value.actual,
            }
    return {
        "facts": facts,
        "entry": {
            "registered_on": _iso(e.registered_on),
            "results_posted_on": _iso(e.results_posted_on),
            "last_updated": _iso(e.last_updated),
            "url": e.url,
        },
        "cross_refs": dict(rec.cross_refs),
        "dates": dates,
        "source_record": rec.source_record,
        "previous_hashes": list(previous_hashes)[-MAX_PREVIOUS_HASHES:],
    }


class Prepared(NamedTuple):
    """A record as the importer uses it: the entry's columns and its stored document, made
    by the reader (thread or process) so the importer only stores it. A plain tuple, cheap to
    hand between processes."""

    registry: str
    registry_id: str
    content_hash: str
    registered_on: date | None
    results_posted_on: date | None
    last_updated: date | None
    url: str | None
    cross_refs: dict[str, str]
    source_file: str
    source_record: str
    document: dict[str, Any]
    # Its verdicts as if it made a new trial on its own, worked out by the reader process on
    # the day (UTC) given, which is when the importer can use them (see _WorkAhead).
    worked: Worked | None = None
    worked_on: str | None = None


def prepare(rec: TrialRecord) -> Prepared:
    e = rec.entry
    return Prepared(
        e.registry,
        e.registry_id,
        rec.content_hash,
        e.registered_on,
        e.results_posted_on,
        e.last_updated,
        e.url,
        dict(rec.cross_refs),
        rec.source_file,
        rec.source_record,
        record_document(rec),
    )


def _member_state(document: dict[str, Any]) -> str:
    """Which member state's EUCTR record a document is (its country, else its URL's end)."""
    countries = (document.get("facts") or {}).get("countries") or []
    if countries:
        return ",".join(sorted(str(c) for c in countries))
    url = (document.get("entry") or {}).get("url") or ""
    return url.rstrip("/").rsplit("/", 1)[-1] or "?"


def combine_member_states(
    stored: dict[str, Any], stored_hash: str, rec: Prepared
) -> Prepared | None:
    """EUCTR keeps one record per member state of a trial, all under one EudraCT number: combine
    them into the one registry entry instead of letting each overwrite the last.

    The entry's document keeps ``member_states`` (member state -> hash of its record) and
    ``primary_member_state``; its countries are the union of the member states' records; its
    other facts, dates and links come from the primary record: the United Kingdom's when there
    is one (the record the UK duties concern), else the first member state imported. Returns
    None when this record is already in, or is an older version of one that is (unchanged);
    else the record carrying the combined document and a hash of the combination.
    """
    state = _member_state(rec.document)
    if not stored:  # first sight of this trial in this batch and not yet written
        states: dict[str, str] = {}
        primary_state = state
    else:
        states = dict(stored.get("member_states") or {_member_state(stored): stored_hash})
        primary_state = stored.get("primary_member_state") or _member_state(stored)
    superseded = list(stored.get("member_previous") or [])
    if states.get(state) == rec.content_hash or rec.content_hash in superseded:
        return None
    if state in states:
        superseded = [*superseded, states[state]][-MAX_PREVIOUS_HASHES:]
    states[state] = rec.content_hash
    if state == "United Kingdom" or state == primary_state or not stored:
        primary_state, primary = state, rec.document
    else:
        primary = stored
    facts = dict(primary.get("facts") or {})
    countries: list[Any] = []
    for source in (stored, rec.document):
        for country in (source.get("facts") or {}).get("countries") or []:
            if country not in countries:
                countries.append(country)
    if countries:
        facts["countries"] = countries
    document = {
        **primary,
        "facts": facts,
        "member_states": dict(sorted(states.items())),
        "primary_member_state": primary_state,
        "member_previous": superseded,
    }
    combined_hash = hashlib.sha256(
        json.dumps([primary_state, document["member_states"]], sort_keys=True).encode()
    ).hexdigest()
    if combined_hash == stored_hash:
        return None
    if primary is stored:
        entry = stored.get("entry") or {}
        return rec._replace(
            content_hash=combined_hash,
            document=document,
            registered_on=_date_or_none(entry.get("registered_on")),
            results_posted_on=_date_or_none(entry.get("results_posted_on")),
            last_updated=_date_or_none(entry.get("last_updated")),
            url=entry.get("url"),
        )
    return rec._replace(content_hash=combined_hash, document=document)


def _date_or_none(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _flatten(document: dict[str, Any] | None) -> dict[str, Any]:
    document = document or {}
    flat = dict(document.get("facts") or {})
    flat.update(document.get("entry") or {})
    if document.get("cross_refs"):
        flat["cross_refs"] = document["cross_refs"]
    return flat


def record_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, list[Any]]:
    """Field -> [old, new] for every field that differs between two stored records."""
    before, after = _flatten(old), _flatten(new)
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


# --------------------------------------------------------------------------- one batch


@dataclass(slots=True)
class _Entry:
    id: int | None  # None: inserted by this batch
    trial: int  # trial key: a database id, or a negative key for a trial new in this batch
    registry: str
    registry_id: str
    content_hash: str
    last_updated: date | None
    imported_at: datetime | None
    document: dict[str, Any] | None = None  # loaded only when needed
    columns: dict[str, Any] | None = None  # new column values to write
    dirty: bool = False
    worked: Worked | None = None  # verdicts worked out ahead from exactly this document


@dataclass(slots=True)
class _Position:
    file_index: int
    file: str
    items: int  # items of that file done (counting this one)


@dataclass(slots=True)
class _Item:
    value: Prepared | Rejected
    position: _Position
    bytes_done: int = 0  # input bytes before this item (for the progress bar)


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
