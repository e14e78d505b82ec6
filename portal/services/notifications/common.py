"""Settings, preferences and insert-or-skip shared by the daily job and the events."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import (
    NotificationPreference,
    User,
)
from portal.models.notifications import FREQUENCIES, KINDS
from portal.services import ServiceError, transactional
from portal.services.audit import record
from portal.timeutil import utcnow

log = logging.getLogger(__name__)

LONDON = ZoneInfo("Europe/London")
DEFAULT_MILESTONES = (90, 30, 7, 0)
OVERDUE_EVERY_DAYS = 7
# Reminder statuses: a duty still to meet (open) or past its due date (overdue).
REMIND_STATUSES = ("upcoming", "due_soon", "deferred", "overdue")
# Oldest overdue due date still reminded weekly (a duty 20 years overdue is still overdue).
OVERDUE_HORIZON_DAYS = 20 * 366
WORKING_DAYS_WAITING = 5
# Which kinds each role hears about by default (a person can turn any of them off).
ROLE_KINDS = {
    "sponsor": ("deadlines", "data_needed", "decisions", "documents", "registry"),
    "sponsor_admin": ("deadlines", "data_needed", "decisions", "documents", "team", "registry"),
    "compliance_officer": (
        "deadlines",
        "data_needed",
        "decisions",
        "documents",
        "registry",
        "portfolio",
    ),
    "reviewer": ("queue",),
    "admin": (),
}


# ---------------------------------------------------------------------------- settings


def milestones() -> tuple[int, ...]:
    """Days before the due date a reminder goes (0 = on the day), from NOTIFY_MILESTONES."""
    raw = current_app.config.get("NOTIFY_MILESTONES") or ""
    if isinstance(raw, str):
        values = [part.strip() for part in raw.split(",") if part.strip()]
    else:
        values = list(raw)
    try:
        out = tuple(sorted({int(v) for v in values if int(v) >= 0}, reverse=True))
    except ValueError:
        out = ()
    return out or DEFAULT_MILESTONES


def catch_up_days() -> int:
    return max(1, int(current_app.config.get("NOTIFY_CATCH_UP_DAYS") or 7))


def london_now(now: datetime | None = None) -> datetime:
    return (now or utcnow()).astimezone(LONDON)


def london_today(now: datetime | None = None) -> date:
    return london_now(now).date()


def send_hour() -> int:
    return int(current_app.config.get("NOTIFY_HOUR") or 7)


# ---------------------------------------------------------------------------- insert or skip


def _insert_or_skip(rows: list[dict[str, Any]]) -> int:
    """Insert notification rows, skipping any (user, key) already there. Returns how many
    were new. A few set-based statements (see ``bulk``); safe under concurrent writers."""
    from portal.services.notifications.bulk import insert_notifications

    if not rows:
        return 0
    # One order for every writer, so two concurrent runs never wait on each other in a cycle.
    ordered = sorted(rows, key=lambda r: (r["user_id"], r["key"]))
    return insert_notifications(ordered, utcnow())


# ---------------------------------------------------------------------------- preferences


@dataclass
class Choice:
    frequency: str = "daily"
    muted: frozenset[str] = frozenset()


def _choices(user_ids: Iterable[int]) -> dict[int, Choice]:
    from portal.services.notifications.bulk import among

    ids = list(set(user_ids))
    out: dict[int, Choice] = {}
    for start in range(0, len(ids), 5000):
        rows = db.session.execute(
            sa.select(
                NotificationPreference.user_id,
                NotificationPreference.frequency,
                NotificationPreference.muted_kinds,
            ).where(among(NotificationPreference.user_id, ids[start : start + 5000]))
        ).all()
        for user_id, frequency, muted in rows:
            out[user_id] = Choice(frequency, frozenset(muted or ()))
    return out


def wants(choice: Choice | None, role: str | None, kind: str) -> bool:
    choice = choice or Choice()
    return (
        choice.frequency != "off"
        and kind not in choice.muted
        and kind in ROLE_KINDS.get(role or "", ())
    )


def preference_for(user: User) -> Choice:
    row = db.session.get(NotificationPreference, user.id)
    return Choice(row.frequency, frozenset(row.muted_kinds or ())) if row else Choice()


def kinds_for(user: User) -> list[str]:
    return [k for k in KINDS if k in ROLE_KINDS.get(user.role or "", ())]


@transactional
def set_preferences(user: User, frequency: str, kinds: Sequence[str]) -> None:
    """Save a person's choices: how often, and which of their role's kinds they want."""
    if frequency not in FREQUENCIES:
        raise ServiceError("Choose how often we email you.", field="frequency")
    allowed = kinds_for(user)
    unknown = [k for k in kinds if k not in allowed]
    if unknown:
        raise ServiceError("Choose only from the kinds of email listed.", field="kinds")
    muted = sorted(k for k in allowed if k not in kinds)
    row = db.session.get(NotificationPreference, user.id)
    before = {"frequency": row.frequency, "muted": row.muted_kinds} if row else None
    if row is None:
        row = NotificationPreference(user_id=user.id)
        db.session.add(row)
    row.frequency = frequency
    row.muted_kinds = muted
    row.updated_at = utcnow()
    record(
        "notifications.preferences_changed",
        "user",
        user.id,
        actor=user,
        organisation_id=user.membership.organisation_id if user.membership else None,
        before=before,
        after={"frequency": frequency, "muted": muted},
    )


@transactional
def unsubscribe(user_id: int, kind: str, stamp: str) -> User | None:
    """One-click unsubscribe (RFC 8058): turn off ``kind`` or everything ("all"). Returns the
    user, or None when the link no longer fits them (their security stamp changed)."""
    user = db.session.get(User, user_id)
    if user is None or not user.security_stamp.startswith(stamp):
        return None
    row = db.session.get(NotificationPreference, user.id)
    if row is None:
        row = NotificationPreference(user_id=user.id, frequency="daily", muted_kinds=[])
        db.session.add(row)
    before = {"frequency": row.frequency, "muted": list(row.muted_kinds or [])}
    if kind == "all":
        row.frequency = "off"
    elif kind not in (row.muted_kinds or []):
        row.muted_kinds = sorted([*(row.muted_kinds or []), kind])
    row.updated_at = utcnow()
    record(
        "notifications.unsubscribed",
        "user",
        user.id,
        actor=None,
        organisation_id=user.membership.organisation_id if user.membership else None,
        before=before,
        after={"frequency": row.frequency, "muted": list(row.muted_kinds or [])},
    )
    return user
