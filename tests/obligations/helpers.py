"""Trials built from rows, as the importer and the sponsor fact pages leave them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from portal.domain.obligations.stored import trial_verdicts
from portal.extensions import db
from portal.models import Obligation, ObligationStatusChange, RegistryEntry, SponsorFact, Trial

IMPORTED_AT = "2026-11-01T09:00:00+00:00"


def make_trial(
    imported: dict[str, Any] | None = None,
    entries: list[dict[str, Any]] | None = None,
    sponsor: dict[str, Any] | None = None,
    *,
    registry_id: str = "NCT01000001",
) -> Trial:
    """A trial with imported facts, registry entries and current sponsor facts (committed)."""
    trial = Trial(
        title="A trial",
        imported_facts={
            key: {
                "value": value,
                "registry": "ClinicalTrials.gov",
                "record": registry_id,
                "imported_at": IMPORTED_AT,
            }
            for key, value in {"title": "A trial", **(imported or {})}.items()
        },
    )
    db.session.add(trial)
    db.session.flush()
    for i, entry in enumerate(entries or []):
        db.session.add(
            RegistryEntry(
                trial_id=trial.id,
                registry_name=entry.get("registry", "ClinicalTrials.gov"),
                registry_id=entry.get("registry_id", f"{registry_id}-{i}"),
                registered_on=entry.get("registered_on"),
                results_posted_on=entry.get("results_posted_on"),
                content_hash="0" * 64,
                record={},
            )
        )
    for key, value in (sponsor or {}).items():
        set_sponsor_fact(trial.id, key, value, commit=False)
    db.session.commit()
    return trial


def set_sponsor_fact(trial_id: int, key: str, value: Any, *, commit: bool = True) -> None:
    """A new current row for ``key`` (older rows stop being current), as the sponsor pages do."""
    db.session.execute(
        sa.update(SponsorFact)
        .where(SponsorFact.trial_id == trial_id, SponsorFact.key == key)
        .values(current=False)
    )
    db.session.add(
        SponsorFact(
            trial_id=trial_id,
            key=key,
            value=value,
            entered_by_label="sponsor@trust.example",
            entered_at=datetime(2026, 11, 2, 10, 30, tzinfo=UTC),
            current=True,
        )
    )
    if commit:
        db.session.commit()


def obligations(trial_id: int) -> dict[str, Obligation]:
    """Every stored verdict of the trial, not applicable ones included (obligations.stored)."""
    return {o.duty: o for o in trial_verdicts(trial_id)}


def history(trial_id: int, duty: str | None = None) -> list[ObligationStatusChange]:
    query = sa.select(ObligationStatusChange).where(ObligationStatusChange.trial_id == trial_id)
    if duty:
        query = query.where(ObligationStatusChange.duty == duty)
    return list(db.session.execute(query.order_by(ObligationStatusChange.id)).scalars())


def d(text: str) -> date:
    return date.fromisoformat(text)
