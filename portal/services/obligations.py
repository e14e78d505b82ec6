"""Obligations: the rules' verdicts stored per trial and duty, and kept current.

``recompute_for_trials`` runs inside the caller's transaction (the importer, sponsor fact entry,
review decisions, the parameters page): it never commits, so the facts and the verdicts they give
are committed together or not at all. The daily job (``workers.obligations.recompute_all``) calls
``recompute_range`` for chunks of trial ids, one transaction per chunk.

Two ways to recompute:

* from the trial's records (``_recompute``: registry entries, imported and sponsor-entered
  facts), whenever facts change, inside that change's transaction. This also stores, once per
  trial, the facts the verdicts were worked out from and a digest of the verdicts
  (``ObligationInputs``);
* from those stored facts (``_recompute_stored``): the daily job. Each trial is evaluated again
  from one row; only a trial whose verdicts' digest changed has its stored verdicts read and
  compared.

Stored verdicts hold no day counts and no "as of" date (``encode.STORED_OMITS``; the rules'
explanations name neither), so a verdict is rewritten only when its status, dates or facts
change, not every day; the days overdue or left are worked out when shown
(``Obligation.days_overdue_on``).

Verdicts of "not applicable", most of all verdicts, are not ``obligations`` rows: each trial's
are kept in one document with its stored facts (``ObligationInputs.not_applicable``, written
whenever the verdicts' digest changes; ``portal.obligations.stored``). A duty that stops or
starts applying moves between the two, and its status change is recorded as for any other.

Reads are one query per table per chunk of trials, never one per trial; verdicts are encoded to
deterministic JSON text (``portal.obligations.encode``) and one whose text equals the stored text
is not written; new rows, changed rows and status history are written in bulk (on PostgreSQL
with binary ``COPY``, changed rows through a temporary table and one ``UPDATE ... FROM``;
elsewhere with executemany), and the reads skip SQLAlchemy's result processing on PostgreSQL.
``bench/rules.py`` measures both ways on 500,000 trials.

The trial rows of a chunk are locked (``FOR NO KEY UPDATE`` on PostgreSQL) before their
obligations are read, so two recomputes of the same trial (an import and the daily job) run one
after the other and never insert the same (trial, duty) twice.

Bad stored facts never stop a recompute: ``Facts.from_dict`` errors drop the offending fact, the
trial is evaluated without it, and every verdict of that trial says which fact was ignored and
why (in its explanation and in ``verdict["fact_problems"]``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    BackgroundJob,
    Obligation,
    ObligationInputs,
    ObligationStatusChange,
    RegistryEntry,
    SponsorFact,
    Trial,
)
from portal.obligations import stored as na_store
from portal.obligations.encode import STORED_OMITS, VerdictEncoder, dumps
from portal.rules import Facts, FactsError, Params, evaluate, facts_to_check
from portal.rules.evidence import withhold_all
from portal.rules.facts import FACT_KEYS
from portal.rules.model import NOT_APPLICABLE
from portal.services import after_commit, evidence
from portal.services.parameters import current_params
from portal.timeutil import today, utcnow
from portal.trials.facts import build_facts

log = logging.getLogger(__name__)

CHUNK = 1000  # trials per batch of queries
RECOMPUTE_JOB_KIND = "obligations.recompute"
_FACT_KEYS = frozenset(FACT_KEYS)

T = Trial.__table__
E = RegistryEntry.__table__
S = SponsorFact.__table__
O = Obligation.__table__  # noqa: E741
H = ObligationStatusChange.__table__
I = ObligationInputs.__table__  # noqa: E741

_INSERT_COLUMNS = (
    "trial_id",
    "duty",
    "ruleset",
    "status",
    "due",
    "verdict",
    "params_version",
    "as_of",
    "computed_at",
)
_INSERT_TYPES = (
    "int4",
    "text",
    "text",
    "text",
    "date",
    "text",
    "int4",
    "date",
    "timestamptz",
)
_HISTORY_COLUMNS = (
    "trial_id",
    "duty",
    "old_status",
    "new_status",
    "changed_on",
    "changed_at",
    "reason",
)
_HISTORY_TYPES = ("int4", "text", "text", "text", "date", "timestamptz", "text")
_UPDATE_COLUMNS = ("id",) + _INSERT_COLUMNS[2:]
_UPDATE_TYPES = ("int4",) + _INSERT_TYPES[2:]


@dataclass
class RecomputeStats:
    """What a recompute did (for logs, job results and the benchmark)."""

    trials: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    status_changes: int = 0
    fact_problems: int = 0
    worked_ahead: int = 0  # new trials whose verdicts the importer's reader worked out ahead

    def add(self, other: RecomputeStats) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# --- public API ---------------------------------------------------------------------------------


def recompute_for_trials(
    trial_ids: Iterable[int],
    *,
    reason: str,
    as_of: date | None = None,
    new_trials: Mapping[int, NewTrial] | None = None,
) -> RecomputeStats:
    """Recompute the obligations of ``trial_ids`` as of ``as_of`` (default today), in the
    caller's transaction (no commit). ``reason`` is kept on each status change (import,
    sponsor_fact, review, daily, params).

    ``new_trials``: trials that the caller inserted in this transaction, with no sponsor facts
    and no verdicts yet, given with the records they were inserted from (:class:`NewTrial`), so
    that they are not read back (the importer: most of a first import is new trials). The
    verdicts are exactly those a recompute from the stored records gives (tested)."""
    db.session.flush()  # the caller's pending facts must be visible to the queries below
    as_of = as_of or today()
    version, params = current_params()
    ids = sorted({int(i) for i in trial_ids})
    stats = RecomputeStats()
    if new_trials:
        fresh = [i for i in ids if i in new_trials]
        ids = [i for i in ids if i not in new_trials]
        for start in range(0, len(fresh), CHUNK):
            chunk = [(i, new_trials[i]) for i in fresh[start : start + CHUNK]]
            stats.add(_compute_new(chunk, reason, as_of, version, params))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        stats.add(_recompute(lambda col, c=chunk: col.in_(c), reason, as_of, version, params))
    _expire_obligations(set(ids))
    return stats


def recompute_range(
    after_id: int,
    last_id: int,
    *,
    reason: str,
    as_of: date,
    version: int,
    params: Params,
    from_records: bool = False,
) -> RecomputeStats:
    """Recompute trials with ``after_id < id <= last_id`` in the current transaction (the daily
    job's chunks, each committed on its own), from the facts stored with their verdicts, or
    with ``from_records`` from their registry entries and sponsor facts (see
    :func:`_recompute_stored`). On PostgreSQL the commit does not wait for the WAL flush: a
    crash can lose the last chunks committed, and the next run recomputes them."""
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
    recompute = _recompute if from_records else _recompute_stored
    return recompute(
        lambda col: sa.and_(col > after_id, col <= last_id), reason, as_of, version, params
    )


def newly_changed(
    day: date, to_status: str = "overdue", *, organisation_id: int | None = None
) -> list[ObligationStatusChange]:
    """Status changes recorded on ``day`` into ``to_status`` ("newly overdue" on that day)."""
    query = sa.select(ObligationStatusChange).where(
        ObligationStatusChange.changed_on == day,
        ObligationStatusChange.new_status == to_status,
    )
    return _changes(query, organisation_id)


def no_longer(
    day: date, status: str = "overdue", *, organisation_id: int | None = None
) -> list[ObligationStatusChange]:
    """Status changes recorded on ``day`` out of ``status`` ("no longer overdue" that day)."""
    query = sa.select(ObligationStatusChange).where(
        ObligationStatusChange.changed_on == day,
        ObligationStatusChange.old_status == status,
        ObligationStatusChange.new_status != status,
    )
    return _changes(query, organisation_id)


def _changes(query: sa.Select, organisation_id: int | None) -> list[ObligationStatusChange]:
    if organisation_id is not None:
        query = query.join(Trial, Trial.id == ObligationStatusChange.trial_id).where(
            Trial.owner_organisation_id == organisation_id
        )
    query = query.order_by(ObligationStatusChange.trial_id, ObligationStatusChange.duty)
    return list(db.session.execute(query).scalars())


def start_recompute_all(
    *,
    reason: str,
    requested_by: Any | None = None,
    as_of: date | None = None,
    from_records: bool = False,
) -> BackgroundJob:
    """Record a recompute of every trial and enqueue it after the current transaction commits
    (inside a @transactional service). The BackgroundJob row drives what pages show."""
    from portal.jobs import try_enqueue
    from workers.obligations import CHUNK as JOB_CHUNK
    from workers.obligations import DAILY_TIMEOUT_SECONDS, recompute_all

    job = BackgroundJob(
        kind=RECOMPUTE_JOB_KIND,
        params={
            "reason": reason,
            "as_of": as_of.isoformat() if as_of else None,
            "from_records": from_records,
        },
        requested_by_id=getattr(requested_by, "id", None),
        message="Waiting for a worker",
    )
    db.session.add(job)
    db.session.flush()
    job_id = job.id
    as_of_iso = as_of.isoformat() if as_of else None

    def enqueue() -> None:
        queued = try_enqueue(
            recompute_all,
            as_of_iso,
            job_id,
            reason,
            0,
            None,
            JOB_CHUNK,
            from_records,
            job_id=job_id,
            timeout=DAILY_TIMEOUT_SECONDS,
        )
        if queued is not None:
            db.session.execute(
                sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(enqueued=True)
            )
            db.session.commit()

    after_commit(enqueue)
    return job


def enqueue_recompute_all(
    *, reason: str, as_of: date | None = None, from_records: bool = False
) -> str | None:
    """Enqueue a recompute of every trial now (command line); None when Redis is unreachable."""
    from portal.services import transactional

    @transactional
    def start() -> str:
        return start_recompute_all(reason=reason, as_of=as_of, from_records=from_records).id

    job_id = start()
    job = db.session.get(BackgroundJob, job_id)
    return job_id if job is not None and job.enqueued else None


def latest_recompute_job() -> BackgroundJob | None:
    return db.session.execute(
        sa.select(BackgroundJob)
        .where(BackgroundJob.kind == RECOMPUTE_JOB_KIND)
        .order_by(BackgroundJob.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


# --- the recompute ------------------------------------------------------------------------------

# The form of ObligationInputs.facts; a stored document of another form is not read (the trial's
# facts are rebuilt from its records instead). It changes by itself with the rules' vocabulary of
# facts (FACT_KEYS); raise FACTS_BUILD whenever portal.trials.facts.build_facts changes how it
# reads records or sponsor entries.
# 2: the registry's end of trial kept beside the sponsor's (registry_end_of_trial_on), and the
# document lists the facts to check ("checks"). 3: the document also holds the duties whose
# evidence is withheld. 4: deferrals and waivers a reviewer sent back are left out of the facts,
# and the document holds why (``held_back``: duty -> sentence added to its verdict).
FACTS_BUILD = 4
FACTS_FORMAT = f"{FACTS_BUILD}:{zlib.crc32(' '.join(FACT_KEYS).encode()):08x}"


def facts_document(
    facts: Facts,
    problems: Sequence[str],
    checks: Sequence[Any] = (),
    withheld: Mapping[str, str] | None = None,
    held_back: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The validated facts, as stored with a trial's verdicts (ObligationInputs.facts), with
    the facts to check found in them (RULES.md "Facts that contradict each other": ``checks``,
    each {"check", "kind"}; the dashboard's "facts to check" filter reads them) and the duties
    whose evidence a reviewer has not accepted (``portal.services.evidence``)."""
    doc = {
        "format": FACTS_FORMAT,
        "facts": facts.to_dict(),
        "sources": dict(facts.sources),
        "problems": list(problems),
        "checks": [{"check": c.check, "kind": c.kind} for c in checks],
    }
    if withheld:
        doc["withheld"] = dict(withheld)
    if held_back:
        doc["held_back"] = dict(held_back)
    return doc


def verdicts_digest(texts: Iterable[str]) -> str:
    """A digest of a trial's stored verdict texts in evaluation order (ObligationInputs.digest).
    Not a security measure: it tells a recompute whether anything changed."""
    return hashlib.blake2b("\n".join(texts).encode(), digest_size=16).hexdigest()


class _Batch:
    """The writes of one chunk of trials, worked out verdict by verdict."""

    __slots__ = (
        "as_of",
        "changed_digests",
        "changed_inputs",
        "history",
        "inserts",
        "new_inputs",
        "now",
        "reason",
        "stale",
        "stats",
        "updates",
        "version",
    )

    def __init__(self, reason: str, as_of: date, version: int) -> None:
        self.reason, self.as_of, self.version = reason, as_of, version
        self.now = utcnow()
        self.stats = RecomputeStats()
        self.inserts: list[tuple[Any, ...]] = []
        self.updates: list[tuple[Any, ...]] = []
        self.history: list[tuple[Any, ...]] = []
        self.stale: list[int] = []
        self.new_inputs: list[tuple[Any, ...]] = []
        self.changed_inputs: list[tuple[Any, ...]] = []
        self.changed_digests: list[tuple[Any, ...]] = []

    def verdicts(
        self,
        trial_id: int,
        rows: Sequence[VerdictRow],
        existing: dict[str, tuple[int, str, str]],
        existing_na: na_store.NotApplicable,
    ) -> tuple[str | None, bool]:
        """Compare a trial's new verdicts (:data:`VerdictRow`) with its stored ones: rows (duty
        -> (id, status, text)) and not-applicable verdicts (``existing_na``); queue the inserts,
        updates, status changes and deletions of rows. Returns the trial's new not-applicable
        document (``stored.document``) and whether it differs from the stored one, in which case
        the caller stores it (it does whenever the verdicts' digest changed, too)."""
        version, as_of, now, reason = self.version, self.as_of, self.now, self.reason
        stats = self.stats  # counts verdicts, wherever they are stored
        na: dict[str, tuple[date, str]] = {}
        changed = False
        for duty, ruleset, status, due, text in rows:
            old = existing.pop(duty, None)
            if status == NOT_APPLICABLE:
                before = existing_na.pop(duty, None)
                if old is not None:  # a row: the duty applied (or a row from before 0007)
                    self.stale.append(old[0])
                    if old[1] != NOT_APPLICABLE:
                        self.history.append((trial_id, duty, old[1], status, as_of, now, reason))
                same = before is not None and before[1] == text
                na[duty] = before if same else (as_of, text)  # unchanged, it keeps its day
                if old is None and same:
                    stats.unchanged += 1
                    continue
                changed = True
                if old is None and before is None:  # no history: see ObligationStatusChange
                    stats.inserted += 1
                else:
                    stats.updated += 1
                continue
            if old is None:
                self.inserts.append(
                    (trial_id, duty, ruleset, status, due, text, version, as_of, now)
                )
                was = None if existing_na.pop(duty, None) is None else NOT_APPLICABLE
                self.history.append((trial_id, duty, was, status, as_of, now, reason))
                if was is None:
                    stats.inserted += 1
                else:  # it applies again: its verdict moves from the document to a row
                    stats.updated += 1
                    changed = True
            elif old[2] != text:
                self.updates.append((old[0], ruleset, status, due, text, version, as_of, now))
                stats.updated += 1
                if old[1] != status:
                    self.history.append((trial_id, duty, old[1], status, as_of, now, reason))
            else:
                stats.unchanged += 1
        self.stale.extend(row[0] for row in existing.values())  # duties no longer produced
        stats.deleted += len(existing) + len(existing_na)
        return na_store.document(na), changed or bool(existing_na)

    def trial(
        self,
        trial_id: int,
        worked: Worked,
        stored: tuple[str, str | None, str | None] | None,
        existing: dict[str, tuple[int, str, str]],
        existing_na: na_store.NotApplicable,
    ) -> None:
        """Queue what changed for one trial evaluated from its records: its verdicts, and the
        facts shown on them and worked out from (ObligationInputs, once per trial). ``stored``:
        its ObligationInputs (inputs, facts, digest) texts, if any."""
        na, na_changed = self.verdicts(trial_id, worked.rows, existing, existing_na)
        texts = (worked.inputs_text, worked.facts_text, worked.digest)
        if stored is None:
            self.new_inputs.append((trial_id, *texts, na, self.now))
        elif stored != texts or na_changed:
            self.changed_inputs.append((trial_id, *texts, na, self.now))
        self.stats.fact_problems += worked.problems

    def write(self, conn, postgres: bool, trials: int) -> RecomputeStats:
        writer = _write_postgres if postgres else _write_generic
        writer(conn, self.inserts, self.updates, self.history, self.stale)
        _write_inputs(conn, self.new_inputs, self.changed_inputs, self.changed_digests, postgres)
        stats = self.stats
        stats.trials += trials
        stats.status_changes += len(self.history)
        return stats


def _recompute(where, reason: str, as_of: date, version: int, params: Params) -> RecomputeStats:
    """Recompute the trials whose id satisfies ``where(column)`` from their records (registry
    entries, imported and sponsor-entered facts): 5 reads, <= 5 bulk writes."""
    conn = db.session.connection()
    postgres = conn.dialect.name == "postgresql"

    trials = _rows(conn, _locked(sa.select(T.c.id, T.c.imported_facts), where, postgres))
    if not trials:
        return RecomputeStats()
    entries: dict[int, list[dict[str, Any]]] = {}
    for trial_id, registry, registry_id, registered_on, results_posted_on in _rows(
        conn,
        sa.select(E.c.trial_id, E.c.registry, E.c.registry_id, E.c.registered_on,
                  E.c.results_posted_on)
        .where(where(E.c.trial_id))
        .order_by(E.c.trial_id, E.c.registry, E.c.registry_id),
    ):  # fmt: skip
        entries.setdefault(trial_id, []).append(
            {"registry": registry, "registry_id": registry_id, "registered_on": registered_on,
             "results_posted_on": results_posted_on}
        )  # fmt: skip
    for rows in entries.values():  # in code point order, whatever the database's collation
        if len(rows) > 1:
            rows.sort(key=_entry_order)
    sponsor: dict[int, list[dict[str, Any]]] = {}
    for trial_id, key, value, label, entered_at in _rows(
        conn,
        sa.select(S.c.trial_id, S.c.key, S.c.value, S.c.entered_by_label, S.c.entered_at)
        .where(where(S.c.trial_id), S.c.current.is_(True))
        .order_by(S.c.trial_id, S.c.id),
    ):
        sponsor.setdefault(trial_id, []).append(
            {"key": key, "value": value, "entered_by_label": label, "entered_at": entered_at}
        )
    stored: dict[int, tuple[str, str | None, str | None]] = {}
    na_docs: dict[int, str | None] = {}
    for trial_id, inputs, facts_text, digest, na_doc in _rows(
        conn,
        sa.select(
            I.c.trial_id,
            sa.cast(I.c.inputs, sa.Text),
            sa.cast(I.c.facts, sa.Text),
            I.c.digest,
            sa.cast(I.c.not_applicable, sa.Text),
        ).where(where(I.c.trial_id)),
    ):
        stored[trial_id] = (inputs, facts_text, digest)
        na_docs[trial_id] = na_doc
    existing = _existing(conn, where(O.c.trial_id))
    withheld = evidence.withheld(where)
    held = evidence.held_back(where)  # deferrals and waivers sent back by a reviewer

    batch = _Batch(reason, as_of, version)
    evaluator = _Evaluator(as_of, version, params)
    no_rows: list[dict[str, Any]] = []
    for trial_id, imported in trials:
        mine, notes = evidence.without_held_back(sponsor.get(trial_id, no_rows), held.get(trial_id))
        facts = _facts(imported, entries.get(trial_id, no_rows), mine)
        batch.trial(
            trial_id,
            _work(evaluator, *facts, withheld.get(trial_id), notes),
            stored.get(trial_id),
            existing.pop(trial_id, {}),
            na_store.parse(na_docs.get(trial_id)),
        )
    return batch.write(conn, postgres, len(trials))


def _entry_order(entry: dict[str, Any]) -> tuple[str, str]:
    return entry["registry"], entry["registry_id"]


# A verdict as stored: duty, ruleset, status, due date, verdict text.
VerdictRow = tuple[str, str, str, date | None, str]


class Worked(NamedTuple):
    """A trial's verdicts and the texts stored with them, and what they were worked out for:
    by a recompute, or ahead, away from the transaction that stores them (the importer's
    reader process: :class:`Ahead`)."""

    as_of: date
    version: int
    inputs_text: str
    facts_text: str
    digest: str
    rows: list[VerdictRow]
    problems: bool


def _work(
    evaluator: _Evaluator,
    facts: Facts,
    problems: Sequence[str],
    withheld: Mapping[str, str] | None = None,
    notes: Mapping[str, str] | None = None,
) -> Worked:
    verdicts = evaluator.encode(facts, problems, withheld, notes)
    checks = facts_to_check(facts, evaluator.as_of, evaluator.params)
    return Worked(
        evaluator.as_of,
        evaluator.version,
        dumps(facts.inputs),
        dumps(facts_document(facts, problems, checks, withheld, notes)),
        verdicts_digest(text for _, text in verdicts),
        _as_rows(verdicts),
        evaluator.problems,
    )


def _as_rows(verdicts: Sequence[tuple[Any, str]]) -> list[VerdictRow]:
    return [(o.id, o.ruleset, o.status, o.due, text) for o, text in verdicts]


class Ahead:
    """Works out the verdicts of trials before they are stored, for one as_of date and one
    parameter set (pure: no database). ``recompute_for_trials`` takes the result for a new
    trial only if its as_of and parameter version are still the current ones."""

    def __init__(self, as_of: date, version: int, params: Params) -> None:
        self.evaluator = _Evaluator(as_of, version, params)

    def __call__(self, imported_facts: dict[str, Any], entries: list[dict[str, Any]]) -> Worked:
        return _work(self.evaluator, *_facts(imported_facts, entries, ()))


class NewTrial(NamedTuple):
    """A trial inserted in the caller's transaction, as ``_recompute`` would read it back: its
    ``imported_facts`` and its registry entries (dicts with registry, registry_id,
    registered_on, results_posted_on), sorted by registry and id (code points, as ``_recompute``
    sorts them); and, when they were worked out ahead from exactly these, its verdicts."""

    imported_facts: dict[str, Any]
    entries: list[dict[str, Any]]
    worked: Worked | None = None


def _compute_new(
    trials: Sequence[tuple[int, NewTrial]], reason: str, as_of: date, version: int, params: Params
) -> RecomputeStats:
    """Verdicts of trials new in this transaction, from the records they were made from: no
    reads (no sponsor facts, stored facts or verdicts exist yet, and nobody else sees the
    rows to lock them)."""
    conn = db.session.connection()
    batch = _Batch(reason, as_of, version)
    evaluator = _Evaluator(as_of, version, params)
    for trial_id, new in trials:
        worked = new.worked
        if worked is not None and worked.as_of == as_of and worked.version == version:
            batch.stats.worked_ahead += 1
        else:
            worked = _work(evaluator, *_facts(new.imported_facts, new.entries, ()))
        batch.trial(trial_id, worked, None, {}, {})
    return batch.write(conn, conn.dialect.name == "postgresql", len(trials))


def _recompute_stored(
    where, reason: str, as_of: date, version: int, params: Params
) -> RecomputeStats:
    """Recompute the trials whose id satisfies ``where(column)`` from the facts stored with
    their verdicts (ObligationInputs.facts): the daily job.

    A trial's facts change only in a transaction that also recomputes it from its records
    (imports, sponsor entries, review decisions), so the stored facts are the current ones and
    every trial is evaluated again from one row. Its verdicts' digest tells whether anything
    changed. Only then is the trial locked (as every recompute locks it) and its stored facts
    read again: a recompute from an import that committed meanwhile is seen and not undone.
    Its stored verdicts are then compared one by one. Trials without usable stored facts
    (stored before revision 0006, or in an older FACTS_FORMAT) are recomputed from their
    records instead.
    """
    conn = db.session.connection()
    postgres = conn.dialect.name == "postgresql"
    rows = _rows(
        conn,
        sa.select(T.c.id, I.c.facts, I.c.digest)
        .select_from(T.outerjoin(I, I.c.trial_id == T.c.id))
        .where(where(T.c.id))
        .order_by(T.c.id),
    )
    if not rows:
        return RecomputeStats()
    batch = _Batch(reason, as_of, version)
    evaluator = _Evaluator(as_of, version, params)
    from_records: list[int] = []
    changed: list[int] = []
    for trial_id, doc, old_digest in rows:
        verdicts = evaluator.from_document(doc)
        if verdicts is None:
            from_records.append(trial_id)
        elif verdicts_digest(text for _, text in verdicts) == old_digest:
            batch.stats.unchanged += len(verdicts)
            batch.stats.fact_problems += evaluator.problems
        else:
            changed.append(trial_id)
    trials = len(rows) - len(from_records)
    if changed:
        # Lock, then read again in a new statement (it sees what committed while we waited).
        locked = [r[0] for r in _rows(conn, _locked(sa.select(T.c.id), _in(changed), postgres))]
        trials -= len(changed) - len(locked)  # gone meanwhile (merged into another trial)
        docs = {
            trial_id: (doc, na_doc)
            for trial_id, doc, na_doc in _rows(
                conn,
                sa.select(I.c.trial_id, I.c.facts, sa.cast(I.c.not_applicable, sa.Text)).where(
                    I.c.trial_id.in_(locked)
                ),
            )
        }
        existing = _existing(conn, O.c.trial_id.in_(locked))
        for trial_id in locked:
            doc, na_doc = docs.get(trial_id, (None, None))
            verdicts = evaluator.from_document(doc)
            if verdicts is None:  # the stored facts went away meanwhile
                from_records.append(trial_id)
                trials -= 1
                continue
            batch.stats.fact_problems += evaluator.problems
            na, _ = batch.verdicts(
                trial_id, _as_rows(verdicts), existing.pop(trial_id, {}), na_store.parse(na_doc)
            )
            digest = verdicts_digest(text for _, text in verdicts)
            batch.changed_digests.append((trial_id, digest, na))
    stats = batch.write(conn, postgres, trials)
    if len(from_records) == len(rows):  # none computed yet (the first computation): by range
        stats.add(_recompute(where, reason, as_of, version, params))
    elif from_records:
        stats.add(_recompute(_in(from_records), reason, as_of, version, params))
    return stats


class _Evaluator:
    """evaluate() and the stored text of each verdict, for one recompute (one as_of, one
    parameter set). ``problems`` tells whether the last trial had facts that were ignored."""

    def __init__(self, as_of: date, version: int, params: Params) -> None:
        self.as_of, self.version, self.params = as_of, version, params
        self.extra = {"params_version": version}
        self.plain = VerdictEncoder(self.extra, inputs=False)  # holds no per-trial state
        self._na_texts: dict[tuple[Any, ...], str] = {}
        self.problems = False

    def encode(
        self,
        facts: Facts,
        problems: Sequence[str],
        withheld: Mapping[str, str] | None = None,
        notes: Mapping[str, str] | None = None,
    ) -> list[tuple[Any, str]]:
        """(verdict, stored text) pairs; with ``problems`` every verdict names the facts that
        were ignored; the duties in ``withheld`` (duty -> reason) are not met by the evidence a
        reviewer did not accept (``portal.rules.evidence``)."""
        self.problems = bool(problems)
        verdicts = evaluate(facts, self.as_of, self.params)
        if notes:  # duty -> why a deferral or waiver of it is not applied (services.evidence)
            verdicts = [
                o._replace(explanation=f"{o.explanation} {notes[o.id]}") if o.id in notes else o
                for o in verdicts
            ]
        opened: set[str] = set()
        if withheld:
            before = verdicts
            verdicts = withhold_all(verdicts, withheld, self.as_of, self.params)
            opened = {o.id for o, b in zip(verdicts, before, strict=True) if o is not b}
        if not problems:
            if opened:
                return self._withheld(verdicts, opened, withheld, self.extra)  # type: ignore[arg-type]
            encode, na = self.plain.encode, self._not_applicable
            return [(o, na(o) if o.status == NOT_APPLICABLE else encode(o)) for o in verdicts]
        extra = {**self.extra, "fact_problems": list(problems)}
        note = " Ignored stored facts that are not valid: " + "; ".join(problems) + "."
        noted = [o._replace(explanation=o.explanation + note) for o in verdicts]
        return self._withheld(noted, opened, withheld or {}, extra)

    @staticmethod
    def _withheld(
        verdicts: Sequence[Any], opened: set[str], withheld: Mapping[str, str], extra: dict
    ) -> list[tuple[Any, str]]:
        """Encode with ``extra``; a verdict its withheld evidence opened again also keeps the
        reason on its own (``evidence_withheld``: certificates and reports show it)."""
        encoder = VerdictEncoder(extra, inputs=False)
        out = []
        for o in verdicts:
            if o.status == NOT_APPLICABLE:
                out.append((o, _not_applicable_text(o, extra)))
            elif o.id in opened:
                reason = withheld[o.id]
                mine = VerdictEncoder({**extra, "evidence_withheld": reason}, inputs=False)
                out.append((o, mine.encode(o)))
            else:
                out.append((o, encoder.encode(o)))
        return out

    def _not_applicable(self, o: Any) -> str:
        """The stored text of a not-applicable verdict (``stored.HIDDEN`` left out): a few
        reasons are shared by most trials, so each text is made once."""
        key = (o.ruleset_version, o.due, o.trigger, o.explanation, tuple(o.assumptions),
               o.estimated, tuple(o.missing), o.deferred_until, o.met_on)  # fmt: skip
        text = self._na_texts.get(key)
        if text is None:
            text = _not_applicable_text(o, self.extra)
            if len(self._na_texts) < 10_000:
                self._na_texts[key] = text
        return text

    def from_document(self, doc: Any) -> list[tuple[Any, str]] | None:
        """As :meth:`encode`, from a stored facts document; None when it cannot be used."""
        if isinstance(doc, str):  # JSON that the driver did not parse
            doc = json.loads(doc)
        if not isinstance(doc, dict) or doc.get("format") != FACTS_FORMAT:
            return None
        try:
            facts = Facts.from_dict(doc["facts"], doc["sources"])
        except (FactsError, KeyError, TypeError):  # stored under older validation rules
            return None
        withheld = doc.get("withheld")
        held_back = doc.get("held_back")
        return self.encode(
            facts,
            doc.get("problems") or (),
            withheld if isinstance(withheld, dict) else None,
            held_back if isinstance(held_back, dict) else None,
        )


def _not_applicable_text(o: Any, extra: Mapping[str, Any]) -> str:
    """A not-applicable verdict as stored in ``ObligationInputs.not_applicable``: the stored form
    of the verdict (``encode.STORED_OMITS`` left out) without what its duty decides."""
    data = o.to_json()
    for key in STORED_OMITS + na_store.HIDDEN:
        del data[key]
    data.update(extra)
    return dumps(data)


def _in(ids: list[int]):
    return lambda col: col.in_(ids)


def _locked(query: sa.Select, where, postgres: bool) -> sa.Select:
    query = query.where(where(T.c.id)).order_by(T.c.id)
    if postgres:  # recomputes of the same trial (an import, the daily job) queue up here
        query = query.with_for_update(key_share=True)
    return query


def _existing(conn, condition) -> dict[int, dict[str, tuple[int, str, str]]]:
    """Stored verdicts: trial id -> duty -> (row id, status, verdict text)."""
    out: dict[int, dict[str, tuple[int, str, str]]] = {}
    for row_id, trial_id, duty, status, text in _rows(
        conn,
        sa.select(O.c.id, O.c.trial_id, O.c.duty, O.c.status, sa.cast(O.c.verdict, sa.Text)).where(
            condition
        ),
    ):
        rows = out.get(trial_id)
        if rows is None:
            rows = out[trial_id] = {}
        rows[duty] = (row_id, status, text)
    return out


def _rows(conn, statement) -> list[Any]:
    """Result rows as tuples. On PostgreSQL the compiled SQL runs on the psycopg cursor itself:
    the columns read here need no SQLAlchemy result processing (psycopg already returns dates,
    datetimes and parsed JSON), and skipping it saves a third of the read time."""
    if conn.dialect.name != "postgresql":
        return conn.execute(statement).all()
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    with conn.connection.driver_connection.cursor() as cur:
        cur.execute(str(compiled), compiled.params)
        return cur.fetchall()


_KEY_RE = re.compile(r"(?:sources[.:]\s*)?([A-Za-z_][A-Za-z0-9_]*)")


def _facts(
    imported: Any, entries: Sequence[dict[str, Any]], sponsor: Sequence[dict[str, Any]]
) -> tuple[Facts, list[str]]:
    """Facts.from_dict over the trial's stored facts, dropping any fact it refuses."""
    problems: list[str] = []
    if not isinstance(imported, dict):
        imported = {}
    # imported_facts holds the rules' vocabulary plus display fields: keep the former only.
    kept = {}
    for key, fact in imported.items():
        if key not in _FACT_KEYS:
            continue
        if isinstance(fact, dict):
            kept[key] = fact
        else:
            problems.append(f"{key}: stored in an unexpected form")
    facts, sources = build_facts(kept, entries, sponsor)
    while True:
        try:
            return Facts.from_dict(facts, sources), problems
        except FactsError as exc:
            message = str(exc)
            problems.append(message)
            match = _KEY_RE.match(message)
            key = match.group(1) if match else None
            if key is None or (key not in facts and key not in sources):
                log.warning("facts refused and no key to drop (%s): evaluating without facts", exc)
                return Facts.from_dict({}), problems
            facts = {k: v for k, v in facts.items() if k != key}
            sources = {k: v for k, v in sources.items() if k != key}


def _expire_obligations(trial_ids: set[int]) -> None:
    """ORM objects the caller may hold for these obligations (and the not-applicable verdicts
    kept with their inputs) are stale after a bulk write."""
    for obj in list(db.session.identity_map.values()):
        if not isinstance(obj, Obligation | ObligationInputs):
            continue
        # Read without loading: an object already expired may be a row the recompute deleted.
        trial_id = sa.inspect(obj).dict.get("trial_id")
        if trial_id is None or trial_id in trial_ids:
            db.session.expire(obj)


# --- bulk writes ----------------------------------------------------------------------------------


def _write_postgres(conn, inserts, updates, history, stale) -> None:
    """Binary COPY for new rows and history; changed rows are COPYed to a temporary table and
    applied with one UPDATE ... FROM.

    Binary formats matter: text COPY and text arrays escape every value (the verdicts are
    ~1 kB of JSON each), which costs more than everything else; binary sends them as they are.
    """
    raw = conn.connection.driver_connection  # psycopg, in the session's transaction
    with raw.cursor() as cur:
        if stale:
            cur.execute("DELETE FROM obligations WHERE id = ANY(%b::integer[])", (stale,))
        if updates:
            # COPY into a temporary table (not WAL-logged, emptied at commit), then one UPDATE
            cur.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS obligation_updates (id integer, "
                "ruleset text, status text, due date, verdict text, "
                "params_version integer, as_of date, computed_at timestamptz) "
                "ON COMMIT DELETE ROWS"
            )
            with cur.copy(
                f"COPY obligation_updates ({', '.join(_UPDATE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(_UPDATE_TYPES)
                for row in updates:
                    copy.write_row(row)
            cur.execute("ANALYZE obligation_updates")  # else the planner guesses a seq scan
            cur.execute(
                "UPDATE obligations AS o SET ruleset = u.ruleset, status = u.status, "
                "due = u.due, verdict = u.verdict::json, "
                "params_version = u.params_version, as_of = u.as_of, computed_at = u.computed_at "
                "FROM obligation_updates AS u WHERE o.id = u.id"
            )
            cur.execute("TRUNCATE obligation_updates")
        if inserts:
            with cur.copy(
                f"COPY obligations ({', '.join(_INSERT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(_INSERT_TYPES)  # the verdict goes as text: json_recv takes it
                for row in inserts:
                    copy.write_row(row)
        if history:
            with cur.copy(
                f"COPY obligation_status_changes ({', '.join(_HISTORY_COLUMNS)}) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(_HISTORY_TYPES)
                for row in history:
                    copy.write_row(row)


def _write_inputs(conn, new_rows, changed_rows, changed_digests, postgres: bool) -> None:
    """Store each trial's inputs, facts, digest and not-applicable verdicts: new rows in bulk,
    changed ones (facts changed) one by one, and new digests with the not-applicable verdicts
    (verdicts changed, facts did not). Rows: (trial_id, inputs, facts, digest, not_applicable,
    computed_at); digests: (trial_id, digest, not_applicable)."""
    columns = ("trial_id", "inputs", "facts", "digest", "not_applicable", "computed_at")
    if postgres and new_rows:
        with conn.connection.driver_connection.cursor() as cur:
            with cur.copy(
                f"COPY obligation_inputs ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(("int4", "text", "text", "text", "text", "timestamptz"))
                for row in new_rows:
                    copy.write_row(row)
    elif new_rows:
        conn.execute(
            sa.insert(I).values(
                inputs=sa.bindparam("_inputs", type_=sa.Text),
                facts=sa.bindparam("_facts", type_=sa.Text),
                not_applicable=sa.bindparam("_na", type_=sa.Text),
            ),
            [
                {"trial_id": t, "_inputs": inputs, "_facts": facts, "digest": d, "_na": na,
                 "computed_at": at}
                for t, inputs, facts, d, na, at in new_rows
            ],
        )  # fmt: skip
    if postgres and (changed_rows or changed_digests):
        with conn.connection.driver_connection.cursor() as cur:
            if changed_rows:
                cur.executemany(
                    "UPDATE obligation_inputs SET inputs = %s::json, facts = %s::json, "
                    "digest = %s, not_applicable = %s::json, computed_at = %s WHERE trial_id = %s",
                    [(inputs, facts, d, na, at, t) for t, inputs, facts, d, na, at in changed_rows],
                )
            if changed_digests:
                cur.executemany(
                    "UPDATE obligation_inputs SET digest = %s, not_applicable = %s::json "
                    "WHERE trial_id = %s",
                    [(d, na, t) for t, d, na in changed_digests],
                )
        return
    if changed_rows:
        conn.execute(
            sa.update(I)
            .where(I.c.trial_id == sa.bindparam("_trial_id"))
            .values(
                inputs=sa.bindparam("_inputs", type_=sa.Text),
                facts=sa.bindparam("_facts", type_=sa.Text),
                not_applicable=sa.bindparam("_na", type_=sa.Text),
            ),
            [
                {"_trial_id": t, "_inputs": inputs, "_facts": facts, "digest": d, "_na": na,
                 "computed_at": at}
                for t, inputs, facts, d, na, at in changed_rows
            ],
        )  # fmt: skip
    if changed_digests:
        conn.execute(
            sa.update(I)
            .where(I.c.trial_id == sa.bindparam("_trial_id"))
            .values(not_applicable=sa.bindparam("_na", type_=sa.Text)),
            [{"_trial_id": t, "digest": d, "_na": na} for t, d, na in changed_digests],
        )


def _write_generic(conn, inserts, updates, history, stale) -> None:
    """Core executemany (SQLite and others); the verdict text is bound as text, unchanged."""
    if stale:
        conn.execute(sa.delete(O).where(O.c.id.in_(stale)))
    if updates:
        names = ("_id", "ruleset", "status", "due", "_verdict", "params_version", "as_of",
                 "computed_at")  # fmt: skip
        statement = (
            sa.update(O)
            .where(O.c.id == sa.bindparam("_id"))
            .values(verdict=sa.bindparam("_verdict", type_=sa.Text))
        )
        conn.execute(statement, [dict(zip(names, row, strict=True)) for row in updates])
    if inserts:
        names = tuple(c if c != "verdict" else "_verdict" for c in _INSERT_COLUMNS)
        statement = sa.insert(O).values(verdict=sa.bindparam("_verdict", type_=sa.Text))
        conn.execute(statement, [dict(zip(names, row, strict=True)) for row in inserts])
    if history:
        conn.execute(
            sa.insert(H), [dict(zip(_HISTORY_COLUMNS, row, strict=True)) for row in history]
        )


def id_ranges(
    chunk: int = CHUNK, after_id: int = 0, last_id: int | None = None
) -> Iterator[tuple[int, int]]:
    """(after_id, last_id) bounds of consecutive chunks of ``chunk`` trial ids, in id order."""
    while True:
        query = sa.select(T.c.id).where(T.c.id > after_id)
        if last_id is not None:
            query = query.where(T.c.id <= last_id)
        bound = db.session.execute(query.order_by(T.c.id).offset(chunk - 1).limit(1)).scalar()
        if bound is None:
            top = sa.select(sa.func.max(T.c.id)).where(T.c.id > after_id)
            if last_id is not None:
                top = top.where(T.c.id <= last_id)
            bound = db.session.execute(top).scalar()
            if bound is None:
                return
            yield after_id, bound
            return
        yield after_id, bound
        after_id = bound
