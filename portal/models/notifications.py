"""Notifications: what each person is to be told, the digests that told them, their choices.

Exactly once rests on the database: a person is told each thing once because
``(user_id, key)`` is unique in ``notifications`` (every writer inserts or skips), and gets at
most one digest a day because ``(user_id, day)`` is unique in ``notification_digests``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow

# What a person can choose to hear about (the preferences page lists them in this order).
KINDS = {
    "deadlines": "Deadline reminders (90, 30 and 7 days before, on the day, weekly while overdue)",
    "data_needed": "A duty that needs facts, or whose facts contradict each other",
    "decisions": "Decisions by reviewers on your evidence, claims and disputes",
    "documents": "Certificates and reports ready to download",
    "team": "Invitations accepted by new members of your organisation",
    "registry": "Changes a registry brought to a trial your organisation holds",
    "portfolio": "Weekly portfolio summary on Mondays (compliance officers)",
    "queue": "Daily review queue summary (reviewers)",
}
FREQUENCIES = ("daily", "weekly", "off")


class Notification(db.Model):
    """One thing one person is to be told, once: a deadline milestone, a decision, a summary.

    ``key`` names the thing (``deadline:<trial>:<duty>:<milestone>:<due>``, ``event:<id>``,
    ``portfolio:<monday>``...). ``digest_id`` is set when a digest carried it; ``dropped`` when
    it will never be sent (the person left the organisation, or turned the kind off).
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(sa.String(20))
    key: Mapped[str] = mapped_column(sa.String(120))
    trial_id: Mapped[int | None] = mapped_column(sa.ForeignKey("trials.id"))
    # Sort order inside a digest: smaller is more urgent (days to the due date; overdue < 0).
    urgency: Mapped[int] = mapped_column(default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    day: Mapped[date] = mapped_column()  # the day it became due to be told
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    digest_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notification_digests.id"))
    dropped: Mapped[str | None] = mapped_column(sa.String(40))

    __table_args__ = (
        sa.UniqueConstraint("user_id", "key", name="uq_notification_user_key"),
        # The daily job reads a person's unsent items: small, because sent ones leave it.
        sa.Index(
            "ix_notifications_unsent",
            "user_id",
            postgresql_where=sa.text("digest_id IS NULL AND dropped IS NULL"),
            sqlite_where=sa.text("digest_id IS NULL AND dropped IS NULL"),
        ),
    )


class NotificationDigest(db.Model):
    """The one email a person got on one day, carrying their unsent notifications."""

    __tablename__ = "notification_digests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    day: Mapped[date] = mapped_column()
    outbox_email_id: Mapped[int | None] = mapped_column(sa.ForeignKey("outbox_emails.id"))
    items: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("user_id", "day", name="uq_digest_user_day"),)


class NotificationRun(db.Model):
    """One run of the daily job for one day (London date): the scheduler's tick runs a day once,
    and the next run reads the last day done to catch up the days in between."""

    __tablename__ = "notification_runs"

    day: Mapped[date] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    summary: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class NotificationPreference(db.Model):
    """A person's choices. No row: daily digest of every kind that fits their role."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    frequency: Mapped[str] = mapped_column(sa.String(10), default="daily")  # FREQUENCIES
    muted_kinds: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
