"""Recomputing obligations: the public entry points, and one chunk of trials read, evaluated and
written."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.domain.obligations import stored as na_store
from portal.domain.parameters import current_params
from portal.extensions import db
from portal.models import (
    ObligationStatusChange,
    Trial,
)
from portal.rules import Params
from portal.rules.model import NOT_APPLICABLE
from portal.services import evidence
from portal.services.obligations.evaluating import (
    NewTrial,
    VerdictRow,
    Worked,
    _as_rows,
    _entry_order,
    _Evaluator,
    _facts,
    _work,
    verdicts_digest,
)
from portal.services.obligations.storing import (
    E,
    I,
    O,
    S,
    T,
    _existing,
    _expire_obligations,
    _in,
    _locked,
    _rows,
    _write_generic,
    _write_inputs,
    _write_postgres,
)
from portal.timeutil import today, utcnow

log = logging.getLogger(__name__)

CHUNK = 1000  # trials per batch of queries


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
