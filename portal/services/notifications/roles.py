"""Digests for roles: the compliance officer's Monday portfolio, the reviewer's daily queue."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Claim,
    Membership,
    Obligation,
    ObligationStatusChange,
    Submission,
    Trial,
    User,
)
from portal.plain import day as day_text
from portal.services.notifications.common import (
    LONDON,
    WORKING_DAYS_WAITING,
    _choices,
    _insert_or_skip,
    wants,
)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _working_days_before(day: date, n: int) -> date:
    d = day
    while n > 0:
        d -= timedelta(days=1)
        if d.weekday() < 5:
            n -= 1
    return d


def portfolio_items(first: date, day: date) -> int:
    """The compliance officer's Monday summary (if a Monday falls in the window)."""
    mondays = [d for d in _days(first, day) if d.weekday() == 0]
    if not mondays:
        return 0
    monday = mondays[-1]
    officers = db.session.execute(
        sa.select(Membership.organisation_id, Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.role == "compliance_officer", User.active.is_(True))
    ).all()
    if not officers:
        return 0
    week_ago = monday - timedelta(days=7)

    # One grouped count over every owned trial per measure (not one per batch of
    # organisations): only the officers' organisations are read from the result.

    def changes(statuses: tuple[str, ...]) -> dict[int, int]:
        rows = db.session.execute(
            sa.select(Trial.owner_organisation_id, sa.func.count())
            .select_from(ObligationStatusChange)
            .join(Trial, Trial.id == ObligationStatusChange.trial_id)
            .where(
                ObligationStatusChange.changed_on > week_ago,
                ObligationStatusChange.changed_on <= monday,
                ObligationStatusChange.new_status.in_(statuses),
                Trial.owner_organisation_id.is_not(None),
            )
            .group_by(Trial.owner_organisation_id)
        ).all()
        return {org: n for org, n in rows}

    newly_overdue = changes(("overdue",))
    newly_met = changes(("met", "met_late"))
    due_soon = dict(
        db.session.execute(
            sa.select(Trial.owner_organisation_id, sa.func.count())
            .select_from(Obligation)
            .join(Trial, Trial.id == Obligation.trial_id)
            .where(
                Obligation.due.between(monday, monday + timedelta(days=30)),
                Obligation.status.in_(("upcoming", "due_soon", "deferred")),
                Trial.owner_organisation_id.is_not(None),
            )
            .group_by(Trial.owner_organisation_id)
        ).all()
    )
    choices = _choices(uid for _, uid in officers)
    rows = []
    for org_id, user_id in officers:
        if not wants(choices.get(user_id), "compliance_officer", "portfolio"):
            continue
        lines = [
            f"Newly overdue in the last week: {newly_overdue.get(org_id, 0)}",
            f"Newly met in the last week: {newly_met.get(org_id, 0)}",
            f"Due in the next 30 days: {due_soon.get(org_id, 0)}",
        ]
        rows.append(
            {
                "user_id": user_id,
                "organisation_id": org_id,
                "kind": "portfolio",
                "key": f"portfolio:{monday.isoformat()}",
                "trial_id": None,
                "urgency": 50,
                "payload": {
                    "heading": f"Your portfolio this week (Monday {day_text(monday)})",
                    "lines": lines,
                    "link": "/",
                },
                "day": monday,
            }
        )
    return _insert_or_skip(rows)


def queue_items(first: date, day: date) -> int:
    """The reviewer's daily queue summary: new submissions, claims waiting too long."""
    reviewers = (
        db.session.execute(
            sa.select(User.id).where(User.system_role == "reviewer", User.active.is_(True))
        )
        .scalars()
        .all()
    )
    if not reviewers:
        return 0
    start = datetime.combine(first, time(0), tzinfo=LONDON).astimezone(UTC)
    new_submissions = db.session.execute(
        sa.select(sa.func.count())
        .select_from(Submission)
        .where(Submission.status == "waiting", Submission.submitted_at >= start)
    ).scalar_one()
    waiting_since = datetime.combine(
        _working_days_before(day, WORKING_DAYS_WAITING), time(0), tzinfo=LONDON
    ).astimezone(UTC)
    old_claims = db.session.execute(
        sa.select(sa.func.count())
        .select_from(Claim)
        .where(Claim.status.in_(("pending", "disputed")), Claim.created_at < waiting_since)
    ).scalar_one()
    if not new_submissions and not old_claims:
        return 0
    choices = _choices(reviewers)
    rows = []
    for user_id in reviewers:
        if not wants(choices.get(user_id), "reviewer", "queue"):
            continue
        rows.append(
            {
                "user_id": user_id,
                "organisation_id": None,
                "kind": "queue",
                "key": f"queue:{day.isoformat()}",
                "trial_id": None,
                "urgency": 40,
                "payload": {
                    "heading": "Your review queue",
                    "lines": [
                        f"New submissions waiting for review: {new_submissions}",
                        f"Claims waiting longer than {WORKING_DAYS_WAITING} working days: "
                        f"{old_claims}",
                    ],
                    "link": "/review",
                },
                "day": day,
            }
        )
    return _insert_or_skip(rows)
