"""Writing and verifying the hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditChainHead, AuditEvent
from portal.timeutil import utcnow

GENESIS_HASH = "0" * 64


def _jsonable(value: Any) -> Any:
    """Dates and other values as the strings the chain hashes and the pages show."""
    return json.loads(json.dumps(value, default=str, sort_keys=True)) if value is not None else None


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def event_hash(event: AuditEvent, prev_hash: str) -> str:
    """SHA-256 over the previous hash and every field of the event."""
    content = {
        "prev": prev_hash,
        "at": _stamp(event.occurred_at),
        "actor_id": event.actor_id,
        "actor": event.actor_label,
        "org": event.organisation_id,
        "action": event.action,
        "type": event.object_type,
        "id": event.object_id,
        "before": event.before,
        "after": event.after,
    }
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def record(
    action: str,
    object_type: str,
    object_id: object | None,
    *,
    actor: Any | None = None,
    organisation_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction."""
    head = db.session.execute(
        sa.select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
    ).scalar_one()
    event = AuditEvent(
        occurred_at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_label=getattr(actor, "email", None) or "system",
        organisation_id=organisation_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        before=_jsonable(before),
        after=_jsonable(after),
        prev_hash=head.last_hash,
    )
    event.hash = event_hash(event, head.last_hash)
    db.session.add(event)
    db.session.flush()
    head.last_event_id = event.id
    head.last_hash = event.hash
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain(batch: int = 5000) -> ChainReport:
    """Recompute every hash in order; name the first event that does not fit."""
    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        rows = (
            db.session.execute(
                sa.select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for event in rows:
            if event.prev_hash != prev:
                return ChainReport(
                    False, checked, event.id, "its previous-hash does not match the event before"
                )
            if event_hash(event, prev) != event.hash:
                return ChainReport(False, checked, event.id, "its content does not match its hash")
            prev = event.hash
            checked += 1
            last_id = event.id
        db.session.expunge_all()
    head = db.session.get(AuditChainHead, 1)
    if head is not None and head.last_hash != prev:
        return ChainReport(False, checked, head.last_event_id, "events after it were deleted")
    return ChainReport(True, checked)
