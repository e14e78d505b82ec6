"""Set-based writes for the daily job: a few statements per thousands of rows.

On PostgreSQL every statement here is short and takes its rows as one parameter (an array,
or one JSON document for rows with text in them), so neither the driver nor the server parses
a statement with tens of thousands of placeholders;
on SQLite the same work goes through SQLAlchemy's multi-row statements. Exactly-once rests on
the unique constraints either way: rows go in with ON CONFLICT DO NOTHING (INSERT OR IGNORE),
and an item moves onto a digest only while its ``digest_id`` is still empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from portal.extensions import db
from portal.models import Notification, NotificationDigest, OutboxEmail


def on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def dialect_insert():
    """The INSERT with ON CONFLICT of this session's database (PostgreSQL or SQLite)."""
    if on_postgresql():
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def among(column: Any, values: Sequence[Any]) -> Any:
    """``column IN values``: one array parameter on PostgreSQL (``= ANY``), a list on SQLite."""
    if on_postgresql():
        return column == sa.any_(
            sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        )
    return column.in_(values)


def insert_notifications(rows: list[dict[str, Any]], now: datetime) -> int:
    """Insert notification rows (already in one order for every writer), skipping any
    (user, key) already there. Returns how many were new."""
    if not rows:
        return 0
    if not on_postgresql():
        added = 0
        for start in range(0, len(rows), 500):
            chunk = [{"created_at": now, **row} for row in rows[start : start + 500]]
            stmt = (
                dialect_insert()(Notification)
                .on_conflict_do_nothing(index_elements=["user_id", "key"])
                .returning(Notification.id)
            )
            added += len(db.session.execute(stmt, chunk).all())
        return added
    added = 0
    for start in range(0, len(rows), 20000):
        # One JSON document per 20,000 rows: encoded in C here, read by the server in one go.
        doc = json.dumps(
            [
                [r["user_id"], r["organisation_id"], r["kind"], r["key"], r["trial_id"],
                 r["urgency"], r["payload"], r["day"].isoformat()]
                for r in rows[start : start + 20000]
            ]
        )  # fmt: skip
        added += len(
            db.session.execute(
                sa.text(
                    "INSERT INTO notifications (user_id, organisation_id, kind, key, trial_id, "
                    "urgency, payload, day, created_at) "
                    "SELECT CAST(r->>0 AS integer), CAST(r->>1 AS integer), r->>2, r->>3, "
                    "CAST(r->>4 AS integer), CAST(r->>5 AS integer), r->6, CAST(r->>7 AS date), "
                    ":now FROM json_array_elements(CAST(:doc AS json)) WITH ORDINALITY AS t(r, n) "
                    "ORDER BY t.n ON CONFLICT (user_id, key) DO NOTHING RETURNING id"
                ),
                {"now": now, "doc": doc},
            ).all()
        )
    return added


def claim_digests(user_ids: Sequence[int], day: date, now: datetime) -> dict[int, int]:
    """Claim each person's (user, day) digest row: {user id: digest id} for the rows this run
    inserted (a concurrent run that got there first keeps its people)."""
    if not on_postgresql():
        return dict(
            db.session.execute(
                dialect_insert()(NotificationDigest)
                .on_conflict_do_nothing(index_elements=["user_id", "day"])
                .returning(NotificationDigest.user_id, NotificationDigest.id),
                [{"user_id": u, "day": day, "items": 0, "created_at": now} for u in user_ids],
            ).all()
        )
    return dict(
        db.session.execute(
            sa.text(
                "INSERT INTO notification_digests (user_id, day, items, created_at) "
                "SELECT u, :day, 0, :now FROM unnest(CAST(:u AS integer[])) AS u ORDER BY u "
                "ON CONFLICT (user_id, day) DO NOTHING RETURNING user_id, id"
            ),
            {"day": day, "now": now, "u": sorted(user_ids)},
        ).all()
    )


def move_onto_digests(item_ids: Sequence[int], day: date) -> set[int]:
    """Set each still-unsent item's digest to its person's digest of ``day``; returns the ids
    this run moved (an item a concurrent run moved first is not among them)."""
    claimed: set[int] = set()
    if not on_postgresql():
        digest_of_user = (
            sa.select(NotificationDigest.id)
            .where(
                NotificationDigest.user_id == Notification.user_id,
                NotificationDigest.day == day,
            )
            .scalar_subquery()
        )
        for start in range(0, len(item_ids), 5000):
            claimed.update(
                db.session.execute(
                    sa.update(Notification)
                    .where(
                        Notification.id.in_(item_ids[start : start + 5000]),
                        Notification.digest_id.is_(None),
                    )
                    .values(digest_id=digest_of_user)
                    .returning(Notification.id)
                    .execution_options(synchronize_session=False)
                ).scalars()
            )
        return claimed
    for start in range(0, len(item_ids), 50000):
        claimed.update(
            db.session.execute(
                sa.text(
                    "UPDATE notifications AS n SET digest_id = d.id "
                    "FROM notification_digests AS d "
                    "WHERE n.id = ANY(CAST(:ids AS integer[])) AND n.digest_id IS NULL "
                    "AND d.user_id = n.user_id AND d.day = :day RETURNING n.id"
                ),
                {"ids": sorted(item_ids[start : start + 50000]), "day": day},
            ).scalars()
        )
    return claimed


def drop_items(reasons: dict[int, str]) -> None:
    """Mark items that will never be sent, with the reason."""
    by_reason: dict[str, list[int]] = {}
    for item_id, reason in reasons.items():
        by_reason.setdefault(reason, []).append(item_id)
    for reason, ids in by_reason.items():
        for start in range(0, len(ids), 5000):
            db.session.execute(
                sa.update(Notification)
                .where(among(Notification.id, ids[start : start + 5000]))
                .values(dropped=reason)
                .execution_options(synchronize_session=False)
            )


def write_outbox(messages: list[dict[str, Any]], now: datetime) -> list[int]:
    """Queue emails (to, subject, body_text, body_html, headers); returns their ids in order."""
    if not messages:
        return []
    if not on_postgresql():
        ids = []
        for start in range(0, len(messages), 500):
            ids += (
                db.session.execute(
                    sa.insert(OutboxEmail).returning(OutboxEmail.id, sort_by_parameter_order=True),
                    [
                        {"status": "queued", "created_at": now, **m}
                        for m in messages[start : start + 500]
                    ],
                )
                .scalars()
                .all()
            )
        return ids
    ids = (
        db.session.execute(
            sa.text(
                "SELECT nextval(pg_get_serial_sequence('outbox_emails', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": len(messages)},
        )
        .scalars()
        .all()
    )
    doc = json.dumps(
        [
            [i, m["to"], m["subject"], m["body_text"], m["body_html"], m["headers"]]
            for i, m in zip(ids, messages, strict=True)
        ]
    )
    db.session.execute(
        sa.text(
            'INSERT INTO outbox_emails (id, "to", subject, body_text, body_html, headers, '
            "status, created_at) "
            "SELECT CAST(r->>0 AS integer), r->>1, r->>2, r->>3, r->>4, r->5, 'queued', :now "
            "FROM json_array_elements(CAST(:doc AS json)) AS t(r)"
        ),
        {"now": now, "doc": doc},
    )
    return ids


def fill_digests(rows: Iterable[tuple[int, int, int]]) -> None:
    """Record (digest id, outbox email id, items carried) on each claimed digest."""
    rows = list(rows)
    if not rows:
        return
    if not on_postgresql():
        db.session.execute(
            sa.update(NotificationDigest),
            [{"id": d, "outbox_email_id": o, "items": n} for d, o, n in rows],
        )
        return
    db.session.execute(
        sa.text(
            "UPDATE notification_digests AS d SET outbox_email_id = v.o, items = v.n "
            "FROM unnest(CAST(:d AS integer[]), CAST(:o AS integer[]), CAST(:n AS integer[])) "
            "AS v(d, o, n) WHERE d.id = v.d"
        ),
        {"d": [r[0] for r in rows], "o": [r[1] for r in rows], "n": [r[2] for r in rows]},
    )
