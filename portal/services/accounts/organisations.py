"""Organisations: finding, creating and approving them, and personal webmail domains."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Membership, Organisation, User
from portal.services import AlreadyDone, ServiceError, transactional
from portal.services.accounts.signup import (
    WEBMAIL_DOMAINS,
    email_domain,
    normalise_email,
)
from portal.services.audit import record
from portal.services.mail import queue_email
from portal.timeutil import utcnow


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
