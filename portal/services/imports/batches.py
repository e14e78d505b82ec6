"""One batch of records applied in memory and written in one transaction, or record by record."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from portal.extensions import db
from portal.models import (
    ImportRun,
    Trial,
)
from portal.registries import Rejected
from portal.services import transactional
from portal.services.imports.merging import (
    EntryView,
    _entry_row,
    _merge_trials,
    derive_trial,
    placeholder_id,
)
from portal.services.imports.records import (
    CHANGES,
    ENTRIES,
    IDENTIFIERS,
    MAX_ID,
    MAX_PREVIOUS_HASHES,
    MAX_REGISTRY,
    MAX_URL,
    REJECTIONS,
    RETRIES_PER_RECORD,
    TRIALS,
    Counts,
    Prepared,
    _Entry,
    _Item,
    _Reject,
    _stamp,
    combine_member_states,
    record_changes,
)
from portal.services.imports.writes import (
    _bulk_insert,
    _by_ids,
    _by_pairs,
    _fit,
    _group_by_keys,
    _insert_trials,
    _lock_trials,
)
from portal.services.obligations import NewTrial, recompute_for_trials
from portal.timeutil import utcnow

log = logging.getLogger(__name__)


class _Batch:
    """Applies a list of items in memory (so records of one batch see each other), then writes
    everything with a handful of bulk statements."""

    def __init__(self, run_id: int, now: datetime, display: Callable[[str], str]) -> None:
        self.run_id = run_id
        self.now = now
        self.display = display
        self.entries: dict[tuple[str, str], _Entry] = {}
        self.idents: dict[tuple[str, str], int] = {}
        self.new_idents: list[tuple[str, str]] = []
        self.alias: dict[int, int] = {}
        self.new_trials: list[int] = []
        self.owners: dict[int, tuple[int | None, bool]] = {}
        self.registries: dict[int, dict[str, set[str]]] = {}
        self.owner_updates: dict[int, int] = {}
        self.merges: list[tuple[int, int]] = []
        self.touched: set[int] = set()
        self.changes: list[tuple[int, str, str, dict[str, Any]]] = []
        self.rejections: list[dict[str, str]] = []
        self.counts = Counts()
        self.fresh: dict[int, NewTrial] = {}

    # ----------------------------------------------------------------- loading

    def load(self, records: list[Prepared]) -> None:
        by_registry: dict[str, set[str]] = defaultdict(set)
        by_kind: dict[str, set[str]] = defaultdict(set)
        for rec in records:
            by_registry[rec.registry].add(rec.registry_id)
            for kind, value in rec.cross_refs.items():
                by_kind[kind].add(value)
        if by_registry:
            pairs = [(reg, rid) for reg, ids in by_registry.items() for rid in ids]
            rows = db.session.execute(
                _by_pairs(
                    ENTRIES,
                    "registry",
                    "registry_id",
                    pairs,
                    ENTRIES.c.id,
                    ENTRIES.c.trial_id,
                    ENTRIES.c.registry,
                    ENTRIES.c.registry_id,
                    ENTRIES.c.content_hash,
                    ENTRIES.c.last_updated,
                    ENTRIES.c.last_imported_at,
                )
            )
            for id_, trial_id, reg, rid, chash, updated, imported in rows:
                self.entries[(reg, rid)] = _Entry(id_, trial_id, reg, rid, chash, updated, imported)
        if by_kind:
            pairs = [(kind, value) for kind, values in by_kind.items() for value in values]
            rows = db.session.execute(
                _by_pairs(
                    IDENTIFIERS,
                    "kind",
                    "value",
                    pairs,
                    IDENTIFIERS.c.kind,
                    IDENTIFIERS.c.value,
                    IDENTIFIERS.c.trial_id,
                )
            )
            for kind, value, trial_id in rows:
                self.idents[(kind, value)] = trial_id
        # stored records are read only for entries whose content differs
        need = {
            self.entries[key].id
            for rec in records
            if (key := (rec.registry, rec.registry_id)) in self.entries
            and self.entries[key].content_hash != rec.content_hash
        }
        if need:
            by_id = {e.id: e for e in self.entries.values()}
            rows = db.session.execute(_by_ids(ENTRIES, "id", need, ENTRIES.c.id, ENTRIES.c.record))
            for id_, document in rows:
                by_id[id_].document = document or {}
        # registries of the trials these records may join (one registry entry per registry)
        candidates = set()
        for rec in records:
            known = self.entries.get((rec.registry, rec.registry_id))
            if known is not None and known.content_hash == rec.content_hash:
                continue
            if known is not None:
                candidates.add(known.trial)
            candidates.update(
                self.idents[ref] for ref in rec.cross_refs.items() if ref in self.idents
            )
        self._load_registries(candidates)

    def _load_registries(self, trial_ids: Iterable[int]) -> None:
        wanted = sorted(t for t in trial_ids if t > 0 and t not in self.registries)
        if not wanted:
            return
        for t in wanted:
            self.registries[t] = defaultdict(set)
        rows = db.session.execute(
            _by_ids(
                ENTRIES,
                "trial_id",
                wanted,
                ENTRIES.c.trial_id,
                ENTRIES.c.registry,
                ENTRIES.c.registry_id,
            )
        )
        for trial_id, reg, rid in rows:
            self.registries[trial_id][reg].add(rid)

    def _registries_of(self, key: int) -> dict[str, set[str]]:
        if key not in self.registries:
            self._load_registries([key])
            self.registries.setdefault(key, defaultdict(set))
        return self.registries[key]

    # ----------------------------------------------------------------- trials

    def resolve(self, key: int) -> int:
        while key in self.alias:
            key = self.alias[key]
        return key

    def _owner(self, key: int) -> tuple[int | None, bool]:
        if key < 0:
            return None, False
        if key not in self.owners:
            row = db.session.execute(
                sa.select(Trial.owner_organisation_id, Trial.sponsor_entered).where(Trial.id == key)
            ).one_or_none()
            if row is None:  # deleted by a concurrent merge: retry record by record
                raise IntegrityError("trial gone", None, Exception(f"trial {key} was deleted"))
            self.owners[key] = (row[0], bool(row[1]))
        owner = self.owner_updates.get(key, self.owners[key][0])
        return owner, self.owners[key][1]

    def _new_trial(self) -> int:
        key = -(len(self.new_trials) + 1)
        self.new_trials.append(key)
        self.registries[key] = defaultdict(set)
        return key

    @staticmethod
    def _age(key: int) -> tuple[int, int]:
        return (0, key) if key > 0 else (1, -key)  # database ids first (older), then new ones

    def _merge(self, hits: set[int], rec: Prepared) -> int:
        owners = {key: self._owner(key)[0] for key in hits}
        distinct = {o for o in owners.values() if o is not None}
        if len(distinct) > 1:
            described = ", ".join(
                f"trial {k} (organisation {o})" for k, o in sorted(owners.items()) if o
            )
            raise _Reject(
                "its cross-references "
                + ", ".join(f"{k}={v}" for k, v in sorted(rec.cross_refs.items()))
                + f" join trials owned by different organisations: {described}; "
                "they were not merged (a reviewer must resolve the ownership first)"
            )
        keep = min(hits, key=self._age)
        owner = next(iter(distinct), None)
        for drop in sorted(hits - {keep}, key=self._age):
            for reg, ids in self._registries_of(drop).items():
                self._registries_of(keep)[reg].update(ids)
            self.alias[drop] = keep
            if drop > 0:
                self.merges.append((drop, keep))
            self.touched.discard(drop)
        if keep > 0 and owner is not None and owners.get(keep) is None:
            self.owner_updates[keep] = owner
        return keep

    # ----------------------------------------------------------------- records

    def apply(self, item: _Item) -> None:
        value = item.value
        if isinstance(value, Rejected):
            self._reject(value.file, value.record, value.reason)
            return
        try:
            outcome = self._apply_record(value)
        except _Reject as refusal:
            self._reject(value.source_file, value.source_record, refusal.reason)
            return
        setattr(self.counts, outcome, getattr(self.counts, outcome) + 1)
        self.counts.records_seen += 1

    def _reject(self, file: str, record: str, reason: str) -> None:
        self.rejections.append(
            {"run_id": self.run_id, "file": self.display(file), "record": record, "reason": reason}
        )
        self.counts.rejected += 1
        self.counts.records_seen += 1

    def _apply_record(self, rec: Prepared) -> str:
        e = rec
        if not e.registry_id or not e.registry:
            raise _Reject("the record has no registry id")
        if len(e.registry_id) > MAX_ID or len(e.registry) > MAX_REGISTRY:
            raise _Reject(f"registry id {e.registry_id[:80]!r} is longer than {MAX_ID} characters")
        refs = [
            (k, v)
            for k, v in sorted(rec.cross_refs.items())
            if v and len(v) <= MAX_ID and not placeholder_id(v)
        ]
        key = (e.registry, e.registry_id)
        current = self.entries.get(key)
        if (
            current is not None
            and e.registry == "EUCTR"
            and current.content_hash != rec.content_hash
        ):
            combined = combine_member_states(current.document or {}, current.content_hash, rec)
            if combined is None:
                return "unchanged"
            rec = e = combined
        if current is not None:
            if current.content_hash == rec.content_hash:
                return "unchanged"
            previous = list((current.document or {}).get("previous_hashes") or [])
            if rec.content_hash in previous:
                return "unchanged"  # a version this entry already had, since superseded
            if e.last_updated and current.last_updated and e.last_updated < current.last_updated:
                return "unchanged"  # an older version than the one stored
        hits = self._compatible_trials(
            e.registry,
            e.registry_id,
            None if current is None else self.resolve(current.trial),
            {self.resolve(self.idents[r]) for r in refs if r in self.idents},
        )
        if len(hits) > 1:
            target, outcome = self._merge(hits, rec), "merged"
        elif hits:
            target = hits.pop()
            outcome = "updated" if current is not None else "merged"
        else:
            target, outcome = self._new_trial(), "created"

        columns = {
            "registered_on": e.registered_on,
            "results_posted_on": e.results_posted_on,
            "last_updated": e.last_updated,
            "url": e.url if e.url and len(e.url) <= MAX_URL else None,
            "content_hash": rec.content_hash,
            "source_file": self.display(rec.source_file),
            "last_imported_at": self.now,
        }
        if current is None:
            document = rec.document
            self.entries[key] = _Entry(
                None,
                target,
                e.registry,
                e.registry_id,
                rec.content_hash,
                e.last_updated,
                self.now,
                document,
                columns,
                True,
                rec.worked if rec.worked_on == _stamp(self.now)[:10] else None,
            )
        else:
            old = current.document or {}
            previous = [*(old.get("previous_hashes") or []), current.content_hash]
            document = {**rec.document, "previous_hashes": previous[-MAX_PREVIOUS_HASHES:]}
            changes = record_changes(old, document)
            if changes:
                self.changes.append((target, e.registry, e.registry_id, changes))
            current.trial = target
            current.content_hash = rec.content_hash
            current.last_updated = e.last_updated
            current.imported_at = self.now
            current.document = document
            current.columns = columns
            current.dirty = True
            current.worked = None
        for ref in refs:
            if ref not in self.idents:
                self.idents[ref] = target
                self.new_idents.append(ref)
        self._registries_of(target)[e.registry].add(e.registry_id)
        self.touched.add(target)
        return outcome

    def _compatible_trials(
        self, registry: str, registry_id: str, own: int | None, found: set[int]
    ) -> set[int]:
        """The trials a record joins: its own entry's trial, plus those its cross-references
        found, oldest first, leaving out any that would then hold two different ids of one
        registry (two ISRCTN numbers are two trials, whatever a cross-reference says)."""
        chosen: list[int] = []
        held: dict[str, set[str]] = defaultdict(set)
        held[registry].add(registry_id)
        for key in ([own] if own is not None else []) + sorted(found - {own}, key=self._age):
            theirs = self._registries_of(key)
            if key != own and any(
                ids and held.get(reg) and ids != held[reg] for reg, ids in theirs.items()
            ):
                continue
            chosen.append(key)
            for reg, ids in theirs.items():
                held[reg].update(ids)
        return set(chosen)

    # ----------------------------------------------------------------- writing

    def _entry_rows(self, views: Sequence[EntryView]) -> list[dict[str, Any]]:
        """A new trial's registry entries as the obligations recompute reads them back."""
        rows = []
        for view in sorted(views, key=lambda v: (v.registry, v.registry_id)):
            columns = self.entries[(view.registry, view.registry_id)].columns or {}
            rows.append(
                _entry_row(
                    view.registry,
                    view.registry_id,
                    columns.get("registered_on"),
                    columns.get("results_posted_on"),
                )
            )
        return rows

    def write(self) -> list[int]:
        """Write the batch; return the ids of every trial it touched. The trials it inserted
        are then in ``fresh`` (id -> NewTrial)."""
        final = {self.resolve(key) for key in self.touched}
        views: dict[tuple[str, str], tuple[int, EntryView]] = {}
        existing = sorted(k for k in final if k > 0)
        if existing:
            dropped = [drop for drop, _ in self.merges]
            _lock_trials(existing + dropped)
            rows = db.session.execute(
                _by_ids(
                    ENTRIES,
                    "trial_id",
                    existing + dropped,
                    ENTRIES.c.trial_id,
                    ENTRIES.c.registry,
                    ENTRIES.c.registry_id,
                    ENTRIES.c.record,
                    ENTRIES.c.last_imported_at,
                )
            )
            for trial_id, reg, rid, document, imported in rows:
                views[(reg, rid)] = (
                    self.resolve(trial_id),
                    EntryView(reg, rid, (document or {}).get("facts") or {}, _stamp(imported)),
                )
        for key, entry in self.entries.items():
            if entry.dirty:  # the batch's version wins over the stored one
                views[key] = (
                    self.resolve(entry.trial),
                    EntryView(
                        entry.registry,
                        entry.registry_id,
                        (entry.document or {}).get("facts") or {},
                        _stamp(entry.imported_at),
                    ),
                )
        by_trial: dict[int, list[EntryView]] = defaultdict(list)
        for trial, view in views.values():
            by_trial[trial].append(view)

        ids: dict[int, int] = {k: k for k in existing}
        new = [k for k in self.new_trials if k not in self.alias]
        fresh: list[NewTrial] = []  # the new trials as the obligations recompute reads them
        if new:
            rows = []
            for key in new:
                views = by_trial[key]
                columns = _fit(derive_trial(views))
                worked = None
                if len(views) == 1:  # worked out ahead for a trial of this record alone
                    worked = self.entries[(views[0].registry, views[0].registry_id)].worked
                fresh.append(NewTrial(columns["imported_facts"], self._entry_rows(views), worked))
                columns.setdefault("title", "")
                columns.setdefault("sponsor_name", None)
                columns.setdefault("overall_status", None)
                rows.append(
                    {
                        **columns,
                        "sponsor_entered": False,
                        "owner_organisation_id": None,
                        "created_at": self.now,
                        "updated_at": self.now,
                    }
                )
            ids.update(zip(new, _insert_trials(rows), strict=True))
        self.fresh = {ids[key]: trial for key, trial in zip(new, fresh, strict=True)}

        for drop, keep in self.merges:
            _merge_trials(drop, self.resolve(keep))

        def real(key: int) -> int:
            return ids[self.resolve(key)]

        inserts, updates = [], []
        for (reg, rid), entry in sorted(self.entries.items()):
            if not entry.dirty:
                continue
            row = {**(entry.columns or {}), "trial_id": real(entry.trial), "record": entry.document}
            if entry.id is None:
                row.update(registry=reg, registry_id=rid, first_imported_at=self.now)
                inserts.append(row)
            else:
                row["_id"] = entry.id
                updates.append(row)
        if inserts:
            _bulk_insert(ENTRIES, inserts)
        if updates:
            db.session.execute(ENTRIES.update().where(ENTRIES.c.id == sa.bindparam("_id")), updates)
        if self.new_idents:
            _bulk_insert(
                IDENTIFIERS,
                [
                    {"kind": kind, "value": value, "trial_id": real(self.idents[(kind, value)])}
                    for kind, value in sorted(self.new_idents)
                ],
            )
        if self.changes:
            db.session.execute(
                CHANGES.insert(),
                [
                    {
                        "trial_id": real(trial),
                        "run_id": self.run_id,
                        "registry": reg,
                        "registry_id": rid,
                        "changes": changes,
                        "changed_at": self.now,
                    }
                    for trial, reg, rid, changes in self.changes
                ],
            )
        if existing:
            trial_updates = []
            for key in existing:
                row = {
                    **derive_trial(by_trial[key]),
                    "_id": key,
                    "sponsor_entered": False,
                    "updated_at": self.now,
                }
                if key in self.owner_updates:
                    row["owner_organisation_id"] = self.owner_updates[key]
                trial_updates.append(_fit(row))
            for _keys, group in _group_by_keys(trial_updates):
                db.session.execute(TRIALS.update().where(TRIALS.c.id == sa.bindparam("_id")), group)
        if self.rejections:
            _bulk_insert(REJECTIONS, self.rejections)
        return sorted(ids[k] for k in final)


def _recompute_obligations(trial_ids: list[int], new_trials: dict[int, NewTrial]) -> None:
    """Recompute the obligations of the trials a batch touched, in the batch's transaction
    (the trials it inserted from the records in memory, not read back)."""
    if trial_ids:
        recompute_for_trials(trial_ids, reason="import", new_trials=new_trials)


@transactional
def _commit_items(run_id: int, items: list[_Item], counts_before: Counts, display) -> Counts:
    """One transaction: apply and write ``items``, the run's counters and resume position."""
    batch = _Batch(run_id, utcnow(), display)
    batch.load([i.value for i in items if isinstance(i.value, Prepared)])
    for item in items:
        batch.apply(item)
    trial_ids = batch.write()
    _recompute_obligations(trial_ids, batch.fresh)
    total = Counts(**counts_before.as_dict())
    total.add(batch.counts)
    last = items[-1].position
    db.session.execute(
        sa.update(ImportRun)
        .where(ImportRun.id == run_id)
        .values(
            **total.as_dict(),
            resume_after=json.dumps(
                {"file_index": last.file_index, "file": last.file, "items": last.items}
            ),
        )
        .execution_options(synchronize_session=False)
    )
    return batch.counts


def _commit_batch(run_id: int, items: list[_Item], counts: Counts, display) -> Counts:
    """Commit a batch in one transaction; if that fails, commit its items one by one."""
    try:
        return _commit_items(run_id, items, counts, display)
    except (IntegrityError, OperationalError) as exc:
        log.info("import run %s: batch failed (%s), retrying record by record", run_id, exc)
    except Exception:
        log.exception("import run %s: batch failed, retrying record by record", run_id)
    done = Counts()
    for item in items:
        running = Counts(**counts.as_dict())
        running.add(done)
        done.add(_commit_one(run_id, item, running, display))
    return done


def _commit_one(run_id: int, item: _Item, counts: Counts, display) -> Counts:
    problem = ""
    for attempt in range(1, RETRIES_PER_RECORD + 1):
        try:
            return _commit_items(run_id, [item], counts, display)
        except IntegrityError as exc:
            problem = f"it conflicts with another change to the same trial ({_first_line(exc)})"
            log.info("import run %s: attempt %s: %s", run_id, attempt, problem)
        except OperationalError as exc:
            if "deadlock" not in str(exc).lower() or attempt == RETRIES_PER_RECORD:
                raise
        except Exception as exc:
            log.exception("import run %s: record could not be stored", run_id)
            problem = f"it could not be stored ({type(exc).__name__}: {exc})"
            break
    value = item.value
    if isinstance(value, Prepared):
        file, where = value.source_file, value.source_record
    else:
        file, where = value.file, value.record
    return _commit_items(
        run_id, [_Item(Rejected(file, where, problem[:2000]), item.position)], counts, display
    )


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
