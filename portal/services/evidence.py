"""Which evidence a reviewer has not accepted, and why: the duties it no longer meets.

Read by every recompute from records (``portal.services.obligations``), which stores the result
with the trial's facts and applies it with ``portal.rules.evidence.withhold_all`` (issue 16,
"Evidence decisions reach duties"):

* the participant offer (UK-PART): when a reviewer has requested changes on every offer the
  sponsor recorded, the offer does not meet UK-PART. Recording a new offer, or the reviewer
  approving one, restores it;
* an audit sample: when the latest finding a reviewer recorded on a sampled duty is "problem
  found", that duty is not met. A later "confirmed" finding on it restores it.

Reasons are plain English for the sponsor and hold no "as of" date, so a stored verdict changes
only when a decision does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditSampleItem, ParticipantOffer, ReviewComment, Submission
from portal.rules.dates import format_date

PO = ParticipantOffer.__table__
AI = AuditSampleItem.__table__
SU = Submission.__table__
RC = ReviewComment.__table__

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
