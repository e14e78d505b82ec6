"""Import registry records into trials: batched, idempotent, resumable, merged by cross-reference.

``import_paths`` (the command line) and ``run_import`` (the upload job) read every record of the
given files with ``portal.registries.iter_records`` and store them in batches of ``BATCH_SIZE``.
Each batch is one transaction: its trials, registry entries, identifiers, changes, rejections,
the run's counters and its resume position are committed together, so a run that stops leaves
no half-written trial and can be resumed (``ImportRun.resume_after``).

Outcome of each record (exactly one, so the counts add up to ``records_seen``):

* created: a registry entry not seen before, whose cross-references match no trial: a new trial.
* merged: a new registry entry whose cross-references (NCT, ISRCTN, EudraCT, EU CT, IRAS) match
  an existing trial joins that trial; and a record whose cross-references point at two or more
  trials merges them into the oldest one (lowest id): its entries, identifiers, sponsor facts and
  every other row that refers to the trial move to it, the other trial's obligations are deleted
  (they are recomputed) and the other trial is deleted. Trials owned by two different
  organisations are never merged: the record is rejected with the reason. A trial holds at most
  one id per registry: a cross-reference that would put two ids of one registry (two ISRCTN
  numbers) into a trial is not followed, and placeholder ids (NCT12345678, ISRCTN00000000) never
  merge anything.
* updated: a known registry entry whose content changed; a ``TrialChange`` row records each
  changed field as ``[old, new]``.
* unchanged: the same content as stored (``content_hash``), a version this entry already had
  before (its hash is kept in ``record["previous_hashes"]``), or an older version (its
  ``last_updated`` is before the stored one). Nothing is written for these records.
* rejected: the reader's ``Rejected`` items, and records that cannot be stored; each is kept as an
  ``ImportRejection`` row with file, record and reason.

A trial's imported facts are derived from all its registry entries: for each fact, the value of
the highest-priority registry that has it (ClinicalTrials.gov > ISRCTN > CTIS > EUCTR > others,
alphabetically), with that entry as its source; the countries are the union of all entries'
(the source names every entry that added one). Sponsor-entered facts live in ``sponsor_facts``
and are never touched.

Concurrency: the unique constraints on (registry, registry_id) and (kind, value) decide races
between importers, and the trials whose facts a batch rewrites are locked first (PostgreSQL).
A batch that fails (IntegrityError, deadlock, or any error) is rolled back and retried record by
record, each record in its own transaction reading the state afresh; a record that still fails
is rejected with the reason.

Speed (``bench/import.py``): one batch reads the entries and identifiers it needs in two queries
(joined to unnest() arrays on PostgreSQL, so plans never depend on statistics), writes with binary
COPY (PostgreSQL) or executemany, and never holds ORM objects, so memory stays flat. The verdicts
of the trials a batch creates are worked out from the records in memory, not read back
(``recompute_for_trials(new_trials=...)``). Parsing runs beside the database work: in a thread,
or for inputs over ``PROCESS_READER_MIN_BYTES`` in a process of its own, which also works out
the verdicts of a share of the records that will make new trials (``_WorkAhead``), balanced so
that neither process waits for the other. Garbage collection runs less often during a run.
Verdicts of "not applicable" (9 in 10 of a typical import) are stored once per trial, not as rows
(``portal.domain.obligations.stored``): that halved the database's work in an import.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import logging
import os
import queue
import re
import threading
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError, OperationalError

from portal.domain.obligations.encode import dumps
from portal.extensions import db
from portal.models import (
    ImportRejection,
    ImportRun,
    RegistryEntry,
    Trial,
    TrialChange,
    TrialIdentifier,
)
from portal.registries import Rejected, TrialRecord, iter_records
from portal.registries.streams import walk
from portal.services import ServiceError, transactional
from portal.services.audit import record as audit_record
from portal.services.obligations import Ahead, NewTrial, Worked, recompute_for_trials
from portal.services.parameters import current_params
from portal.timeutil import today, utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
# Reading (parsing) runs beside the database work: in a thread, or for big inputs in a
# process of its own ("sync", "thread", "process" or "auto").
READER = "auto"
PROCESS_READER_MIN_BYTES = 64 * 1024 * 1024
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


def run_report(run_id: int) -> dict[str, Any]:
    """The summary of a run as ``--report`` writes it (every rejection, in order)."""
    run = db.session.get(ImportRun, run_id)
    if run is None:
        raise ServiceError(f"There is no import run {run_id}.")
    rejections = db.session.execute(
        sa.select(ImportRejection.file, ImportRejection.record, ImportRejection.reason)
        .where(ImportRejection.run_id == run_id)
        .order_by(ImportRejection.id)
    )
    return {
        "records_seen": run.records_seen,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "merged": run.merged,
        "rejected": [{"file": f, "record": r, "reason": why} for f, r, why in rejections],
    }


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


PLACEHOLDER_DIGITS = frozenset({"12345", "123456", "1234567", "12345678", "123456789"})


def placeholder_id(value: str) -> bool:
    """Dummy cross-references seen in registry data (NCT12345678, ISRCTN00000000): never
    used to merge trials."""
    digits = _NOT_DIGIT.sub("", value)
    return not digits or len(set(digits)) == 1 or digits in PLACEHOLDER_DIGITS


_NOT_DIGIT = re.compile(r"\D+")


def _priority(registry: str, registry_id: str) -> tuple[int, str, str]:
    try:
        rank = REGISTRY_PRIORITY.index(registry)
    except ValueError:
        rank = len(REGISTRY_PRIORITY)
    return rank, registry, registry_id


def _uk_site(countries: Any) -> bool | None:
    if not countries:
        return None
    if "United Kingdom" in countries:
        return True
    from portal.rules.reference import UK_COUNTRIES, country_key

    return any(country_key(str(c)) in UK_COUNTRIES for c in countries)


@dataclass(slots=True)
class EntryView:
    """What fact derivation needs of one registry entry."""

    registry: str
    registry_id: str
    facts: dict[str, Any]
    imported_at: str | None


def _entry_priority(entry: EntryView) -> tuple[int, str, str]:
    return _priority(entry.registry, entry.registry_id)


def derive_trial(entries: Sequence[EntryView]) -> dict[str, Any]:
    """Trial columns and ``imported_facts`` from all of a trial's entries (registry priority)."""
    facts: dict[str, dict[str, Any]] = {}
    for entry in entries if len(entries) == 1 else sorted(entries, key=_entry_priority):
        registry, record, at = entry.registry, entry.registry_id, entry.imported_at
        for key, value in entry.facts.items():
            if key in facts or value is None or value == "" or value == []:
                continue
            facts[key] = {"value": value, "registry": registry, "record": record, "imported_at": at}
    if len(entries) > 1:
        _union_countries(facts, sorted(entries, key=_entry_priority))
    countries = facts.get("countries")
    columns: dict[str, Any] = {
        "imported_facts": facts,
        "uk_site": _uk_site(countries["value"]) if countries else None,
    }
    for key in ("title", "sponsor_name", "overall_status"):
        if key in facts:
            columns[key] = facts[key]["value"]
    return columns


def _union_countries(facts: dict[str, dict[str, Any]], entries: Sequence[EntryView]) -> None:
    """A trial's countries are the sites of all its registry entries, not just the first one's:
    a UK site listed only on ISRCTN still makes it a UK trial (RULES.md: "any site in the UK").
    The fact keeps the highest-priority entry as its source and names the others in ``also``."""
    fact = facts.get("countries")
    if fact is None:
        return
    from portal.rules.reference import UK_COUNTRIES, US_COUNTRIES, country_key

    def identity(country: Any) -> str:  # "UK" and "United Kingdom" are one country
        key = country_key(str(country))
        return "uk" if key in UK_COUNTRIES else "us" if key in US_COUNTRIES else key

    merged = list(fact["value"]) if isinstance(fact["value"], list) else []
    seen = {identity(c) for c in merged}
    also = []
    for entry in entries:
        if entry.registry == fact["registry"] and entry.registry_id == fact["record"]:
            continue
        value = entry.facts.get("countries")
        added = False
        for country in value if isinstance(value, list) else ():
            key = identity(country)
            if key and key not in seen:
                seen.add(key)
                merged.append(country)
                added = True
        if added:
            also.append({"registry": entry.registry, "record": entry.registry_id})
    if also:
        facts["countries"] = {**fact, "value": merged, "also": also}


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


def _trial_fk_tables() -> list[tuple[sa.Table, sa.Column]]:
    """Every (table, column) that refers to trials.id, so merging can move or delete rows."""
    found = []
    trials = Trial.__table__
    for table in db.metadata.sorted_tables:
        if table is trials:
            continue
        for column in table.columns:
            if any(fk.column is trials.c.id for fk in column.foreign_keys):
                found.append((table, column))
    return found


def _dependants(table: sa.Table) -> list[tuple[sa.Table, sa.Column]]:
    found = []
    for other in db.metadata.sorted_tables:
        for column in other.columns:
            if any(fk.column.table is table for fk in column.foreign_keys):
                found.append((other, column))
    return found


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _by_pairs(table: sa.Table, a: str, b: str, pairs: Sequence[tuple[str, str]], *columns):
    """SELECT ``columns`` of the rows of ``table`` whose (a, b) is one of ``pairs``, through
    the unique index whatever the planner's statistics say (a fresh table has none: on
    PostgreSQL a join to unnest() arrays, elsewhere a grouped IN)."""
    if _postgres():
        keys = (
            sa.func.unnest(
                sa.cast(sa.bindparam("keys_a", [p[0] for p in pairs]), ARRAY(sa.String)),
                sa.cast(sa.bindparam("keys_b", [p[1] for p in pairs]), ARRAY(sa.String)),
            )
            .table_valued("a", "b")
            .render_derived(name="k")
        )
        return sa.select(*columns).join_from(
            keys, table, sa.and_(table.c[a] == keys.c.a, table.c[b] == keys.c.b)
        )
    grouped: dict[str, list[str]] = defaultdict(list)
    for first, second in pairs:
        grouped[first].append(second)
    return sa.select(*columns).where(
        sa.or_(
            *(
                sa.and_(table.c[a] == first, table.c[b].in_(sorted(seconds)))
                for first, seconds in grouped.items()
            )
        )
    )


def _by_ids(table: sa.Table, name: str, ids: Iterable[int], *columns):
    """SELECT ``columns`` of the rows of ``table`` whose ``name`` is one of ``ids``."""
    ids = sorted(set(ids))
    if _postgres():
        keys = (
            sa.func.unnest(sa.cast(sa.bindparam("keys_id", ids), ARRAY(sa.Integer)))
            .table_valued("id")
            .render_derived(name="k")
        )
        return sa.select(*columns).join_from(keys, table, table.c[name] == keys.c.id)
    return sa.select(*columns).where(table.c[name].in_(ids))


class _Batch:
    """Applies a list of items in memory (so records of one batch see each other), then writes
    everything with a handful of bulk statements."""

    def __init__(self, run_id: int, now: datetime, display: Callable[[str], str]) -> None:
        self.run_id = run_id
        self.now = now
        self.display = display
        self.entries: dict[tuple[str, str], _Entry] = {}
        self.idents: dict[tuple[str, str], int] = {}
        self.new_idents: list[tuple[str, str]] = []
        self.alias: dict[int, int] = {}
        self.new_trials: list[int] = []
        self.owners: dict[int, tuple[int | None, bool]] = {}
        self.registries: dict[int, dict[str, set[str]]] = {}
        self.owner_updates: dict[int, int] = {}
        self.merges: list[tuple[int, int]] = []
        self.touched: set[int] = set()
        self.changes: list[tuple[int, str, str, dict[str, Any]]] = []
        self.rejections: list[dict[str, str]] = []
        self.counts = Counts()
        self.fresh: dict[int, NewTrial] = {}

    # ----------------------------------------------------------------- loading

    def load(self, records: list[Prepared]) -> None:
        by_registry: dict[str, set[str]] = defaultdict(set)
        by_kind: dict[str, set[str]] = defaultdict(set)
        for rec in records:
            by_registry[rec.registry].add(rec.registry_id)
            for kind, value in rec.cross_refs.items():
                by_kind[kind].add(value)
        if by_registry:
            pairs = [(reg, rid) for reg, ids in by_registry.items() for rid in ids]
            rows = db.session.execute(
                _by_pairs(
                    ENTRIES,
                    "registry",
                    "registry_id",
                    pairs,
                    ENTRIES.c.id,
                    ENTRIES.c.trial_id,
                    ENTRIES.c.registry,
                    ENTRIES.c.registry_id,
                    ENTRIES.c.content_hash,
                    ENTRIES.c.last_updated,
                    ENTRIES.c.last_imported_at,
                )
            )
            for id_, trial_id, reg, rid, chash, updated, imported in rows:
                self.entries[(reg, rid)] = _Entry(id_, trial_id, reg, rid, chash, updated, imported)
        if by_kind:
            pairs = [(kind, value) for kind, values in by_kind.items() for value in values]
            rows = db.session.execute(
                _by_pairs(
                    IDENTIFIERS,
                    "kind",
                    "value",
                    pairs,
                    IDENTIFIERS.c.kind,
                    IDENTIFIERS.c.value,
                    IDENTIFIERS.c.trial_id,
                )
            )
            for kind, value, trial_id in rows:
                self.idents[(kind, value)] = trial_id
        # stored records are read only for entries whose content differs
        need = {
            self.entries[key].id
            for rec in records
            if (key := (rec.registry, rec.registry_id)) in self.entries
            and self.entries[key].content_hash != rec.content_hash
        }
        if need:
            by_id = {e.id: e for e in self.entries.values()}
            rows = db.session.execute(_by_ids(ENTRIES, "id", need, ENTRIES.c.id, ENTRIES.c.record))
            for id_, document in rows:
                by_id[id_].document = document or {}
        # registries of the trials these records may join (one registry entry per registry)
        candidates = set()
        for rec in records:
            known = self.entries.get((rec.registry, rec.registry_id))
            if known is not None and known.content_hash == rec.content_hash:
                continue
            if known is not None:
                candidates.add(known.trial)
            candidates.update(
                self.idents[ref] for ref in rec.cross_refs.items() if ref in self.idents
            )
        self._load_registries(candidates)

    def _load_registries(self, trial_ids: Iterable[int]) -> None:
        wanted = sorted(t for t in trial_ids if t > 0 and t not in self.registries)
        if not wanted:
            return
        for t in wanted:
            self.registries[t] = defaultdict(set)
        rows = db.session.execute(
            _by_ids(
                ENTRIES,
                "trial_id",
                wanted,
                ENTRIES.c.trial_id,
                ENTRIES.c.registry,
                ENTRIES.c.registry_id,
            )
        )
        for trial_id, reg, rid in rows:
            self.registries[trial_id][reg].add(rid)

    def _registries_of(self, key: int) -> dict[str, set[str]]:
        if key not in self.registries:
            self._load_registries([key])
            self.registries.setdefault(key, defaultdict(set))
        return self.registries[key]

    # ----------------------------------------------------------------- trials

    def resolve(self, key: int) -> int:
        while key in self.alias:
            key = self.alias[key]
        return key

    def _owner(self, key: int) -> tuple[int | None, bool]:
        if key < 0:
            return None, False
        if key not in self.owners:
            row = db.session.execute(
                sa.select(Trial.owner_organisation_id, Trial.sponsor_entered).where(Trial.id == key)
            ).one_or_none()
            if row is None:  # deleted by a concurrent merge: retry record by record
                raise IntegrityError("trial gone", None, Exception(f"trial {key} was deleted"))
            self.owners[key] = (row[0], bool(row[1]))
        owner = self.owner_updates.get(key, self.owners[key][0])
        return owner, self.owners[key][1]

    def _new_trial(self) -> int:
        key = -(len(self.new_trials) + 1)
        self.new_trials.append(key)
        self.registries[key] = defaultdict(set)
        return key

    @staticmethod
    def _age(key: int) -> tuple[int, int]:
        return (0, key) if key > 0 else (1, -key)  # database ids first (older), then new ones

    def _merge(self, hits: set[int], rec: Prepared) -> int:
        owners = {key: self._owner(key)[0] for key in hits}
        distinct = {o for o in owners.values() if o is not None}
        if len(distinct) > 1:
            described = ", ".join(
                f"trial {k} (organisation {o})" for k, o in sorted(owners.items()) if o
            )
            raise _Reject(
                "its cross-references "
                + ", ".join(f"{k}={v}" for k, v in sorted(rec.cross_refs.items()))
                + f" join trials owned by different organisations: {described}; "
                "they were not merged (a reviewer must resolve the ownership first)"
            )
        keep = min(hits, key=self._age)
        owner = next(iter(distinct), None)
        for drop in sorted(hits - {keep}, key=self._age):
            for reg, ids in self._registries_of(drop).items():
                self._registries_of(keep)[reg].update(ids)
            self.alias[drop] = keep
            if drop > 0:
                self.merges.append((drop, keep))
            self.touched.discard(drop)
        if keep > 0 and owner is not None and owners.get(keep) is None:
            self.owner_updates[keep] = owner
        return keep

    # ----------------------------------------------------------------- records

    def apply(self, item: _Item) -> None:
        value = item.value
        if isinstance(value, Rejected):
            self._reject(value.file, value.record, value.reason)
            return
        try:
            outcome = self._apply_record(value)
        except _Reject as refusal:
            self._reject(value.source_file, value.source_record, refusal.reason)
            return
        setattr(self.counts, outcome, getattr(self.counts, outcome) + 1)
        self.counts.records_seen += 1

    def _reject(self, file: str, record: str, reason: str) -> None:
        self.rejections.append(
            {"run_id": self.run_id, "file": self.display(file), "record": record, "reason": reason}
        )
        self.counts.rejected += 1
        self.counts.records_seen += 1

    def _apply_record(self, rec: Prepared) -> str:
        e = rec
        if not e.registry_id or not e.registry:
            raise _Reject("the record has no registry id")
        if len(e.registry_id) > MAX_ID or len(e.registry) > MAX_REGISTRY:
            raise _Reject(f"registry id {e.registry_id[:80]!r} is longer than {MAX_ID} characters")
        refs = [
            (k, v)
            for k, v in sorted(rec.cross_refs.items())
            if v and len(v) <= MAX_ID and not placeholder_id(v)
        ]
        key = (e.registry, e.registry_id)
        current = self.entries.get(key)
        if (
            current is not None
            and e.registry == "EUCTR"
            and current.content_hash != rec.content_hash
        ):
            combined = combine_member_states(current.document or {}, current.content_hash, rec)
            if combined is None:
                return "unchanged"
            rec = e = combined
        if current is not None:
            if current.content_hash == rec.content_hash:
                return "unchanged"
            previous = list((current.document or {}).get("previous_hashes") or [])
            if rec.content_hash in previous:
                return "unchanged"  # a version this entry already had, since superseded
            if e.last_updated and current.last_updated and e.last_updated < current.last_updated:
                return "unchanged"  # an older version than the one stored
        hits = self._compatible_trials(
            e.registry,
            e.registry_id,
            None if current is None else self.resolve(current.trial),
            {self.resolve(self.idents[r]) for r in refs if r in self.idents},
        )
        if len(hits) > 1:
            target, outcome = self._merge(hits, rec), "merged"
        elif hits:
            target = hits.pop()
            outcome = "updated" if current is not None else "merged"
        else:
            target, outcome = self._new_trial(), "created"

        columns = {
            "registered_on": e.registered_on,
            "results_posted_on": e.results_posted_on,
            "last_updated": e.last_updated,
            "url": e.url if e.url and len(e.url) <= MAX_URL else None,
            "content_hash": rec.content_hash,
            "source_file": self.display(rec.source_file),
            "last_imported_at": self.now,
        }
        if current is None:
            document = rec.document
            self.entries[key] = _Entry(
                None,
                target,
                e.registry,
                e.registry_id,
                rec.content_hash,
                e.last_updated,
                self.now,
                document,
                columns,
                True,
                rec.worked if rec.worked_on == _stamp(self.now)[:10] else None,
            )
        else:
            old = current.document or {}
            previous = [*(old.get("previous_hashes") or []), current.content_hash]
            document = {**rec.document, "previous_hashes": previous[-MAX_PREVIOUS_HASHES:]}
            changes = record_changes(old, document)
            if changes:
                self.changes.append((target, e.registry, e.registry_id, changes))
            current.trial = target
            current.content_hash = rec.content_hash
            current.last_updated = e.last_updated
            current.imported_at = self.now
            current.document = document
            current.columns = columns
            current.dirty = True
            current.worked = None
        for ref in refs:
            if ref not in self.idents:
                self.idents[ref] = target
                self.new_idents.append(ref)
        self._registries_of(target)[e.registry].add(e.registry_id)
        self.touched.add(target)
        return outcome

    def _compatible_trials(
        self, registry: str, registry_id: str, own: int | None, found: set[int]
    ) -> set[int]:
        """The trials a record joins: its own entry's trial, plus those its cross-references
        found, oldest first, leaving out any that would then hold two different ids of one
        registry (two ISRCTN numbers are two trials, whatever a cross-reference says)."""
        chosen: list[int] = []
        held: dict[str, set[str]] = defaultdict(set)
        held[registry].add(registry_id)
        for key in ([own] if own is not None else []) + sorted(found - {own}, key=self._age):
            theirs = self._registries_of(key)
            if key != own and any(
                ids and held.get(reg) and ids != held[reg] for reg, ids in theirs.items()
            ):
                continue
            chosen.append(key)
            for reg, ids in theirs.items():
                held[reg].update(ids)
        return set(chosen)

    # ----------------------------------------------------------------- writing

    def _entry_rows(self, views: Sequence[EntryView]) -> list[dict[str, Any]]:
        """A new trial's registry entries as the obligations recompute reads them back."""
        rows = []
        for view in sorted(views, key=lambda v: (v.registry, v.registry_id)):
            columns = self.entries[(view.registry, view.registry_id)].columns or {}
            rows.append(
                _entry_row(
                    view.registry,
                    view.registry_id,
                    columns.get("registered_on"),
                    columns.get("results_posted_on"),
                )
            )
        return rows

    def write(self) -> list[int]:
        """Write the batch; return the ids of every trial it touched. The trials it inserted
        are then in ``fresh`` (id -> NewTrial)."""
        final = {self.resolve(key) for key in self.touched}
        views: dict[tuple[str, str], tuple[int, EntryView]] = {}
        existing = sorted(k for k in final if k > 0)
        if existing:
            dropped = [drop for drop, _ in self.merges]
            _lock_trials(existing + dropped)
            rows = db.session.execute(
                _by_ids(
                    ENTRIES,
                    "trial_id",
                    existing + dropped,
                    ENTRIES.c.trial_id,
                    ENTRIES.c.registry,
                    ENTRIES.c.registry_id,
                    ENTRIES.c.record,
                    ENTRIES.c.last_imported_at,
                )
            )
            for trial_id, reg, rid, document, imported in rows:
                views[(reg, rid)] = (
                    self.resolve(trial_id),
                    EntryView(reg, rid, (document or {}).get("facts") or {}, _stamp(imported)),
                )
        for key, entry in self.entries.items():
            if entry.dirty:  # the batch's version wins over the stored one
                views[key] = (
                    self.resolve(entry.trial),
                    EntryView(
                        entry.registry,
                        entry.registry_id,
                        (entry.document or {}).get("facts") or {},
                        _stamp(entry.imported_at),
                    ),
                )
        by_trial: dict[int, list[EntryView]] = defaultdict(list)
        for trial, view in views.values():
            by_trial[trial].append(view)

        ids: dict[int, int] = {k: k for k in existing}
        new = [k for k in self.new_trials if k not in self.alias]
        fresh: list[NewTrial] = []  # the new trials as the obligations recompute reads them
        if new:
            rows = []
            for key in new:
                views = by_trial[key]
                columns = _fit(derive_trial(views))
                worked = None
                if len(views) == 1:  # worked out ahead for a trial of this record alone
                    worked = self.entries[(views[0].registry, views[0].registry_id)].worked
                fresh.append(NewTrial(columns["imported_facts"], self._entry_rows(views), worked))
                columns.setdefault("title", "")
                columns.setdefault("sponsor_name", None)
                columns.setdefault("overall_status", None)
                rows.append(
                    {
                        **columns,
                        "sponsor_entered": False,
                        "owner_organisation_id": None,
                        "created_at": self.now,
                        "updated_at": self.now,
                    }
                )
            ids.update(zip(new, _insert_trials(rows), strict=True))
        self.fresh = {ids[key]: trial for key, trial in zip(new, fresh, strict=True)}

        for drop, keep in self.merges:
            _merge_trials(drop, self.resolve(keep))

        def real(key: int) -> int:
            return ids[self.resolve(key)]

        inserts, updates = [], []
        for (reg, rid), entry in sorted(self.entries.items()):
            if not entry.dirty:
                continue
            row = {**(entry.columns or {}), "trial_id": real(entry.trial), "record": entry.document}
            if entry.id is None:
                row.update(registry=reg, registry_id=rid, first_imported_at=self.now)
                inserts.append(row)
            else:
                row["_id"] = entry.id
                updates.append(row)
        if inserts:
            _bulk_insert(ENTRIES, inserts)
        if updates:
            db.session.execute(ENTRIES.update().where(ENTRIES.c.id == sa.bindparam("_id")), updates)
        if self.new_idents:
            _bulk_insert(
                IDENTIFIERS,
                [
                    {"kind": kind, "value": value, "trial_id": real(self.idents[(kind, value)])}
                    for kind, value in sorted(self.new_idents)
                ],
            )
        if self.changes:
            db.session.execute(
                CHANGES.insert(),
                [
                    {
                        "trial_id": real(trial),
                        "run_id": self.run_id,
                        "registry": reg,
                        "registry_id": rid,
                        "changes": changes,
                        "changed_at": self.now,
                    }
                    for trial, reg, rid, changes in self.changes
                ],
            )
        if existing:
            trial_updates = []
            for key in existing:
                row = {
                    **derive_trial(by_trial[key]),
                    "_id": key,
                    "sponsor_entered": False,
                    "updated_at": self.now,
                }
                if key in self.owner_updates:
                    row["owner_organisation_id"] = self.owner_updates[key]
                trial_updates.append(_fit(row))
            for _keys, group in _group_by_keys(trial_updates):
                db.session.execute(TRIALS.update().where(TRIALS.c.id == sa.bindparam("_id")), group)
        if self.rejections:
            _bulk_insert(REJECTIONS, self.rejections)
        return sorted(ids[k] for k in final)


def _entry_row(
    registry: str, registry_id: str, registered_on: date | None, results_posted_on: date | None
) -> dict[str, Any]:
    """A registry entry as ``build_facts`` reads it (``NewTrial.entries``)."""
    return {
        "registry": registry,
        "registry_id": registry_id,
        "registered_on": registered_on,
        "results_posted_on": results_posted_on,
    }


def _lock_trials(trial_ids: list[int]) -> None:
    """Lock the trials whose facts this batch rewrites (PostgreSQL; SQLite has one writer), in
    id order, so two imports touching one trial derive its facts one after the other."""
    if not _postgres():
        return
    db.session.execute(
        _by_ids(TRIALS, "id", trial_ids, TRIALS.c.id)
        .order_by(TRIALS.c.id)
        .with_for_update(of=TRIALS, key_share=True)
    ).all()


def _insert_trials(rows: list[dict[str, Any]]) -> list[int]:
    """Insert trials and return their ids in order. On PostgreSQL the ids are taken from the
    sequence first, so the rows go in with one pipelined executemany (no RETURNING)."""
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        ids = list(
            conn.execute(
                sa.text(
                    "SELECT nextval(pg_get_serial_sequence('trials', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": len(rows)},
            ).scalars()
        )
        for row, id_ in zip(rows, ids, strict=True):
            row["id"] = id_
        _bulk_insert(TRIALS, rows)
        return ids
    return list(
        conn.execute(
            TRIALS.insert().returning(TRIALS.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    )


def _bulk_insert(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows (every row with the same keys): binary COPY on PostgreSQL (text COPY would
    escape every JSON document), executemany elsewhere."""
    conn = db.session.connection()
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    names = list(rows[0])
    types = [_copy_type(table.c[n]) for n in names]
    json_columns = [i for i, n in enumerate(names) if isinstance(table.c[n].type, sa.JSON)]
    quoted = ", ".join(f'"{n}"' for n in names)
    raw = conn.connection.driver_connection  # the session's connection, in its transaction
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                values = [row[n] for n in names]
                for i in json_columns:
                    if values[i] is not None:
                        values[i] = dumps(values[i])
                copy.write_row(values)


def _copy_type(column: sa.Column) -> str:
    """The PostgreSQL type a column's values go as in a binary COPY (JSON goes as its text)."""
    kind = column.type
    if isinstance(kind, sa.JSON | sa.String):  # Text is a String
        return "text"
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.BigInteger):
        return "int8"
    if isinstance(kind, sa.Integer):
        return "int4"
    if isinstance(kind, sa.DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    if isinstance(kind, sa.Date):
        return "date"
    raise TypeError(f"no COPY type for {column.table.name}.{column.name} ({kind})")


def _fit(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("sponsor_name") and len(row["sponsor_name"]) > MAX_SPONSOR:
        row["sponsor_name"] = row["sponsor_name"][: MAX_SPONSOR - 1] + "…"
    if row.get("overall_status") and len(row["overall_status"]) > MAX_STATUS:
        row["overall_status"] = row["overall_status"][:MAX_STATUS]
    return row


def _group_by_keys(rows: list[dict[str, Any]]) -> Iterator[tuple[tuple[str, ...], list]]:
    groups: dict[tuple[str, ...], list] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append(row)
    yield from groups.items()


def _merge_trials(drop: int, keep: int) -> None:
    """Move everything that refers to trial ``drop`` to ``keep``; delete its obligations and
    their inputs (recomputed for ``keep``) and then the trial itself."""
    from portal.models import Obligation, ObligationInputs

    obligations = Obligation.__table__
    for table, column in _trial_fk_tables():
        if table is ObligationInputs.__table__:
            db.session.execute(sa.delete(table).where(column == drop))
        elif table is obligations:
            doomed = sa.select(obligations.c.id).where(column == drop)
            for dependant, dep_column in _dependants(obligations):
                db.session.execute(sa.delete(dependant).where(dep_column.in_(doomed)))
            db.session.execute(sa.delete(obligations).where(column == drop))
        else:
            db.session.execute(sa.update(table).where(column == drop).values({column.name: keep}))
    db.session.execute(sa.delete(Trial.__table__).where(Trial.__table__.c.id == drop))
    log.info("merged trial %s into trial %s", drop, keep)


def _recompute_obligations(trial_ids: list[int], new_trials: dict[int, NewTrial]) -> None:
    """Recompute the obligations of the trials a batch touched, in the batch's transaction
    (the trials it inserted from the records in memory, not read back)."""
    if trial_ids:
        recompute_for_trials(trial_ids, reason="import", new_trials=new_trials)


@transactional
def _commit_items(run_id: int, items: list[_Item], counts_before: Counts, display) -> Counts:
    """One transaction: apply and write ``items``, the run's counters and resume position."""
    batch = _Batch(run_id, utcnow(), display)
    batch.load([i.value for i in items if isinstance(i.value, Prepared)])
    for item in items:
        batch.apply(item)
    trial_ids = batch.write()
    _recompute_obligations(trial_ids, batch.fresh)
    total = Counts(**counts_before.as_dict())
    total.add(batch.counts)
    last = items[-1].position
    db.session.execute(
        sa.update(ImportRun)
        .where(ImportRun.id == run_id)
        .values(
            **total.as_dict(),
            resume_after=json.dumps(
                {"file_index": last.file_index, "file": last.file, "items": last.items}
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return batch.counts


# --------------------------------------------------------------------------- runs


@transactional
def start_run(source: str, *, actor: Any | None = None, job_id: str | None = None) -> int:
    """Create an ImportRun (status running) and audit its start."""
    run = ImportRun(
        source=source,
        status="running",
        requested_by_id=getattr(actor, "id", None),
        job_id=job_id,
        started_at=utcnow(),
    )
    db.session.add(run)
    db.session.flush()
    audit_record("import.started", "import_run", run.id, actor=actor, after={"source": source})
    return run.id


@transactional
def _mark_resumed(run_id: int, actor: Any | None) -> None:
    run = db.session.get(ImportRun, run_id)
    run.status = "running"
    run.error = None
    run.finished_at = None
    audit_record(
        "import.resumed",
        "import_run",
        run_id,
        actor=actor,
        after={"resume_after": run.resume_after, **Counts.of_run(run).as_dict()},
    )


@transactional
def finish_run(
    run_id: int, *, status: str = "finished", error: str | None = None, actor: Any | None = None
) -> None:
    """Close the run and audit its outcome with the counts."""
    run = db.session.get(ImportRun, run_id)
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    audit_record(
        "import.finished" if status == "finished" else "import.failed",
        "import_run",
        run_id,
        actor=actor,
        after={"status": status, **Counts.of_run(run).as_dict(), "error": error},
    )


def _resume_position(run: ImportRun) -> _Position | None:
    if not run.resume_after:
        return None
    try:
        data = json.loads(run.resume_after)
        return _Position(int(data["file_index"]), str(data["file"]), int(data["items"]))
    except (ValueError, KeyError, TypeError):
        raise ServiceError(f"Import run {run.id} has an unreadable resume position.") from None


def _input_files(paths: Sequence[str]) -> Iterator[str]:
    for path in paths:
        if not os.path.exists(path):
            yield path  # iter_records reports it
            continue
        yield from walk(path)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class _ZipProgress:
    """Bytes of a zip file read so far, from the member the current record comes from."""

    def __init__(self, path: str, size: int) -> None:
        self.prefix = path + "!"
        self.before: dict[str, int] = {}
        self.size = size
        try:
            with zipfile.ZipFile(path) as archive:
                infos = sorted(
                    (i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename
                )
        except (zipfile.BadZipFile, OSError):
            infos = []
        total = sum(i.file_size for i in infos) or 1
        running = 0
        for info in infos:
            self.before[info.filename] = int(size * running / total)
            running += info.file_size

    def done(self, item_file: str) -> int:
        if not item_file.startswith(self.prefix):
            return 0
        member = item_file[len(self.prefix) :].split("!", 1)[0]
        return self.before.get(member, 0)


def run_import(
    run_id: int,
    paths: Sequence[str],
    *,
    actor: Any | None = None,
    progress: Callable[[Progress], None] | None = None,
    display_names: dict[str, str] | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """Import ``paths`` into run ``run_id`` (resuming after its committed position, if any),
    finish the run and return its report."""
    run = db.session.get(ImportRun, run_id)
    if run is None:
        raise ServiceError(f"There is no import run {run_id}.")
    paths = [os.fspath(p) for p in paths]
    resume = _resume_position(run)
    counts = Counts.of_run(run)
    if resume is not None or run.status != "running":
        _mark_resumed(run_id, actor)
    display = _display_function(display_names or {})

    total_bytes = sum(_size(f) for f in _input_files(paths))
    last_done = 0

    def report(done: int) -> None:
        if progress is not None:
            progress(Progress(run_id, done, total_bytes, Counts(**counts.as_dict())))

    batch: list[_Item] = []
    report(0)
    reader = _reader(run_id, paths, resume, 2 * batch_size, total_bytes)
    try:
        with _fewer_collections():
            for item in reader:
                batch.append(item)
                if len(batch) >= batch_size:
                    done = _commit_batch(run_id, batch, counts, display)
                    counts.add(done)
                    if isinstance(reader, _ProcessReader):
                        reader.balance(
                            new_trials=done.created >= len(batch) // 2,
                            current=reader.ahead == _ahead_for_today(),
                        )
                    last_done = batch[-1].bytes_done
                    batch.clear()
                    report(last_done)
            if batch:
                counts.add(_commit_batch(run_id, batch, counts, display))
                batch.clear()
        report(total_bytes)
    except BaseException as exc:
        reader.close()
        db.session.rollback()
        try:
            finish_run(run_id, status="failed", error=_describe(exc), actor=actor)
        except Exception:  # the database itself may be what failed; the run stays resumable
            log.exception("import run %s: could not record the failure", run_id)
        raise
    finish_run(run_id, actor=actor)
    return run_report(run_id)


_gc_lock = threading.Lock()
_gc_runs = 0  # imports running in this process
_gc_threshold: tuple[int, ...] = ()


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Less garbage collection while importing. A run makes millions of short-lived dicts and
    lists while it holds a batch of records: the youngest generation is collected less often,
    and what existed before the run (the app, its modules and metadata) is never scanned
    (``gc.freeze``). This saves ~10% of the importer's CPU. The collector's settings are put
    back when the last run in the process ends."""
    global _gc_runs, _gc_threshold
    with _gc_lock:
        if _gc_runs == 0:
            _gc_threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                gc.set_threshold(*_gc_threshold)
                gc.unfreeze()


def _prepared(rec: TrialRecord) -> Prepared | Rejected:
    try:
        return prepare(rec)
    except Exception as exc:  # a record the reader made but this code cannot take: say so
        log.exception("could not prepare %s", rec.source_record)
        return Rejected(rec.source_file, rec.source_record, f"unexpected record ({exc})")


def _read_items(
    run_id: int,
    paths: Sequence[str],
    resume: _Position | None,
    ahead: Callable[[Prepared], Prepared] | None = None,
) -> Iterator[_Item]:
    """Every item of ``paths`` in a fixed order with its position, skipping what the run
    already committed. Pure reading: runs in the reader thread or process. ``ahead`` (the
    reader process) adds each record's verdicts worked out ahead."""
    done_bytes = 0
    file_index = -1
    for file_index, path in enumerate(_input_files(paths)):
        size = _size(path)
        skip = 0
        absolute = os.path.abspath(path)
        if resume is not None:
            if file_index < resume.file_index:
                done_bytes += size
                continue
            if file_index == resume.file_index:
                if absolute != resume.file:
                    raise ServiceError(
                        f"Import run {run_id} stopped in {resume.file}, but file "
                        f"{file_index + 1} of these paths is {absolute}: resume it with the "
                        "same paths."
                    )
                skip = resume.items
        zipped = None
        member_prefix = path + "!"
        for item_index, value in enumerate(iter_records([path]), start=1):
            if item_index <= skip:
                continue
            inside = 0
            if isinstance(value, Rejected):
                name = value.file
            else:
                name = value.source_file
                value = _prepared(value)
                if ahead is not None and isinstance(value, Prepared):
                    try:
                        value = ahead(value)
                    except Exception:  # the importer works them out (and says what failed)
                        log.exception("could not work out verdicts ahead for %s", name)
            if name.startswith(member_prefix):  # a member of a zip file
                zipped = zipped or _ZipProgress(path, size)
                inside = zipped.done(name)
            yield _Item(value, _Position(file_index, absolute, item_index), done_bytes + inside)
        done_bytes += size
    if resume is not None and file_index < resume.file_index:
        raise ServiceError(
            f"Import run {run_id} stopped in {resume.file}, which is not among these paths: "
            "resume it with the same paths."
        )


_END = object()
AHEAD_OF = 8
CHUNK = 100  # items handed over at a time by a reader thread or process


class _ThreadReader:
    """Runs the reading generator in a thread, handing its items over in chunks, so that
    parsing goes on while the database works (the bounded queue keeps memory flat)."""

    def __init__(self, source: Iterator[_Item], size: int) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=max(2, size // CHUNK))
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(source,), name="import-reader", daemon=True
        )
        self.thread.start()

    def _put(self, value: Any) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[_Item]) -> None:
        chunk: list[_Item] = []
        try:
            for item in source:
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    if not self._put(chunk):
                        return
                    chunk = []
            if chunk and not self._put(chunk):
                return
            self._put(_END)
        except BaseException as exc:  # handed to the importing thread, which raises it
            self._put(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[_Item]:
        while True:
            value = self.queue.get()
            if value is _END:
                return
            if isinstance(value, BaseException):
                raise value
            yield from value

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


class _SyncReader:
    """Reads in the importing thread itself."""

    def __init__(self, source: Iterator[_Item]) -> None:
        self.source = source

    def __iter__(self) -> Iterator[_Item]:
        return iter(self.source)

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()


def _to_wire(item: _Item) -> tuple:
    """An item as plain tuples (pickled by C code, unlike dataclasses; the dates of worked
    verdicts as day numbers, which unpickle five times faster than date objects)."""
    value, where = item.value, item.position
    if isinstance(value, Rejected):
        payload: tuple = (0, (value.file, value.record, value.reason))
    elif value.worked is not None:
        w = value.worked
        rows = [
            (duty, ruleset, status, None if due is None else due.toordinal(), text)
            for duty, ruleset, status, due, text in w.rows
        ]
        worked = (w.as_of.toordinal(), w.version, w.inputs_text, w.facts_text, w.digest, rows)
        payload = (2, (*value[:-2], (*worked, w.problems), value.worked_on))
    else:
        payload = (1, tuple(value))
    return (*payload, where.file_index, where.file, where.items, item.bytes_done)


def _from_wire(wired: tuple) -> _Item:
    kind, value, file_index, file, items, bytes_done = wired
    if kind == 2:
        as_of, version, inputs_text, facts_text, digest, rows, problems = value[-2]
        worked = Worked(
            date.fromordinal(as_of),
            version,
            inputs_text,
            facts_text,
            digest,
            [
                (duty, ruleset, status, None if due is None else date.fromordinal(due), text)
                for duty, ruleset, status, due, text in rows
            ],
            problems,
        )
        record: Prepared | Rejected = Prepared(*value[:-2], worked, value[-1])
    else:
        record = Prepared._make(value) if kind else Rejected(*value)
    return _Item(record, _Position(file_index, file, items), bytes_done)


class _WorkAhead:
    """Works out, in the reader process, each record's verdicts as if it made a new trial on its
    own, as most records of a first import do: this work then runs beside the importer's
    instead of inside its transactions. The importer uses them for a trial that is exactly that
    record (``_Batch.write``) if the day, the as_of date and the rule parameters are still the
    same, and otherwise works the verdicts out itself. ``wanted`` is the importer's switch: it
    sets how many records of every AHEAD_OF to work out (``_ProcessReader.balance``)."""

    def __init__(self, ahead: tuple[date, int, Any, str], wanted: Any) -> None:
        as_of, version, params, self.day = ahead
        self.ahead = Ahead(as_of, version, params)
        self.stamp = f"{self.day}T00:00:00+00:00"  # facts name the day of import, not the time
        self.wanted = wanted
        self.seen = 0

    def __call__(self, rec: Prepared) -> Prepared:
        self.seen += 1
        if self.seen % AHEAD_OF >= self.wanted.value:
            return rec
        view = EntryView(rec.registry, rec.registry_id, rec.document.get("facts") or {}, self.stamp)
        entry = _entry_row(rec.registry, rec.registry_id, rec.registered_on, rec.results_posted_on)
        worked = self.ahead(derive_trial([view])["imported_facts"], [entry])
        return rec._replace(worked=worked, worked_on=self.day)


def _reader_process_main(run_id, paths, resume, out, ahead=None, wanted=None) -> None:
    """Entry point of the reader process: the run's items in chunks, then None (pure reading:
    no app, no database)."""
    try:
        chunk: list[tuple] = []
        work = _WorkAhead(ahead, wanted) if ahead is not None and wanted is not None else None
        with _fewer_collections():
            for item in _read_items(run_id, paths, resume, work):
                chunk.append(_to_wire(item))
                if len(chunk) >= CHUNK:
                    out.put(chunk)
                    chunk = []
        if chunk:
            out.put(chunk)
        out.put(None)
    except BaseException as exc:  # described, as not every exception pickles
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        out.put(("error", type(exc).__name__, message, isinstance(exc, ServiceError)))


class _ProcessReader:
    """Reads (parses) in a separate process, so that on a machine with two or more cores
    parsing costs the importer almost nothing. Started with "spawn": the child shares no
    database connection with the importer."""

    def __init__(
        self,
        run_id: int,
        paths: Sequence[str],
        resume: _Position | None,
        size: int,
        ahead: tuple[date, int, Any, str] | None = None,
    ) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue(maxsize=max(2, size // CHUNK))
        # Of every AHEAD_OF records, the reader works out the verdicts of this many ahead.
        self.wanted = context.Value("b", AHEAD_OF // 2, lock=False)
        self.waited = 0.0  # seconds the importer waited for items since the last batch
        self.cycle_started = time.perf_counter()
        self.ahead = ahead
        self.process = context.Process(
            target=_reader_process_main,
            args=(run_id, list(paths), resume, self.queue, ahead, self.wanted),
            name="import-reader",
            daemon=True,
        )
        self.process.start()

    def __iter__(self) -> Iterator[_Item]:
        while True:
            started = time.perf_counter()
            try:
                value = self.queue.get(timeout=1.0)
                self.waited += time.perf_counter() - started
            except queue.Empty:
                self.waited += time.perf_counter() - started
                if not self.process.is_alive():
                    raise RuntimeError(
                        f"the reader process stopped (exit code {self.process.exitcode})"
                    ) from None
                continue
            if value is None:
                return
            if isinstance(value, tuple):
                _, name, message, service = value
                if service:
                    raise ServiceError(message)
                raise RuntimeError(f"reading failed: {name}: {message}")
            for wired in value:
                yield _from_wire(wired)

    def balance(self, *, new_trials: bool, current: bool = True) -> None:
        """After each batch: share the work of new trials' verdicts between the two processes
        so that neither waits for the other. The importer waited for records: the reader does
        less of it; it did not: the reader does more. None while records are not new trials
        (a re-import), or once what the reader works them out for (the day, the as_of date, the
        rule parameters) is no longer ``current``: they would be wasted."""
        now = time.perf_counter()
        seconds, self.cycle_started = now - self.cycle_started, now
        share = self.wanted.value
        if not new_trials or not current:
            share = 0
        elif self.waited > 0.03 * seconds:
            share = max(0, share - 1)
        else:
            share = min(AHEAD_OF, share + 1)
        self.wanted.value = share
        self.waited = 0.0
        log.debug("reader works out %s of every %s new trials' verdicts", share, AHEAD_OF)

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=10)
        self.queue.close()
        self.queue.join_thread()
        self.process.close()


def _reader(
    run_id: int, paths: Sequence[str], resume: _Position | None, size: int, total_bytes: int
):
    mode = READER
    if mode == "auto":
        mode = "process" if total_bytes >= PROCESS_READER_MIN_BYTES else "thread"
    if mode == "process":
        ahead = _ahead_for_today()
        try:
            return _ProcessReader(run_id, paths, resume, size, ahead)
        except OSError as exc:  # no processes allowed here: read in a thread instead
            log.warning("import run %s: no reader process (%s), reading in a thread", run_id, exc)
            mode = "thread"
    source = _read_items(run_id, paths, resume)
    return _ThreadReader(source, size) if mode == "thread" else _SyncReader(source)


def _ahead_for_today() -> tuple[date, int, Any, str]:
    """What the reader process works verdicts out for: as_of, the rule parameters' version and
    values, and the (UTC) day of import that the facts' sources name."""
    version, params = current_params()
    return today(), version, params, _stamp(utcnow())[:10]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


def _display_function(names: dict[str, str]) -> Callable[[str], str]:
    if not names:
        return lambda path: path

    def display(path: str) -> str:
        for stored, shown in names.items():
            if path == stored or path.startswith(stored + "!"):
                return shown + path[len(stored) :]
        return path

    return display


def _commit_batch(run_id: int, items: list[_Item], counts: Counts, display) -> Counts:
    """Commit a batch in one transaction; if that fails, commit its items one by one."""
    try:
        return _commit_items(run_id, items, counts, display)
    except (IntegrityError, OperationalError) as exc:
        log.info("import run %s: batch failed (%s), retrying record by record", run_id, exc)
    except Exception:
        log.exception("import run %s: batch failed, retrying record by record", run_id)
    done = Counts()
    for item in items:
        running = Counts(**counts.as_dict())
        running.add(done)
        done.add(_commit_one(run_id, item, running, display))
    return done


def _commit_one(run_id: int, item: _Item, counts: Counts, display) -> Counts:
    problem = ""
    for attempt in range(1, RETRIES_PER_RECORD + 1):
        try:
            return _commit_items(run_id, [item], counts, display)
        except IntegrityError as exc:
            problem = f"it conflicts with another change to the same trial ({_first_line(exc)})"
            log.info("import run %s: attempt %s: %s", run_id, attempt, problem)
        except OperationalError as exc:
            if "deadlock" not in str(exc).lower() or attempt == RETRIES_PER_RECORD:
                raise
        except Exception as exc:
            log.exception("import run %s: record could not be stored", run_id)
            problem = f"it could not be stored ({type(exc).__name__}: {exc})"
            break
    value = item.value
    if isinstance(value, Prepared):
        file, where = value.source_file, value.source_record
    else:
        file, where = value.file, value.record
    return _commit_items(
        run_id, [_Item(Rejected(file, where, problem[:2000]), item.position)], counts, display
    )


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def import_paths(
    paths: Sequence[str],
    *,
    actor: Any | None = None,
    resume_run_id: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> tuple[int, dict[str, Any]]:
    """Import files, folders and zips (the command line); return (run id, report).

    With ``resume_run_id`` the run continues after the position it last committed; without
    ``paths`` it reads the paths it was started with."""
    if resume_run_id is not None:
        run = db.session.get(ImportRun, resume_run_id)
        if run is None:
            raise ServiceError(f"There is no import run {resume_run_id}.")
        if run.status == "finished":
            raise ServiceError(f"Import run {resume_run_id} has already finished.")
        stored = [p for p in (run.source or "").split("\n") if p]
        paths = list(paths) or stored
        run_id = resume_run_id
    else:
        if not paths:
            raise ServiceError("Give at least one file or folder to import.")
        run_id = start_run("\n".join(os.path.abspath(p) for p in paths), actor=actor)
    report = run_import(run_id, paths, actor=actor, progress=progress, batch_size=batch_size)
    return run_id, report


# --------------------------------------------------------------------------- uploads

UPLOAD_SUBFOLDER = "imports"
IMPORT_JOB_KIND = "import"
UPLOAD_JOB_TIMEOUT_SECONDS = 3600
_CHUNK = 1024 * 1024


def upload_problem(head: bytes) -> str | None:
    """Why the start of an uploaded file is not something the importer reads (None: fine)."""
    from portal.registries import FORMATS, detect_format
    from portal.registries.detect import CONTAINERS, REJECTED_FORMATS

    if not head.strip():
        return "The selected file is empty"
    fmt = detect_format(head)
    if fmt in FORMATS or fmt in CONTAINERS:
        return None
    if fmt in REJECTED_FORMATS:
        return (
            f"The selected file is not a registry export the portal reads: {REJECTED_FORMATS[fmt]}"
        )
    return (
        "The selected file is not a registry export the portal reads. Upload a "
        "ClinicalTrials.gov, ISRCTN, EU or WHO ICTRP export (JSON, XML, CSV or text), or a zip file"
    )


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MB"
    return f"{max(1, size // 1024)} KB"


def _display_filename(name: str | None) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:200] or "upload"


def store_upload(stream, head: bytes, folder: str, max_bytes: int | None) -> tuple[str, int, bool]:
    """Write ``head`` + the rest of ``stream`` to ``folder``/<sha256>; return (sha256, size,
    whether the file is new). A file over ``max_bytes`` is removed and refused."""
    import hashlib
    import tempfile

    os.makedirs(folder, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ServiceError(
                        f"The selected file must be smaller than {size_text(max_bytes)}",
                        field="export",
                    )
                digest.update(chunk)
                out.write(chunk)
                chunk = stream.read(_CHUNK)
        sha = digest.hexdigest()
        final = os.path.join(folder, sha)
        if os.path.exists(final):
            os.remove(temp)
            return sha, size, False
        os.replace(temp, final)
        return sha, size, True
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def accept_upload(actor: Any, upload: Any) -> int:
    """Check and store an uploaded registry export, create its ImportRun and BackgroundJob and
    enqueue the import (after commit). Returns the run id. Refusals raise ServiceError and
    store nothing."""
    from flask import current_app

    from portal.registries.streams import HEAD_SIZE

    head = upload.stream.read(HEAD_SIZE)
    problem = upload_problem(head)
    if problem:
        raise ServiceError(problem, field="export")
    folder = os.path.join(current_app.config["UPLOAD_FOLDER"], UPLOAD_SUBFOLDER)
    max_bytes = current_app.config.get("MAX_CONTENT_LENGTH")
    sha, size, created = store_upload(upload.stream, head, folder, max_bytes)
    try:
        return _record_upload(actor, _display_filename(upload.filename), sha, size, head)
    except BaseException:
        if created:
            os.remove(os.path.join(folder, sha))
        raise


@transactional
def _record_upload(actor: Any, filename: str, sha: str, size: int, head: bytes) -> int:
    from portal.models import BackgroundJob
    from portal.registries import detect_format
    from portal.services import after_commit

    job = BackgroundJob(
        kind=IMPORT_JOB_KIND,
        status="queued",
        progress=0,
        message="Waiting for a worker",
        params={"file": f"{UPLOAD_SUBFOLDER}/{sha}", "filename": filename},
        requested_by_id=getattr(actor, "id", None),
    )
    db.session.add(job)
    db.session.flush()
    job_id = job.id
    run_id = start_run(filename, actor=actor, job_id=job_id)
    job.params = {**job.params, "run_id": run_id}
    audit_record(
        "import.uploaded",
        "import_run",
        run_id,
        actor=actor,
        after={"filename": filename, "sha256": sha, "bytes": size, "format": detect_format(head)},
    )

    after_commit(lambda: enqueue_upload(job_id))
    return run_id


def enqueue_upload(job_id: str, *, reason: str | None = None) -> bool:
    """Put an upload's import on the import queue and mark its job enqueued (committed).
    False when Redis is unreachable: the job stays saved, and ``flask jobs sweep`` (every
    minute) calls this again until it succeeds."""
    from portal.jobs import QUEUE_IMPORT, try_enqueue
    from portal.models import BackgroundJob
    from workers.imports import import_upload

    queued = try_enqueue(
        import_upload,
        job_id,
        queue_name=QUEUE_IMPORT,
        job_id=job_id,
        timeout=UPLOAD_JOB_TIMEOUT_SECONDS,
    )
    if queued is None:
        return False
    db.session.execute(
        sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(enqueued=True)
    )
    if reason:  # enqueued late (by the sweeper): say when and why
        audit_record("import.enqueued", "background_job", job_id, after={"reason": reason})
    db.session.commit()
    return True


def sweep_uploads() -> tuple[int, int]:
    """Enqueue the uploads saved while Redis was unreachable. Returns (enqueued, still waiting)."""
    from portal.models import BackgroundJob

    waiting = (
        db.session.execute(
            sa.select(BackgroundJob.id)
            .where(
                BackgroundJob.kind == IMPORT_JOB_KIND,
                BackgroundJob.status == "queued",
                BackgroundJob.enqueued.is_(False),
            )
            .order_by(BackgroundJob.created_at)
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    done = 0
    for job_id in waiting:
        if not enqueue_upload(job_id, reason="the job queue is reachable again"):
            break  # Redis is still away: the next sweep tries again
        done += 1
    return done, len(waiting) - done
