"""The reviewer's work: the queue of submissions, decisions, and audit samples of met duties.

A Submission is one item a sponsor sent for review (a lay summary version, participant-offer
evidence, a deferral or waiver). Its ``due`` is the due date of the duty's Obligation when it was
submitted, so the queue puts the most urgent first. Ownership disputes are Claim rows with status
``disputed``; the queue lists them too and links to the claim page that decides them.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    AuditSample,
    AuditSampleItem,
    Claim,
    Obligation,
    Organisation,
    ParticipantOffer,
    ReviewComment,
    SponsorFact,
    Submission,
    SummaryVersion,
    Trial,
    User,
)
from portal.services import AlreadyDone, ServiceError, transactional
from portal.services.audit import record
from portal.timeutil import aware, utcnow

KIND_LABELS = {
    "summary": "Lay summary",
    "participant_offer": "Participant offer",
    "deferral": "Deferral",
    "waiver": "Waiver",
    "claim_dispute": "Claim dispute",
}
STATUS_LABELS = {
    "waiting": "Waiting for review",
    "changes_requested": "Changes requested",
    "approved": "Approved",
    "withdrawn": "Replaced by a newer submission",
}
DECISIONS = {"approve": "Approve", "request_changes": "Request changes"}
# The duties each kind of evidence serves, first match wins (the lay summary is part of UK-RES,
# or EU-RES Annex V for trials only under the EU rules).
KIND_DUTIES = {"summary": ("UK-RES", "EU-RES"), "participant_offer": ("UK-PART",)}
QUEUE_PAGE_SIZE = 50
SAMPLE_SIZE = 10  # issue 6: "size a parameter, default 10"
SAMPLE_MAX = 200
MET_STATUSES = ("met", "met_late")
FINDINGS = {"confirmed": "Confirmed", "problem": "Problem found"}


# --- submissions ---------------------------------------------------------------------------------


def duty_due(trial_id: int, duties: tuple[str, ...]) -> tuple[str | None, date | None]:
    """The first of ``duties`` the trial has an obligation for (a duty that does not apply is
    not one: those verdicts are not ``obligations`` rows), and its current due date."""
    rows = dict(
        db.session.execute(
            sa.select(Obligation.duty, Obligation.due).where(
                Obligation.trial_id == trial_id, Obligation.duty.in_(duties)
            )
        ).all()
    )
    for duty in duties:
        if duty in rows:
            return duty, rows[duty]
    return (duties[0] if duties else None), None


def create_submission(
    user: User, trial: Trial, kind: str, object_id: int, duty: str | None = None
) -> Submission:
    """Put an item in the reviewer's queue, in the caller's transaction (audited)."""
    duties = (duty,) if duty else KIND_DUTIES.get(kind, ())
    duty, due = duty_due(trial.id, duties)
    submission = Submission(
        kind=kind,
        trial_id=trial.id,
        organisation_id=trial.owner_organisation_id,
        object_id=object_id,
        duty=duty,
        due=due,
        status="waiting",
        submitted_by_id=user.id,
        submitted_at=utcnow(),
    )
    db.session.add(submission)
    db.session.flush()
    record(
        "review.submitted",
        "trial",
        trial.id,
        actor=user,
        organisation_id=trial.owner_organisation_id,
        after={
            "submission": submission.id,
            "kind": kind,
            "object_id": object_id,
            "duty": duty,
            "due": due,
        },
    )
    return submission


def submit_new_deferrals(
    user: User, trial: Trial, before: dict[str, Any], after: dict[str, Any]
) -> list[Submission]:
    """Called by sponsor_facts.set_facts: each deferral or waiver just added goes for review.

    Runs before the obligations are recomputed, so ``due`` is the duty's deadline as it stood
    when the sponsor asked (the deferral itself then moves it).
    """
    made = []
    for key, kind in (("deferrals", "deferral"), ("waivers", "waiver")):
        if key not in after:
            continue
        old = before.get(key) or []
        new = [entry for entry in after[key] or [] if entry not in old]
        if not new:
            continue
        row_id = db.session.execute(
            sa.select(SponsorFact.id).where(
                SponsorFact.trial_id == trial.id,
                SponsorFact.key == key,
                SponsorFact.current.is_(True),
            )
        ).scalar_one()
        for entry in new:
            duty = entry.get("duty") if isinstance(entry, dict) else None
            made.append(create_submission(user, trial, kind, row_id, duty=duty))
    return made


def _withdraw_waiting(trial_id: int, kind: str, user: User) -> list[Submission]:
    """Older submissions of ``kind`` still waiting are replaced by a new one."""
    rows = list(
        db.session.execute(
            sa.select(Submission).where(
                Submission.trial_id == trial_id,
                Submission.kind == kind,
                Submission.status == "waiting",
            )
        ).scalars()
    )
    for row in rows:
        row.status = "withdrawn"
        row.decided_at = utcnow()
        record(
            "review.withdrawn",
            "trial",
            trial_id,
            actor=user,
            organisation_id=row.organisation_id,
            after={"submission": row.id, "kind": kind, "reason": "replaced by a newer one"},
        )
    return rows


@transactional
def decide(reviewer: User, submission_id: int, decision: str, comment: str) -> Submission:
    """Approve, or request changes with a comment the sponsor sees on the trial page."""
    submission = db.session.execute(
        sa.select(Submission).where(Submission.id == submission_id).with_for_update()
    ).scalar_one_or_none()
    if submission is None:
        raise ServiceError("That submission does not exist.")
    comment = (comment or "").strip()
    if decision not in DECISIONS:
        raise ServiceError("Choose approve or request changes.", field="decision")
    if decision == "request_changes" and not comment:
        raise ServiceError(
            "Enter a comment saying what the sponsor needs to change.", field="comment"
        )
    if len(comment) > 5000:
        raise ServiceError("The comment must be 5,000 characters or fewer.", field="comment")
    done = {"approve": "approved", "request_changes": "changes_requested"}[decision]
    if submission.status == done:
        said = "approved" if done == "approved" else "sent back with changes requested"
        raise AlreadyDone(f"This submission was already {said}: nothing was changed.")
    if submission.status != "waiting":
        raise ServiceError(
            "This submission has already been decided or replaced: reload the queue.",
            field="decision",
        )
    approved = decision == "approve"
    submission.status = "approved" if approved else "changes_requested"
    submission.decided_by_id = reviewer.id
    submission.decided_at = utcnow()
    if submission.kind == "summary":
        version = db.session.get(SummaryVersion, submission.object_id)
        if version is not None:
            version.status = "approved" if approved else "changes_requested"
    elif submission.kind == "participant_offer":
        offer = db.session.get(ParticipantOffer, submission.object_id)
        if offer is not None:
            offer.status = "accepted" if approved else "questioned"
    word = "question" if submission.kind == "participant_offer" and not approved else decision
    db.session.add(
        ReviewComment(
            submission_id=submission.id, author_id=reviewer.id, decision=word, body=comment
        )
    )
    if submission.kind in ("participant_offer", "deferral", "waiver"):
        # The offer meets UK-PART only while not questioned; a deferral or waiver sent back is
        # not applied (portal.services.evidence).
        _recompute(submission.trial_id)
    record(
        "review.approved" if approved else "review.changes_requested",
        "trial",
        submission.trial_id,
        actor=reviewer,
        organisation_id=submission.organisation_id,
        before={"status": "waiting"},
        after={
            "submission": submission.id,
            "kind": submission.kind,
            "status": submission.status,
            "comment": comment,
        },
    )
    _notify_decision(submission, approved, comment)
    return submission


def _notify_decision(submission: Submission, approved: bool, comment: str) -> None:
    """Tell the submitting organisation in its next digest (issue 20)."""
    from portal.models import Trial
    from portal.services.notifications import notify_organisation

    what = describe(submission)
    if approved:
        text = f"A reviewer approved: {what}."
    else:
        text = f"A reviewer asked for changes to {what}: \u201c{comment}\u201d"
    notify_organisation(
        submission.organisation_id,
        "decisions",
        f"review:{submission.id}:{submission.status}",
        text,
        trial=db.session.get(Trial, submission.trial_id),
        urgency=-1 if not approved else 2,
    )


def _recompute(trial_id: int) -> None:
    """The trial's verdicts follow a review decision, in the decision's transaction."""
    from portal.services.obligations import recompute_for_trials

    db.session.flush()
    recompute_for_trials([trial_id], reason="review")


def comments_for_trial(trial_id: int) -> list[tuple[ReviewComment, Submission]]:
    """Every reviewer comment on the trial's submissions, newest first."""
    return [
        (comment, submission)
        for comment, submission in db.session.execute(
            sa.select(ReviewComment, Submission)
            .join(Submission, Submission.id == ReviewComment.submission_id)
            .where(Submission.trial_id == trial_id)
            .order_by(ReviewComment.created_at.desc(), ReviewComment.id.desc())
        ).all()
    ]


def submissions_for_trial(trial_id: int, kind: str | None = None) -> list[Submission]:
    query = sa.select(Submission).where(Submission.trial_id == trial_id)
    if kind:
        query = query.where(Submission.kind == kind)
    return list(
        db.session.execute(
            query.order_by(Submission.submitted_at.desc(), Submission.id.desc())
        ).scalars()
    )


def describe(submission: Submission) -> str:
    """What was submitted, in a few words."""
    if submission.kind == "summary":
        version = db.session.get(SummaryVersion, submission.object_id)
        return f"Lay summary version {version.version}" if version else "Lay summary"
    if submission.kind == "participant_offer":
        offer = db.session.get(ParticipantOffer, submission.object_id)
        return (
            f"Participants offered the results on {offer.offered_on:%-d %B %Y}"
            if offer
            else "Participant offer"
        )
    return f"{KIND_LABELS.get(submission.kind, submission.kind)} of {submission.duty or 'a duty'}"


def claimed_entries(submission: Submission) -> list[dict[str, Any]]:
    """For a deferral or waiver: the entries of its duty that this submission added."""
    row = db.session.get(SponsorFact, submission.object_id)
    if row is None:
        return []
    previous = db.session.execute(
        sa.select(SponsorFact.value)
        .where(
            SponsorFact.trial_id == row.trial_id,
            SponsorFact.key == row.key,
            SponsorFact.id < row.id,
        )
        .order_by(SponsorFact.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    old = previous or []
    return [
        entry
        for entry in row.value or []
        if isinstance(entry, dict) and entry not in old and entry.get("duty") == submission.duty
    ]


# --- the queue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """One row of the reviewer's queue: a Submission, or a disputed Claim."""

    kind: str
    trial_id: int
    trial_title: str
    organisation: str
    duty: str | None
    due: date | None
    since: datetime
    description: str
    submission_id: int | None = None
    claim_id: int | None = None

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def waited_days(self, now: datetime) -> int:
        return max(0, (now - aware(self.since)).days)


def queue(
    organisation_id: int | None = None, kind: str | None = None, page: int = 1
) -> tuple[list[QueueItem], int]:
    """Waiting items, most urgent duty first (no due date last), then longest waiting."""
    items: list[QueueItem] = []
    if kind != "claim_dispute":
        query = (
            sa.select(Submission, Trial.title, Organisation.name)
            .join(Trial, Trial.id == Submission.trial_id)
            .outerjoin(Organisation, Organisation.id == Submission.organisation_id)
            .where(Submission.status == "waiting")
        )
        if organisation_id:
            query = query.where(Submission.organisation_id == organisation_id)
        if kind:
            query = query.where(Submission.kind == kind)
        for submission, title, org_name in db.session.execute(query).all():
            items.append(
                QueueItem(
                    kind=submission.kind,
                    trial_id=submission.trial_id,
                    trial_title=title or "Untitled trial",
                    organisation=org_name or "No organisation",
                    duty=submission.duty,
                    due=submission.due,
                    since=submission.submitted_at,
                    description=_short_description(submission),
                    submission_id=submission.id,
                )
            )
    if kind in (None, "", "claim_dispute"):
        claims = sa.select(Claim).where(Claim.status == "disputed")
        if organisation_id:
            claims = claims.where(
                sa.or_(
                    Claim.organisation_id == organisation_id,
                    Claim.trial_id.in_(
                        sa.select(Trial.id).where(Trial.owner_organisation_id == organisation_id)
                    ),
                )
            )
        for claim in db.session.execute(claims).scalars():
            items.append(
                QueueItem(
                    kind="claim_dispute",
                    trial_id=claim.trial_id,
                    trial_title=claim.trial.title or "Untitled trial",
                    organisation=claim.organisation.name,
                    duty=None,
                    due=None,
                    since=claim.created_at,
                    description="Ownership disputed by " + claim.organisation.name,
                    claim_id=claim.id,
                )
            )
    items.sort(key=lambda i: (i.due is None, i.due or date.max, aware(i.since), i.kind))
    start = (max(page, 1) - 1) * QUEUE_PAGE_SIZE
    return items[start : start + QUEUE_PAGE_SIZE], len(items)


def _short_description(submission: Submission) -> str:
    if submission.kind in ("deferral", "waiver"):
        return f"{KIND_LABELS[submission.kind]} of {submission.duty}"
    if submission.kind == "summary":
        return "Lay summary for review"
    return "Evidence that participants were offered the results"


# --- audit samples -------------------------------------------------------------------------------


def sample_population() -> sa.Select:
    """Met obligations of trials that belong to an organisation, in a fixed order."""
    return (
        sa.select(Obligation.trial_id, Obligation.duty)
        .join(Trial, Trial.id == Obligation.trial_id)
        .where(Obligation.status.in_(MET_STATUSES), Trial.owner_organisation_id.is_not(None))
        .order_by(Obligation.trial_id, Obligation.duty)
    )


def draw(seed: str, population: list[tuple[int, str]], size: int) -> list[tuple[int, str]]:
    """The sample a seed gives from a population (reproducible: same inputs, same sample)."""
    # Reproducible sampling from a stored seed, not a secret: Mersenne Twister is right here.
    rng = random.Random(seed)  # nosec B311
    return sorted(rng.sample(population, min(size, len(population))))


@transactional
def draw_sample(user: User, size: int = SAMPLE_SIZE, seed: str | None = None) -> AuditSample:
    """Draw a random sample of met obligations across organisations and store it with its seed."""
    if not 1 <= size <= SAMPLE_MAX:
        raise ServiceError(f"The sample size must be between 1 and {SAMPLE_MAX}.", field="size")
    population = [tuple(row) for row in db.session.execute(sample_population()).all()]
    if not population:
        raise ServiceError("No duties are met yet, so there is nothing to sample.", field="size")
    seed = seed or secrets.token_hex(16)
    sample = AuditSample(drawn_by_id=user.id, drawn_at=utcnow(), size=size, seed=seed)
    db.session.add(sample)
    db.session.flush()
    chosen = draw(seed, population, size)
    for trial_id, duty in chosen:
        db.session.add(AuditSampleItem(sample_id=sample.id, trial_id=trial_id, duty=duty))
    record(
        "audit_sample.drawn",
        "audit_sample",
        sample.id,
        actor=user,
        after={"size": size, "seed": seed, "population": len(population), "drawn": len(chosen)},
    )
    return sample


@transactional
def record_finding(user: User, item_id: int, finding: str, notes: str) -> AuditSampleItem:
    """A reviewer's finding on one sampled duty: confirmed, or a problem (notes required)."""
    item = db.session.get(AuditSampleItem, item_id)
    if item is None:
        raise ServiceError("That sample item does not exist.")
    notes = (notes or "").strip()
    if finding not in FINDINGS:
        raise ServiceError("Choose confirmed or problem found.", field="finding")
    if finding == "problem" and not notes:
        raise ServiceError("Describe the problem you found.", field="notes")
    if len(notes) > 5000:
        raise ServiceError("The notes must be 5,000 characters or fewer.", field="notes")
    if item.finding == finding and (item.notes or "") == notes:
        raise AlreadyDone(
            f"This finding ({FINDINGS[finding].lower()}) is already recorded: nothing was changed."
        )
    before = {"finding": item.finding, "notes": item.notes}
    item.finding = finding
    item.notes = notes
    item.decided_by_id = user.id
    item.decided_at = utcnow()
    _recompute(item.trial_id)  # a problem found withholds the duty (portal.services.evidence)
    record(
        "audit_sample.finding",
        "audit_sample",
        item.sample_id,
        actor=user,
        before=before,
        after={
            "item": item.id,
            "trial": item.trial_id,
            "duty": item.duty,
            "finding": finding,
            "notes": notes,
        },
    )
    return item
