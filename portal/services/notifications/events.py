"""Events recorded by other services (decisions, documents, team, registry changes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Membership,
    Trial,
    User,
)
from portal.services.notifications.common import _choices, _insert_or_skip, london_today, wants

# ---------------------------------------------------------------------------- events


def notify_users(
    users: Iterable[User],
    kind: str,
    key: str,
    text: str,
    *,
    trial: Trial | None = None,
    organisation_id: int | None = None,
    urgency: int = 0,
    extra: dict[str, Any] | None = None,
) -> int:
    """Record one event for some people inside the caller's transaction; the next digest
    carries it. ``key`` names the event: recording it again adds nothing. Returns how many
    people it was new for. People who turned the kind off (or off altogether) are skipped."""
    users = [u for u in users if u is not None and u.active]
    choices = _choices(u.id for u in users)
    day = london_today()
    rows = []
    for user in users:
        if not wants(choices.get(user.id), user.role, kind):
            continue
        payload = {"text": text, **(extra or {})}
        if trial is not None:
            payload["trial_title"] = trial_heading(trial)
        rows.append(
            {
                "user_id": user.id,
                "organisation_id": organisation_id,
                "kind": kind,
                "key": f"event:{key}"[:120],
                "trial_id": trial.id if trial is not None else None,
                "urgency": urgency,
                "payload": payload,
                "day": day,
            }
        )
    return _insert_or_skip(rows)


def organisation_members(organisation_id: int | None) -> list[User]:
    if organisation_id is None:
        return []
    return list(
        db.session.execute(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id == organisation_id, User.active.is_(True))
        )
        .unique()
        .scalars()
    )


def notify_organisation(
    organisation_id: int | None, kind: str, key: str, text: str, **kwargs: Any
) -> int:
    """Record an event for every member of an organisation (see :func:`notify_users`)."""
    return notify_users(
        organisation_members(organisation_id),
        kind,
        key,
        text,
        organisation_id=organisation_id,
        **kwargs,
    )


def notify_trial_changed(trial: Trial, changes: Sequence[str], *, source: str, key: str) -> int:
    """The hook for registry syncs: tell the organisation that holds ``trial`` what a sync
    changed. ``changes`` are plain-English lines ("Primary completion moved to 4 December
    2026"); ``source`` names the registry; ``key`` names this sync's change (for example the
    registry entry's version) so calling it twice tells nobody twice. Call it inside the
    sync's transaction. Returns how many people it was new for; nothing for an unowned trial."""
    if trial.owner_organisation_id is None or not changes:
        return 0
    text = f"{source} changed this trial: " + "; ".join(changes)
    return notify_organisation(
        trial.owner_organisation_id,
        "registry",
        f"registry:{trial.id}:{key}",
        text,
        trial=trial,
    )


def trial_heading(trial: Trial) -> str:
    title = (trial.title or "").strip() or "Untitled trial"
    if len(title) > 110:
        title = title[:107].rstrip() + "..."
    return title
