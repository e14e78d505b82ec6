"""Trials for the tracker tests: registry records as an import leaves them."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from portal.extensions import db
from portal.models import RegistryEntry
from tests.factories import trial

UK = ["United Kingdom"]


def uk_trial(sponsor: str, *, end: str, results_on: date | None = None, owner=None, **facts):
    """A UK interventional trial that started in 2025 (an old rules trial: RULES.md
    "Transitional arrangements") ending ``end``, on ClinicalTrials.gov, results posted
    ``results_on`` (or not)."""
    row = trial(
        title=f"A trial by {sponsor}",
        sponsor_name=sponsor,
        owner=owner,
        study_type="interventional",
        phase="3",
        countries=facts.pop("countries", UK),
        start_on=facts.pop("start_on", "2025-06-01"),
        end_of_trial_on=end,
        **facts,
    )
    if results_on is not None:
        post_results(row.id, results_on)
    return row


def post_results(trial_id: int, on: date) -> None:
    db.session.execute(
        sa.update(RegistryEntry)
        .where(RegistryEntry.trial_id == trial_id)
        .values(results_posted_on=on)
    )
    db.session.commit()
