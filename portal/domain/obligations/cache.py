"""Figures worked out from an organisation's stored verdicts, kept in the database until a
verdict changes (issues 18 and 22).

Every cached figure is checked against the verdicts' token (models.VerdictsVersion), which
migration 0014's database triggers change whenever a stored verdict, a trial's owner or an
organisation changes, however the change is made (the recompute, bulk statements, imports).
The token and the cached value are read in one query. A transaction that has changed verdicts
itself neither reads nor fills a cache (its changes are not in the token until it commits); a
cache that cannot be written only means the next request works the figure out again.

``trend`` keeps the portfolio's monthly trend in its own table (trend_cache); the other figures
share verdict_cache, one row per organisation and kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.extensions import db
from portal.models import VerdictCache, VerdictsVersion
from portal.timeutil import utcnow

log = logging.getLogger(__name__)


def version() -> sa.ScalarSelect:
    """The verdicts' current token, as a subquery."""
    return sa.select(VerdictsVersion.token).where(VerdictsVersion.id == 1).scalar_subquery()


def read_with_token(cached: sa.ScalarSelect) -> tuple[str | None, Any]:
    """(the verdicts' token, ``cached``'s value), in one query; (None, None) when this
    transaction has changed verdicts itself (or, on SQLite, written anything)."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if not postgres and _sqlite_writing():
        return None, None
    touched = (
        sa.func.current_setting("portal.verdicts_touched", sa.true()) if postgres else sa.null()
    )
    token, touched_here, value = db.session.execute(sa.select(version(), touched, cached)).one()
    if touched_here == "1":
        return None, None
    return token, value


def _sqlite_writing() -> bool:
    """Whether this SQLite transaction has written anything (SQLite's driver begins a
    transaction at the first write): the cache is another connection, which would wait for it."""
    raw = db.session.connection().connection.dbapi_connection
    return bool(getattr(raw, "in_transaction", False))


def upsert(model: type, key: list[Any], values: dict[str, Any], what: str) -> None:
    """Keep ``values`` (a row of ``model``, whose primary key is ``key``) for the next request,
    in a transaction of its own (a page that only reads commits nothing). Best effort."""
    try:
        with db.engine.begin() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = insert(model).values(**values)
            names = {column.name for column in key}
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=key,
                    set_={k: v for k, v in values.items() if k not in names},
                )
            )
    except sa.exc.DBAPIError:
        log.warning("%s was not cached", what, exc_info=True)


def cached(org_id: int, kind: str, as_of: date, work_out: Callable[[], Any]) -> Any:
    """The figure ``kind`` of organisation ``org_id`` for ``as_of``: from verdict_cache while the
    verdicts are unchanged, else ``work_out()`` (a JSON value), kept for the next request."""
    value = (
        sa.select(VerdictCache.value)
        .where(
            VerdictCache.organisation_id == org_id,
            VerdictCache.kind == kind,
            VerdictCache.as_of == as_of,
            VerdictCache.token == version(),
        )
        .scalar_subquery()
    )
    token, hit = read_with_token(value)
    if hit is not None:
        return hit
    fresh = work_out()
    if token is not None:
        upsert(
            VerdictCache,
            [VerdictCache.organisation_id, VerdictCache.kind],
            {
                "organisation_id": org_id,
                "kind": kind,
                "as_of": as_of,
                "token": token,
                "value": fresh,
                "computed_at": utcnow(),
            },
            f"The {kind} of organisation {org_id}",
        )
    return fresh
