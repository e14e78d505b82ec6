"""Sign-up, email confirmation, login, password reset, organisations and invitations."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models import Invitation, Membership, Organisation, User, UserSession
from portal.models.accounts import INVITATION_DAYS, ORG_ROLES
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


@transactional
def authenticate(email: str, password: str) -> User:
    """Return the user for a correct email and password; one message for every failure."""
    user = find_user(email)
    if user is None:
        check_password_hash(_dummy_hash(), password)
        raise ServiceError("Enter a correct email address and password.", field="email")
    if not check_password_hash(user.password_hash, password):
        raise ServiceError("Enter a correct email address and password.", field="email")
    if not user.active:
        raise ServiceError("This account has been deactivated. Contact your administrator.")
    user.last_login_at = utcnow()
    record("user.signed_in", "user", user.id, actor=user, organisation_id=_org_id(user))
    return user


def _org_id(user: User) -> int | None:
    return user.membership.organisation_id if user.membership else None


# Sessions (server side, so that signing out and "sign out everywhere" end them for good).


def _session_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transactional
def start_session(user: User) -> str:
    """Open a session for ``user``; the returned id goes in the signed session cookie."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    hours = int(current_app.config["SESSION_LIFETIME_HOURS"])
    db.session.add(
        UserSession(
            id=_session_key(raw),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return raw


def session_user(user_id: str, raw: str | None) -> User | None:
    """The user of a live session (not ended, not past its absolute lifetime), else None."""
    if not raw or not user_id.isdigit():
        return None
    live = db.session.execute(
        sa.select(UserSession.user_id).where(
            UserSession.id == _session_key(raw),
            UserSession.user_id == int(user_id),
            UserSession.ended_at.is_(None),
            UserSession.expires_at > utcnow(),
        )
    ).first()
    return db.session.get(User, int(user_id)) if live else None


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


def find_organisation(text: str, *, excluding_id: int | None = None) -> Organisation | None:
    """The approved organisation whose name is exactly ``text`` (ignoring case) or one of whose
    email domains is ``text``; None otherwise. A search, never a list: one organisation must not
    be able to see which others use the portal (issue 17)."""
    text = text.strip()
    if not text:
        return None
    base = sa.select(Organisation).where(Organisation.status == "approved")
    if excluding_id is not None:
        base = base.where(Organisation.id != excluding_id)
    named = db.session.execute(
        base.where(sa.func.lower(Organisation.name) == text.lower())
    ).scalar_one_or_none()
    if named is not None:
        return named
    domain = text.lower().lstrip("@").rsplit("@", 1)[-1]
    if "." not in domain:
        return None
    like = f'%"{domain}"%'  # email_domains is a JSON list of lower-case strings
    for org in db.session.execute(
        base.where(sa.cast(Organisation.email_domains, sa.Text).like(like))
    ).scalars():
        if domain in (d.lower() for d in org.email_domains):
            return org
    return None


def _clean_list(values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        value = value.strip()
        if value and value.lower() not in {v.lower() for v in seen}:
            seen.append(value)
    return seen


@transactional
def create_organisation(
    user: User, name: str, email_domains: list[str], sponsor_names: list[str]
) -> Organisation:
    """A confirmed user creates a sponsor organisation, pending a reviewer's approval."""
    if not user.email_confirmed:
        raise ServiceError("Confirm your email address before you create an organisation.")
    if user.membership is not None or user.system_role:
        raise ServiceError("You already belong to an organisation.")
    name = name.strip()
    exists = db.session.execute(
        sa.select(Organisation.id).where(sa.func.lower(Organisation.name) == name.lower())
    ).first()
    if exists:
        raise ServiceError(
            "An organisation with this name already exists. Ask its administrator to invite you.",
            field="name",
        )
    domains = _clean_list([d.lower().lstrip("@") for d in email_domains]) or [
        email_domain(user.email)
    ]
    if email_domain(user.email) not in domains:
        raise ServiceError(
            f"Your email domain ({email_domain(user.email)}) must be one of the organisation's "
            "email domains.",
            field="email_domains",
        )
    org = Organisation(
        name=name, email_domains=domains, sponsor_names=_clean_list(sponsor_names or [name])
    )
    db.session.add(org)
    db.session.flush()
    db.session.add(Membership(user_id=user.id, organisation_id=org.id, role="sponsor_admin"))
    record(
        "organisation.created",
        "organisation",
        org.id,
        actor=user,
        organisation_id=org.id,
        after={"name": org.name, "email_domains": domains, "sponsor_names": org.sponsor_names},
    )
    return org


@transactional
def decide_organisation(
    reviewer: User, org_id: int, approve: bool, reason: str = ""
) -> Organisation:
    """A reviewer approves or rejects a pending organisation."""
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise ServiceError("That organisation does not exist.")
    if not approve and not reason.strip():
        raise ServiceError("Enter the reason for rejecting this organisation.", field="reason")
    before = {"status": org.status}
    org.status = "approved" if approve else "rejected"
    org.status_reason = reason.strip() or None
    org.decided_at = utcnow()
    record(
        "organisation.approved" if approve else "organisation.rejected",
        "organisation",
        org.id,
        actor=reviewer,
        organisation_id=org.id,
        before=before,
        after={"status": org.status, "reason": org.status_reason},
    )
    for membership in org.memberships:
        if membership.role == "sponsor_admin":
            verdict = "approved" if approve else f"not approved: {org.status_reason}"
            queue_email(
                membership.user.email,
                f"{org.name} has been {'approved' if approve else 'reviewed'}",
                f"Your organisation {org.name} was {verdict}.\n",
            )
    return org


def is_webmail(email: str) -> bool:
    return email_domain(email) in WEBMAIL_DOMAINS


def webmail_warning(org: Organisation, email: str) -> str | None:
    """A warning for the inviting admin when an organisation with its own, approved email
    domains invites a personal webmail address; None otherwise."""
    if org.approved and org.email_domains and is_webmail(email):
        return (
            f"{normalise_email(email)} is a personal webmail address, not an address at "
            f"{' or '.join(org.email_domains)}. Check it belongs to the person you mean: "
            "anyone who can read that mailbox can join your organisation."
        )
    return None


@transactional
def invite(admin: User, email: str, role: str, *, webmail_confirmed: bool = False) -> Invitation:
    """A sponsor_admin invites someone to their organisation by email."""
    if not admin.has_role("sponsor_admin") or admin.organisation is None:
        raise ServiceError("Only an organisation's administrator can invite people.")
    if role not in ORG_ROLES:
        raise ServiceError("Choose a role.", field="role")
    email = normalise_email(email)
    existing = find_user(email)
    if existing is not None and (existing.membership is not None or existing.system_role):
        raise ServiceError("This person already belongs to an organisation.", field="email")
    org = admin.organisation
    warning = webmail_warning(org, email)
    if warning and not webmail_confirmed:
        raise ServiceError(
            warning + " If you are sure, tick \u201cSend it to this address anyway\u201d.",
            field="email",
        )
    invitation = Invitation(organisation_id=org.id, email=email, role=role, invited_by_id=admin.id)
    db.session.add(invitation)
    db.session.flush()
    token = make_token(INVITE, invitation_id=invitation.id)
    link = _external("auth.accept_invitation", token=token)
    queue_email(
        email,
        f"You have been invited to {org.name}",
        f"{admin.full_name or admin.email} invited you to join {org.name} on the "
        f"Trial Transparency Portal.\n\nAccept the invitation:\n\n{link}\n\n"
        f"The link works once and expires in {INVITATION_DAYS} days.\n",
    )
    record(
        "invitation.sent",
        "invitation",
        invitation.id,
        actor=admin,
        organisation_id=org.id,
        after={"email": email, "role": role, "webmail": bool(warning)},
    )
    return invitation


def pending_invitations(org: Organisation) -> list[Invitation]:
    """Invitations neither accepted nor revoked, newest first (expired ones included)."""
    return list(
        db.session.execute(
            sa.select(Invitation)
            .where(
                Invitation.organisation_id == org.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .order_by(Invitation.created_at.desc())
        ).scalars()
    )


@transactional
def revoke_invitation(admin: User, invitation_id: int) -> Invitation:
    """Withdraw an invitation that has not been accepted; its link stops working."""
    if not admin.has_role("sponsor_admin") or admin.organisation is None:
        raise ServiceError("Only an organisation's administrator can withdraw invitations.")
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.organisation_id != admin.organisation.id:
        raise ServiceError("That invitation does not exist.")
    if invitation.accepted_at is not None:
        raise ServiceError("This invitation has already been accepted.")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        record(
            "invitation.revoked",
            "invitation",
            invitation.id,
            actor=admin,
            organisation_id=invitation.organisation_id,
            before={"email": invitation.email, "role": invitation.role},
        )
    return invitation


@transactional
def remove_member(admin: User, user_id: int) -> User:
    """An organisation's administrator removes a member; every session of theirs ends."""
    if not admin.has_role("sponsor_admin") or admin.organisation is None:
        raise ServiceError("Only an organisation's administrator can remove people.")
    user = db.session.get(User, user_id)
    membership = user.membership if user is not None else None
    if membership is None or membership.organisation_id != admin.organisation.id:
        raise ServiceError("That person is not a member of your organisation.")
    if user.id == admin.id:
        raise ServiceError("You cannot remove yourself. Ask another administrator.")
    org_id, role = membership.organisation_id, membership.role
    db.session.delete(membership)
    db.session.flush()
    db.session.expire(user, ["membership"])
    ended = _end_all_sessions(user, "removed_from_organisation")
    record(
        "membership.removed",
        "user",
        user.id,
        actor=admin,
        organisation_id=org_id,
        before={"email": user.email, "role": role},
        after={"sessions_ended": ended},
    )
    return user


def check_invitation(token: str) -> Invitation:
    try:
        payload = read_token(INVITE, token, max_age=INVITATION_DAYS * 24 * 3600)
    except TokenError as exc:
        raise ServiceError(str(exc)) from exc
    invitation = db.session.get(Invitation, payload["invitation_id"])
    if invitation is None or invitation.accepted_at is not None:
        raise ServiceError("This invitation has already been used.")
    if invitation.revoked_at is not None:
        raise ServiceError(
            "This invitation has been withdrawn. "
            "Ask the organisation's administrator for a new one."
        )
    return invitation


def invitation_needs_own_password(invitation: Invitation) -> bool:
    """True when the invited address already has a confirmed account: it joins only when its
    owner is signed in as it or gives its password (never a password typed for a new account)."""
    user = find_user(invitation.email)
    return user is not None and user.email_confirmed


@transactional
def accept_invitation(
    token: str,
    full_name: str = "",
    password: str = "",
    *,
    signed_in_as: User | None = None,
) -> User:
    """Join the organisation with the invited address; the link proves the address.

    - No account: one is created, confirmed, with the name and password typed.
    - An unconfirmed account: nobody ever proved that address, so whoever signed it up may not
      be the invitee. The invitee takes it over: their name and password replace the old ones
      and every other session of it ends, so the old password and sessions open nothing.
    - A confirmed account: joins only when signed in as itself or given its own password.
    """
    invitation = check_invitation(token)
    user = find_user(invitation.email)
    claimed = False
    if user is None:
        user = User(
            email=invitation.email,
            full_name=full_name.strip(),
            password_hash=generate_password_hash(password),
            email_confirmed_at=utcnow(),
        )
        db.session.add(user)
        db.session.flush()
    elif not user.email_confirmed:
        if not password:
            raise ServiceError("Enter a password", field="password")
        user.full_name = full_name.strip() or user.full_name
        user.password_hash = generate_password_hash(password)
        user.email_confirmed_at = utcnow()
        _end_all_sessions(user, "account_claimed_by_invitation")
        claimed = True
    elif not (signed_in_as is not None and signed_in_as.id == user.id) and not (
        password and check_password_hash(user.password_hash, password)
    ):
        raise ServiceError("Enter your password correctly.", field="password")
    if not user.active:
        raise ServiceError("This account has been deactivated. Contact your administrator.")
    if user.membership is not None or user.system_role:
        raise ServiceError("This account already belongs to an organisation.")
    spend_token(INVITE, read_token(INVITE, token, max_age=INVITATION_DAYS * 24 * 3600))
    db.session.add(
        Membership(
            user_id=user.id, organisation_id=invitation.organisation_id, role=invitation.role
        )
    )
    invitation.accepted_at = utcnow()
    if claimed:
        record(
            "user.claimed_through_invitation",
            "user",
            user.id,
            actor=user,
            organisation_id=invitation.organisation_id,
            after={"note": "unconfirmed account: new name and password, other sessions ended"},
        )
    record(
        "invitation.accepted",
        "invitation",
        invitation.id,
        actor=user,
        organisation_id=invitation.organisation_id,
        after={"user_id": user.id, "role": invitation.role},
    )
    return user
