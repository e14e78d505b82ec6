"""Password reset and email change, by links that die when the account's security stamp changes."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models import User
from portal.services import ServiceError, transactional
from portal.services.accounts.sessions import (
    _end_all_sessions,
)
from portal.services.accounts.signup import (
    EMAIL_CHANGE,
    RESET,
    _external,
    _org_id,
    find_user,
    normalise_email,
)
from portal.services.audit import record
from portal.services.mail import queue_email
from portal.timeutil import utcnow
from portal.tokens import TokenError, make_token, read_token, spend_token


def _stamp_mac(purpose: str, user: User) -> str:
    """An HMAC of the user's security stamp: a link carrying it dies when the stamp changes
    (and carries nothing of the password hash)."""
    key = current_app.config["SECRET_KEY"].encode()
    message = f"{purpose}:{user.id}:{user.security_stamp}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


@transactional
def request_password_reset(email: str) -> None:
    """Email a reset link if the account exists; say the same thing either way."""
    user = find_user(email)
    if user is None or not user.active:
        return
    token = make_token(RESET, user_id=user.id, v=_stamp_mac(RESET, user))
    link = _external("auth.reset_password", token=token)
    queue_email(
        user.email,
        "Reset your password",
        f"Someone asked to reset the password for {user.email}.\n\n"
        f"Choose a new password here:\n\n{link}\n\n"
        "The link works once and expires in 3 days. If it was not you, ignore this email.\n",
    )
    record("user.password_reset_requested", "user", user.id, actor=user)


def check_reset_token(token: str) -> User:
    """The user a reset link belongs to, or ServiceError saying why it cannot be used."""
    try:
        payload = read_token(RESET, token)
    except TokenError as exc:
        raise ServiceError(str(exc)) from exc
    user = db.session.get(User, payload["user_id"])
    if user is None or not hmac.compare_digest(str(payload.get("v", "")), _stamp_mac(RESET, user)):
        raise ServiceError("This link has already been used.")
    return user


@transactional
def reset_password(token: str, new_password: str) -> User:
    """Set a new password and end every session of the account (a reset is what someone does
    when they fear another person knows the old password)."""
    user = check_reset_token(token)
    spend_token(RESET, read_token(RESET, token))
    user.password_hash = generate_password_hash(new_password)
    if user.email_confirmed_at is None:  # the link proved the address
        user.email_confirmed_at = utcnow()
    ended = _end_all_sessions(user, "password_reset")
    record(
        "user.password_reset",
        "user",
        user.id,
        actor=user,
        organisation_id=_org_id(user),
        after={"sessions_ended": ended},
    )
    return user


@transactional
def request_email_change(user: User, new_email: str, password: str) -> None:
    """Email a link to the new address; the change happens when it is followed."""
    if not check_password_hash(user.password_hash, password):
        raise ServiceError("Enter your current password correctly.", field="password")
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise ServiceError("This is already your email address.", field="email")
    token = make_token(
        EMAIL_CHANGE, user_id=user.id, email=new_email, v=_stamp_mac(EMAIL_CHANGE, user)
    )
    link = _external("auth.change_email", token=token)
    # Sent whether or not the new address has an account, so the form reveals nothing.
    queue_email(
        new_email,
        "Confirm your new email address",
        f"Hello {user.full_name or user.email},\n\n"
        f"Follow this link to use {new_email} to sign in to the Trial Transparency Portal "
        f"instead of {user.email}:\n\n{link}\n\n"
        "The link works once and expires in 3 days. If it was not you, ignore this email.\n",
    )
    record(
        "user.email_change_requested",
        "user",
        user.id,
        actor=user,
        organisation_id=_org_id(user),
        after={"email": new_email},
    )


@transactional
def change_email(token: str) -> User:
    """Follow an email-change link: the address changes and every session ends."""
    try:
        payload = read_token(EMAIL_CHANGE, token)
    except TokenError as exc:
        raise ServiceError(str(exc)) from exc
    user = db.session.get(User, payload["user_id"])
    if user is None or not hmac.compare_digest(
        str(payload.get("v", "")), _stamp_mac(EMAIL_CHANGE, user)
    ):
        raise ServiceError("This link has already been used.")
    new_email = payload["email"]
    if find_user(new_email) is not None:
        raise ServiceError(
            "Another account already uses this email address, so yours was not changed."
        )
    spend_token(EMAIL_CHANGE, payload)
    old_email = user.email
    user.email = new_email
    user.email_confirmed_at = utcnow()
    ended = _end_all_sessions(user, "email_changed")
    queue_email(
        old_email,
        "Your email address was changed",
        f"Hello {user.full_name or old_email},\n\n"
        f"Your Trial Transparency Portal account now signs in with {new_email} instead of "
        f"{old_email}, and every session of it was signed out.\n\n"
        "If it was not you, contact your organisation's administrator straight away.\n",
    )
    record(
        "user.email_changed",
        "user",
        user.id,
        actor=user,
        organisation_id=_org_id(user),
        before={"email": old_email},
        after={"email": new_email, "sessions_ended": ended},
    )
    return user
