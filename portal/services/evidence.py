"""Which evidence a reviewer has not accepted, and why: the duties it no longer meets.

Read by every recompute from records (``portal.services.obligations``), which stores the result
with the trial's facts and applies it with ``portal.rules.evidence.withhold_all`` (issue 16,
"Evidence decisions reach duties"):

* the participant offer (UK-PART): when a reviewer has requested changes on every offer the
  sponsor recorded, the offer does not meet UK-PART. Recording a new offer, or the reviewer
  approving one, restores it;
* an audit sample: when the latest finding a reviewer recorded on a sampled duty is "problem
  found", that duty is not met. A later "confirmed" finding on it restores it.

* a deferral or waiver (``held_back``): when a reviewer requests changes on one, it is not
  applied (it neither moves the due date nor waives the duty) and the verdict says why. A new
  deferral or waiver entered with the changes goes for review and applies again.

Reasons are plain English for the sponsor and hold no "as of" date, so a stored verdict changes
only when a decision does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    AuditSampleItem,
    ParticipantOffer,
    ReviewComment,
    SponsorFact,
    Submission,
)
from portal.rules.dates import format_date

PO = ParticipantOffer.__table__
AI = AuditSampleItem.__table__
SU = Submission.__table__
RC = ReviewComment.__table__
SF = SponsorFact.__table__
HELD_KINDS = {"deferral": "deferrals", "waiver": "waivers"}  # submission kind -> fact key

QUOTE_LIMIT = 300  # characters of a reviewer's comment quoted in a verdict


def _quote(text: str | None) -> str:
    text = " ".join((text or "").split())
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1].rstrip() + "…"
    return f' The reviewer said: "{text}"' if text else ""


def _day(value: Any) -> str:
    if value is None:
        return "a date not recorded"
    return format_date(value.date() if hasattr(value, "date") else value)


def withheld(where: Callable[[Any], Any]) -> dict[int, dict[str, str]]:
    """Trial id -> {duty: reason} for the trials whose id satisfies ``where(column)``."""
    out: dict[int, dict[str, str]] = {}
    conn = db.session.connection()

    # UK-PART: every recorded offer questioned.
    offers: dict[int, list[str]] = {}
    for trial_id, status in conn.execute(
        sa.select(PO.c.trial_id, PO.c.status).where(where(PO.c.trial_id))
    ).all():
        offers.setdefault(trial_id, []).append(status)
    questioned = [t for t, statuses in offers.items() if all(s == "questioned" for s in statuses)]
    if questioned:
        latest: dict[int, tuple[Any, str]] = {}
        for trial_id, decided_at, body in conn.execute(
            sa.select(SU.c.trial_id, SU.c.decided_at, RC.c.body)
            .select_from(SU.outerjoin(RC, RC.c.submission_id == SU.c.id))
            .where(
                SU.c.trial_id.in_(questioned),
                SU.c.kind == "participant_offer",
                SU.c.status == "changes_requested",
            )
            .order_by(SU.c.trial_id, SU.c.decided_at, SU.c.id, RC.c.id)
        ).all():
            latest[trial_id] = (decided_at, body)  # the last decision of each trial
        for trial_id in questioned:
            decided_at, body = latest.get(trial_id, (None, ""))
            out.setdefault(trial_id, {})["UK-PART"] = (
                f"a reviewer asked for changes to the evidence that participants were offered "
                f"the results ({_day(decided_at)}).{_quote(body)} Record the offer again with "
                "the changes asked for"
            )

    # Audit samples: the latest finding on each sampled duty.
    findings: dict[tuple[int, str], tuple[str, Any, str]] = {}
    for trial_id, duty, finding, decided_at, notes in conn.execute(
        sa.select(AI.c.trial_id, AI.c.duty, AI.c.finding, AI.c.decided_at, AI.c.notes)
        .where(where(AI.c.trial_id), AI.c.finding.is_not(None))
        .order_by(AI.c.decided_at, AI.c.id)
    ).all():
        findings[(trial_id, duty)] = (finding, decided_at, notes)
    for (trial_id, duty), (finding, decided_at, notes) in findings.items():
        if finding == "problem":
            out.setdefault(trial_id, {})[duty] = (
                f"a reviewer checking an audit sample found a problem with it "
                f"({_day(decided_at)}).{_quote(notes)} Correct the facts or the evidence; the "
                "duty counts again once a reviewer confirms it"
            )
    return out


def held_back(where: Callable[[Any], Any]) -> dict[int, list[tuple[str, Any, str, str]]]:
    """Trial id -> [(fact key, entry, duty, sentence)]: the deferrals and waivers a reviewer
    requested changes on (RULES.md uk-2026 "Deferrals and waivers": a deferral or waiver counts
    once "confirmed by a reviewer"; one sent back is not applied). The entry is the one the
    sponsor added with the submission: in its facts row and not in the row before it."""
    conn = db.session.connection()
    sent_back = conn.execute(
        sa.select(SU.c.id, SU.c.trial_id, SU.c.kind, SU.c.object_id, SU.c.duty, SU.c.decided_at)
        .where(
            where(SU.c.trial_id),
            SU.c.kind.in_(tuple(HELD_KINDS)),
            SU.c.status == "changes_requested",
        )
        .order_by(SU.c.trial_id, SU.c.id)
    ).all()
    if not sent_back:
        return {}
    comments: dict[int, str] = {}
    for submission_id, body in conn.execute(
        sa.select(RC.c.submission_id, RC.c.body)
        .where(RC.c.submission_id.in_([row.id for row in sent_back]))
        .order_by(RC.c.submission_id, RC.c.id)
    ).all():
        comments[submission_id] = body  # the last comment of each
    out: dict[int, list[tuple[str, Any, str, str]]] = {}
    for row in sent_back:
        key = HELD_KINDS[row.kind]
        values = conn.execute(
            sa.select(SF.c.id, SF.c.value)
            .where(SF.c.trial_id == row.trial_id, SF.c.key == key, SF.c.id <= row.object_id)
            .order_by(SF.c.id.desc())
            .limit(2)
        ).all()
        if not values or values[0].id != row.object_id:
            continue
        added = values[0].value if isinstance(values[0].value, list) else []
        before = values[1].value if len(values) > 1 and isinstance(values[1].value, list) else []
        for entry in added:
            if entry in before or not isinstance(entry, dict) or entry.get("duty") != row.duty:
                continue
            reference = str(entry.get("reference") or "").strip()
            named = f"The {row.kind}" + (f" ({reference})" if reference else "")
            sentence = (
                f"{named} is not applied: a reviewer asked for changes to it "
                f"({_day(row.decided_at)}).{_quote(comments.get(row.id))} Enter the {row.kind} "
                "again with the changes asked for."
            )
            out.setdefault(row.trial_id, []).append((key, entry, row.duty, sentence))
    return out


def without_held_back(
    sponsor: list[dict[str, Any]], held: list[tuple[str, Any, str, str]] | None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The sponsor's fact rows without the held-back deferrals and waivers, and duty -> the
    sentences that say why (for the verdicts' explanations)."""
    if not held:
        return sponsor, {}
    drop: dict[str, list[Any]] = {}
    notes: dict[str, str] = {}
    for key, entry, duty, sentence in held:
        drop.setdefault(key, []).append(entry)
        notes[duty] = f"{notes[duty]} {sentence}" if duty in notes else sentence
    rows = []
    for fact in sponsor:
        if fact["key"] in drop and isinstance(fact["value"], list):
            kept = [e for e in fact["value"] if e not in drop[fact["key"]]]
            fact = {**fact, "value": kept or None}
        rows.append(fact)
    return rows, notes
