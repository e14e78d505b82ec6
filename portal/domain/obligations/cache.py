"""Figures worked out from an organisation's stored verdicts, kept in the database until a
verdict changes (issues 18 and 22).

Every cached figure is checked against the verdicts' token (models.VerdictsVersion), which
migration 0014's database triggers change whenever a stored verdict, a trial's owner or an
organisation changes, however the change is made (the recompute, bulk statements, imports).
The token and the cached value are read in one query. A transaction that has changed verdicts
itself neither reads nor fills a cache (its changes are not in the token until it commits); a
cache that cannot be written only means the next request works the figure out again.

One table, verdict_cache: a row per organisation and kind of figure (the dashboard's counts by
status, the portfolio's trend over so many months), each for one day.
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


def _version() -> sa.ScalarSelect:
    """The verdicts' current token, as a subquery."""
    return sa.select(VerdictsVersion.token).where(VerdictsVersion.id == 1).scalar_subquery()


def _read_with_token(cached: sa.ScalarSelect) -> tuple[str | None, Any]:
    """(the verdicts' token, ``cached``'s value), in one query; (None, None) when this
    transaction has changed verdicts itself (or, on SQLite, written anything)."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if not postgres and _sqlite_writing():
        return None, None
    touched = (
        sa.func.current_setting("portal.verdicts_touched", sa.true()) if postgres else sa.null()
    )
    token, touched_here, value = db.session.execute(sa.select(_version(), touched, cached)).one()
    if touched_here == "1":
        return None, None
    return token, value


def _sqlite_writing() -> bool:
    """Whether this SQLite transaction has written anything (SQLite's driver begins a
    transaction at the first write): the cache is another connection, which would wait for it."""
    raw = db.session.connection().connection.dbapi_connection
    return bool(getattr(raw, "in_transaction", False))


def cached(org_id: int, kind: str, as_of: date, work_out: Callable[[], Any]) -> Any:
    """The figure ``kind`` of organisation ``org_id`` for ``as_of``: from verdict_cache while the
    verdicts are unchanged, else ``work_out()`` (a JSON value), kept for the next request."""
    value = (
        sa.select(VerdictCache.value)
        .where(
            VerdictCache.organisation_id == org_id,
            VerdictCache.kind == kind,
            VerdictCache.as_of == as_of,
            VerdictCache.token == _version(),
        )
        .scalar_subquery()
    )
    token, hit = _read_with_token(value)
    if hit is not None:
        return hit
    fresh = work_out()
    if token is not None:
        _store(org_id, kind, {"as_of": as_of, "token": token, "value": fresh})
    return fresh


def _store(org_id: int, kind: str, values: dict[str, Any]) -> None:
    """Keep a figure for the next request, in a transaction of its own (a page that only reads
    commits nothing). Best effort: a failure only means the next request works it out too."""
    values = {**values, "computed_at": utcnow()}
    try:
        with db.engine.begin() as conn:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            conn.execute(
                insert(VerdictCache)
                .values(organisation_id=org_id, kind=kind, **values)
                .on_conflict_do_update(
                    index_elements=[VerdictCache.organisation_id, VerdictCache.kind], set_=values
                )
            )
    except sa.exc.DBAPIError:
        log.warning("The %s of organisation %s was not cached", kind, org_id, exc_info=True)
