"""One reader of "were results posted in this registry entry, and when" (issue 16).

The verdicts read it through ``portal.domain.trials.facts.build_facts`` (``results_on``: the date a
registry import gives, else the date the sponsor entered with a link as evidence); the trial
page's registry table, the evidence section, certificates and reports read it here, from the
same rows by the same rule, so they always agree with UK-RES.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from portal.domain.trials.facts import results_on
from portal.models import RegistryEntry, SponsorFact, Trial
from portal.rules.reference import canonical_registry

__all__ = ["EntryResults", "EntryView", "for_trial", "results_on"]


# Where each registry publishes results (issue 6): a results link must be on that registry's site.
EU_HOSTS = ("euclinicaltrials.eu", "clinicaltrialsregister.eu")
REGISTRY_HOSTS: dict[str, tuple[str, ...]] = {
    "ClinicalTrials.gov": ("clinicaltrials.gov",),
    "ISRCTN": ("isrctn.com",),
    "CTIS": EU_HOSTS,
    "EUCTR": EU_HOSTS,
}


def hosts_for(registry_name: str) -> tuple[str, ...]:
    return REGISTRY_HOSTS.get(canonical_registry(registry_name) or registry_name, ())


@dataclass(frozen=True)
class EntryResults:
    """One registry entry and its results: ``on`` is the date the verdicts use (None: not
    posted); ``imported_on`` the registry's own date; ``entered`` the sponsor's
    {"on": date, "evidence_url": str} when the registry gives none."""

    entry: RegistryEntry
    on: date | None
    imported_on: date | None
    entered: dict[str, Any] | None
    entered_by: str | None
    checkable: bool

    @property
    def source(self) -> str:
        if self.imported_on is not None:
            return "from the registry import"
        if self.entered is not None:
            return f"entered by {self.entered_by}" if self.entered_by else "entered by the sponsor"
        return ""

    # The mapping form the evidence section's template reads (row.entry, row.entered, ...).
    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)


class EntryView:
    """A registry entry as pages show it: every attribute of the row, with
    ``results_posted_on`` the date the verdicts use (never written back to the row)."""

    __slots__ = ("_entry", "results", "results_posted_on")

    def __init__(self, results: EntryResults) -> None:
        self._entry = results.entry
        self.results = results
        self.results_posted_on = results.on

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entry, name)


def _claims(current: SponsorFact | None) -> dict[str, Any]:
    value = current.value if current is not None else None
    return value if isinstance(value, dict) else {}


def for_trial(trial: Trial, facts: dict[str, SponsorFact] | None = None) -> list[EntryResults]:
    """Each registry entry of ``trial`` with its results, in the trial's entry order.

    ``facts``: the trial's current sponsor facts (SponsorFact rows by key), if already read."""
    from portal.services import sponsor_facts

    if facts is None:
        facts = sponsor_facts.current_facts(trial.id)
    current = facts.get("results_posted")
    claims = _claims(current)
    rows = []
    for entry in trial.entries:
        claimed = claims.get(entry.registry_id)
        claimed = claimed if isinstance(claimed, dict) else None
        on = _date(results_on(entry.results_posted_on, claimed))
        entered = None
        if claimed is not None and entry.results_posted_on is None:
            entered = {**claimed, "on": _date(claimed.get("on"))}
        rows.append(
            EntryResults(
                entry=entry,
                on=on,
                imported_on=entry.results_posted_on,
                entered=entered,
                entered_by=current.entered_by_label if entered and current else None,
                checkable=bool(hosts_for(entry.registry_name)),
            )
        )
    return rows


def views(trial: Trial, facts: dict[str, SponsorFact] | None = None) -> list[EntryView]:
    """The trial's registry entries for a page's registry table."""
    return [EntryView(r) for r in for_trial(trial, facts)]


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None
