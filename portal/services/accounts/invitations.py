"""Invitations: an organisation admin invites, revokes and removes members; invitees accept."""

from __future__ import annotations

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.models import Invitation, Membership, Organisation, User
from portal.models.accounts import INVITATION_DAYS, ORG_ROLES
from portal.services import ServiceError, transactional
from portal.services.accounts.organisations import (
    webmail_warning,
)
from portal.services.accounts.sessions import (
    _end_all_sessions,
)
from portal.services.accounts.signup import (
    INVITE,
    _external,
    find_user,
    normalise_email,
)
from portal.services.audit import record
from portal.services.mail import queue_email
from portal.timeutil import utcnow
from portal.tokens import TokenError, make_token, read_token, spend_token


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
    _notify_accepted(invitation, user)
    return user


def _notify_accepted(invitation: Invitation, user: User) -> None:
    """Tell whoever sent the invitation, in their next digest (issue 20)."""
    from portal.models.accounts import ROLE_LABELS
    from portal.services.notifications import notify_users

    inviter = db.session.get(User, invitation.invited_by_id)
    who = user.full_name or user.email
    role = ROLE_LABELS.get(invitation.role, "member").lower()
    notify_users(
        [inviter], "team", f"invitation:{invitation.id}", "",
        organisation_id=invitation.organisation_id,
        extra={
            "heading": "Your team",
            "lines": [f"{who} accepted your invitation and joined as {role}."],
            "link": "/organisation",
        },
    )  # fmt: skip
