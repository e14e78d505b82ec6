"""The daily job: deadline milestones, data needed, role summaries, then one digest each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from portal.extensions import db
from portal.models import (
    Membership,
    Notification,
    NotificationDigest,
    NotificationRun,
    Obligation,
    ObligationStatusChange,
    Trial,
    User,
)
from portal.plain import day as day_text
from portal.services.audit import record
from portal.services.notifications.bulk import (
    among,
    claim_digests,
    dialect_insert,
    drop_items,
    fill_digests,
    move_onto_digests,
    on_postgresql,
    write_outbox,
)
from portal.services.notifications.common import (
    OVERDUE_EVERY_DAYS,
    OVERDUE_HORIZON_DAYS,
    REMIND_STATUSES,
    Choice,
    _choices,
    _insert_or_skip,
    catch_up_days,
    london_now,
    milestones,
    send_hour,
    wants,
)
from portal.services.notifications.roles import portfolio_items, queue_items
from portal.services.notify_email import build_digest, count_words
from portal.timeutil import utcnow

# ---------------------------------------------------------------------------- the daily job


@dataclass
class RunSummary:
    day: date
    first_day: date
    recorded: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    digests: int = 0
    dropped: int = 0
    dry_run: bool = False

    def words(self) -> str:
        days = (
            f"for {day_text(self.day)}"
            if self.first_day == self.day
            else f"for {day_text(self.first_day)} to {day_text(self.day)} (catching up)"
        )
        verb = "would be sent" if self.dry_run else "queued"
        if self.digests:
            emails = "1 digest email" if self.digests == 1 else f"{self.digests} digest emails"
            people = "1 person" if self.digests == 1 else f"{self.digests} people"
            lines = [
                f"Notifications {days}: {emails} {verb} to {people}, carrying "
                f"{count_words(self.sent)}."
            ]
        else:
            lines = [f"Notifications {days}: no emails to send (everything was sent already)."]
        if sum(self.recorded.values()):
            lines.append(f"Newly recorded: {count_words(self.recorded)}.")
        if self.dropped:
            lines.append(
                f"{self.dropped} items dropped unsent (the person left the organisation or "
                "turned that kind off)."
            )
        if self.dry_run:
            lines.append("Dry run: nothing was saved or sent.")
        return "\n".join(lines)


def _window(day: date) -> date:
    """The first day this run covers: the day after the last run before ``day``, at most
    NOTIFY_CATCH_UP_DAYS back."""
    last = db.session.execute(
        sa.select(sa.func.max(NotificationRun.day)).where(NotificationRun.day < day)
    ).scalar_one_or_none()
    earliest = day - timedelta(days=catch_up_days() - 1)
    if last is None:
        return earliest
    return max(earliest, min(last + timedelta(days=1), day))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _members_by_org(org_ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
    ids = list(set(org_ids))
    out: dict[int, list[tuple[int, str]]] = {}
    for start in range(0, len(ids), 5000):
        rows = db.session.execute(
            sa.select(Membership.organisation_id, Membership.user_id, Membership.role)
            .join(User, User.id == Membership.user_id)
            .where(
                among(Membership.organisation_id, ids[start : start + 5000]),
                User.active.is_(True),
            )
        ).all()
        for org_id, user_id, role in rows:
            out.setdefault(org_id, []).append((user_id, role))
    return out


def _deadline_items(first: date, day: date) -> list[dict[str, Any]]:
    """One item per (duty, latest milestone in the window) for duties of owned trials."""
    window = _days(first, day)
    befores = milestones()
    # due date -> (milestone label, the day it fell on); later days win.
    wanted: dict[date, tuple[str, date, int]] = {}
    for d in window:
        for m in befores:
            wanted[d + timedelta(days=m)] = (str(m), d, m)
    horizon = day - timedelta(days=OVERDUE_HORIZON_DAYS)
    conditions = [Obligation.due.in_(list(wanted))]
    if len(window) >= OVERDUE_EVERY_DAYS:
        conditions.append(Obligation.due.between(horizon, day - timedelta(days=OVERDUE_EVERY_DAYS)))
    else:
        overdue_dues = []
        for d in window:
            due = d - timedelta(days=OVERDUE_EVERY_DAYS)
            while due >= horizon:
                overdue_dues.append(due)
                due -= timedelta(days=OVERDUE_EVERY_DAYS)
        conditions.append(Obligation.due.in_(overdue_dues))
    rows = db.session.execute(
        sa.select(
            Obligation.trial_id,
            Obligation.duty,
            Obligation.due,
            Obligation.status,
            Obligation.verdict["title"].as_string(),
            Trial.title,
            Trial.owner_organisation_id,
        )
        .join(Trial, Trial.id == Obligation.trial_id)
        .where(
            sa.or_(*conditions),
            Obligation.status.in_(REMIND_STATUSES),
            Trial.owner_organisation_id.is_not(None),
        )
    ).all()
    items = []
    for trial_id, duty, due, _status, duty_title, trial_title, org_id in rows:
        hit = wanted.get(due)
        if hit is not None:
            label, on, _m = hit
            left = (due - day).days  # from the run's day: a caught-up reminder says the truth
            if left == 0:
                text = f"{duty_title or duty}: due today, {day_text(due)}."
            elif left < 0:
                text = f"{duty_title or duty}: was due on {day_text(due)}."
            else:
                text = (
                    f"{duty_title or duty}: due on {day_text(due)}, "
                    f"in {left} day{'s' if left != 1 else ''}."
                )
            urgency = left
        else:
            # Weekly while overdue: the latest weekly mark inside the window.
            on = max(d for d in window if (d - due).days % OVERDUE_EVERY_DAYS == 0)
            weeks = (on - due).days // OVERDUE_EVERY_DAYS
            label = f"overdue{weeks}w"
            days_late = (day - due).days
            text = (
                f"{duty_title or duty}: overdue since {day_text(due)} "
                f"({days_late} day{'s' if days_late != 1 else ''} late)."
            )
            urgency = -days_late
        items.append(
            {
                "organisation_id": org_id,
                "kind": "deadlines",
                "key": f"deadline:{trial_id}:{duty}:{label}:{due.isoformat()}",
                "trial_id": trial_id,
                "urgency": urgency,
                "payload": {"text": text, "trial_title": _short(trial_title)},
                "day": on,
            }
        )
    return items


def _short(title: str | None) -> str:
    title = (title or "").strip() or "Untitled trial"
    return title if len(title) <= 110 else title[:107].rstrip() + "..."


def _data_needed_items(first: date, day: date) -> list[dict[str, Any]]:
    """Duties that became data needed in the window (not a trial's first verdicts)."""
    rows = db.session.execute(
        sa.select(
            ObligationStatusChange.trial_id,
            ObligationStatusChange.duty,
            ObligationStatusChange.changed_on,
            Obligation.verdict["title"].as_string(),
            Obligation.verdict["explanation"].as_string(),
            Trial.title,
            Trial.owner_organisation_id,
        )
        .join(Trial, Trial.id == ObligationStatusChange.trial_id)
        .join(
            Obligation,
            sa.and_(
                Obligation.trial_id == ObligationStatusChange.trial_id,
                Obligation.duty == ObligationStatusChange.duty,
            ),
        )
        .where(
            ObligationStatusChange.changed_on.between(first, day),
            ObligationStatusChange.new_status == "data_needed",
            ObligationStatusChange.old_status.is_not(None),
            Obligation.status == "data_needed",
            Trial.owner_organisation_id.is_not(None),
        )
    ).all()
    items = []
    for trial_id, duty, changed_on, duty_title, explanation, trial_title, org_id in rows:
        conflict = "contradict" in (explanation or "") or "conflict" in (explanation or "")
        what = (
            "the facts recorded contradict each other; correct them"
            if conflict
            else "we need more facts to work it out; add them"
        )
        items.append(
            {
                "organisation_id": org_id,
                "kind": "data_needed",
                "key": f"data_needed:{trial_id}:{duty}:{changed_on.isoformat()}",
                "trial_id": trial_id,
                "urgency": 1,
                "payload": {
                    "text": f"{duty_title or duty}: {what}.",
                    "trial_title": _short(trial_title),
                },
                "day": changed_on,
            }
        )
    return items


def _record_trial_items(items: list[dict[str, Any]]) -> dict[str, int]:
    """Fan trial items out to the members of the owning organisation who want them."""
    members = _members_by_org(i["organisation_id"] for i in items)
    choices = _choices(uid for rows in members.values() for uid, _ in rows)
    rows = []
    for item in items:
        for user_id, role in members.get(item["organisation_id"], ()):
            if wants(choices.get(user_id), role, item["kind"]):
                rows.append({**item, "user_id": user_id})
    counts: dict[str, int] = {}
    # Insert per kind so the summary can count what was new.
    for kind in {r["kind"] for r in rows}:
        counts[kind] = _insert_or_skip([r for r in rows if r["kind"] == kind])
    return counts


def _weekly_due(day: date, user_id: int, monday_ran: bool) -> bool:
    """Weekly people get their digest on Mondays; when Monday's run did not happen, on the
    first run after it. Never twice in a week."""
    monday = day - timedelta(days=day.weekday())
    if day != monday and monday_ran:
        return False
    sent = db.session.execute(
        sa.select(sa.func.count())
        .select_from(NotificationDigest)
        .where(NotificationDigest.user_id == user_id, NotificationDigest.day >= monday)
    ).scalar_one()
    return not sent


def _monday_ran(day: date) -> bool:
    monday = day - timedelta(days=day.weekday())
    return (
        db.session.execute(
            sa.select(NotificationRun.finished_at).where(NotificationRun.day == monday)
        ).scalar_one_or_none()
        is not None
    )


def _send_digests(day: date, summary: RunSummary, commit: Any, deliver: bool) -> list[int]:
    """One digest per person with unsent notifications; returns the outbox ids.

    Reads plain rows, not ORM objects, and writes each batch of people in a few set-based
    statements (``bulk``); each batch is committed on its own. On PostgreSQL, with many people,
    NOTIFY_PROCESSES processes share the work by ranges of people (exactly once still rests on
    the digest and item claims, as between two concurrent runs)."""
    user_ids = (
        db.session.execute(
            sa.select(Notification.user_id)
            .where(Notification.digest_id.is_(None), Notification.dropped.is_(None))
            .distinct()
        )
        .scalars()
        .all()
    )
    user_ids = sorted(user_ids)
    monday_ran = _monday_ran(day)
    processes = int(current_app.config.get("NOTIFY_PROCESSES") or 1)
    split_from = int(current_app.config.get("NOTIFY_SPLIT_FROM") or 0)
    if (
        processes > 1
        and not summary.dry_run
        and len(user_ids) >= max(split_from, processes)
        and on_postgresql()
    ):
        return _send_in_processes(day, summary, user_ids, monday_ran, processes)
    return _send_to(day, summary, user_ids, monday_ran, commit)


def _send_in_processes(
    day: date, summary: RunSummary, user_ids: list[int], monday_ran: bool, processes: int
) -> list[int]:
    """Fork ``processes`` children, each building the digests of one range of people."""
    import multiprocessing

    db.session.commit()
    db.session.close()
    size = -(-len(user_ids) // processes)
    parts = [user_ids[i : i + size] for i in range(0, len(user_ids), size)]
    context = multiprocessing.get_context("fork")
    with context.Pool(len(parts), initializer=_fresh_connections) as pool:
        results = pool.starmap(_send_part, [(day, part, monday_ran) for part in parts])
    outbox_ids: list[int] = []
    for digests, sent, dropped, ids in results:
        summary.digests += digests
        summary.dropped += dropped
        for kind, n in sent.items():
            summary.sent[kind] = summary.sent.get(kind, 0) + n
        outbox_ids += ids
    return outbox_ids


def _fresh_connections() -> None:
    """In a forked child: never touch the parent's pooled connections."""
    db.engine.dispose(close=False)


def _send_part(
    day: date, user_ids: list[int], monday_ran: bool
) -> tuple[int, dict[str, int], int, list[int]]:
    part = RunSummary(day=day, first_day=day)
    try:
        ids = _send_to(day, part, user_ids, monday_ran, db.session.commit)
    except BaseException:
        db.session.rollback()
        raise
    finally:
        db.session.close()
    return part.digests, part.sent, part.dropped, ids


def _send_to(
    day: date, summary: RunSummary, user_ids: list[int], monday_ran: bool, commit: Any
) -> list[int]:
    outbox_ids: list[int] = []
    batch = 2000
    for start in range(0, len(user_ids), batch):
        chunk = user_ids[start : start + batch]
        users = {
            u.id: u
            for u in db.session.execute(
                sa.select(
                    User.id,
                    User.email,
                    User.full_name,
                    User.security_stamp,
                    User.active,
                    Membership.organisation_id,
                )
                .outerjoin(Membership, Membership.user_id == User.id)
                .where(among(User.id, chunk))
            )
        }
        choices = _choices(chunk)
        pending: dict[int, list[Any]] = {}
        for row in db.session.execute(
            sa.select(
                Notification.id,
                Notification.user_id,
                Notification.organisation_id,
                Notification.kind,
                Notification.trial_id,
                Notification.urgency,
                Notification.payload,
            ).where(
                among(Notification.user_id, chunk),
                Notification.digest_id.is_(None),
                Notification.dropped.is_(None),
                Notification.day <= day,
            )
        ):
            pending.setdefault(row.user_id, []).append(row)
        ready: dict[int, list[Any]] = {}
        dropped: dict[int, str] = {}
        for user_id in chunk:
            user = users.get(user_id)
            rows = pending.get(user_id, [])
            if user is None or not rows:
                continue
            choice = choices.get(user_id) or Choice()
            org_id = user.organisation_id
            keep = []
            for row in rows:
                reason = None
                if not user.active:
                    reason = "account closed"
                elif choice.frequency == "off":
                    reason = "emails off"
                elif row.kind in choice.muted:
                    reason = "kind off"
                elif row.organisation_id is not None and row.organisation_id != org_id:
                    reason = "left organisation"
                if reason:
                    dropped[row.id] = reason
                    summary.dropped += 1
                else:
                    keep.append(row)
            if not keep:
                continue
            if choice.frequency == "weekly" and not _weekly_due(day, user_id, monday_ran):
                continue
            ready[user_id] = keep
        if dropped:
            drop_items(dropped)
        if ready:
            _digest_batch(day, users, ready, summary, outbox_ids)
        commit()
    return outbox_ids


def _digest_batch(
    day: date,
    users: dict[int, Any],
    ready: dict[int, list[Any]],
    summary: RunSummary,
    outbox_ids: list[int],
) -> None:
    """Digests for a batch of people in a few statements: claim each person's (user, day)
    digest row (a concurrent run that got there first wins: its people are skipped here), move
    their unsent rows onto it, write the emails to the outbox."""
    now = utcnow()
    owned = claim_digests(list(ready), day, now)
    if not owned:
        return
    wanted = [row.id for user_id in owned for row in ready[user_id]]
    claimed = move_onto_digests(wanted, day)
    messages: list[dict[str, Any]] = []
    filled: list[tuple[int, int]] = []
    empty: list[int] = []
    for user_id in sorted(owned):
        digest_id = owned[user_id]
        carried = [r for r in ready[user_id] if r.id in claimed]
        if not carried:
            empty.append(digest_id)
            continue
        user = users[user_id]
        email = build_digest(user, carried, day)
        messages.append(
            {
                "to": user.email,
                "subject": email.subject[:200],
                "body_text": email.text,
                "body_html": email.html,
                "headers": email.headers,
            }
        )
        filled.append((digest_id, len(carried)))
        summary.digests += 1
        for row in carried:
            summary.sent[row.kind] = summary.sent.get(row.kind, 0) + 1
    if empty:
        db.session.execute(sa.delete(NotificationDigest).where(among(NotificationDigest.id, empty)))
    if not messages:
        return
    ids = write_outbox(messages, now)
    fill_digests((d, o, n) for (d, n), o in zip(filled, ids, strict=True))
    outbox_ids.extend(ids)


def run_daily(day: date, *, dry_run: bool = False, deliver: bool = True) -> RunSummary:
    """The daily job for ``day`` (a London date): record what fell due since the last run,
    then send each person one digest. Safe to run again, or twice at once."""
    first = _window(day)
    summary = RunSummary(day=day, first_day=first, dry_run=dry_run)
    commit = (lambda: None) if dry_run else db.session.commit
    try:
        if not dry_run:
            _start_run(day)
        for kind, n in _record_trial_items(_deadline_items(first, day)).items():
            summary.recorded[kind] = summary.recorded.get(kind, 0) + n
        for kind, n in _record_trial_items(_data_needed_items(first, day)).items():
            summary.recorded[kind] = summary.recorded.get(kind, 0) + n
        summary.recorded["portfolio"] = portfolio_items(first, day)
        summary.recorded["queue"] = queue_items(first, day)
        commit()
        outbox_ids = _send_digests(day, summary, commit, deliver)
        if dry_run:
            db.session.rollback()
            return summary
        db.session.execute(
            sa.update(NotificationRun)
            .where(NotificationRun.day == day)
            .values(
                finished_at=utcnow(),
                summary={
                    "first_day": first.isoformat(),
                    "digests": summary.digests,
                    "sent": summary.sent,
                    "recorded": summary.recorded,
                    "dropped": summary.dropped,
                },
            )
        )
        record(
            "notifications.daily_run",
            "notification_run",
            day.isoformat(),
            after={
                "digests": summary.digests,
                "sent": summary.sent,
                "first_day": first.isoformat(),
            },
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if deliver:
        _enqueue_delivery(outbox_ids)
    return summary


def _start_run(day: date) -> None:
    db.session.execute(
        dialect_insert()(NotificationRun)
        .values(day=day, started_at=utcnow())
        .on_conflict_do_nothing(index_elements=["day"])
    )


def _enqueue_delivery(outbox_ids: list[int]) -> None:
    from portal.jobs import QUEUE_MAIL, try_enqueue
    from workers.mail import deliver_email

    for outbox_id in outbox_ids:
        if try_enqueue(deliver_email, outbox_id, queue_name=QUEUE_MAIL) is None:
            break  # Redis is away: `flask outbox sweep` (every minute locally) picks them up


def should_run(now: datetime | None = None) -> date | None:
    """The London day to run now, or None: at or after NOTIFY_HOUR (07:00) London time,
    and only when that day's run has not happened. RQ's cron speaks UTC, so the scheduler
    calls this every hour; reading the hour in Europe/London handles the clock change."""
    local = london_now(now)
    if local.hour < send_hour():
        return None
    day = local.date()
    done = db.session.execute(
        sa.select(NotificationRun.finished_at).where(NotificationRun.day == day)
    ).scalar_one_or_none()
    return None if done is not None else day
