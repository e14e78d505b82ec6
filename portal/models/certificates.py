"""Compliance certificates: issued, verifiable, superseded or revoked."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class Certificate(db.Model):
    """A trial's compliance certificate. The row exists from the request; a worker renders it.

    ``statement`` is what the certificate says (trial, obligations, verdict, parameters), fixed
    at request time so a retry renders the same certificate; ``sha256`` is of the issued PDF.
    """

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(sa.String(40), unique=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    job_id: Mapped[str | None] = mapped_column(sa.ForeignKey("background_jobs.id"))
    as_of: Mapped[date] = mapped_column()
    status: Mapped[str] = mapped_column(
        sa.String(20), default="queued"
    )  # queued/rendering/ready/failed
    compliant: Mapped[bool] = mapped_column(default=False)
    statement: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    sha256: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    superseded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("certificates.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(sa.Text)
    requested_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
