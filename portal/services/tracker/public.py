"""What an organisation chooses to show on the public tracker, and sponsors' responses to the
tracker's verdicts (reviewed before they appear). Each change is one transaction and one audit
entry."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import TrackerDisclosure, TrackerResponse, TrackerTrial, Trial
from portal.services import AlreadyDone, ServiceError, transactional
from portal.services.audit import record as audit_record
from portal.timeutil import utcnow

RESPONSE_MAX = 1000
DECISIONS = ("publish", "reject")


@transactional
def set_disclosure(user: Any, opted_in: bool) -> TrackerDisclosure:
    """Opt the user's organisation in to (or out of) showing its own facts on the tracker."""
    org = user.organisation
    if org is None:
        raise ServiceError("Join an organisation first.")
    row = db.session.get(TrackerDisclosure, org.id)
    before = bool(row and row.opted_in)
    if before == opted_in:
        raise AlreadyDone(
            "Your organisation already shows its own facts on the tracker."
            if opted_in
            else "Your organisation's own facts are already hidden from the tracker."
        )
    if row is None:
        row = TrackerDisclosure(organisation_id=org.id)
        db.session.add(row)
    row.opted_in = opted_in
    row.changed_at = utcnow()
    row.changed_by_id = user.id
    audit_record(
        "tracker.opted_in" if opted_in else "tracker.opted_out",
        "organisation",
        org.id,
        actor=user,
        organisation_id=org.id,
        before={"shows_own_facts": before},
        after={"shows_own_facts": opted_in},
    )
    return row


def respondable_duties(trial_id: int) -> list[str]:
    row = db.session.get(TrackerTrial, trial_id)
    return [v["duty"] for v in row.verdicts] if row else []


@transactional
def submit_response(user: Any, trial_id: int, duty: str, body: str) -> TrackerResponse:
    """A sponsor's response to a verdict on its own trial, waiting for a reviewer."""
    org = user.organisation
    owner = db.session.execute(
        sa.select(Trial.owner_organisation_id).where(Trial.id == trial_id)
    ).scalar()
    if org is None or owner != org.id:
        raise ServiceError("You can only respond about your own organisation's trials.")
    if duty not in respondable_duties(trial_id):
        raise ServiceError("Choose the duty your response is about.", field="duty")
    text = " ".join((body or "").split())
    if not text:
        raise ServiceError("Enter your response.", field="body")
    if len(text) > RESPONSE_MAX:
        raise ServiceError(
            f"Your response must be {RESPONSE_MAX} characters or fewer.", field="body"
        )
    response = TrackerResponse(
        trial_id=trial_id,
        duty=duty,
        organisation_id=org.id,
        body=text,
        status="pending",
        submitted_by_id=user.id,
        submitted_at=utcnow(),
    )
    db.session.add(response)
    db.session.flush()
    audit_record(
        "tracker.response_submitted",
        "tracker_response",
        response.id,
        actor=user,
        organisation_id=org.id,
        after={"trial": trial_id, "duty": duty, "response": text},
    )
    return response


@transactional
def decide_response(reviewer: Any, response_id: int, decision: str, note: str = "") -> None:
    """A reviewer publishes a response, or rejects it with a reason the sponsor sees."""
    if decision not in DECISIONS:
        raise ServiceError("Choose whether to publish the response.", field="decision")
    response = db.session.get(TrackerResponse, response_id, with_for_update=True)
    if response is None:
        raise ServiceError("That response no longer exists.")
    if response.status != "pending":
        raise AlreadyDone("That response has already been decided.")
    note = " ".join((note or "").split())
    if decision == "reject" and not note:
        raise ServiceError("Say why the response cannot be published.", field="note")
    before = response.status
    response.status = "published" if decision == "publish" else "rejected"
    response.reviewed_by_id = reviewer.id
    response.reviewed_at = utcnow()
    response.review_note = note
    audit_record(
        f"tracker.response_{response.status}",
        "tracker_response",
        response.id,
        actor=reviewer,
        organisation_id=response.organisation_id,
        before={"status": before},
        after={"status": response.status, "note": note},
    )
