"""The facts to check of a trial (RULES.md "Facts that contradict each other"), for pages and
certificates: worked out from the facts its verdicts were worked out from, as of a date."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.domain.trials.facts import describe_value
from portal.extensions import db
from portal.models import ObligationInputs, RegistryEntry, SponsorFact, Trial
from portal.rules import CONFLICT, Conflict, Facts, facts_to_check
from portal.rules.labels import fact_label
from portal.timeutil import today

__all__ = ["facts_of_trial", "for_trial", "has_checks", "has_checks_of_inputs", "shown"]

_MONTH_ONLY = re.compile(r"(\d{4})-(\d{2}) \(read as (\d{4}-\d{2}-\d{2})\)")


def facts_of_trial(
    trial_id: int,
    trial: Trial | None = None,
    entries: list[RegistryEntry] | None = None,
    sponsor: list[SponsorFact] | None = None,
) -> Facts:
    """The trial's facts, built from its records as a recompute builds them (registry entries,
    imported and sponsor-entered facts). A page that has loaded the rows passes them in."""
    from portal.services.obligations.evaluating import _facts as build

    if trial is None:
        trial = db.session.get(Trial, trial_id)
    if entries is None:
        entries = list(
            db.session.execute(
                sa.select(RegistryEntry).where(RegistryEntry.trial_id == trial_id)
            ).scalars()
        )
    if sponsor is None:
        sponsor = list(
            db.session.execute(
                sa.select(SponsorFact).where(
                    SponsorFact.trial_id == trial_id, SponsorFact.current.is_(True)
                )
            ).scalars()
        )
    rows = sorted(
        (
            {"registry": e.registry_name, "registry_id": e.registry_id,
             "registered_on": e.registered_on, "results_posted_on": e.results_posted_on}
            for e in entries
        ),
        key=lambda e: (e["registry"], e["registry_id"]),
    )  # fmt: skip
    facts = [
        {"key": f.key, "value": f.value, "entered_by_label": f.entered_by_label,
         "entered_at": f.entered_at}
        for f in sponsor
    ]  # fmt: skip
    return build(trial.imported_facts if trial else {}, rows, facts)[0]


def for_trial(trial_id: int, as_of: date | None = None, **rows: Any) -> list[Conflict]:
    """Every conflict and warning for the trial as of `as_of` (default today), under the rule
    parameters in force. ``rows``: trial, entries, sponsor, when the caller has them."""
    from portal.domain.parameters import current_params

    _, params = current_params()
    return facts_to_check(facts_of_trial(trial_id, **rows), as_of or today(), params)


def _value(text: str) -> str:
    match = _MONTH_ONLY.fullmatch(text)
    if match:
        year, month, full = match.groups()
        return f"{date(int(year), int(month), 1):%B %Y} (read as {describe_value(full)})"
    if ": " in text:  # "results posted on ISRCTN 1: 2026-12-01"
        head, tail = text.rsplit(": ", 1)
        return f"{head}: {describe_value(tail)}"
    return describe_value(text)


def shown(findings: list[Conflict]) -> list[dict[str, Any]]:
    """Findings as pages and certificates show them: plain labels and dates."""
    return [
        {
            "check": c.check,
            "conflict": c.kind == CONFLICT,
            "message": c.message,
            "duties": list(c.duties),
            "facts": [
                {"label": fact_label(key), "value": _value(value), "source": source}
                for key, value, source in c.facts
            ],
        }
        for c in findings
    ]


def has_checks_of_inputs():
    """SQL condition on ObligationInputs: the stored facts list facts to check."""
    return sa.func.coalesce(sa.func.json_array_length(ObligationInputs.facts["checks"]), 0) > 0


def has_checks():
    """SQL condition: the trial's stored facts have facts to check (the dashboard filter)."""
    return sa.exists().where(ObligationInputs.trial_id == Trial.id, has_checks_of_inputs())
