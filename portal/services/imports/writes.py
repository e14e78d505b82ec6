"""Bulk database reads and writes of a batch (unnest() joins and COPY on PostgreSQL)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from portal.domain.obligations.encode import dumps
from portal.extensions import db
from portal.services.imports.records import (
    MAX_SPONSOR,
    MAX_STATUS,
    TRIALS,
)

log = logging.getLogger(__name__)


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
