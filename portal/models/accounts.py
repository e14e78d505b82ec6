"""Users, sponsor organisations and their memberships."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.timeutil import aware, utcnow

ORG_ROLES = ("sponsor", "sponsor_admin", "compliance_officer")
SYSTEM_ROLES = ("reviewer", "admin")
INVITATION_DAYS = 14  # an invitation link works this long
ROLE_LABELS = {
    "sponsor": "Sponsor",
    "sponsor_admin": "Sponsor administrator",
    "compliance_officer": "Compliance officer",
    "reviewer": "Reviewer",
    "admin": "Administrator",
}


class Organisation(db.Model):
    """A trial sponsor: a company, university or NHS trust."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    email_domains: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    sponsor_names: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(
        sa.String(20), default="pending"
    )  # pending/approved/rejected
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    memberships: Mapped[list[Membership]] = relationship(back_populates="organisation")

    @property
    def approved(self) -> bool:
        return self.status == "approved"


class User(UserMixin, db.Model):
    """A person who signs in. Reviewers and admins hold a system role instead of a membership."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    system_role: Mapped[str | None] = mapped_column(sa.String(20))  # reviewer/admin
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Secret in the private iCal feed URL; regenerating it revokes the old URL.
    calendar_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    # Changed whenever every session must end (password reset, email change, removal from an
    # organisation, "sign out everywhere"): links signed with the old value stop working.
    security_stamp: Mapped[str] = mapped_column(
        sa.String(64), default=lambda: secrets.token_hex(16), server_default=""
    )

    membership: Mapped[Membership | None] = relationship(
        back_populates="user", uselist=False, lazy="joined"
    )

    @property
    def is_active(self) -> bool:  # flask-login
        return self.active

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None

    @property
    def organisation(self) -> Organisation | None:
        return self.membership.organisation if self.membership else None

    @property
    def role(self) -> str | None:
        """The user's role: a system role, else the organisation role."""
        if self.system_role:
            return self.system_role
        return self.membership.role if self.membership else None

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def sees_all_organisations(self) -> bool:
        return self.system_role in SYSTEM_ROLES


class Membership(db.Model):
    """A user's place in one organisation. A user belongs to at most one organisation."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(30))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(back_populates="membership")
    organisation: Mapped[Organisation] = relationship(back_populates="memberships", lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('sponsor', 'sponsor_admin', 'compliance_officer')", name="role_known"
        ),
    )


class Invitation(db.Model):
    """An invitation from a sponsor_admin to join their organisation."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    role: Mapped[str] = mapped_column(sa.String(30))
    invited_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    @property
    def expires_at(self) -> datetime:
        return aware(self.created_at) + timedelta(days=INVITATION_DAYS)


class UserSession(db.Model):
    """One signed-in browser. The cookie holds a random id whose SHA-256 is ``id``; signing out
    ends the row, and the user loader refuses an ended or expired one."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    ended_reason: Mapped[str | None] = mapped_column(sa.String(40))


class UsedToken(db.Model):
    """Single-use email links: a token's nonce is stored here once it has been used."""

    __tablename__ = "used_tokens"

    nonce: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(30))
    used_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
