"""The work list on each role's home page: what to do next, most urgent first.

One fixed set of queries per role (counts, then a short list of each kind, each joined to its
trial in the same statement), so the number of queries does not grow with the portfolio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import (
    BackgroundJob,
    Claim,
    ImportRun,
    Obligation,
    Organisation,
    OutboxEmail,
    ReviewComment,
    Submission,
    Trial,
    User,
)
from portal.services.trial_access import scope_trials
from portal.timeutil import aware, utcnow

LIST_LENGTH = 8
DUE_WITHIN_DAYS = 30
OPEN = ("overdue", "due_soon", "data_needed", "upcoming")


@dataclass
class DutyItem:
    trial_id: int
    trial_title: str
    duty: str
    title: str
    status: str
    due: date | None
    missing: list[str] = field(default_factory=list)


def _duty_items(user: User, where: list[Any], order: list[Any]) -> list[DutyItem]:
    visible = scope_trials(sa.select(Trial.id), user).subquery()
    rows = db.session.execute(
        sa.select(Obligation, Trial.title)
        .join(Trial, Trial.id == Obligation.trial_id)
        .where(Obligation.trial_id.in_(sa.select(visible.c.id)), *where)
        .order_by(*order, Obligation.trial_id)
        .limit(LIST_LENGTH)
    ).all()
    return [
        DutyItem(
            trial_id=ob.trial_id,
            trial_title=title or "Untitled trial",
            duty=ob.duty,
            title=(ob.verdict or {}).get("title") or ob.duty,
            status=ob.status,
            due=ob.due,
            missing=list((ob.verdict or {}).get("missing") or []),
        )
        for ob, title in rows
    ]


def status_counts(user: User, as_of: date) -> dict[str, int]:
    """Duties by status across the user's trials, plus those due within 30 days (one query)."""
    visible = scope_trials(sa.select(Trial.id), user).subquery()
    soon = as_of + timedelta(days=DUE_WITHIN_DAYS)
    rows = db.session.execute(
        sa.select(
            Obligation.status,
            sa.func.count(),
            sa.func.count(sa.case((Obligation.due <= soon, 1))),
        )
        .where(Obligation.trial_id.in_(sa.select(visible.c.id)))
        .group_by(Obligation.status)
    ).all()
    counts = dict.fromkeys(
        ("overdue", "data_needed", "due_soon", "upcoming", "met", "deferred", "waived"), 0
    )
    within = 0
    for status, number, due_soon in rows:
        counts[status] = counts.get(status, 0) + number
        if status in ("due_soon", "upcoming"):
            within += due_soon
    counts["met"] += counts.pop("met_late", 0)
    counts["due_within"] = within
    return counts


def trial_count(user: User) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(scope_trials(sa.select(Trial.id), user).subquery())
    ).scalar_one()


def facts_to_check(user: User) -> list[DutyItem]:
    """Duties that cannot be worked out until the sponsor adds or checks a fact."""
    return _duty_items(user, [Obligation.status == "data_needed"], [Trial.title])


def reviewer_requests(user: User) -> list[dict[str, Any]]:
    """Reviewers' change requests and questions on the user's trials that still stand."""
    visible = scope_trials(sa.select(Trial.id), user).subquery()
    rows = db.session.execute(
        sa.select(ReviewComment, Submission, Trial.title)
        .join(Submission, Submission.id == ReviewComment.submission_id)
        .join(Trial, Trial.id == Submission.trial_id)
        .where(
            Submission.trial_id.in_(sa.select(visible.c.id)),
            ReviewComment.decision.in_(("request_changes", "question")),
            Submission.status == "changes_requested",
        )
        .order_by(ReviewComment.created_at.desc())
        .limit(LIST_LENGTH)
    ).all()
    return [
        {
            "trial_id": sub.trial_id,
            "trial_title": title or "Untitled trial",
            "duty": sub.duty,
            "decision": comment.decision,
            "body": comment.body,
            "on": comment.created_at,
        }
        for comment, sub, title in rows
    ]


def sponsor(user: User, as_of: date) -> dict[str, Any]:
    soon = as_of + timedelta(days=DUE_WITHIN_DAYS)
    return {
        "trials": trial_count(user),
        "counts": status_counts(user, as_of),
        "overdue": _duty_items(
            user, [Obligation.status == "overdue"], [Obligation.due.is_(None), Obligation.due]
        ),
        "facts": facts_to_check(user),
        "due_soon": _duty_items(
            user,
            [Obligation.status.in_(("due_soon", "upcoming")), Obligation.due <= soon],
            [Obligation.due],
        ),
        "requests": reviewer_requests(user),
    }


def officer(user: User, as_of: date) -> dict[str, Any]:
    """Portfolio counts and the trials with the most overdue duties."""
    visible = scope_trials(sa.select(Trial.id), user).subquery()
    overdue = sa.func.count(sa.case((Obligation.status == "overdue", 1)))
    worst = db.session.execute(
        sa.select(
            Trial.id,
            Trial.title,
            overdue.label("overdue"),
            sa.func.min(sa.case((Obligation.status == "overdue", Obligation.due))).label("oldest"),
        )
        .join(Obligation, Obligation.trial_id == Trial.id)
        .where(Trial.id.in_(sa.select(visible.c.id)), Obligation.status.in_(OPEN))
        .group_by(Trial.id, Trial.title)
        .having(overdue > 0)
        .order_by(overdue.desc(), sa.func.min(Obligation.due), Trial.id)
        .limit(LIST_LENGTH)
    ).all()
    return {
        "trials": trial_count(user),
        "counts": status_counts(user, as_of),
        "worst": [
            {
                "trial_id": r.id,
                "title": r.title or "Untitled trial",
                "overdue": r.overdue,
                "oldest": r.oldest,
            }
            for r in worst
        ],  # fmt: skip
        "trend": trend(user, as_of),
    }


def trend(user: User, as_of: date) -> Any:
    """The portfolio's last 24 months, worked out from the verdicts themselves (issue 18: a
    trend from day one), as the portfolio report draws it."""
    from portal.domain.obligations.trend import monthly_trend

    org = user.organisation
    if org is None:
        return None
    return monthly_trend(org.id, as_of)


def _waited(since: datetime | None, now: datetime) -> int:
    return max(0, (now - aware(since)).days) if since else 0


def reviewer(user: User) -> dict[str, Any]:
    """Submissions and claims waiting, oldest first, with how long each has waited."""
    now = utcnow()
    subs = db.session.execute(
        sa.select(Submission, Trial.title, Organisation.name)
        .join(Trial, Trial.id == Submission.trial_id)
        .outerjoin(Organisation, Organisation.id == Submission.organisation_id)
        .where(Submission.status == "waiting")
        .order_by(Submission.submitted_at, Submission.id)
        .limit(LIST_LENGTH)
    ).all()
    claims = db.session.execute(
        sa.select(Claim, Trial.title, Organisation.name)
        .join(Trial, Trial.id == Claim.trial_id)
        .join(Organisation, Organisation.id == Claim.organisation_id)
        .where(Claim.status.in_(("pending", "disputed")))
        .order_by(Claim.created_at, Claim.id)
        .limit(LIST_LENGTH)
    ).all()
    counts = db.session.execute(
        sa.select(
            sa.select(sa.func.count())
            .select_from(Submission)
            .where(Submission.status == "waiting")
            .scalar_subquery(),
            sa.select(sa.func.count())
            .select_from(Claim)
            .where(Claim.status.in_(("pending", "disputed")))
            .scalar_subquery(),
            sa.select(sa.func.count())
            .select_from(Organisation)
            .where(Organisation.status == "pending")
            .scalar_subquery(),
        )
    ).one()
    from portal.services.review import KIND_LABELS

    return {
        "queue_count": counts[0],
        "claims_count": counts[1],
        "orgs_count": counts[2],
        "queue": [
            {
                "id": s.id,
                "kind": KIND_LABELS.get(s.kind, "Submission"),
                "trial_title": title or "Untitled trial",
                "organisation": org or "No organisation",
                "duty": s.duty,
                "waited": _waited(s.submitted_at, now),
            }
            for s, title, org in subs
        ],
        "claims": [
            {
                "id": c.id,
                "trial_id": c.trial_id,
                "trial_title": title or "Untitled trial",
                "organisation": org,
                "disputed": c.status == "disputed",
                "waited": _waited(c.created_at, now),
            }
            for c, title, org in claims
        ],
    }


def admin(user: User) -> dict[str, Any]:
    """Workers, background jobs and imports, and emails that could not be sent."""
    data = reviewer(user)
    data["workers"] = workers()
    data["jobs"] = db.session.execute(
        sa.select(BackgroundJob)
        .where(BackgroundJob.status.in_(("queued", "running", "failed")))
        .order_by(BackgroundJob.created_at.desc())
        .limit(LIST_LENGTH)
    ).scalars().all()  # fmt: skip
    data["imports"] = db.session.execute(
        sa.select(ImportRun).order_by(ImportRun.started_at.desc()).limit(5)
    ).scalars().all()  # fmt: skip
    data["outbox_failed"] = db.session.execute(
        sa.select(sa.func.count()).select_from(OutboxEmail).where(OutboxEmail.status == "failed")
    ).scalar_one()
    data["outbox_recent_failures"] = db.session.execute(
        sa.select(OutboxEmail)
        .where(OutboxEmail.status == "failed")
        .order_by(OutboxEmail.created_at.desc())
        .limit(5)
    ).scalars().all()  # fmt: skip
    return data


def worker_stale_after() -> int:
    """Seconds without a heartbeat after which a worker counts as dead (two beats missed)."""
    return 3 * current_app.config["WORKER_HEARTBEAT_SECONDS"]


def workers() -> dict[str, Any]:
    """RQ workers with a recent heartbeat, and the jobs scheduled for later (from Redis)."""
    try:
        from rq import Worker
        from rq.registry import ScheduledJobRegistry

        from portal.jobs import redis_connection

        conn = redis_connection()
        now = utcnow()
        fresh, stale = 0, 0
        for worker in Worker.all(connection=conn):
            beat = worker.last_heartbeat
            if beat is not None and (now - aware(beat)).total_seconds() <= worker_stale_after():
                fresh += 1
            else:
                stale += 1
        scheduled = sum(
            len(ScheduledJobRegistry(name, connection=conn))
            for name in {q.decode() if isinstance(q, bytes) else q for q in _queue_names(conn)}
        )
        return {"ok": True, "running": fresh, "stale": stale, "scheduled": scheduled}
    except Exception as exc:  # Redis down: the page still works and says so
        return {"ok": False, "error": type(exc).__name__}


def _queue_names(conn: Any) -> list[str]:
    from rq import Queue

    return [q.name for q in Queue.all(connection=conn)]
