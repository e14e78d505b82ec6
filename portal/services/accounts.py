"""Sign-up, email confirmation, login, password reset, organisations and invitations."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from flask import current_app, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.mail import queue_email
from portal.models import Invitation, Membership, Organisation, User
from portal.models.accounts import ORG_ROLES
from portal.services import AlreadyDone, ServiceError, transactional
from portal.services.audit import record
from portal.timeutil import utcnow
from portal.tokens import TokenError, make_token, read_token, spend_token

CONFIRM = "confirm-email"
RESET = "reset-password"
INVITE = "invite"


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
    token = make_token(CONFIRM, user_id=user.id)
    link = _external("auth.confirm_email", token=token)
    queue_email(
        user.email,
        "Confirm your email address",
        f"Hello {user.full_name or user.email},\n\n"
        f"Confirm your email address for the Trial Transparency Portal:\n\n{link}\n\n"
        "The link works once and expires in 3 days.\n",
    )


@transactional
def register(email: str, full_name: str, password: str) -> User:
    """Create an unconfirmed account and email a confirmation link."""
    email = normalise_email(email)
    if find_user(email) is not None:
        raise ServiceError(
            "An account with this email address already exists. Sign in or reset your password.",
            field="email",
        )
    user = User(
        email=email, full_name=full_name.strip(), password_hash=generate_password_hash(password)
    )
    db.session.add(user)
    db.session.flush()
    record("user.registered", "user", user.id, actor=user, after={"email": email})
    _send_confirmation(user)
    return user


@transactional
def resend_confirmation(user: User) -> None:
    if not user.email_confirmed:
        _send_confirmation(user)


@transactional
def confirm_email(token: str) -> User:
    """Mark the email confirmed; a link works once."""
    try:
        payload = read_token(CONFIRM, token)
    except TokenError as exc:
        raise ServiceError(str(exc)) from exc
    user = db.session.get(User, payload["user_id"])
    if user is None:
        raise ServiceError("This link is not valid. Check you copied all of it.")
    spend_token(CONFIRM, payload)
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


@transactional
def request_password_reset(email: str) -> None:
    """Email a reset link if the account exists; say the same thing either way."""
    user = find_user(email)
    if user is None or not user.active:
        return
    token = make_token(RESET, user_id=user.id, fp=user.password_hash[-12:])
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
    if user is None or user.password_hash[-12:] != payload.get("fp"):
        raise ServiceError("This link has already been used.")
    return user


@transactional
def reset_password(token: str, new_password: str) -> User:
    user = check_reset_token(token)
    spend_token(RESET, read_token(RESET, token))
    user.password_hash = generate_password_hash(new_password)
    if user.email_confirmed_at is None:  # the link proved the address
        user.email_confirmed_at = utcnow()
    record("user.password_reset", "user", user.id, actor=user, organisation_id=_org_id(user))
    return user


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
    """A reviewer approves or rejects a pending organisation.

    Idempotent: the decision it already has changes nothing, records nothing and sends no email
    (raises AlreadyDone, saying so). The row is locked so two reviewers deciding at once run one
    after the other."""
    org = (
        db.session.execute(
            sa.select(Organisation)
            .where(Organisation.id == org_id)
            .with_for_update(of=Organisation)  # OF: the eager loads are outer joins
            .execution_options(populate_existing=True)
        )
        .unique()
        .scalar_one_or_none()
    )
    if org is None:
        raise ServiceError("That organisation does not exist.")
    target = "approved" if approve else "rejected"
    if org.status == target:
        raise AlreadyDone(
            f"{org.name} is already {target}: nothing was changed and no email was sent."
        )
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


@transactional
def invite(admin: User, email: str, role: str) -> Invitation:
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
    invitation = Invitation(organisation_id=org.id, email=email, role=role, invited_by_id=admin.id)
    db.session.add(invitation)
    db.session.flush()
    token = make_token(INVITE, invitation_id=invitation.id)
    link = _external("auth.accept_invitation", token=token)
    queue_email(
        email,
        f"You have been invited to {org.name}",
        f"{admin.full_name or admin.email} invited you to join {org.name} on the "
        f"Trial Transparency Portal.\n\nAccept the invitation:\n\n{link}\n",
    )
    record(
        "invitation.sent",
        "invitation",
        invitation.id,
        actor=admin,
        organisation_id=org.id,
        after={"email": email, "role": role},
    )
    return invitation


def check_invitation(token: str) -> Invitation:
    try:
        payload = read_token(INVITE, token, max_age=14 * 24 * 3600)
    except TokenError as exc:
        raise ServiceError(str(exc)) from exc
    invitation = db.session.get(Invitation, payload["invitation_id"])
    if invitation is None or invitation.accepted_at is not None:
        raise ServiceError("This invitation has already been used.")
    return invitation


@transactional
def accept_invitation(token: str, full_name: str, password: str) -> User:
    """Create (or join with) the invited account; the link proves the email address."""
    invitation = check_invitation(token)
    spend_token(INVITE, read_token(INVITE, token, max_age=14 * 24 * 3600))
    user = find_user(invitation.email)
    if user is None:
        user = User(
            email=invitation.email,
            full_name=full_name.strip(),
            password_hash=generate_password_hash(password),
            email_confirmed_at=utcnow(),
        )
        db.session.add(user)
        db.session.flush()
    elif user.membership is not None:
        raise ServiceError("This account already belongs to an organisation.")
    db.session.add(
        Membership(
            user_id=user.id, organisation_id=invitation.organisation_id, role=invitation.role
        )
    )
    invitation.accepted_at = utcnow()
    record(
        "invitation.accepted",
        "invitation",
        invitation.id,
        actor=user,
        organisation_id=invitation.organisation_id,
        after={"user_id": user.id, "role": invitation.role},
    )
    return user
