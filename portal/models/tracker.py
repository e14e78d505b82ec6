"""The public tracker (issue 21): UK 2026 verdicts worked out from registry records only,
precomputed per trial and per sponsor, the day's changes, opt-ins and sponsors' responses."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.timeutil import utcnow


class TrackerRun(db.Model):
    """One computation of the tracker's figures (the daily job or ``flask tracker recompute``)."""

    __tablename__ = "tracker_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    trials: Mapped[int] = mapped_column(default=0)
    sponsors: Mapped[int] = mapped_column(default=0)
    # The league table's totals over every sponsor (trials with a sponsor name).
    sponsor_trials: Mapped[int] = mapped_column(default=0)
    due: Mapped[int] = mapped_column(default=0)
    on_time: Mapped[int] = mapped_column(default=0)
    late: Mapped[int] = mapped_column(default=0)
    overdue: Mapped[int] = mapped_column(default=0)


class TrackerSponsor(db.Model):
    """A sponsor's line of the league table (sponsor names as registries give them, grouped
    by their letters and digits: "ACME Ltd." and "Acme Ltd" are one sponsor)."""

    __tablename__ = "tracker_sponsors"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(120), unique=True)
    name: Mapped[str] = mapped_column(sa.String(500), index=True)
    trials: Mapped[int] = mapped_column(default=0)  # trials the UK rules apply to
    due: Mapped[int] = mapped_column(default=0, index=True)
    on_time: Mapped[int] = mapped_column(default=0, index=True)
    late: Mapped[int] = mapped_column(default=0, index=True)
    overdue: Mapped[int] = mapped_column(default=0, index=True)
    percent: Mapped[int | None] = mapped_column(index=True)  # done (on time or late) / due


class TrackerTrial(db.Model):
    """One trial's registry-only UK verdicts, as the public trial page shows them.

    ``state``: overdue, late, on_time or not_due (the league table's columns);
    ``verdicts``: the counted duties (UK-REG, UK-RES) with their sources;
    ``overdue_duties`` / ``prev_overdue``: the duties overdue now and at the end of the day
    before this run's date (the "newly overdue" and "no longer overdue" lists)."""

    __tablename__ = "tracker_trials"

    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), primary_key=True)
    # tracker_sponsors.id, not a foreign key: a recompute writes the trials before the sponsors.
    sponsor_id: Mapped[int | None] = mapped_column()
    sponsor_name: Mapped[str] = mapped_column(sa.String(500), default="")
    title: Mapped[str] = mapped_column(sa.Text, default="")
    registry_ids: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[str] = mapped_column(sa.String(10))
    verdicts: Mapped[list[Any]] = mapped_column(sa.JSON)
    registries: Mapped[list[Any]] = mapped_column(sa.JSON)
    overdue_duties: Mapped[str] = mapped_column(sa.String(60), default="")
    prev_overdue: Mapped[str] = mapped_column(sa.String(60), default="")

    __table_args__ = (sa.Index("ix_tracker_trials_sponsor", "sponsor_id", "state"),)


class TrackerChange(db.Model):
    """A duty that became overdue, or stopped being overdue, on ``as_of``."""

    __tablename__ = "tracker_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # newly_overdue / no_longer_overdue
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"))
    duty: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20))  # the duty's status now


class TrackerDisclosure(db.Model):
    """An organisation's choice to show its own facts and verdicts on the tracker."""

    __tablename__ = "tracker_disclosures"

    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id"), primary_key=True
    )
    opted_in: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class TrackerResponse(db.Model):
    """A sponsor's short public response to a verdict on its trial: shown once a reviewer
    publishes it. ``status``: pending, published, rejected or withdrawn."""

    __tablename__ = "tracker_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    duty: Mapped[str] = mapped_column(sa.String(20))
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending", index=True)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    review_note: Mapped[str] = mapped_column(sa.Text, default="")
