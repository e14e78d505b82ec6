"""Evidence a sponsor submits (lay summaries, the participant offer) and the reviewer's work."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

SUBMISSION_KINDS = ("summary", "participant_offer", "deferral", "waiver", "claim_dispute")
SUBMISSION_STATUSES = ("waiting", "changes_requested", "approved", "withdrawn")


class SummaryVersion(db.Model):
    """One uploaded version of a trial's plain-language summary of results."""

    __tablename__ = "summary_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    version: Mapped[int] = mapped_column()
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"))
    extracted_text: Mapped[str] = mapped_column(sa.Text)
    word_count: Mapped[int] = mapped_column(default=0)
    readability: Mapped[dict[str, Any]] = mapped_column(
        sa.JSON, default=dict
    )  # scores, jargon, checklist
    status: Mapped[str] = mapped_column(
        sa.String(20), default="draft"
    )  # draft/submitted/changes_requested/approved
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    file = relationship("StoredFile", lazy="joined")

    __table_args__ = (sa.UniqueConstraint("trial_id", "version", name="uq_summary_version"),)


class ParticipantOffer(db.Model):
    """How participants were offered the results (UK-PART evidence)."""

    __tablename__ = "participant_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    offered_on: Mapped[date] = mapped_column()
    method: Mapped[str] = mapped_column(sa.String(20))  # letter/email/website/sites
    audience: Mapped[list[str]] = mapped_column(
        sa.JSON
    )  # participants/parents/legal_representatives
    summary_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("summary_versions.id"))
    file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(
        sa.String(20), default="recorded"
    )  # recorded/questioned/accepted
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Submission(db.Model):
    """An item in the reviewer's queue, ordered by the due date of the duty it serves."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    object_id: Mapped[int] = mapped_column()  # id in the table its kind names
    duty: Mapped[str | None] = mapped_column(sa.String(20))
    due: Mapped[date | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="waiting", index=True)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class ReviewComment(db.Model):
    """A reviewer's decision or comment on a submission, shown to the sponsor."""

    __tablename__ = "review_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(sa.String(20))  # approve/request_changes/comment/question
    body: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class JargonTerm(db.Model):
    """A word a lay summary should avoid, with a plainer alternative; reviewers extend the list."""

    __tablename__ = "jargon_terms"

    id: Mapped[int] = mapped_column(primary_key=True)
    term: Mapped[str] = mapped_column(sa.String(100), unique=True)
    plain: Mapped[str] = mapped_column(sa.String(200), default="")
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class AuditSample(db.Model):
    """A random sample of met obligations drawn by a reviewer to check."""

    __tablename__ = "audit_samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    drawn_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    drawn_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    size: Mapped[int] = mapped_column()
    seed: Mapped[str] = mapped_column(sa.String(64))


class AuditSampleItem(db.Model):
    """One sampled obligation and the reviewer's finding on it."""

    __tablename__ = "audit_sample_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(sa.ForeignKey("audit_samples.id"), index=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"))
    duty: Mapped[str] = mapped_column(sa.String(20))
    finding: Mapped[str | None] = mapped_column(sa.String(20))  # confirmed/problem
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
