"""One sync of one registry: plan its queries, read its pages in a thread, store them with the
importer's batches, move its cursor when it completes, resume it when it stopped."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import ImportRun, RegistrySyncState, Trial, TrialChange
from portal.plain import label
from portal.registries import Rejected, remote
from portal.services import ServiceError, transactional
from portal.services.audit import record as audit_record
from portal.services.imports.batches import _commit_batch
from portal.services.imports.parallel import CHUNK, ThreadReader, _fewer_collections, _prepared
from portal.services.imports.records import BATCH_SIZE, Counts, Progress, _Item, _Position
from portal.services.imports.runs import (
    _mark_resumed,
    _resume_position,
    finish_run,
    run_report,
    start_run,
)
from portal.timeutil import today, utcnow

log = logging.getLogger(__name__)

SOURCES = {"ctgov": "ClinicalTrials.gov", "isrctn": "ISRCTN"}
UK = "United Kingdom"
MAX_IDS_PER_QUERY = 100  # watched trial ids asked for in one ClinicalTrials.gov query
PAGE_END: Any = object()  # the reader's mark after each page


class SyncError(ServiceError):
    """A sync that could not complete; ``message`` is one plain line. What it committed stays
    and the next sync resumes after it."""


@dataclass
class SyncSettings:
    ctgov_url: str = remote.CTGOV_DEFAULT_URL
    isrctn_url: str = remote.ISRCTN_DEFAULT_URL
    location: str = UK
    page_size: int = remote.CTGOV_MAX_PAGE
    client: remote.ClientSettings | None = None

    @classmethod
    def from_config(cls, config: Any) -> SyncSettings:
        client = remote.ClientSettings(
            user_agent=config.get("REGISTRY_SYNC_USER_AGENT") or remote.ClientSettings.user_agent,
            rate=float(config.get("REGISTRY_SYNC_RATE", 3.0)),
            retries=int(config.get("REGISTRY_SYNC_RETRIES", 5)),
            backoff=float(config.get("REGISTRY_SYNC_BACKOFF", 1.0)),
            connect_timeout=float(config.get("REGISTRY_SYNC_CONNECT_TIMEOUT", 10.0)),
            read_timeout=float(config.get("REGISTRY_SYNC_READ_TIMEOUT", 60.0)),
        )
        return cls(
            ctgov_url=config.get("CTGOV_API_URL") or remote.CTGOV_DEFAULT_URL,
            isrctn_url=config.get("ISRCTN_API_URL") or remote.ISRCTN_DEFAULT_URL,
            location=config.get("REGISTRY_SYNC_LOCATION") or UK,
            page_size=int(config.get("REGISTRY_SYNC_PAGE_SIZE", remote.CTGOV_MAX_PAGE)),
            client=client,
        )


# --------------------------------------------------------------------------- state


def sync_state(source: str) -> RegistrySyncState:
    state = db.session.get(RegistrySyncState, source)
    if state is None:
        state = RegistrySyncState(source=source, audited_change_id=0)
        db.session.add(state)
        db.session.flush()
    return state


def _plan(source: str, since: date | None, settings: SyncSettings, watched) -> dict[str, Any]:
    """The queries of a new sync: UK studies changed since ``since``, then the watched sponsor
    names and trial ids (changed since ``since``)."""
    streams: list[dict[str, Any]] = []
    trial_ids, sponsors = watched
    if source == "ctgov":
        size = settings.page_size
        streams.append(
            {"params": remote.ctgov_params(since=since, location=settings.location, page_size=size)}
        )
        for name in sponsors:
            streams.append(
                {"params": remote.ctgov_params(since=since, sponsor=name, page_size=size)}
            )
        ncts = sorted(t for t in trial_ids if t.startswith("NCT"))
        for i in range(0, len(ncts), MAX_IDS_PER_QUERY):
            chunk = ncts[i : i + MAX_IDS_PER_QUERY]
            streams.append({"params": remote.ctgov_params(since=since, ids=chunk, page_size=size)})
    else:
        streams.append({"windows": True, "country": settings.location})
        for trial_id in sorted(t for t in trial_ids if t.startswith("ISRCTN")):
            streams.append({"trial": trial_id})
    return {
        "since": since.isoformat() if since else None,
        "started_on": today().isoformat(),
        "streams": streams,
    }


@transactional
def _begin(source: str, since: date | None, settings: SyncSettings, actor, watched):
    state = sync_state(source)
    state.last_attempt_at = utcnow()
    if state.run_id is not None:
        run = db.session.get(ImportRun, state.run_id)
        if run is not None and run.status != "finished" and state.plan:
            same = since is None or (state.plan.get("since") == since.isoformat())
            if same:
                return state.run_id, state.plan, True
    start = since if since is not None else state.cursor_on
    plan = _plan(source, start, settings, watched)
    described = f"Registry sync: {SOURCES[source]}" + (
        f", changes since {start.isoformat()}" if start else ", everything"
    )
    run_id = start_run(described, actor=actor)
    state.run_id = run_id
    state.plan = plan
    return run_id, plan, False


@transactional
def _complete(source: str, run_id: int, plan: dict[str, Any], broken: list[str]) -> None:
    state = sync_state(source)
    state.run_id = None
    state.plan = None
    if broken:  # the run is over but did not read everything: the cursor stays
        state.last_error = f"{len(broken)} page(s) could not be read: {broken[0]}"[:1000]
        return
    state.cursor_on = date.fromisoformat(plan["started_on"])
    state.last_success_at = utcnow()
    state.last_error = None


@transactional
def _stopped(source: str, message: str) -> None:
    state = sync_state(source)
    state.last_error = message[:1000]


# --------------------------------------------------------------------------- audit


@transactional
def _audit_changes(source: str, run_id: int) -> None:
    """Changes the run brought to claimed trials, each as an audit entry of the trial naming
    the fields changed by their labels (after the batch that wrote them; a watermark on the
    source's state makes a resumed sync audit exactly those not yet audited)."""
    state = sync_state(source)
    rows = db.session.execute(
        sa.select(
            TrialChange.id,
            TrialChange.trial_id,
            TrialChange.registry_name,
            TrialChange.registry_id,
            TrialChange.changes,
            Trial.owner_organisation_id,
        )
        .join(Trial, Trial.id == TrialChange.trial_id)
        .where(TrialChange.run_id == run_id, TrialChange.id > state.audited_change_id)
        .order_by(TrialChange.id)
    ).all()
    if not rows:
        return
    for _id, trial_id, registry, registry_id, changes, owner in rows:
        if owner is None:
            continue
        named = {label(k): v for k, v in sorted((changes or {}).items()) if k != "cross_refs"}
        if not named:
            continue
        audit_record(
            "trial.registry_changed",
            "trial",
            trial_id,
            organisation_id=owner,
            before={"record": f"{registry} {registry_id}", **{k: v[0] for k, v in named.items()}},
            after={
                "fields changed": ", ".join(named),
                **{k: v[1] for k, v in named.items()},
            },
        )
    state.audited_change_id = rows[-1][0]


# --------------------------------------------------------------------------- reading


def _resume_point(run: ImportRun) -> _Position | None:
    """Where a stopped sync carries on (the importer's resume position); an unreadable one
    starts the sync again from its first page, which is idempotent, rather than failing it."""
    try:
        return _resume_position(run)
    except ServiceError:
        return None


class _Reading:
    """The items of a plan's pages in order, from a resume point, without repeats."""

    def __init__(self, source, plan, settings: SyncSettings, client, resume) -> None:
        self.source = source
        self.plan = plan
        self.settings = settings
        self.client = client
        self.resume = resume
        self.broken: list[str] = []
        self.fetched = 0
        self.total = 0
        self.seen: set[tuple[str, str]] = set()

    def _pages(self, index: int, stream: dict[str, Any], key: str | None):
        since = date.fromisoformat(self.plan["since"]) if self.plan.get("since") else None
        if "params" in stream:
            label = SOURCES["ctgov"] + (f" query {index + 1}" if index else "")
            return remote.ctgov_pages(
                self.client,
                self.settings.ctgov_url,
                stream["params"],
                token=key or None,
                label=label,
            )
        if stream.get("windows"):
            return remote.isrctn_windows(
                self.client,
                self.settings.isrctn_url,
                since=since,
                until=date.fromisoformat(self.plan["started_on"]),
                country=stream.get("country"),
                resume_from=date.fromisoformat(key) if key else None,
            )
        return iter([remote.isrctn_trial(self.client, self.settings.isrctn_url, stream["trial"])])

    def __iter__(self) -> Iterator[Any]:
        resume = self.resume
        for index, stream in enumerate(self.plan["streams"]):
            if resume is not None and index < resume.file_index:
                continue
            at = resume.file if resume is not None and index == resume.file_index else None
            skip = resume.items if at is not None and "params" in stream else 0
            first = True
            for page in self._pages(index, stream, at):
                if page.broken:
                    self.broken.append(f"{page.name}: {page.records[0].reason}")
                if page.total and first:
                    self.total += page.total
                first = False
                for number, rec in enumerate(page.records, start=1):
                    if skip and page.key == (at or "") and number <= skip:
                        continue
                    self.fetched += 1
                    position = _Position(index, page.key, number)
                    if isinstance(rec, Rejected):
                        yield _Item(rec, position, self.fetched)
                        continue
                    key = (rec.entry.registry, rec.entry.registry_id)
                    if key in self.seen:  # asked for twice in one sync (two queries found it)
                        continue
                    self.seen.add(key)
                    yield _Item(_prepared(rec), position, self.fetched)
                skip = 0
                yield PAGE_END  # what was read so far is committed: a stop resumes here


# --------------------------------------------------------------------------- sync


def sync_source(
    source: str,
    *,
    since: date | None = None,
    settings: SyncSettings | None = None,
    actor: Any | None = None,
    progress: Callable[[Progress], None] | None = None,
    batch_size: int = BATCH_SIZE,
    watched: tuple[set[str], list[str]] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Sync one registry (``ctgov`` or ``isrctn``); return (import run id, report).

    Resumes the source's unfinished sync if there is one (and ``since`` is not a different
    date). Raises SyncError (one plain line) when the registry cannot be read to the end: what
    was committed stays, the cursor does not move, and the next sync resumes after it."""
    if source not in SOURCES:
        raise ServiceError(f"Unknown registry {source!r}: choose ctgov or isrctn.")
    from portal.services.registry_sync.watches import watched_for_sync

    settings = settings or SyncSettings()
    watched = watched if watched is not None else watched_for_sync()
    run_id, plan, resuming = _begin(source, since, settings, actor, watched)
    run = db.session.get(ImportRun, run_id)
    resume = _resume_point(run) if resuming else None
    counts = Counts.of_run(run)
    if resuming:
        _mark_resumed(run_id, actor)

    client = remote.RegistryClient(settings.client)
    reading = _Reading(source, plan, settings, client, resume)

    def report(done: int) -> None:
        if progress is not None:
            total = max(reading.total, done, 1)
            progress(Progress(run_id, done, total, Counts(**counts.as_dict())))

    # one page read ahead while this one is stored (a page is at most 1,000 studies)
    reader = ThreadReader(
        iter(reading),
        chunks_ahead=2 * 1000 // CHUNK,
        ends_chunk=lambda item: item is PAGE_END,
        name="registry-sync-reader",
    )
    batch: list[_Item] = []
    report(0)
    try:
        with _fewer_collections():
            for item in reader:
                if item is not PAGE_END:
                    batch.append(item)
                if batch and (len(batch) >= batch_size or item is PAGE_END):
                    counts.add(_commit_batch(run_id, batch, counts, str))
                    batch.clear()
                    _audit_changes(source, run_id)
                    report(reading.fetched)
            if batch:
                counts.add(_commit_batch(run_id, batch, counts, str))
                batch.clear()
                _audit_changes(source, run_id)
        report(reading.fetched)
    except BaseException as exc:
        reader.close()
        client.close()
        db.session.rollback()
        message = str(exc) if isinstance(exc, remote.FetchError) else _describe(exc)
        try:
            finish_run(run_id, status="failed", error=message, actor=actor)
            _stopped(source, message)
        except Exception:  # the database may be what failed; the run stays resumable
            log.exception("registry sync %s: could not record the failure", source)
        if isinstance(exc, remote.FetchError):
            raise SyncError(
                f"{SOURCES[source]} sync stopped: {message}. What was read is kept; "
                "the next sync continues from there."
            ) from None
        raise
    client.close()
    finish_run(run_id, actor=actor)
    _complete(source, run_id, plan, reading.broken)
    return run_id, run_report(run_id)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


def combined_report(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Reports of several sources as one, in the shape of ``flask trials import --report``."""
    total: dict[str, Any] = {k: 0 for k in Counts().as_dict() if k != "rejected"}
    total["rejected"] = []
    for one in reports:
        for key in total:
            if key == "rejected":
                total[key].extend(one["rejected"])
            else:
                total[key] += one[key]
    return total
