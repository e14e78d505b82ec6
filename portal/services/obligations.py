"""Obligations: the rules' verdicts stored per trial and duty, and kept current.

``recompute_for_trials`` runs inside the caller's transaction (the importer, sponsor fact entry,
review decisions, the parameters page): it never commits, so the facts and the verdicts they give
are committed together or not at all. The daily job (``workers.obligations.recompute_all``) calls
``recompute_range`` for chunks of trial ids, one transaction per chunk.

Speed, for hundreds of thousands of trials:

* each chunk of trials is read in four queries (trials, registry entries, current sponsor facts,
  stored obligations), never one query per trial;
* verdicts are encoded to JSON text with ``portal.obligations.encode`` (deterministic), and a
  verdict whose text equals the stored text is not written at all: a recompute that changes
  nothing writes nothing;
* new rows, changed rows and status history are written in bulk: on PostgreSQL with binary
  ``COPY`` (changed rows go to a temporary table and one ``UPDATE ... FROM`` applies them),
  elsewhere with executemany; the reads skip SQLAlchemy's result processing on PostgreSQL.

Each trial costs ~0.2 ms of Python (of which the rules ~0.06 ms and the JSON ~0.05 ms) and, on
PostgreSQL, ~0.25 ms to insert its ten ~1.2 kB verdicts and their first status changes, or
~0.15 ms for a daily recompute that rewrites the ~40% of verdicts whose day counts moved
(``bench/rules.py``).

The trial rows of a chunk are locked (``FOR NO KEY UPDATE`` on PostgreSQL) before their
obligations are read, so two recomputes of the same trial (an import and the daily job) run one
after the other and never insert the same (trial, duty) twice.

Bad stored facts never stop a recompute: ``Facts.from_dict`` errors drop the offending fact, the
trial is evaluated without it, and every verdict of that trial says which fact was ignored and
why (in its explanation and in ``verdict["fact_problems"]``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

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
from portal.obligations.encode import VerdictEncoder, dumps
from portal.rules import Facts, FactsError, Params, evaluate
from portal.rules.facts import FACT_KEYS
from portal.services import after_commit
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
    "days_overdue",
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
    "int4",
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

    def add(self, other: RecomputeStats) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# --- public API ---------------------------------------------------------------------------------


def recompute_for_trials(
    trial_ids: Iterable[int], *, reason: str, as_of: date | None = None
) -> RecomputeStats:
    """Recompute the obligations of ``trial_ids`` as of ``as_of`` (default today), in the
    caller's transaction (no commit). ``reason`` is kept on each status change (import,
    sponsor_fact, review, daily, params)."""
    db.session.flush()  # the caller's pending facts must be visible to the queries below
    as_of = as_of or today()
    version, params = current_params()
    ids = sorted({int(i) for i in trial_ids})
    stats = RecomputeStats()
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
) -> RecomputeStats:
    """Recompute trials with ``after_id < id <= last_id`` in the current transaction (the daily
    job's chunks, each committed on its own). On PostgreSQL the commit does not wait for the
    WAL flush: a crash can lose the last chunks committed, and the next run recomputes them."""
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
    stats = _recompute(
        lambda col: sa.and_(col > after_id, col <= last_id), reason, as_of, version, params
    )
    return stats


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
    *, reason: str, requested_by: Any | None = None, as_of: date | None = None
) -> BackgroundJob:
    """Record a recompute of every trial and enqueue it after the current transaction commits
    (inside a @transactional service). The BackgroundJob row drives what pages show."""
    from portal.jobs import try_enqueue
    from workers.obligations import DAILY_TIMEOUT_SECONDS, recompute_all

    job = BackgroundJob(
        kind=RECOMPUTE_JOB_KIND,
        params={"reason": reason, "as_of": as_of.isoformat() if as_of else None},
        requested_by_id=getattr(requested_by, "id", None),
        message="Waiting for a worker",
    )
    db.session.add(job)
    db.session.flush()
    job_id = job.id
    as_of_iso = as_of.isoformat() if as_of else None

    def enqueue() -> None:
        queued = try_enqueue(
            recompute_all, as_of_iso, job_id, reason, job_id=job_id, timeout=DAILY_TIMEOUT_SECONDS
        )
        if queued is not None:
            db.session.execute(
                sa.update(BackgroundJob).where(BackgroundJob.id == job_id).values(enqueued=True)
            )
            db.session.commit()

    after_commit(enqueue)
    return job


def enqueue_recompute_all(*, reason: str, as_of: date | None = None) -> str | None:
    """Enqueue a recompute of every trial now (command line); None when Redis is unreachable."""
    from portal.services import transactional

    @transactional
    def start() -> str:
        return start_recompute_all(reason=reason, as_of=as_of).id

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


def _recompute(where, reason: str, as_of: date, version: int, params: Params) -> RecomputeStats:
    """Recompute the trials whose id satisfies ``where(column)``; 4 reads, <= 4 bulk writes."""
    conn = db.session.connection()
    postgres = conn.dialect.name == "postgresql"
    stats = RecomputeStats()

    trial_query = sa.select(T.c.id, T.c.imported_facts).where(where(T.c.id)).order_by(T.c.id)
    if postgres:  # recomputes of the same trial (an import, the daily job) queue up here
        trial_query = trial_query.with_for_update(key_share=True)
    trials = _rows(conn, trial_query)
    if not trials:
        return stats
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
    stored_inputs: dict[int, str] = dict(
        _rows(
            conn, sa.select(I.c.trial_id, sa.cast(I.c.inputs, sa.Text)).where(where(I.c.trial_id))
        )
    )
    existing: dict[tuple[int, str], tuple[int, str, str]] = {
        (r[1], r[2]): (r[0], r[3], r[4])
        for r in _rows(
            conn,
            sa.select(
                O.c.id, O.c.trial_id, O.c.duty, O.c.status, sa.cast(O.c.verdict, sa.Text)
            ).where(where(O.c.trial_id)),
        )
    }

    now = utcnow()
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    new_inputs: list[tuple[Any, ...]] = []
    changed_inputs: list[tuple[Any, ...]] = []
    base_extra = {"params_version": version}
    plain = VerdictEncoder(base_extra, inputs=False)  # holds no per-trial state without inputs
    no_rows: list[dict[str, Any]] = []
    for trial_id, imported in trials:
        facts, problems = _facts(
            imported, entries.get(trial_id, no_rows), sponsor.get(trial_id, no_rows)
        )
        # The facts shown on the verdicts, once per trial (see ObligationInputs).
        inputs_text = dumps(facts.inputs)
        old_inputs = stored_inputs.get(trial_id)
        if old_inputs is None:
            new_inputs.append((trial_id, inputs_text, now))
        elif old_inputs != inputs_text:
            changed_inputs.append((trial_id, inputs_text, now))
        if problems:
            stats.fact_problems += 1
            encoder = VerdictEncoder({**base_extra, "fact_problems": problems}, inputs=False)
            note = " Ignored stored facts that are not valid: " + "; ".join(problems) + "."
        else:
            encoder = plain
            note = ""
        for o in evaluate(facts, as_of, params):
            if note:
                o = dataclasses.replace(o, explanation=o.explanation + note)
            text = encoder.encode(o)
            old = existing.pop((trial_id, o.id), None)
            if old is None:
                inserts.append(
                    (trial_id, o.id, o.ruleset, o.status, o.due, o.days_overdue, text, version,
                     as_of, now)
                )  # fmt: skip
                history.append((trial_id, o.id, None, o.status, as_of, now, reason))
            elif old[2] != text:
                updates.append(
                    (old[0], o.ruleset, o.status, o.due, o.days_overdue, text, version, as_of, now)
                )
                if old[1] != o.status:
                    history.append((trial_id, o.id, old[1], o.status, as_of, now, reason))
            else:
                stats.unchanged += 1
    stale = [row[0] for row in existing.values()]  # duties the rules no longer produce

    writer = _write_postgres if postgres else _write_generic
    writer(conn, inserts, updates, history, stale)
    _write_inputs(conn, new_inputs, changed_inputs, postgres)
    stats.trials = len(trials)
    stats.inserted = len(inserts)
    stats.updated = len(updates)
    stats.deleted = len(stale)
    stats.status_changes = len(history)
    return stats


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
    """ORM objects the caller may hold for these obligations are stale after a bulk write."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Obligation) and obj.trial_id in trial_ids:
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
                "ruleset text, status text, due date, days_overdue integer, verdict text, "
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
                "due = u.due, days_overdue = u.days_overdue, verdict = u.verdict::json, "
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


def _write_inputs(conn, new_rows, changed_rows, postgres: bool) -> None:
    """Store each trial's inputs: new rows in bulk, changed ones (facts changed) one by one."""
    if postgres and new_rows:
        with conn.connection.driver_connection.cursor() as cur:
            with cur.copy(
                "COPY obligation_inputs (trial_id, inputs, computed_at) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(("int4", "text", "timestamptz"))
                for row in new_rows:
                    copy.write_row(row)
    elif new_rows:
        conn.execute(
            sa.insert(I).values(inputs=sa.bindparam("_inputs", type_=sa.Text)),
            [{"trial_id": t, "_inputs": text, "computed_at": at} for t, text, at in new_rows],
        )
    if postgres and changed_rows:
        with conn.connection.driver_connection.cursor() as cur:
            cur.executemany(
                "UPDATE obligation_inputs SET inputs = %s::json, computed_at = %s "
                "WHERE trial_id = %s",
                [(text, at, t) for t, text, at in changed_rows],
            )
    elif changed_rows:
        conn.execute(
            sa.update(I)
            .where(I.c.trial_id == sa.bindparam("_trial_id"))
            .values(inputs=sa.bindparam("_inputs", type_=sa.Text)),
            [{"_trial_id": t, "_inputs": text, "computed_at": at} for t, text, at in changed_rows],
        )


def _write_generic(conn, inserts, updates, history, stale) -> None:
    """Core executemany (SQLite and others); the verdict text is bound as text, unchanged."""
    if stale:
        conn.execute(sa.delete(O).where(O.c.id.in_(stale)))
    if updates:
        names = ("_id", "ruleset", "status", "due", "days_overdue", "_verdict", "params_version",
                 "as_of", "computed_at")  # fmt: skip
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
