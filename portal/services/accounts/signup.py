"""Sign-up, email confirmation and sign-in: the account's first steps, and the token purposes."""

from __future__ import annotations

import functools
import threading

import sqlalchemy as sa
from flask import current_app, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models import User
from portal.services import ServiceError, transactional
from portal.services.audit import record
from portal.services.mail import queue_email
from portal.timeutil import utcnow
from portal.tokens import TokenError, make_token, read_token, spend_token

CONFIRM = "confirm-email"
RESET = "reset-password"
INVITE = "invite"
EMAIL_CHANGE = "change-email"
SESSION_KEY = "sid"  # the signed session cookie's key for the server-side session id

# Personal webmail: an invitation to one of these for an organisation with its own domains
# is more likely a mistake (or a former employee's private address) than a colleague.
WEBMAIL_DOMAINS = frozenset(
    {
        "aol.com",
        "gmail.com",
        "googlemail.com",
        "gmx.com",
        "gmx.de",
        "hotmail.com",
        "hotmail.co.uk",
        "icloud.com",
        "live.com",
        "live.co.uk",
        "mail.com",
        "me.com",
        "msn.com",
        "outlook.com",
        "proton.me",
        "protonmail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yandex.com",
        "zoho.com",
    }
)


@functools.cache
def _dummy_hash() -> str:
    """A real hash to check against when the email is unknown, so timing does not reveal
    accounts (made on first use: hashing at import would slow every `flask` command)."""
    return generate_password_hash("not-a-real-password")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_domain(email: str) -> str:
    return normalise_email(email).rsplit("@", 1)[-1]


def find_user(email: str) -> User | None:
    return db.session.execute(
        sa.select(User).where(User.email == normalise_email(email))
    ).scalar_one_or_none()


def _external(endpoint: str, **values: str) -> str:
    base = current_app.config["PUBLIC_URL"].rstrip("/")
    return base + url_for(endpoint, **values)


def _send_confirmation(user: User) -> None:
    token = make_token(CONFIRM, user_id=user.id, email=user.email)
    link = _external("auth.confirm_email", token=token)
    queue_email(
        user.email,
        "Confirm your email address",
        f"Hello {user.full_name or user.email},\n\n"
        f"Confirm your email address for the Trial Transparency Portal:\n\n{link}\n\n"
        "The link works once and expires in 3 days. If you did not create an account, "
        "ignore this email.\n",
    )


def _send_sign_up_attempt(user: User) -> None:
    """Tell the owner of an existing account that someone tried to sign up with its address
    (the sign-up page answers the same for a known and an unknown address)."""
    queue_email(
        user.email,
        "Someone tried to create an account with your email address",
        f"Hello {user.full_name or user.email},\n\n"
        "Someone tried to create a Trial Transparency Portal account with your email address, "
        "but you already have one.\n\n"
        f"If it was you, sign in here:\n\n{_external('auth.login')}\n\n"
        f"If you have forgotten your password, reset it here:\n\n"
        f"{_external('auth.request_reset')}\n\n"
        "If it was not you, you do not need to do anything: nobody can use your account "
        "without your password.\n",
    )


@transactional
def register(email: str, full_name: str, password: str) -> User | None:
    """Create an unconfirmed account and email a confirmation link.

    For an address that already has an account nothing is created and its owner is told by
    email instead; the caller answers the same either way, so sign-up reveals nothing."""
    email = normalise_email(email)
    password_hash = generate_password_hash(password)  # the same work either way
    existing = find_user(email)
    if existing is not None:
        _send_sign_up_attempt(existing)
        record("user.sign_up_attempted", "user", existing.id, organisation_id=_org_id(existing))
        return None
    user = User(email=email, full_name=full_name.strip(), password_hash=password_hash)
    db.session.add(user)
    db.session.flush()
    record("user.registered", "user", user.id, actor=user, after={"email": email})
    _send_confirmation(user)
    return user


@transactional
def resend_confirmation(email: str) -> None:
    """Send a new confirmation link if ``email`` has an unconfirmed account; silent otherwise."""
    user = find_user(email)
    if user is not None and not user.email_confirmed and user.active:
        _send_confirmation(user)
        record("user.confirmation_resent", "user", user.id)


def check_confirmation(token: str) -> User:
    """The account a confirmation link belongs to, or ServiceError saying why it cannot be used."""
    try:
        payload = read_token(CONFIRM, token)
    except TokenError as exc:
        raise ServiceError(str(exc)) from exc
    user = db.session.get(User, payload["user_id"])
    if user is None or payload.get("email", user.email) != user.email:
        raise ServiceError("This link is not valid. Check you copied all of it.")
    return user


@transactional
def confirm_email(token: str, *, password: str | None = None, proven: bool = False) -> User:
    """Mark the email confirmed; a link works once.

    The link proves the address, not that its owner chose the account's password: someone else
    may have signed up with it. So the link confirms only in the browser that signed up (or is
    signed in as the account: ``proven``), or with the account's password; otherwise the owner
    resets the password, which also confirms the address and ends every other session."""
    user = check_confirmation(token)
    if not proven and not (password and check_password_hash(user.password_hash, password)):
        raise ServiceError(
            "Enter the password you chose when you created the account.", field="password"
        )
    spend_token(CONFIRM, read_token(CONFIRM, token))
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
        record("user.email_confirmed", "user", user.id, actor=user)
    return user


class Busy(ServiceError):
    """Too many passwords are being checked at this moment: nothing was checked, try again."""

    retry_after_seconds = 2


# Checking a password is deliberately slow (scrypt: ~0.1 s of CPU and 32 MB each). Fifty people
# signing in at once would fill every server thread with hashing and stall every other page, so
# each server process checks at most LOGIN_HASH_SLOTS passwords at once and answers the others
# "busy, try again in a moment" straight away, without checking anything (issue 22).
_hash_slots: dict[int, threading.BoundedSemaphore] = {}
_hash_slots_lock = threading.Lock()


def hash_slots() -> threading.BoundedSemaphore:
    """This process's password-checking slots (LOGIN_HASH_SLOTS of them, default 1)."""
    size = max(1, int(current_app.config.get("LOGIN_HASH_SLOTS", 1)))
    with _hash_slots_lock:
        return _hash_slots.setdefault(size, threading.BoundedSemaphore(size))


@transactional
def authenticate(email: str, password: str) -> User:
    """Return the user for a correct email and password; one message for every failure.
    Raises Busy, before looking the account up, when every password-checking slot is taken."""
    slots = hash_slots()
    if not slots.acquire(blocking=False):
        raise Busy("Many people are signing in right now. Wait a few seconds, then try again.")
    try:
        user = find_user(email)
        if user is None:
            check_password_hash(_dummy_hash(), password)
            raise ServiceError("Enter a correct email address and password.", field="email")
        if not check_password_hash(user.password_hash, password):
            raise ServiceError("Enter a correct email address and password.", field="email")
    finally:
        slots.release()
    if not user.active:
        raise ServiceError("This account has been deactivated. Contact your administrator.")
    user.last_login_at = utcnow()
    record("user.signed_in", "user", user.id, actor=user, organisation_id=_org_id(user))
    return user


def _org_id(user: User) -> int | None:
    return user.membership.organisation_id if user.membership else None


# Sessions (server side, so that signing out and "sign out everywhere" end them for good).
