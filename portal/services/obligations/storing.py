"""Storing verdicts: the tables' columns, the reads of what is stored, and the bulk writes."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Obligation,
    ObligationInputs,
    ObligationStatusChange,
    RegistryEntry,
    SponsorFact,
    Trial,
)

log = logging.getLogger(__name__)

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
