"""Claims: an organisation asking to own a trial, and disputes between organisations."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import utcnow

# What the claimant's organisation is to the trial (asked when claiming, shown to the reviewer).
RELATIONS = {
    "sponsor": "The sponsor",
    "co_sponsor": "A co-sponsor",
    "legal_representative": "The sponsor's legal representative in the UK",
    "delegate": "An organisation the sponsor delegated its transparency duties to (such as a CRO)",
    "other": "Something else",
}
CLAIM_STATUSES = ("pending", "approved", "rejected", "disputed", "released", "withdrawn")


class Claim(db.Model):
    """One organisation's claim on one trial.

    ``pending``: waits for a reviewer because the match was not automatic; ``disputed``: the
    trial already has an owner, a reviewer decides; ``approved``: the organisation owns it
    (Trial.owner_organisation_id, set by a conditional update so concurrent claims cannot both
    win); ``released``: the owner gave it up or transferred it.
    """

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trials.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(sa.String(20), index=True)
    match_reason: Mapped[str] = mapped_column(sa.Text, default="")
    # The claimant's relation to the trial (RELATIONS keys) and, for "other", their words.
    relation: Mapped[str | None] = mapped_column(sa.String(40))
    relation_detail: Mapped[str | None] = mapped_column(sa.Text)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    trial = relationship("Trial", lazy="joined")
    organisation = relationship("Organisation", lazy="joined")
    requested_by = relationship("User", foreign_keys=[requested_by_id], lazy="joined")

    __table_args__ = (
        # At most one approved claim per trial, whatever the race (enforced by the database).
        sa.Index(
            "uq_claims_one_approved_per_trial",
            "trial_id",
            unique=True,
            postgresql_where=sa.text("status = 'approved'"),
            sqlite_where=sa.text("status = 'approved'"),
        ),
        # An organisation has at most one open claim on a trial.
        sa.Index(
            "uq_claims_one_open_per_org",
            "trial_id",
            "organisation_id",
            unique=True,
            postgresql_where=sa.text("status IN ('pending', 'disputed', 'approved')"),
            sqlite_where=sa.text("status IN ('pending', 'disputed', 'approved')"),
        ),
    )
