"""Merging by cross-reference: a trial's facts from all its entries, and merging two trials."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    Trial,
)
from portal.services.imports.records import (
    REGISTRY_PRIORITY,
)

log = logging.getLogger(__name__)

PLACEHOLDER_DIGITS = frozenset({"12345", "123456", "1234567", "12345678", "123456789"})


def placeholder_id(value: str) -> bool:
    """Dummy cross-references seen in registry data (NCT12345678, ISRCTN00000000): never
    used to merge trials."""
    digits = _NOT_DIGIT.sub("", value)
    return not digits or len(set(digits)) == 1 or digits in PLACEHOLDER_DIGITS


_NOT_DIGIT = re.compile(r"\D+")


def _priority(registry: str, registry_id: str) -> tuple[int, str, str]:
    try:
        rank = REGISTRY_PRIORITY.index(registry)
    except ValueError:
        rank = len(REGISTRY_PRIORITY)
    return rank, registry, registry_id


def _uk_site(countries: Any) -> bool | None:
    if not countries:
        return None
    if "United Kingdom" in countries:
        return True
    from portal.rules.reference import UK_COUNTRIES, country_key

    return any(country_key(str(c)) in UK_COUNTRIES for c in countries)


@dataclass(slots=True)
class EntryView:
    """What fact derivation needs of one registry entry."""

    registry: str
    registry_id: str
    facts: dict[str, Any]
    imported_at: str | None


def _entry_priority(entry: EntryView) -> tuple[int, str, str]:
    return _priority(entry.registry, entry.registry_id)


def derive_trial(entries: Sequence[EntryView]) -> dict[str, Any]:
    """Trial columns and ``imported_facts`` from all of a trial's entries (registry priority)."""
    facts: dict[str, dict[str, Any]] = {}
    for entry in entries if len(entries) == 1 else sorted(entries, key=_entry_priority):
        registry, record, at = entry.registry, entry.registry_id, entry.imported_at
        for key, value in entry.facts.items():
            if key in facts or value is None or value == "" or value == []:
                continue
            facts[key] = {"value": value, "registry": registry, "record": record, "imported_at": at}
    if len(entries) > 1:
        _union_countries(facts, sorted(entries, key=_entry_priority))
    countries = facts.get("countries")
    columns: dict[str, Any] = {
        "imported_facts": facts,
        "uk_site": _uk_site(countries["value"]) if countries else None,
    }
    for key in ("title", "sponsor_name", "overall_status"):
        if key in facts:
            columns[key] = facts[key]["value"]
    return columns


def _union_countries(facts: dict[str, dict[str, Any]], entries: Sequence[EntryView]) -> None:
    """A trial's countries are the sites of all its registry entries, not just the first one's:
    a UK site listed only on ISRCTN still makes it a UK trial (RULES.md: "any site in the UK").
    The fact keeps the highest-priority entry as its source and names the others in ``also``."""
    fact = facts.get("countries")
    if fact is None:
        return
    from portal.rules.reference import UK_COUNTRIES, US_COUNTRIES, country_key

    def identity(country: Any) -> str:  # "UK" and "United Kingdom" are one country
        key = country_key(str(country))
        return "uk" if key in UK_COUNTRIES else "us" if key in US_COUNTRIES else key

    merged = list(fact["value"]) if isinstance(fact["value"], list) else []
    seen = {identity(c) for c in merged}
    also = []
    for entry in entries:
        if entry.registry == fact["registry"] and entry.registry_id == fact["record"]:
            continue
        value = entry.facts.get("countries")
        added = False
        for country in value if isinstance(value, list) else ():
            key = identity(country)
            if key and key not in seen:
                seen.add(key)
                merged.append(country)
                added = True
        if added:
            also.append({"registry": entry.registry, "record": entry.registry_id})
    if also:
        facts["countries"] = {**fact, "value": merged, "also": also}


def _trial_fk_tables() -> list[tuple[sa.Table, sa.Column]]:
    """Every (table, column) that refers to trials.id, so merging can move or delete rows."""
    found = []
    trials = Trial.__table__
    for table in db.metadata.sorted_tables:
        if table is trials:
            continue
        for column in table.columns:
            if any(fk.column is trials.c.id for fk in column.foreign_keys):
                found.append((table, column))
    return found


def _dependants(table: sa.Table) -> list[tuple[sa.Table, sa.Column]]:
    found = []
    for other in db.metadata.sorted_tables:
        for column in other.columns:
            if any(fk.column.table is table for fk in column.foreign_keys):
                found.append((other, column))
    return found


def _entry_row(
    registry: str, registry_id: str, registered_on: date | None, results_posted_on: date | None
) -> dict[str, Any]:
    """A registry entry as ``build_facts`` reads it (``NewTrial.entries``)."""
    return {
        "registry": registry,
        "registry_id": registry_id,
        "registered_on": registered_on,
        "results_posted_on": results_posted_on,
    }


def _merge_trials(drop: int, keep: int) -> None:
    """Move everything that refers to trial ``drop`` to ``keep``; delete its obligations and
    their inputs (recomputed for ``keep``) and then the trial itself."""
    from portal.models import Obligation, ObligationInputs

    obligations = Obligation.__table__
    for table, column in _trial_fk_tables():
        if table is ObligationInputs.__table__:
            db.session.execute(sa.delete(table).where(column == drop))
        elif table is obligations:
            doomed = sa.select(obligations.c.id).where(column == drop)
            for dependant, dep_column in _dependants(obligations):
                db.session.execute(sa.delete(dependant).where(dep_column.in_(doomed)))
            db.session.execute(sa.delete(obligations).where(column == drop))
        else:
            db.session.execute(sa.update(table).where(column == drop).values({column.name: keep}))
    db.session.execute(sa.delete(Trial.__table__).where(Trial.__table__.c.id == drop))
    log.info("merged trial %s into trial %s", drop, keep)
