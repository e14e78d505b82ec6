"""Registry-record readers: registry export files -> plain normalised records.

Pure Python (standard library + defusedxml), no Flask, no database::

    from portal.registries import iter_records, TrialRecord, Rejected

    for item in iter_records(["exports/", "ictrp.zip"]):
        if isinstance(item, Rejected):
            log(item.file, item.record, item.reason)
        else:
            store(item)            # item.content_hash makes re-imports idempotent

Formats are recognised by content (``detect_format``), never by file name. Folders are
walked in sorted order, zip (and gzip) members are read one by one, and multi-record
files are streamed (XML with defusedxml iterparse, CSV row by row, JSON arrays item by
item), so memory does not grow with the size of a file; a file holding one JSON object
is read whole. Bad content never raises: it yields ``Rejected`` and reading goes on with
the next record (or the next file when a file is broken).

Speed: a ClinicalTrials.gov v2 single-study file (the bulk input) takes a fast path that
decodes only the protocolSection modules used (see ``ctgov_v2.quick_study``); a syntax
error confined to the skipped parts of an otherwise complete file (e.g. inside
resultsSection) therefore goes unreported, while truncation and errors in the modules
used are reported as for every other file.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import ctgov_classic, ctgov_v2, eu, ictrp, isrctn
from .detect import CONTAINERS, FORMATS, REJECTED_FORMATS, detect_format, detect_json_document
from .model import DateValue, RegistryEntry, Rejected, TrialRecord, safe_extract
from .streams import (
    HEAD_SIZE,
    JSONBroken,
    first_char,
    gunzip,
    iter_json_documents,
    peek,
    walk,
    zip_sources,
)

__all__ = [
    "FORMATS",
    "DateValue",
    "Rejected",
    "RegistryEntry",
    "TrialRecord",
    "detect_format",
    "iter_records",
    "read_file",
]

MAX_NESTING = 3  # zip in zip in gzip ... deeper than this is refused
UNRECOGNISED = "unrecognised format"


# --------------------------------------------------------------------------- JSON routing


def _with_locator(result, locator: str | None):
    """Prefix the position in a multi-record file: "item 3 (2012-003632-23-GB)"."""
    if locator is None:
        return result
    if isinstance(result, TrialRecord):
        return dataclasses.replace(result, source_record=f"{locator} ({result.source_record})")
    record = f"{locator} ({result.record})" if result.record else locator
    return dataclasses.replace(result, record=record)


_SINGLE_RECORD_EXTRACTORS = {
    "ctgov-classic-ctrdata-json": ctgov_classic.extract_classic,
    "isrctn-ctrdata-json": isrctn.extract,
    "euctr-ctrdata-json": eu.extract_euctr,
    "ctis-ctrdata-json": eu.extract_ctis,
}


def _route_json(doc, name: str, locator: str | None) -> Iterator[TrialRecord | Rejected]:
    kind = detect_json_document(doc)
    if kind == "ctgov-v2-json":
        studies = list(ctgov_v2.documents(doc))
        if len(studies) == 1 and studies[0] is doc:
            yield safe_extract(ctgov_v2.extract, name, locator, doc, name, locator)
            return
        for i, study in enumerate(studies, 1):
            where = f"{locator + ' ' if locator else ''}studies item {i}"
            if not isinstance(study, dict):
                yield Rejected(name, where, "study is not a JSON object")
                continue
            yield safe_extract(ctgov_v2.extract, name, where, study, name, where)
    elif kind == "ctgov-classic-api-json":
        for inner, item in ctgov_classic.api_studies(doc):
            where = " ".join(p for p in (locator, inner) if p) or None
            if not isinstance(item, dict):
                yield Rejected(name, where or "", "study is not a JSON object")
                continue
            yield safe_extract(ctgov_classic.extract_api, name, where, item, name, where)
    elif kind in _SINGLE_RECORD_EXTRACTORS:
        result = safe_extract(_SINGLE_RECORD_EXTRACTORS[kind], name, None, doc, name)
        yield _with_locator(result, locator)
    elif kind in REJECTED_FORMATS:
        yield Rejected(name, locator or "", REJECTED_FORMATS[kind])
    else:
        if isinstance(doc, dict):
            keys = ", ".join(list(doc)[:6]) or "none"
            detail = f"JSON object with keys {keys}"
        else:
            detail = f"JSON {type(doc).__name__}"
        yield Rejected(name, locator or "", f"{UNRECOGNISED} ({detail})")


def _read_v2_single(fp, head: bytes, name: str) -> Iterator[TrialRecord | Rejected]:
    """CT.gov v2 files holding one study object (by far the commonest input): the file is
    one record, so it is read whole, and only the modules used are decoded."""
    data = head if len(head) < HEAD_SIZE else fp.read()  # fp starts at byte 0 again
    study = ctgov_v2.quick_study(data)
    if study is None:  # not a plain single study, or something to report: full decode
        yield from _read_json(io.BytesIO(data), data[:HEAD_SIZE], name)
    else:
        yield safe_extract(ctgov_v2.extract, name, None, study, name)


def _read_v2(fp, head: bytes, name: str) -> Iterator[TrialRecord | Rejected]:
    if first_char(head) == "{":
        return _read_v2_single(fp, head, name)
    return _read_json(fp, head, name)


def _read_json(fp, head: bytes, name: str) -> Iterator[TrialRecord | Rejected]:
    for index, doc, is_array in iter_json_documents(fp, head):
        locator = f"item {index + 1}" if is_array or index else None
        if isinstance(doc, JSONBroken):
            where = locator if not doc.fatal else ""
            yield Rejected(name, where or "", doc.describe())
            if doc.fatal:
                return
            continue
        yield from _route_json(doc, name, locator)


def _xml(reader):
    return lambda fp, head, name: reader(fp, name)


_READERS = {
    "ctgov-v2-json": _read_v2,
    "ctgov-classic-api-json": _read_json,
    "ctgov-classic-ctrdata-json": _read_json,
    "isrctn-ctrdata-json": _read_json,
    "euctr-ctrdata-json": _read_json,
    "ctis-ctrdata-json": _read_json,
    "ctgov-classic-xml": _xml(ctgov_classic.read_xml),
    "isrctn-xml": _xml(isrctn.read_xml),
    "isrctn-csv": isrctn.read_csv,
    "ictrp-xml": _xml(ictrp.read_xml),
    "ictrp-csv": ictrp.read_csv,
    "euctr-text": eu.read_euctr_text,
    "euctr-scrape-csv": eu.read_scrape_csv,
}
assert set(_READERS) == set(FORMATS)


# --------------------------------------------------------------------------- files


def _seekable(fp):
    if fp.seekable():
        return fp, None
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
    shutil.copyfileobj(fp, spool, 1024 * 1024)
    spool.seek(0)
    return spool, spool


def _read_zip(fp, name: str, depth: int) -> Iterator[TrialRecord | Rejected]:
    fp, spool = _seekable(fp)
    try:
        try:
            archive = zipfile.ZipFile(fp)
        except zipfile.BadZipFile as err:
            yield Rejected(name, "", f"broken zip file: {err}")
            return
        with archive:
            for source in zip_sources(archive, name):
                try:
                    member = source.open()
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as err:
                    yield Rejected(source.name, "", f"cannot open zip member: {err}")
                    continue
                with member:
                    yield from _read_stream(member, source.name, depth + 1)
    finally:
        if spool is not None:
            spool.close()


def _read_stream(fp, name: str, depth: int = 0) -> Iterator[TrialRecord | Rejected]:
    stream = fp
    try:
        head, stream = peek(fp)
        yield from _dispatch(stream, head, name, depth)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, UnicodeError, RecursionError) as err:
        yield Rejected(name, "", f"could not read the file: {type(err).__name__}: {err}")
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as err:
        yield Rejected(
            name, "", f"unexpected content, file abandoned ({type(err).__name__}: {err})"
        )
    finally:
        if stream is not fp and isinstance(stream, io.BufferedReader):
            stream.detach()  # the replay wrapper of a non-seekable stream; fp is closed by
            # whoever opened it


def _dispatch(fp, head: bytes, name: str, depth: int) -> Iterator[TrialRecord | Rejected]:
    fmt = detect_format(head)
    if fmt in CONTAINERS:
        if depth >= MAX_NESTING:
            yield Rejected(name, "", f"{fmt} nested too deeply")
        elif fmt == "zip":
            yield from _read_zip(fp, name, depth)
        else:
            with gunzip(fp) as unpacked:
                yield from _read_stream(unpacked, name, depth + 1)
    elif fmt in REJECTED_FORMATS:
        yield Rejected(name, "", REJECTED_FORMATS[fmt])
    elif fmt is not None:
        yield from _READERS[fmt](fp, head, name)
    elif first_char(head) in ("{", "["):
        yield from _read_json(fp, head, name)  # item-level routing may still know it
    elif not head:
        yield Rejected(name, "", "empty file")
    else:
        yield Rejected(name, "", UNRECOGNISED)


def _read_path(path: str) -> Iterator[TrialRecord | Rejected]:
    try:
        fp = open(path, "rb")  # noqa: SIM115 - closed below, generator-friendly
    except OSError as err:
        yield Rejected(path, "", f"cannot open file: {err.strerror or err}")
        return
    with fp:
        yield from _read_stream(fp, path)


def iter_records(paths: Iterable[str | Path] | str | Path) -> Iterator[TrialRecord | Rejected]:
    """Records of every file under ``paths`` (files, folders walked in sorted order, zips).
    Never raises for bad content: yields Rejected with a reason instead."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    for path in paths:
        if not os.path.exists(path):
            yield Rejected(os.fspath(path), "", "no such file or folder")
            continue
        for file_path in walk(path):
            yield from _read_path(file_path)


def read_file(path: str | Path) -> list[TrialRecord | Rejected]:
    """All records of one file (or folder / zip) as a list."""
    return list(iter_records([path]))
