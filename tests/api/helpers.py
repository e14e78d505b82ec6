"""Tokens and requests for the API tests (real tokens, made by the service the CLI uses)."""

from __future__ import annotations

from portal.extensions import db
from portal.models import Obligation
from portal.services import api_tokens


def token_for(user, request_certificates: bool = False, name: str = "tests") -> str:
    _row, raw = api_tokens.create_token(user, name, request_certificates=request_certificates)
    return raw


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def verdict(trial, duty="UK-RES", status="overdue", due=None, ruleset="uk-2026", title=None):
    from datetime import date

    ob = Obligation(
        trial_id=trial.id,
        duty=duty,
        ruleset=ruleset,
        status=status,
        due=due or date(2026, 1, 31),
        verdict={
            "title": title or "Post the summary results",
            "explanation": "Results were due by 2026-01-31: 12 months after the end_of_trial_on.",
            "source": "RULES.md uk-2026 UK-RES; S.I. 2025/538 reg. 47",
        },
        as_of=trial.created_at.date(),
    )
    db.session.add(ob)
    db.session.commit()
    return ob
