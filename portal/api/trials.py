"""/api/v1/trials and /api/v1/obligations: the portfolio, read-only.

The same filters as the trials page (``portal.trials.queries.filtered_trials``) on the same
scoped query (``portal.services.trial_access``). Pages follow a cursor (the last id seen), so
any page costs the same few queries whatever the portfolio's size: the token, one page of
trials, their verdicts, their registry entries.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import url_for

from portal.api import auth, bp, errors
from portal.api.schemas import (
    ObligationListArgs,
    ObligationPageSchema,
    TrialListArgs,
    TrialPageSchema,
    TrialSchema,
    cursor_id,
)
from portal.domain.obligations.stored import trial_verdicts
from portal.extensions import db
from portal.models import Obligation, ObligationInputs, Trial
from portal.plain import STATUS_LABELS, citation, humanise, label, missing_facts
from portal.services.trial_access import scope_trials, trial_for
from portal.timeutil import aware, today
from portal.trials import queries
from portal.trials.queries import OPEN_STATUSES, Filters, filtered_trials, rows_for

READ_ERRORS = (401, 403, 404, 422, 429)


def _page(items: list[Any], limit: int, key) -> tuple[list[Any], str | None]:
    """``limit + 1`` rows were read: the extra one says there is a next page."""
    if len(items) > limit:
        items = items[:limit]
        return items, str(key(items[-1]))
    return items, None


def _identifiers(entries) -> list[dict[str, Any]]:
    return [
        {"registry": e.registry_name, "registry_id": e.registry_id, "url": e.url} for e in entries
    ]


def _summary(row: queries.TrialRow) -> dict[str, Any]:
    trial = row.trial
    nxt = row.next_obligation
    return {
        "id": trial.id,
        "title": trial.title or "",
        "sponsor_name": trial.sponsor_name,
        "overall_status": trial.overall_status,
        "registries": _identifiers(row.entries),
        "next_duty": None
        if nxt is None
        else {
            "duty": nxt["duty"],
            "title": humanise(nxt["title"]),
            "status": nxt["status"],
            "status_label": STATUS_LABELS.get(nxt["status"], nxt["status"]),
            "due": nxt["due"],
        },
        "counts": dict(sorted(row.counts.items())),
        "url": url_for("api.trial", trial_id=trial.id),
    }


@bp.route("/trials")
@auth.token_required()
@bp.arguments(TrialListArgs, location="query", as_kwargs=True)
@bp.response(200, TrialPageSchema)
@errors(*READ_ERRORS)
def trials(
    cursor: str | None = None,
    limit: int = 25,
    status: str = "",
    ruleset: str = "",
    due_within: int | None = None,
    q: str = "",
):
    """List your trials

    Filters as on the trials page: a verdict's status, a rule set, an open duty due within a
    number of days, and text. Ordered by id; follow next_cursor for the next page.
    """
    filters = Filters(status=status, ruleset=ruleset, due_within=due_within, q=q.strip())
    query = filtered_trials(auth.current(), filters, today())
    if cursor:
        query = query.where(Trial.id > cursor_id(cursor))
    found = list(db.session.execute(query.order_by(Trial.id).limit(limit + 1)).scalars())
    found, next_cursor = _page(found, limit, key=lambda t: t.id)
    return {"items": [_summary(row) for row in rows_for(found)], "next_cursor": next_cursor}


def _facts(trial: Trial) -> list[dict[str, Any]]:
    row = db.session.get(ObligationInputs, trial.id)
    inputs = row.inputs if row is not None and isinstance(row.inputs, dict) else {}
    return [
        {
            "name": name,
            "label": label(name),
            "value": (entry or {}).get("value"),
            "source": humanise(citation((entry or {}).get("source") or "not recorded")),
        }
        for name, entry in sorted(inputs.items())
    ]


def _verdict(ob: Obligation, as_of: date) -> dict[str, Any]:
    verdict = ob.verdict or {}
    status = ob.status
    return {
        "duty": ob.duty,
        "ruleset": ob.ruleset,
        "title": humanise(verdict.get("title") or ob.duty),
        "status": status,
        "status_label": STATUS_LABELS.get(status, status),
        "due": ob.due,
        "estimated": bool(verdict.get("estimated")),
        "days_overdue": ob.days_overdue_on(as_of),
        "days_remaining": ob.days_remaining_on(as_of),
        "explanation": humanise(verdict.get("explanation") or ""),
        "assumptions": [humanise(a) for a in verdict.get("assumptions") or ()],
        "missing_facts": missing_facts(verdict["missing"]) if verdict.get("missing") else None,
        "citation": citation(verdict.get("source") or ""),
    }


@bp.route("/trials/<int(max=2147483647):trial_id>")
@auth.token_required()
@bp.response(200, TrialSchema)
@errors(*READ_ERRORS)
def trial(trial_id: int):
    """One trial: its facts, their sources and its verdicts

    Each verdict says why, in plain English, with the regulation it rests on. A trial of
    another organisation is not found (404).
    """
    found = trial_for(auth.current(), trial_id)
    row = rows_for([found])[0]
    as_of = today()
    return {
        **_summary(row),
        "facts": _facts(found),
        "sources": [
            {
                "registry": e.registry_name,
                "registry_id": e.registry_id,
                "url": e.url,
                "registered_on": e.registered_on,
                "results_posted_on": e.results_posted_on,
                "last_updated": e.last_updated,
                "last_imported_at": aware(e.last_imported_at),
            }
            for e in row.entries
        ],
        "verdicts": [_verdict(ob, as_of) for ob in trial_verdicts(found.id)],
    }


@bp.route("/obligations")
@auth.token_required()
@bp.arguments(ObligationListArgs, location="query", as_kwargs=True)
@bp.response(200, ObligationPageSchema)
@errors(*READ_ERRORS)
def obligations(
    cursor: str | None = None,
    limit: int = 25,
    status: str = "",
    ruleset: str = "",
    due_within: int | None = None,
):
    """List the duties across your portfolio

    Every stored verdict of every trial you may see (not-applicable duties are left out),
    filtered by status, rule set and an open duty's due date. Ordered by id.
    """
    visible = scope_trials(sa.select(Trial.id), auth.current()).subquery()
    query = (
        sa.select(Obligation, Trial.title)
        .join(Trial, Trial.id == Obligation.trial_id)
        .where(Obligation.trial_id.in_(sa.select(visible.c.id)))
    )
    if status:
        query = query.where(Obligation.status == status)
    if ruleset:
        query = query.where(Obligation.ruleset == ruleset)
    if due_within is not None:
        query = query.where(
            Obligation.status.in_(OPEN_STATUSES),
            Obligation.due <= today() + timedelta(days=due_within),
        )
    if cursor:
        query = query.where(Obligation.id > cursor_id(cursor))
    rows = list(db.session.execute(query.order_by(Obligation.id).limit(limit + 1)).all())
    rows, next_cursor = _page(rows, limit, key=lambda r: r[0].id)
    as_of = today()
    return {
        "items": [
            {
                "id": ob.id,
                "trial_id": ob.trial_id,
                "trial_title": title or "",
                "duty": ob.duty,
                "ruleset": ob.ruleset,
                "title": humanise((ob.verdict or {}).get("title") or ob.duty),
                "status": ob.status,
                "status_label": STATUS_LABELS.get(ob.status, ob.status),
                "due": ob.due,
                "days_overdue": ob.days_overdue_on(as_of),
                "explanation": humanise((ob.verdict or {}).get("explanation") or ""),
            }
            for ob, title in rows
        ],
        "next_cursor": next_cursor,
    }
