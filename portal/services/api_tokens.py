"""Personal access tokens for the API: make, list, revoke, and find the one a request carries.

A token is ``ttp_`` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored,
so a copy of the database gives nobody a working token. Creation and revocation are audited.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import ApiToken, User
from portal.models.api_tokens import SCOPE_REQUEST
from portal.services import ServiceError, transactional
from portal.services.audit import record
from portal.timeutil import aware, utcnow

PREFIX = "ttp_"
EXPIRY_DAYS = (30, 90, 365)  # the choices offered; the CLI may give any number of 1..365
MAX_NAME = 100
MAX_LIVE_TOKENS = 20
# ``last_used_at`` is written at most this often per token, not on every request.
LAST_USED_EVERY = timedelta(minutes=1)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()


def _live(token: ApiToken, now: datetime) -> bool:
    if token.revoked_at is not None:
        return False
    expires = aware(token.expires_at)
    return expires is None or expires > now


def tokens_of(user: User) -> list[ApiToken]:
    """The user's tokens that still work, newest first."""
    now = utcnow()
    rows = db.session.execute(
        sa.select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.id.desc())
    ).scalars()
    return [t for t in rows if _live(t, now)]


@transactional
def create_token(
    user: User, name: str, days: int = 90, request_certificates: bool = False
) -> tuple[ApiToken, str]:
    """Make a token for ``user``; returns the row and the token (shown once, never stored)."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("Enter a name for the token", field="name")
    if len(name) > MAX_NAME:
        raise ServiceError(f"The name must be {MAX_NAME} characters or fewer", field="name")
    if not 1 <= days <= 365:
        raise ServiceError("A token lasts between 1 and 365 days", field="expires")
    if not user.active or not user.email_confirmed:
        raise ServiceError("Only an active account with a confirmed email address can have one")
    if len(tokens_of(user)) >= MAX_LIVE_TOKENS:
        raise ServiceError(
            f"You already have {MAX_LIVE_TOKENS} tokens: revoke one you no longer use first"
        )
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=digest(raw),
        prefix=raw[:8],
        scopes=[SCOPE_REQUEST] if request_certificates else [],
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(days=days),
    )
    db.session.add(token)
    db.session.flush()
    record(
        "api_token.created",
        "api_token",
        token.id,
        actor=user,
        organisation_id=user.organisation.id if user.organisation else None,
        after={
            "name": name,
            "prefix": token.prefix,
            "scopes": token.scopes,
            "expires_at": token.expires_at,
        },
    )
    return token, raw


@transactional
def revoke_token(user: User, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s own tokens (another's id: the same refusal as an unknown one)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise ServiceError("That token is not one of yours")
    if token.revoked_at is not None:
        return token
    token.revoked_at = utcnow()
    record(
        "api_token.revoked",
        "api_token",
        token.id,
        actor=user,
        organisation_id=user.organisation.id if user.organisation else None,
        before={"name": token.name, "prefix": token.prefix},
        after={"revoked_at": token.revoked_at},
    )
    return token


def authenticate(raw: str) -> tuple[ApiToken, User] | None:
    """The live token and its active, confirmed user for ``raw``; None for anything else."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    token = db.session.execute(
        sa.select(ApiToken).where(ApiToken.token_hash == digest(raw))
    ).scalar_one_or_none()
    now = utcnow()
    if token is None or not _live(token, now):
        return None
    user = db.session.get(User, token.user_id)
    if user is None or not user.active or not user.email_confirmed:
        return None
    last = aware(token.last_used_at)
    if last is None or now - last >= LAST_USED_EVERY:
        # Not audited (a read), and written at most once a minute per token.
        db.session.execute(
            sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
        )
        db.session.commit()
    return token, user
