"""Organisations' watch lists (trial ids, sponsor names) and the new trials offered to them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from portal.domain.claims.matching import normalise_sponsor_name
from portal.extensions import db
from portal.models import Claim, RegistryEntry, RegistrySyncState, RegistryWatch, Trial
from portal.services import ServiceError, transactional
from portal.services.audit import record as audit_record

TRIAL_ID = re.compile(r"^(NCT\d{8}|ISRCTN\d{8})$")
MAX_WATCHES = 200
OFFERS_SHOWN = 50


@dataclass(frozen=True)
class Watch:
    id: int | None  # None: added by the portal from an approved claim
    kind: str
    value: str
    automatic: bool
    since: datetime | None


def normalise_trial_id(text: str) -> str | None:
    value = re.sub(r"\s+", "", text or "").upper()
    if value.isdigit() and len(value) == 8:
        value = "ISRCTN" + value
    return value if TRIAL_ID.match(value) else None


def claimed_sponsor_names(organisation_id: int) -> dict[str, datetime | None]:
    """The sponsor names of the organisation's approved claims (verified by a reviewer)."""
    rows = db.session.execute(
        sa.select(Trial.sponsor_name, sa.func.min(Claim.decided_at))
        .join(Claim, Claim.trial_id == Trial.id)
        .where(
            Claim.organisation_id == organisation_id,
            Claim.status == "approved",
            Trial.sponsor_name.is_not(None),
        )
        .group_by(Trial.sponsor_name)
    ).all()
    return {name: when for name, when in rows if name and name.strip()}


def watch_list(organisation_id: int) -> list[Watch]:
    """What the organisation watches: its own entries, then the names from its claims."""
    own = (
        db.session.execute(
            sa.select(RegistryWatch)
            .where(RegistryWatch.organisation_id == organisation_id)
            .order_by(RegistryWatch.kind.desc(), RegistryWatch.value)
        )
        .scalars()
        .all()
    )
    watches = [Watch(w.id, w.kind, w.value, w.automatic, w.created_at) for w in own]
    typed = {normalise_sponsor_name(w.value) for w in own if w.kind == "sponsor"}
    for name, when in sorted(claimed_sponsor_names(organisation_id).items()):
        if normalise_sponsor_name(name) not in typed:
            typed.add(normalise_sponsor_name(name))
            watches.append(Watch(None, "sponsor", name, True, when))
    return watches


def watched_for_sync() -> tuple[set[str], list[str]]:
    """Every watched trial id and sponsor name, of every organisation (what the sync asks for)."""
    ids: set[str] = set()
    names: dict[str, str] = {}
    for kind, value in db.session.execute(sa.select(RegistryWatch.kind, RegistryWatch.value)):
        if kind == "trial":
            ids.add(value)
        else:
            names.setdefault(normalise_sponsor_name(value), value)
    claimed = db.session.execute(
        sa.select(Trial.sponsor_name)
        .join(Claim, Claim.trial_id == Trial.id)
        .where(Claim.status == "approved", Trial.sponsor_name.is_not(None))
        .distinct()
    ).scalars()
    for name in claimed:
        if name and name.strip():
            names.setdefault(normalise_sponsor_name(name), name)
    return ids, sorted(names.values())


@transactional
def add_watch(actor: Any, organisation_id: int, kind: str, text: str) -> RegistryWatch:
    """Add a trial id or a sponsor name to an organisation's watch list (audited)."""
    if kind == "trial":
        value = normalise_trial_id(text)
        if value is None:
            raise ServiceError(
                "Enter a ClinicalTrials.gov number like NCT01234567 or an ISRCTN number like "
                "ISRCTN12345678",
                field="value",
            )
    elif kind == "sponsor":
        value = " ".join((text or "").split())
        if not value:
            raise ServiceError("Enter a sponsor name", field="value")
        if len(value) > 500:
            raise ServiceError("The sponsor name must be 500 characters or fewer", field="value")
    else:
        raise ServiceError("Choose a trial number or a sponsor name", field="kind")
    count = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RegistryWatch)
        .where(RegistryWatch.organisation_id == organisation_id)
    )
    if count >= MAX_WATCHES:
        raise ServiceError(f"A watch list holds at most {MAX_WATCHES} entries", field="value")
    exists = db.session.scalar(
        sa.select(RegistryWatch.id).where(
            RegistryWatch.organisation_id == organisation_id,
            RegistryWatch.kind == kind,
            RegistryWatch.value == value,
        )
    )
    if exists:
        raise ServiceError(f"{value} is already on your watch list", field="value")
    watch = RegistryWatch(
        organisation_id=organisation_id,
        kind=kind,
        value=value,
        automatic=False,
        added_by_id=getattr(actor, "id", None),
    )
    db.session.add(watch)
    db.session.flush()
    audit_record(
        "registry_watch.added",
        "organisation",
        organisation_id,
        actor=actor,
        organisation_id=organisation_id,
        after={"watching": value},
    )
    return watch


@transactional
def remove_watch(actor: Any, organisation_id: int, watch_id: int) -> str:
    watch = db.session.get(RegistryWatch, watch_id)
    if watch is None or watch.organisation_id != organisation_id:
        raise ServiceError("That entry is not on your watch list")
    value = watch.value
    db.session.delete(watch)
    audit_record(
        "registry_watch.removed",
        "organisation",
        organisation_id,
        actor=actor,
        organisation_id=organisation_id,
        before={"watching": value},
    )
    return value


def offered_trials(organisation_id: int) -> list[Trial]:
    """New trials under a watched sponsor name: nobody owns them, they were added after the name
    was watched (or claimed), and the organisation has not claimed them yet."""
    sponsors = [w for w in watch_list(organisation_id) if w.kind == "sponsor"]
    if not sponsors:
        return []
    since_by_name = {}
    for w in sponsors:
        key = normalise_sponsor_name(w.value)
        if key:
            since_by_name[key] = w.since
    known = [s for s in since_by_name.values() if s is not None]
    earliest = min(known) if known and len(known) == len(since_by_name) else None
    claimed = sa.select(Claim.trial_id).where(Claim.organisation_id == organisation_id)
    query = sa.select(Trial).where(
        Trial.owner_organisation_id.is_(None),
        Trial.sponsor_name.is_not(None),
        Trial.id.not_in(claimed),
    )
    if earliest is not None:
        query = query.where(Trial.created_at >= earliest)
    found = []
    for trial in db.session.execute(query.order_by(Trial.created_at.desc())).scalars():
        key = normalise_sponsor_name(trial.sponsor_name or "")
        if key not in since_by_name:
            continue
        since = since_by_name[key]
        created = trial.created_at
        if since is not None and created is not None and _aware(created) < _aware(since):
            continue
        found.append(trial)
        if len(found) >= OFFERS_SHOWN:
            break
    return found


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_freshness(trial_id: int, entries: list[RegistryEntry] | None = None) -> list[dict]:
    """For each registry record of a trial: the registry's date of the record ("as of") and
    when the portal last checked it (its last import, or a later completed sync of its
    registry, which asked for every change since)."""
    states = {s.source: s.last_success_at for s in db.session.scalars(sa.select(RegistrySyncState))}
    by_registry = {"ClinicalTrials.gov": states.get("ctgov"), "ISRCTN": states.get("isrctn")}
    if entries is None:  # else the trial's entries already loaded (no statement)
        entries = list(
            db.session.scalars(sa.select(RegistryEntry).where(RegistryEntry.trial_id == trial_id))
        )
    rows = sorted(
        (e.registry_name, e.registry_id, e.last_updated, e.last_imported_at) for e in entries
    )
    out = []
    for registry, registry_id, updated, imported in rows:
        checked = imported
        synced = by_registry.get(registry)
        if synced is not None and (checked is None or _aware(synced) > _aware(checked)):
            checked = synced
        out.append(
            {"registry": registry, "registry_id": registry_id, "as_of": updated, "checked": checked}
        )
    return out


CHANGE_LABELS = {
    "cross_refs": "Cross-references to other registries",
    "url": "Registry link",
    "last_updated": "Date of the registry record",
}
CHANGES_SHOWN = 20


def change_label(key: str) -> str:
    from portal.plain import label

    return CHANGE_LABELS.get(key) or label(key)


def registry_changes(trial_id: int) -> list[dict[str, Any]]:
    """What newer registry records changed on a trial, newest first, the fields by label."""
    from portal.models import TrialChange

    rows = db.session.execute(
        sa.select(
            TrialChange.changed_at,
            TrialChange.registry_name,
            TrialChange.registry_id,
            TrialChange.changes,
        )
        .where(TrialChange.trial_id == trial_id)
        .order_by(TrialChange.id.desc())
        .limit(CHANGES_SHOWN)
    ).all()
    return [
        {
            "at": at,
            "record": f"{registry} {registry_id}",
            "fields": [change_label(k) for k in sorted(changes or {})],
        }
        for at, registry, registry_id, changes in rows
    ]
