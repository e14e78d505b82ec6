"""Stored verdicts of the rules engine, their history, and the versioned rule parameters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class ParameterSet(db.Model):
    """One version of the [param] values of RULES.md. The highest version is in force."""

    __tablename__ = "parameter_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    values: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Obligation(db.Model):
    """The current verdict on one duty of one trial (``verdict`` is the engine's full JSON)."""

    __tablename__ = "obligations"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"))
    duty: Mapped[str] = mapped_column(sa.String(20))
    ruleset: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    due: Mapped[date | None] = mapped_column(index=True)
    days_overdue: Mapped[int] = mapped_column(default=0)
    verdict: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    params_version: Mapped[int | None] = mapped_column()
    as_of: Mapped[date] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("trial_id", "duty", name="uq_obligation_trial_duty"),)


class ObligationStatusChange(db.Model):
    """Each status change of an obligation, so pages can list what became overdue on a day."""

    __tablename__ = "obligation_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    duty: Mapped[str] = mapped_column(sa.String(20))
    old_status: Mapped[str | None] = mapped_column(sa.String(20))
    new_status: Mapped[str] = mapped_column(sa.String(20))
    changed_on: Mapped[date] = mapped_column(index=True)  # the as_of date of the recompute
    changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    reason: Mapped[str] = mapped_column(
        sa.String(60)
    )  # import, sponsor_fact, review, daily, params
