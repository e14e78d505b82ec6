"""Working out the public tracker's figures from registry records only (issue 21).

Each trial's facts are built from its registry entries and imported facts alone: the
``sponsor_facts`` rows (a sponsor's private facts and evidence) are never read here. The rules
engine (``portal.rules.evaluate``) then gives the UK 2026 verdicts as of the run's date.

Two duties are counted in the figures, the two a registry record can show (RULES.md uk-2026):
UK-REG (registration date) and UK-RES (results posted in every registry the trial is on).
UK-PART and UK-END are met by the sponsor's own records (an offer to participants, a
notification to the regulator) that no registry carries, and UK-LAPSE is not a publication
duty: the tracker shows them as "cannot be judged from registry records" and never counts them.

A duty is *due* once its due date has passed or it has been done late: ``overdue``,
``met_late``, or ``met`` with a due date on or before the run's date. A trial is overdue if a
counted duty is overdue; else done late if one was met late; else on time if one is due; else
not yet due. A sponsor's percentage is the trials done (on time or late) out of the trials due.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.domain.parameters import current_params
from portal.domain.trials.facts import build_facts
from portal.extensions import db
from portal.models import (
    RegistryEntry,
    TrackerChange,
    TrackerRun,
    TrackerSponsor,
    TrackerTrial,
    Trial,
)
from portal.rules import Facts, FactsError, Params
from portal.rules.conflicts import find_conflicts
from portal.rules.engine import apply_conflicts
from portal.rules.facts import FACT_KEYS
from portal.rules.model import MET, MET_LATE, NOT_APPLICABLE, OVERDUE
from portal.rules.uk import uk_duties
from portal.services import transactional
from portal.services.obligations.evaluating import _facts as registry_facts
from portal.timeutil import today, utcnow

COUNTED = ("UK-REG", "UK-RES")
NOT_JUDGED = ("UK-PART", "UK-END", "UK-LAPSE")
STATES = ("overdue", "late", "on_time", "not_due")
CHUNK = 2000

_FACT_KEYS = frozenset(FACT_KEYS)
_WORD = re.compile(r"[^a-z0-9]+")


def sponsor_slug(name: str | None) -> str:
    """The sponsor's key and web address: its name's letters and digits, lower case, joined
    by hyphens ("ACME Pharma Ltd." -> "acme-pharma-ltd"); "" for no name."""
    return _WORD.sub("-", (name or "").lower()).strip("-")[:120]


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def is_due(verdict: Any, as_of: date) -> bool:
    """RULES.md status words, for the league table: the duty's time has come."""
    if verdict.status in (OVERDUE, MET_LATE):
        return True
    return verdict.status == MET and verdict.due is not None and verdict.due <= as_of


def trial_state(counted: list[Any], as_of: date) -> str:
    due = [o for o in counted if is_due(o, as_of)]
    if any(o.status == OVERDUE for o in due):
        return "overdue"
    if any(o.status == MET_LATE for o in due):
        return "late"
    if due:
        return "on_time"
    return "not_due"


def verdict_record(o: Any, as_of: date) -> dict[str, Any]:
    """A verdict as the public page shows it: status, dates, why, and each registry fact read."""
    return {
        "duty": o.id,
        "title": o.title,
        "status": o.status,
        "due": _iso(o.due),
        "met_on": _iso(o.met_on),
        "deferred_until": _iso(o.deferred_until),
        "days_overdue": o.days_overdue,
        "counted": is_due(o, as_of),
        "estimated": bool(o.estimated),
        "explanation": o.explanation,
        "missing": list(o.missing or ()),
        "citation": o.source,
        "sources": [
            {"fact": key, "value": entry.get("value"), "source": entry.get("source")}
            for key, entry in (o.inputs or {}).items()
        ],
    }


# RULES.md "Transitional arrangements": the date the new rules came into force.
NEW_RULES_FROM = date(2026, 4, 28)


def application_bound(facts: dict[str, Any], sources: dict[str, str]) -> None:
    """The tracker's one assumption: registries do not give the date a UK application was
    submitted, which decides old or new rules (RULES.md "Transitional arrangements"). A trial
    that started before 28 April 2026 was applied for before it, so its start date stands in
    for the application date (an old rules trial). A later start decides nothing: the duties
    stay "data needed"."""
    if facts.get("application_submitted_on") is not None:
        return
    start = facts.get("start_on")
    if not isinstance(start, str):
        return
    try:
        if len(start) == 7:  # "2026-03": the last day of the month (RULES.md "Dates")
            year, month = int(start[:4]), int(start[5:7])
            last = date(year + month // 12, month % 12 + 1, 1)
            started = date.fromordinal(last.toordinal() - 1)
        else:
            started = date.fromisoformat(start[:10])
    except ValueError:
        return
    if started < NEW_RULES_FROM:
        facts["application_submitted_on"] = start
        sources["application_submitted_on"] = (
            f"no later than the start date ({sources.get('start_on', 'registry record')}): "
            "a trial that started before 28 April 2026 was applied for before it"
        )


def registry_only_facts(imported: Any, entries: list[dict[str, Any]]) -> Facts:
    """The rules' facts from the registry entries and imported facts alone (never the
    sponsor's rows), with the application date bound of :func:`application_bound`."""
    kept = {
        key: fact
        for key, fact in (imported if isinstance(imported, dict) else {}).items()
        if key in _FACT_KEYS and isinstance(fact, dict)
    }
    facts, sources = build_facts(kept, entries, ())
    try:
        found = Facts.from_dict(facts, sources)
    except FactsError:  # a stored fact the rules refuse: drop it, as the recompute does
        found = registry_facts(imported, entries, ())[0]
        facts, sources = found.to_dict(), dict(found.sources)
    # Only for a trial with a UK site: an application date would make any trial a UK one.
    if found.uk_countries and found.approved_on is None:  # type: ignore[attr-defined]
        before = len(facts)
        application_bound(facts, sources)
        if len(facts) != before:
            try:
                return Facts.from_dict(facts, sources)
            except FactsError:
                return found
    return found


def uk_verdicts(facts: Facts, as_of: date, params: Params) -> list[Any]:
    """The uk-2026 verdicts of ``evaluate(facts, as_of, params)``, without working out the EU
    and US rule sets the tracker does not show (a test checks they are the same): the UK rules
    apply to a trial with a UK approval, application or site (``engine._uk``), and the checks of
    RULES.md "Facts that contradict each other" apply as ``evaluate`` applies them."""
    if facts.study_type == "observational" or not (
        facts.approved_on is not None
        or facts.application_submitted_on is not None
        or facts.uk_countries  # type: ignore[attr-defined]
    ):
        return []
    out = uk_duties(facts, as_of, params)
    found = [c for c in find_conflicts(facts, params) if c.duties]
    return apply_conflicts(out, found) if found else out


def evaluate_trial(
    imported: Any, entries: list[dict[str, Any]], as_of: date, params: Params
) -> tuple[str, list[dict[str, Any]]] | None:
    """(state, verdict records) of a trial from its registry records; None when no UK duty
    of the 2026 rules applies to it (not a UK trial, or one the old rules still cover)."""
    facts = registry_only_facts(imported, entries)
    uk = [o for o in uk_verdicts(facts, as_of, params) if o.id in COUNTED]
    if not uk or all(o.status == NOT_APPLICABLE for o in uk):
        return None
    return trial_state(uk, as_of), [verdict_record(o, as_of) for o in uk]


@dataclass
class _Sponsor:
    id: int
    names: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)


def _chunks() -> Iterator[list[Any]]:
    after = 0
    while True:
        rows = db.session.execute(
            sa.select(Trial.id, Trial.title, Trial.sponsor_name, Trial.imported_facts)
            .where(Trial.id > after)
            .order_by(Trial.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _entries(first: int, last: int) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for row in db.session.execute(
        sa.select(
            RegistryEntry.trial_id,
            RegistryEntry.registry_name,
            RegistryEntry.registry_id,
            RegistryEntry.registered_on,
            RegistryEntry.results_posted_on,
            RegistryEntry.url,
        ).where(RegistryEntry.trial_id.between(first, last))
    ):
        out.setdefault(row.trial_id, []).append(
            {
                "registry": row.registry_name,
                "registry_id": row.registry_id,
                "registered_on": row.registered_on,
                "results_posted_on": row.results_posted_on,
                "url": row.url,
            }
        )
    for entries in out.values():
        entries.sort(key=lambda e: (e["registry"], e["registry_id"]))
    return out


@transactional
def recompute(as_of: date | None = None) -> TrackerRun:
    """Work out every trial's registry-only verdicts and every sponsor's figures as of
    ``as_of`` (default today), replacing the previous figures in one transaction."""
    started = time.monotonic()
    as_of = as_of or today()
    _version, params = current_params()
    run = TrackerRun(as_of=as_of, started_at=utcnow())
    previous_as_of = db.session.execute(
        sa.select(TrackerRun.as_of)
        .where(TrackerRun.finished_at.is_not(None))
        .order_by(TrackerRun.id.desc())
        .limit(1)
    ).scalar()
    same_day = previous_as_of == as_of
    # What was overdue at the end of the day before: the previous run's figures, or (a second
    # run on the same day) what that run started from.
    before = {
        trial_id: (prev if same_day else now)
        for trial_id, now, prev in db.session.execute(
            sa.select(TrackerTrial.trial_id, TrackerTrial.overdue_duties, TrackerTrial.prev_overdue)
        )
    }
    db.session.execute(sa.delete(TrackerChange).where(TrackerChange.as_of == as_of))
    db.session.execute(sa.delete(TrackerTrial))
    db.session.execute(sa.delete(TrackerSponsor))

    sponsors: dict[str, _Sponsor] = {}
    trials = 0
    for rows in _chunks():
        entries = _entries(rows[0].id, rows[-1].id)
        out, changes = [], []
        for row in rows:
            mine = entries.get(row.id, [])
            worked = evaluate_trial(row.imported_facts, mine, as_of, params)
            if worked is None:
                continue
            state, verdicts = worked
            slug = sponsor_slug(row.sponsor_name)
            sponsor = None
            if slug:
                sponsor = sponsors.get(slug)
                if sponsor is None:
                    sponsor = sponsors[slug] = _Sponsor(id=len(sponsors) + 1)
                sponsor.names[row.sponsor_name.strip()] += 1
                sponsor.counts[state] += 1
            overdue = ",".join(v["duty"] for v in verdicts if v["status"] == OVERDUE)
            prev = before.get(row.id, "") if previous_as_of is not None else overdue
            for duty in _split(overdue) - _split(prev):
                changes.append(_change(as_of, "newly_overdue", row.id, duty, verdicts))
            for duty in _split(prev) - _split(overdue):
                changes.append(_change(as_of, "no_longer_overdue", row.id, duty, verdicts))
            out.append(
                {
                    "trial_id": row.id,
                    "sponsor_id": sponsor.id if sponsor else None,
                    "sponsor_name": (row.sponsor_name or "").strip(),
                    "title": row.title or "",
                    "registry_ids": ", ".join(e["registry_id"] for e in mine),
                    "state": state,
                    "verdicts": verdicts,
                    "registries": [_registry(e) for e in mine],
                    "overdue_duties": overdue,
                    "prev_overdue": prev,
                }
            )
        trials += len(out)
        if out:
            db.session.execute(sa.insert(TrackerTrial), out)
        if changes:
            db.session.execute(sa.insert(TrackerChange), changes)
    lines = [_sponsor_row(slug, s) for slug, s in sponsors.items()]
    if lines:
        db.session.execute(sa.insert(TrackerSponsor), lines)
    run.trials, run.sponsors = trials, len(sponsors)
    for column in ("due", "on_time", "late", "overdue"):
        setattr(run, column, sum(line[column] for line in lines))
    run.sponsor_trials = sum(line["trials"] for line in lines)
    run.finished_at = utcnow()
    db.session.add(run)
    db.session.flush()
    run.seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return run


def _split(text: str) -> set[str]:
    return {part for part in (text or "").split(",") if part}


def _change(
    as_of: date, kind: str, trial_id: int, duty: str, verdicts: list[dict[str, Any]]
) -> dict[str, Any]:
    status = next((v["status"] for v in verdicts if v["duty"] == duty), NOT_APPLICABLE)
    return {"as_of": as_of, "kind": kind, "trial_id": trial_id, "duty": duty, "status": status}


def _registry(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "registry": entry["registry"],
        "id": entry["registry_id"],
        "url": entry.get("url"),
        "registered_on": _iso(entry.get("registered_on")),
        "results_posted_on": _iso(entry.get("results_posted_on")),
    }


def _sponsor_row(slug: str, s: _Sponsor) -> dict[str, Any]:
    # The name most of its trials give (the first in alphabetical order on a tie).
    name = sorted(s.names.items(), key=lambda item: (-item[1], item[0]))[0][0]
    due = s.counts["overdue"] + s.counts["late"] + s.counts["on_time"]
    done = s.counts["late"] + s.counts["on_time"]
    return {
        "id": s.id,
        "slug": slug,
        "name": name,
        "trials": sum(s.counts.values()),
        "due": due,
        "on_time": s.counts["on_time"],
        "late": s.counts["late"],
        "overdue": s.counts["overdue"],
        "percent": round(100 * done / due) if due else None,
    }
