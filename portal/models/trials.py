"""Trials as the portal knows them: merged from registry entries, plus the sponsor's own facts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

IDENTIFIER_KINDS = ("nct", "isrctn", "eudract", "euct", "iras")


class Trial(db.Model):
    """One real-world trial, whatever number of registries it is on.

    ``imported_facts`` maps a fact name (the rules' vocabulary, plus display fields) to
    ``{"value", "registry", "record", "imported_at"}`` so every page can say where a fact came
    from. Sponsor-entered facts live in ``sponsor_facts`` and an import never touches them.
    """

    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.Text, default="")
    sponsor_name: Mapped[str | None] = mapped_column(sa.String(500), index=True)
    overall_status: Mapped[str | None] = mapped_column(sa.String(60))
    uk_site: Mapped[bool | None] = mapped_column()
    imported_facts: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    sponsor_entered: Mapped[bool] = mapped_column(default=False)
    owner_organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    entries: Mapped[list[RegistryEntry]] = relationship(
        back_populates="trial", order_by="RegistryEntry.registry_name"
    )
    identifiers: Mapped[list[TrialIdentifier]] = relationship(back_populates="trial")


class RegistryEntry(db.Model):
    """One registry's record of a trial, as last imported."""

    __tablename__ = "registry_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    registry_name: Mapped[str] = mapped_column("registry", sa.String(40))
    registry_id: Mapped[str] = mapped_column(sa.String(60))
    registered_on: Mapped[date | None] = mapped_column()
    results_posted_on: Mapped[date | None] = mapped_column()
    last_updated: Mapped[date | None] = mapped_column()
    url: Mapped[str | None] = mapped_column(sa.String(500))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    record: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # the normalised record, for merging
    source_file: Mapped[str | None] = mapped_column(sa.Text)
    first_imported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_imported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    trial: Mapped[Trial] = relationship(back_populates="entries")

    __table_args__ = (sa.UniqueConstraint("registry", "registry_id", name="uq_registry_entry"),)


class TrialIdentifier(db.Model):
    """A cross-reference (NCT, ISRCTN, EudraCT, EU CT, IRAS) that points at exactly one trial."""

    __tablename__ = "trial_identifiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    value: Mapped[str] = mapped_column(sa.String(60))

    trial: Mapped[Trial] = relationship(back_populates="identifiers")

    __table_args__ = (sa.UniqueConstraint("kind", "value", name="uq_trial_identifier"),)


class SponsorFact(db.Model):
    """A fact only the sponsor knows. Rows are never updated: a change adds a row (history)."""

    __tablename__ = "sponsor_facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(60))
    value: Mapped[Any] = mapped_column(sa.JSON)  # None means "cleared"
    entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    entered_by_label: Mapped[str] = mapped_column(sa.String(254))
    entered_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    current: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (sa.Index("ix_sponsor_facts_trial_current", "trial_id", "current"),)


class ImportRun(db.Model):
    """One run of the importer, from the command line or an uploaded file."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.Text)  # paths or the uploaded file's name
    status: Mapped[str] = mapped_column(sa.String(20), default="running")  # running/finished/failed
    records_seen: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    merged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    resume_after: Mapped[str | None] = mapped_column(sa.Text)  # last file fully committed
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    job_id: Mapped[str | None] = mapped_column(sa.String(36))
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class ImportRejection(db.Model):
    """A record the importer refused, with the reason a person can act on."""

    __tablename__ = "import_rejections"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("import_runs.id"), index=True)
    file: Mapped[str] = mapped_column(sa.Text)
    record: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text)


class TrialChange(db.Model):
    """What a newer registry record changed on a trial."""

    __tablename__ = "trial_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("import_runs.id"))
    registry_name: Mapped[str] = mapped_column("registry", sa.String(40))
    registry_id: Mapped[str] = mapped_column(sa.String(60))
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # field -> [old, new]
    changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
