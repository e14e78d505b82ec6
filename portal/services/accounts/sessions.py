"""Server-side sessions: started at sign-in, ended at sign-out, all ended when security changes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import User, UserSession
from portal.services import transactional
from portal.services.accounts.signup import (
    _org_id,
)
from portal.services.audit import record
from portal.timeutil import utcnow


def _session_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transactional
def start_session(user: User) -> str:
    """Open a session for ``user``; the returned id goes in the signed session cookie."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    hours = int(current_app.config["SESSION_LIFETIME_HOURS"])
    # Forget this user's sessions that ended or expired more than 30 days ago.
    db.session.execute(
        sa.delete(UserSession).where(
            UserSession.user_id == user.id,
            UserSession.expires_at < now - timedelta(days=30),
        )
    )
    db.session.add(
        UserSession(
            id=_session_key(raw),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return raw


# Built once: on every request only its parameters change, so SQLAlchemy neither builds the
# statement nor works out its cache key again (issue 22).
_SESSION_USER = (
    sa.select(User)
    .join(UserSession, UserSession.user_id == User.id)
    .where(
        User.id == sa.bindparam("user_id"),
        UserSession.id == sa.bindparam("session_key"),
        UserSession.ended_at.is_(None),
        UserSession.expires_at > sa.bindparam("now"),
    )
)


def session_user(user_id: str, raw: str | None) -> User | None:
    """The user of a live session (not ended, not past its absolute lifetime), else None.
    One query on every request: the user (with membership and organisation) joined to the
    session that must be live."""
    if not raw or not user_id.isdigit():
        return None
    user = db.session.execute(
        _SESSION_USER,
        {"user_id": int(user_id), "session_key": _session_key(raw), "now": utcnow()},
    ).scalar_one_or_none()
    return user if user is not None and user.active else None


@transactional
def end_session(user: User, raw: str | None) -> None:
    """Sign out: this session stops working, even if its cookie was copied."""
    if raw:
        db.session.execute(
            sa.update(UserSession)
            .where(
                UserSession.id == _session_key(raw),
                UserSession.user_id == user.id,
                UserSession.ended_at.is_(None),
            )
            .values(ended_at=utcnow(), ended_reason="signed_out")
        )
    record("user.signed_out", "user", user.id, actor=user, organisation_id=_org_id(user))


def _end_all_sessions(user: User, reason: str) -> int:
    """End every session of ``user`` and change its security stamp (so that reset and
    email-change links sent before now stop working). Runs inside the caller's transaction."""
    ended = db.session.execute(
        sa.update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), ended_reason=reason)
    ).rowcount
    user.security_stamp = secrets.token_hex(16)
    return ended or 0


def live_sessions(user: User) -> list[UserSession]:
    return list(
        db.session.execute(
            sa.select(UserSession)
            .where(
                UserSession.user_id == user.id,
                UserSession.ended_at.is_(None),
                UserSession.expires_at > utcnow(),
            )
            .order_by(UserSession.created_at.desc())
        ).scalars()
    )


@transactional
def sign_out_everywhere(user: User) -> int:
    """End every session of ``user``, this one included."""
    ended = _end_all_sessions(user, "signed_out_everywhere")
    record(
        "user.signed_out_everywhere",
        "user",
        user.id,
        actor=user,
        organisation_id=_org_id(user),
        after={"sessions_ended": ended},
    )
    return ended
