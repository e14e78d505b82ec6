"""Claiming trials, disputes between organisations, release and transfer.

One trial has at most one owner: ownership is taken with a conditional UPDATE (only where the
trial has no owner) and a partial unique index allows one approved claim per trial, so two
concurrent claims cannot both win.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.domain.claims.matching import sponsor_name_matches
from portal.extensions import db
from portal.models import Claim, Organisation, RegistryEntry, Trial, TrialIdentifier, User
from portal.services import AlreadyDone, ServiceError, transactional
from portal.services.accounts import email_domain
from portal.services.audit import record
from portal.timeutil import utcnow

OPEN = ("pending", "disputed", "approved")
SPONSOR_ENTERED_HASH = "sponsor-entered"


def _take_ownership(trial_id: int, org_id: int) -> bool:
    """Set the owner only if there is none; True if this call won."""
    result = db.session.execute(
        sa.update(Trial)
        .where(Trial.id == trial_id, Trial.owner_organisation_id.is_(None))
        .values(owner_organisation_id=org_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def match_reasons(user: User, trial: Trial) -> tuple[bool, str]:
    """Whether a claim can be approved automatically, and why (shown to the reviewer)."""
    org = user.organisation
    problems = []
    if not user.email_confirmed:
        problems.append("the user's email address is not confirmed")
    elif email_domain(user.email) not in org.email_domains:
        problems.append(
            f"the user's email domain {email_domain(user.email)} is not one of the "
            f"organisation's ({', '.join(org.email_domains)})"
        )
    if not sponsor_name_matches(trial.sponsor_name, org.sponsor_names):
        problems.append(
            f"the registered sponsor “{trial.sponsor_name or 'not given'}” does not match the "
            f"organisation's names ({'; '.join(org.sponsor_names)})"
        )
    if problems:
        return False, "Not matched automatically: " + "; and ".join(problems) + "."
    return True, (
        f"Matched automatically: confirmed email at {email_domain(user.email)} and registered "
        f"sponsor “{trial.sponsor_name}” is one of the organisation's names."
    )


@transactional
def claim_trial(
    user: User, trial_id: int, relation: str | None = None, relation_detail: str | None = None
) -> Claim:
    """Claim a trial for the user's organisation: approved, pending or a dispute.

    ``relation`` is what the organisation is to the trial (``RELATIONS``); "other" needs
    ``relation_detail`` in the claimant's words. Both are shown to the reviewer."""
    from portal.models.claims import RELATIONS

    relation_detail = (relation_detail or "").strip() or None
    if relation is not None and relation not in RELATIONS:
        raise ServiceError("Choose what your organisation is to this trial.", field="relation")
    if relation == "other" and not relation_detail:
        raise ServiceError("Say what your organisation is to this trial.", field="relation_detail")
    if relation_detail and len(relation_detail) > 500:
        raise ServiceError(
            "Describe the relation in 500 characters or fewer.", field="relation_detail"
        )
    org = user.organisation
    if org is None or not org.approved or not user.has_role("sponsor", "sponsor_admin"):
        raise ServiceError("Only sponsors of an approved organisation can claim trials.")
    trial = db.session.get(Trial, trial_id)
    if trial is None:
        raise ServiceError("That trial does not exist.")
    if trial.owner_organisation_id == org.id:
        raise ServiceError("Your organisation already owns this trial.")
    open_claim = db.session.execute(
        sa.select(Claim).where(
            Claim.trial_id == trial.id, Claim.organisation_id == org.id, Claim.status.in_(OPEN)
        )
    ).scalar_one_or_none()
    if open_claim is not None:
        raise ServiceError(
            "Your organisation has already claimed this trial; it is with a reviewer."
        )

    automatic, reason = match_reasons(user, trial)
    claim = Claim(
        trial_id=trial.id,
        organisation_id=org.id,
        requested_by_id=user.id,
        match_reason=reason,
        relation=relation,
        relation_detail=relation_detail if relation == "other" else None,
    )
    if trial.owner_organisation_id is not None:
        owner = db.session.get(Organisation, trial.owner_organisation_id)
        claim.status = "disputed"
        claim.match_reason = f"Already owned by {owner.name}. {reason}"
    elif automatic and _take_ownership(trial.id, org.id):
        claim.status = "approved"
        claim.decided_at = utcnow()
    elif automatic:  # another organisation won the race a moment ago
        claim.status = "disputed"
        claim.match_reason = f"Another organisation took ownership first. {reason}"
    else:
        claim.status = "pending"
    db.session.add(claim)
    try:
        db.session.flush()
    except IntegrityError as exc:
        raise ServiceError("This trial was claimed at the same moment; try again.") from exc
    record(
        f"claim.{claim.status}",
        "trial",
        trial.id,
        actor=user,
        organisation_id=org.id,
        after={
            "claim_id": claim.id,
            "status": claim.status,
            "reason": claim.match_reason,
            "relation": claim.relation,
        },
    )
    return claim


@transactional
def decide_claim(reviewer: User, claim_id: int, approve: bool, reason: str) -> Claim:
    """A reviewer approves or rejects a pending claim, or resolves a dispute.

    Idempotent: repeating the decision a claim already has changes nothing (AlreadyDone); the
    other decision on a decided claim is refused. The claim row is locked first."""
    claim = (
        db.session.execute(
            sa.select(Claim)
            .where(Claim.id == claim_id)
            .with_for_update(of=Claim)  # OF: the eager loads are outer joins
            .execution_options(populate_existing=True)
        )
        .unique()
        .scalar_one_or_none()
    )
    if claim is None:
        raise ServiceError("That claim does not exist.")
    if claim.status == ("approved" if approve else "rejected"):
        raise AlreadyDone(f"This claim is already {claim.status}: nothing was changed.")
    if claim.status not in ("pending", "disputed"):
        raise ServiceError("This claim has already been decided.")
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ServiceError("Enter the reason for rejecting this claim.", field="reason")
    before = {"status": claim.status, "owner": claim.trial.owner_organisation_id}
    if approve:
        if claim.status == "disputed" or claim.trial.owner_organisation_id is not None:
            _release_current_owner(
                claim.trial_id, reviewer, f"Dispute resolved for {claim.organisation.name}"
            )
            db.session.execute(
                sa.update(Trial)
                .where(Trial.id == claim.trial_id)
                .values(owner_organisation_id=None)
            )
        if not _take_ownership(claim.trial_id, claim.organisation_id):
            raise ServiceError("Another organisation took ownership meanwhile; reload the page.")
        claim.status = "approved"
    else:
        claim.status = "rejected"
    claim.decided_by_id = reviewer.id
    claim.decided_at = utcnow()
    claim.decision_reason = reason or None
    db.session.flush()
    db.session.refresh(claim.trial)
    record(
        f"claim.{claim.status}",
        "trial",
        claim.trial_id,
        actor=reviewer,
        organisation_id=claim.organisation_id,
        before=before,
        after={
            "claim_id": claim.id,
            "status": claim.status,
            "reason": reason,
            "owner": claim.trial.owner_organisation_id,
        },
    )
    _notify_claim(claim, before, reason)
    return claim


def _notify_claim(claim: Claim, before: dict, reason: str) -> None:
    """Tell the claimant (and, for a dispute, the owner until now) in their next digest."""
    from portal.services.notifications import notify_organisation, trial_heading

    dispute = before["status"] == "disputed"
    noun = "dispute over this trial" if dispute else "claim on this trial"
    if claim.status == "approved":
        text = f"A reviewer decided your {noun}: your organisation now holds the trial."
    else:
        text = f"A reviewer rejected your {noun}: \u201c{reason}\u201d"
    notify_organisation(
        claim.organisation_id, "decisions", f"claim:{claim.id}:{claim.status}", text,
        trial=claim.trial,
    )  # fmt: skip
    old_owner = before.get("owner")
    if dispute and old_owner and old_owner != claim.organisation_id and claim.status == "approved":
        notify_organisation(
            old_owner, "decisions", f"claim:{claim.id}:released", "", extra={
                "heading": "A dispute was decided against your organisation",
                "lines": [
                    f"A reviewer gave \u201c{trial_heading(claim.trial)}\u201d to "
                    f"{claim.organisation.name}. Your organisation no longer holds it.",
                ],
            },
        )  # fmt: skip


def _release_current_owner(trial_id: int, actor: User, reason: str) -> None:
    current = db.session.execute(
        sa.select(Claim).where(Claim.trial_id == trial_id, Claim.status == "approved")
    ).scalar_one_or_none()
    if current is not None:
        current.status = "released"
        current.decision_reason = reason
        current.decided_by_id = actor.id
        current.decided_at = utcnow()
        db.session.flush()


def _owned_trial(user: User, trial_id: int) -> Trial:
    trial = db.session.get(Trial, trial_id)
    org = user.organisation
    if trial is None or org is None or trial.owner_organisation_id != org.id:
        raise ServiceError("Your organisation does not own this trial.")
    if not user.has_role("sponsor_admin", "sponsor"):
        raise ServiceError("Only sponsors can release or transfer trials.")
    return trial


@transactional
def release_trial(user: User, trial_id: int, reason: str) -> Trial:
    """The owner gives a trial up (for example, it was claimed by mistake)."""
    trial = _owned_trial(user, trial_id)
    _release_current_owner(trial.id, user, reason.strip() or "Released by the owner")
    trial.owner_organisation_id = None
    record(
        "trial.released",
        "trial",
        trial.id,
        actor=user,
        organisation_id=user.organisation.id,
        before={"owner": user.organisation.id},
        after={"owner": None, "reason": reason},
    )
    return trial


@transactional
def transfer_trial(user: User, trial_id: int, to_org_id: int) -> Trial:
    """The owner hands a trial to another approved organisation (for example, a new sponsor)."""
    trial = _owned_trial(user, trial_id)
    target = db.session.get(Organisation, to_org_id)
    if target is None or not target.approved or target.id == trial.owner_organisation_id:
        raise ServiceError("Choose another approved organisation.", field="organisation")
    _release_current_owner(trial.id, user, f"Transferred to {target.name}")
    trial.owner_organisation_id = target.id
    db.session.add(
        Claim(
            trial_id=trial.id,
            organisation_id=target.id,
            requested_by_id=user.id,
            status="approved",
            match_reason=f"Transferred by {user.organisation.name}",
            decided_by_id=user.id,
            decided_at=utcnow(),
        )
    )
    db.session.flush()
    record(
        "trial.transferred",
        "trial",
        trial.id,
        actor=user,
        organisation_id=target.id,
        before={"owner": user.organisation.id},
        after={"owner": target.id},
    )
    return trial


ID_PATTERNS = {
    "nct": r"^NCT\d{8}$",
    "isrctn": r"^ISRCTN\d{8}$",
    "euct": r"^\d{4}-\d{6}-\d{2}-\d{2}$",
    "eudract": r"^\d{4}-\d{6}-\d{2}$",
    "iras": r"^\d{5,7}$",
}
REGISTRY_FOR_KIND = {
    "nct": "ClinicalTrials.gov",
    "isrctn": "ISRCTN",
    "euct": "CTIS",
    "eudract": "EUCTR",
}


def identifier_kind(value: str) -> str | None:
    """The kind of a trial identifier typed by a person (NCT, ISRCTN, EU CT, EudraCT, IRAS)."""
    import re

    value = value.strip().upper().replace(" ", "")
    for kind, pattern in ID_PATTERNS.items():
        if re.match(pattern, value):
            return kind
    return None


def find_by_identifier(value: str) -> Trial | None:
    kind = identifier_kind(value)
    if kind is None:
        return None
    return db.session.execute(
        sa.select(Trial)
        .join(TrialIdentifier, TrialIdentifier.trial_id == Trial.id)
        .where(TrialIdentifier.kind == kind, TrialIdentifier.value == value.strip().upper())
    ).scalar_one_or_none()


@transactional
def add_unregistered_trial(
    user: User, identifier: str, title: str, sponsor_name: str, registered_on: date | None = None
) -> Trial:
    """A sponsor adds a trial no import knows yet; it stays sponsor-entered until one does."""
    org = user.organisation
    if org is None or not org.approved or not user.has_role("sponsor", "sponsor_admin"):
        raise ServiceError("Only sponsors of an approved organisation can add trials.")
    kind = identifier_kind(identifier)
    if kind is None:
        raise ServiceError(
            "Enter a registry id like NCT01234567, ISRCTN12345678, 2024-123456-12 (EudraCT), "
            "2024-512345-12-00 (EU CT) or an IRAS id (5 to 7 digits).",
            field="identifier",
        )
    value = identifier.strip().upper().replace(" ", "")
    if find_by_identifier(value) is not None:
        raise ServiceError(
            "The portal already knows this trial: find it and claim it.", field="identifier"
        )
    trial = Trial(
        title=title.strip(),
        sponsor_name=sponsor_name.strip() or org.name,
        sponsor_entered=True,
        owner_organisation_id=org.id,
        imported_facts={},
    )
    db.session.add(trial)
    db.session.flush()
    db.session.add(TrialIdentifier(trial_id=trial.id, kind=kind, value=value))
    if kind in REGISTRY_FOR_KIND:
        # Stands in for the registry record until an import brings the real one (same key).
        db.session.add(
            RegistryEntry(
                trial_id=trial.id,
                registry_name=REGISTRY_FOR_KIND[kind],
                registry_id=value,
                registered_on=registered_on,
                content_hash=SPONSOR_ENTERED_HASH,
                record={},
                source_file=f"entered by {user.email}",
            )
        )
    db.session.add(
        Claim(
            trial_id=trial.id,
            organisation_id=org.id,
            requested_by_id=user.id,
            status="approved",
            match_reason="Added by the sponsor (not yet in a registry import)",
            decided_at=utcnow(),
        )
    )
    db.session.flush()
    record(
        "trial.added_by_sponsor",
        "trial",
        trial.id,
        actor=user,
        organisation_id=org.id,
        after={"identifier": value, "title": trial.title},
    )
    return trial
