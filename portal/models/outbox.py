"""Outgoing email: every message is kept here and delivered by a worker."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class OutboxEmail(db.Model):
    """One email. Without MAIL_URL it stays here (status ``kept``) for an admin to read."""

    __tablename__ = "outbox_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(sa.String(254), index=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    body_text: Mapped[str] = mapped_column(sa.Text)
    # An HTML alternative and extra headers (List-Unsubscribe...), for notification digests.
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    headers: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(20), default="queued")  # queued/sent/kept/failed
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, index=True
    )
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
