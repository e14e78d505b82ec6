"""Reading beside the database work: the reader thread, the reader process and its work ahead."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import queue
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any

from portal.domain.parameters import current_params
from portal.registries import Rejected, TrialRecord, iter_records
from portal.registries.streams import walk
from portal.services import ServiceError
from portal.services.imports.merging import (
    EntryView,
    _entry_row,
    derive_trial,
)
from portal.services.imports.records import (
    Prepared,
    _Item,
    _Position,
    _stamp,
    prepare,
)
from portal.services.obligations import Ahead, Worked
from portal.timeutil import today, utcnow

log = logging.getLogger(__name__)

# Reading (parsing) runs beside the database work: in a thread, or for big inputs in a
# process of its own ("sync", "thread", "process" or "auto").
READER = "auto"
PROCESS_READER_MIN_BYTES = 64 * 1024 * 1024


def _input_files(paths: Sequence[str]) -> Iterator[str]:
    for path in paths:
        if not os.path.exists(path):
            yield path  # iter_records reports it
            continue
        yield from walk(path)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class _ZipProgress:
    """Bytes of a zip file read so far, from the member the current record comes from."""

    def __init__(self, path: str, size: int) -> None:
        self.prefix = path + "!"
        self.before: dict[str, int] = {}
        self.size = size
        try:
            with zipfile.ZipFile(path) as archive:
                infos = sorted(
                    (i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename
                )
        except (zipfile.BadZipFile, OSError):
            infos = []
        total = sum(i.file_size for i in infos) or 1
        running = 0
        for info in infos:
            self.before[info.filename] = int(size * running / total)
            running += info.file_size

    def done(self, item_file: str) -> int:
        if not item_file.startswith(self.prefix):
            return 0
        member = item_file[len(self.prefix) :].split("!", 1)[0]
        return self.before.get(member, 0)


_gc_lock = threading.Lock()
_gc_runs = 0  # imports running in this process
_gc_threshold: tuple[int, ...] = ()


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Less garbage collection while importing. A run makes millions of short-lived dicts and
    lists while it holds a batch of records: the youngest generation is collected less often,
    and what existed before the run (the app, its modules and metadata) is never scanned
    (``gc.freeze``). This saves ~10% of the importer's CPU. The collector's settings are put
    back when the last run in the process ends."""
    global _gc_runs, _gc_threshold
    with _gc_lock:
        if _gc_runs == 0:
            _gc_threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                gc.set_threshold(*_gc_threshold)
                gc.unfreeze()


def _prepared(rec: TrialRecord) -> Prepared | Rejected:
    try:
        return prepare(rec)
    except Exception as exc:  # a record the reader made but this code cannot take: say so
        log.exception("could not prepare %s", rec.source_record)
        return Rejected(rec.source_file, rec.source_record, f"unexpected record ({exc})")


def _read_items(
    run_id: int,
    paths: Sequence[str],
    resume: _Position | None,
    ahead: Callable[[Prepared], Prepared] | None = None,
) -> Iterator[_Item]:
    """Every item of ``paths`` in a fixed order with its position, skipping what the run
    already committed. Pure reading: runs in the reader thread or process. ``ahead`` (the
    reader process) adds each record's verdicts worked out ahead."""
    done_bytes = 0
    file_index = -1
    for file_index, path in enumerate(_input_files(paths)):
        size = _size(path)
        skip = 0
        absolute = os.path.abspath(path)
        if resume is not None:
            if file_index < resume.file_index:
                done_bytes += size
                continue
            if file_index == resume.file_index:
                if absolute != resume.file:
                    raise ServiceError(
                        f"Import run {run_id} stopped in {resume.file}, but file "
                        f"{file_index + 1} of these paths is {absolute}: resume it with the "
                        "same paths."
                    )
                skip = resume.items
        zipped = None
        member_prefix = path + "!"
        for item_index, value in enumerate(iter_records([path]), start=1):
            if item_index <= skip:
                continue
            inside = 0
            if isinstance(value, Rejected):
                name = value.file
            else:
                name = value.source_file
                value = _prepared(value)
                if ahead is not None and isinstance(value, Prepared):
                    try:
                        value = ahead(value)
                    except Exception:  # the importer works them out (and says what failed)
                        log.exception("could not work out verdicts ahead for %s", name)
            if name.startswith(member_prefix):  # a member of a zip file
                zipped = zipped or _ZipProgress(path, size)
                inside = zipped.done(name)
            yield _Item(value, _Position(file_index, absolute, item_index), done_bytes + inside)
        done_bytes += size
    if resume is not None and file_index < resume.file_index:
        raise ServiceError(
            f"Import run {run_id} stopped in {resume.file}, which is not among these paths: "
            "resume it with the same paths."
        )


_END = object()
AHEAD_OF = 8
CHUNK = 100  # items handed over at a time by a reader thread or process


class ThreadReader:
    """Runs the reading generator in a thread, handing its items over in chunks, so that
    parsing goes on while the database works (the bounded queue of ``chunks_ahead`` keeps
    memory flat). A chunk is CHUNK items, or ends at an item for which ``ends_chunk`` is true
    (the registry sync hands over one API page at a time)."""

    def __init__(
        self,
        source: Iterator[Any],
        chunks_ahead: int,
        ends_chunk: Callable[[Any], bool] | None = None,
        name: str = "import-reader",
    ) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=max(2, chunks_ahead))
        self.ends_chunk = ends_chunk or (lambda _item: False)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(source,), name=name, daemon=True)
        self.thread.start()

    def _put(self, value: Any) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterator[Any]) -> None:
        chunk: list[Any] = []
        try:
            for item in source:
                chunk.append(item)
                if len(chunk) >= CHUNK or self.ends_chunk(item):
                    if not self._put(chunk):
                        return
                    chunk = []
            if chunk and not self._put(chunk):
                return
            self._put(_END)
        except BaseException as exc:  # handed to the importing thread, which raises it
            self._put(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[_Item]:
        while True:
            value = self.queue.get()
            if value is _END:
                return
            if isinstance(value, BaseException):
                raise value
            yield from value

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


class _SyncReader:
    """Reads in the importing thread itself."""

    def __init__(self, source: Iterator[_Item]) -> None:
        self.source = source

    def __iter__(self) -> Iterator[_Item]:
        return iter(self.source)

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()


def _to_wire(item: _Item) -> tuple:
    """An item as plain tuples (pickled by C code, unlike dataclasses; the dates of worked
    verdicts as day numbers, which unpickle five times faster than date objects)."""
    value, where = item.value, item.position
    if isinstance(value, Rejected):
        payload: tuple = (0, (value.file, value.record, value.reason))
    elif value.worked is not None:
        w = value.worked
        rows = [
            (duty, ruleset, status, None if due is None else due.toordinal(), text)
            for duty, ruleset, status, due, text in w.rows
        ]
        worked = (w.as_of.toordinal(), w.version, w.inputs_text, w.facts_text, w.digest, rows)
        payload = (2, (*value[:-2], (*worked, w.problems), value.worked_on))
    else:
        payload = (1, tuple(value))
    return (*payload, where.file_index, where.file, where.items, item.bytes_done)


def _from_wire(wired: tuple) -> _Item:
    kind, value, file_index, file, items, bytes_done = wired
    if kind == 2:
        as_of, version, inputs_text, facts_text, digest, rows, problems = value[-2]
        worked = Worked(
            date.fromordinal(as_of),
            version,
            inputs_text,
            facts_text,
            digest,
            [
                (duty, ruleset, status, None if due is None else date.fromordinal(due), text)
                for duty, ruleset, status, due, text in rows
            ],
            problems,
        )
        record: Prepared | Rejected = Prepared(*value[:-2], worked, value[-1])
    else:
        record = Prepared._make(value) if kind else Rejected(*value)
    return _Item(record, _Position(file_index, file, items), bytes_done)


class _WorkAhead:
    """Works out, in the reader process, each record's verdicts as if it made a new trial on its
    own, as most records of a first import do: this work then runs beside the importer's
    instead of inside its transactions. The importer uses them for a trial that is exactly that
    record (``_Batch.write``) if the day, the as_of date and the rule parameters are still the
    same, and otherwise works the verdicts out itself. ``wanted`` is the importer's switch: it
    sets how many records of every AHEAD_OF to work out (``_ProcessReader.balance``)."""

    def __init__(self, ahead: tuple[date, int, Any, str], wanted: Any) -> None:
        as_of, version, params, self.day = ahead
        self.ahead = Ahead(as_of, version, params)
        self.stamp = f"{self.day}T00:00:00+00:00"  # facts name the day of import, not the time
        self.wanted = wanted
        self.seen = 0

    def __call__(self, rec: Prepared) -> Prepared:
        self.seen += 1
        if self.seen % AHEAD_OF >= self.wanted.value:
            return rec
        view = EntryView(rec.registry, rec.registry_id, rec.document.get("facts") or {}, self.stamp)
        entry = _entry_row(rec.registry, rec.registry_id, rec.registered_on, rec.results_posted_on)
        worked = self.ahead(derive_trial([view])["imported_facts"], [entry])
        return rec._replace(worked=worked, worked_on=self.day)


def _reader_process_main(run_id, paths, resume, out, ahead=None, wanted=None) -> None:
    """Entry point of the reader process: the run's items in chunks, then None (pure reading:
    no app, no database)."""
    try:
        chunk: list[tuple] = []
        work = _WorkAhead(ahead, wanted) if ahead is not None and wanted is not None else None
        with _fewer_collections():
            for item in _read_items(run_id, paths, resume, work):
                chunk.append(_to_wire(item))
                if len(chunk) >= CHUNK:
                    out.put(chunk)
                    chunk = []
        if chunk:
            out.put(chunk)
        out.put(None)
    except BaseException as exc:  # described, as not every exception pickles
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        out.put(("error", type(exc).__name__, message, isinstance(exc, ServiceError)))


class _ProcessReader:
    """Reads (parses) in a separate process, so that on a machine with two or more cores
    parsing costs the importer almost nothing. Started with "spawn": the child shares no
    database connection with the importer."""

    def __init__(
        self,
        run_id: int,
        paths: Sequence[str],
        resume: _Position | None,
        size: int,
        ahead: tuple[date, int, Any, str] | None = None,
    ) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue(maxsize=max(2, size // CHUNK))
        # Of every AHEAD_OF records, the reader works out the verdicts of this many ahead.
        self.wanted = context.Value("b", AHEAD_OF // 2, lock=False)
        self.waited = 0.0  # seconds the importer waited for items since the last batch
        self.cycle_started = time.perf_counter()
        self.ahead = ahead
        self.process = context.Process(
            target=_reader_process_main,
            args=(run_id, list(paths), resume, self.queue, ahead, self.wanted),
            name="import-reader",
            daemon=True,
        )
        self.process.start()

    def __iter__(self) -> Iterator[_Item]:
        while True:
            started = time.perf_counter()
            try:
                value = self.queue.get(timeout=1.0)
                self.waited += time.perf_counter() - started
            except queue.Empty:
                self.waited += time.perf_counter() - started
                if not self.process.is_alive():
                    raise RuntimeError(
                        f"the reader process stopped (exit code {self.process.exitcode})"
                    ) from None
                continue
            if value is None:
                return
            if isinstance(value, tuple):
                _, name, message, service = value
                if service:
                    raise ServiceError(message)
                raise RuntimeError(f"reading failed: {name}: {message}")
            for wired in value:
                yield _from_wire(wired)

    def balance(self, *, new_trials: bool, current: bool = True) -> None:
        """After each batch: share the work of new trials' verdicts between the two processes
        so that neither waits for the other. The importer waited for records: the reader does
        less of it; it did not: the reader does more. None while records are not new trials
        (a re-import), or once what the reader works them out for (the day, the as_of date, the
        rule parameters) is no longer ``current``: they would be wasted."""
        now = time.perf_counter()
        seconds, self.cycle_started = now - self.cycle_started, now
        share = self.wanted.value
        if not new_trials or not current:
            share = 0
        elif self.waited > 0.03 * seconds:
            share = max(0, share - 1)
        else:
            share = min(AHEAD_OF, share + 1)
        self.wanted.value = share
        self.waited = 0.0
        log.debug("reader works out %s of every %s new trials' verdicts", share, AHEAD_OF)

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=10)
        self.queue.close()
        self.queue.join_thread()
        self.process.close()


def _reader(
    run_id: int, paths: Sequence[str], resume: _Position | None, size: int, total_bytes: int
):
    mode = READER
    if mode == "auto":
        mode = "process" if total_bytes >= PROCESS_READER_MIN_BYTES else "thread"
    if mode == "process":
        ahead = _ahead_for_today()
        try:
            return _ProcessReader(run_id, paths, resume, size, ahead)
        except OSError as exc:  # no processes allowed here: read in a thread instead
            log.warning("import run %s: no reader process (%s), reading in a thread", run_id, exc)
            mode = "thread"
    source = _read_items(run_id, paths, resume)
    return ThreadReader(source, size // CHUNK) if mode == "thread" else _SyncReader(source)


def _ahead_for_today() -> tuple[date, int, Any, str]:
    """What the reader process works verdicts out for: as_of, the rule parameters' version and
    values, and the (UTC) day of import that the facts' sources name."""
    version, params = current_params()
    return today(), version, params, _stamp(utcnow())[:10]
