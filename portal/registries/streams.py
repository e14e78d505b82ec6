"""Streaming helpers: folders, zip members, gzip, peeked heads and JSON documents.

Nothing here loads a whole multi-record file: JSON arrays are decoded one item at a time
with ``json.JSONDecoder.raw_decode`` over text chunks, so memory stays bounded by the
largest single item, not by the file.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

HEAD_SIZE = 64 * 1024
CHUNK_SIZE = 256 * 1024
ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"


# --------------------------------------------------------------------------- peeking


class PeekStream(io.RawIOBase):
    """Replays an already-read head, then continues reading the underlying stream."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head = memoryview(head)
        self._pos = 0
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._pos < len(self._head):
            n = min(len(buffer), len(self._head) - self._pos)
            buffer[:n] = self._head[self._pos : self._pos + n]
            self._pos += n
            return n
        data = self._rest.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        try:
            self._rest.close()
        finally:
            super().close()


def peek(fp: BinaryIO, size: int = HEAD_SIZE) -> tuple[bytes, BinaryIO]:
    """Read the first ``size`` bytes and return them with a stream that starts at 0 again.
    ``fp`` must be a buffered stream (io.BufferedIOBase semantics: short reads only at
    the end), as files opened "rb", zip members and gzip streams are."""
    # buffered streams (files, zip members, gzip) return fewer bytes only at the end
    head = fp.read(size)
    if len(head) < size:
        return head, io.BytesIO(head)  # the whole file is in ``head``
    if fp.seekable():
        fp.seek(0)
        return head, fp
    return head, io.BufferedReader(PeekStream(head, fp), CHUNK_SIZE)


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class Source:
    """One readable file: a plain file, a zip member or a decompressed gzip."""

    name: str  # shown to people: "dir/file.json" or "dir/x.zip!inner/file.json"
    opener: object  # () -> BinaryIO

    def open(self) -> BinaryIO:
        return self.opener()


def walk(path: str | Path) -> Iterator[str]:
    """Files under ``path`` (or ``path`` itself), directories walked in sorted order."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        yield path
        return
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            yield os.path.join(root, name)


def zip_sources(zf: zipfile.ZipFile, label: str) -> Iterator[Source]:
    for info in sorted(zf.infolist(), key=lambda i: i.filename):
        if info.is_dir():
            continue
        yield Source(f"{label}!{info.filename}", lambda info=info: zf.open(info))


def decode_text(fp: BinaryIO, head: bytes, strict: bool = False) -> io.TextIOWrapper:
    """Text view of a byte stream: UTF-8 (BOM stripped).

    Lenient (CSV, text exports): Windows-1252 if the head is not UTF-8, and undecodable
    bytes later in the file replaced rather than aborting. Strict (JSON, which is UTF-8 by
    definition): a bad byte raises UnicodeDecodeError."""
    if strict:
        return io.TextIOWrapper(fp, encoding="utf-8-sig", errors="strict", newline="")
    encoding = "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        encoding = "cp1252"
    return io.TextIOWrapper(fp, encoding=encoding, errors="replace", newline="")


@contextlib.contextmanager
def text_view(fp: BinaryIO, head: bytes, strict: bool = False) -> Iterator[io.TextIOWrapper]:
    """decode_text() as a context manager that detaches the wrapper afterwards, so the
    byte stream stays owned (and closed) by whoever opened it."""
    wrapper = decode_text(fp, head, strict)
    try:
        yield wrapper
    finally:
        wrapper.detach()


def gunzip(fp: BinaryIO) -> BinaryIO:
    return gzip.GzipFile(fileobj=fp, mode="rb")


# --------------------------------------------------------------------------- JSON


class JSONBroken(Exception):
    """A JSON text that cannot be decoded. ``line`` is 1-based in the whole file."""

    def __init__(self, msg: str, line: int, fatal: bool, what: str = "broken JSON"):
        super().__init__(msg)
        self.msg = msg
        self.line = line
        self.fatal = fatal  # True: nothing after this point can be read
        self.what = what

    def describe(self) -> str:
        if not self.line:
            return f"{self.what}: {self.msg}"
        return f"{self.what} at line {self.line}: {self.msg}"


_WS = re.compile(r"[ \t\n\r]*")
_STRUCT = re.compile(r'[\[\]{}"]')
_DECODER = json.JSONDecoder()


def first_char(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return chr(text[0]) if text else ""


def _value_end(buf: str, start: int) -> int | None:
    """Index just after the JSON value starting at ``start`` by bracket matching
    (strings respected), or None when the buffer ends first. Only used after a decode
    error, to skip one broken array item and carry on with the next."""
    depth = 0
    pos = start
    n = len(buf)
    while pos < n:
        m = _STRUCT.search(buf, pos)
        if m is None:
            return None
        ch = m.group()
        pos = m.end()
        if ch == '"':
            while True:
                q = buf.find('"', pos)
                if q < 0:
                    return None
                backslashes = 0
                k = q - 1
                while buf[k] == "\\":
                    backslashes += 1
                    k -= 1
                pos = q + 1
                if backslashes % 2 == 0:
                    break
        elif ch in "[{":
            depth += 1
        else:
            depth -= 1
            if depth <= 0:
                return pos
    return None


def iter_json_array(text_stream: io.TextIOBase, chunk_size: int = CHUNK_SIZE) -> Iterator:
    """Yield ``(index, value)`` for each item of a top-level JSON array, or
    ``(index, JSONBroken)`` for an item that cannot be decoded (reading goes on with the
    next item when its end can be found). A top-level object or a sequence of objects
    (JSON Lines) is accepted too: each top-level value is one item."""
    buf = ""
    pos = 0
    line_base = 1  # line number of buf[0]
    eof = False

    def fill(min_extra: int = 1) -> bool:
        nonlocal buf, pos, line_base, eof
        if eof:
            return False
        if pos > 0:
            line_base += buf.count("\n", 0, pos)
            buf = buf[pos:]
            pos = 0
        want = max(chunk_size, min_extra)
        data = text_stream.read(want)
        if not data:
            eof = True
            return False
        buf += data
        return True

    def skip_ws() -> None:
        nonlocal pos
        while True:
            pos = _WS.match(buf, pos).end()
            if pos < len(buf) or not fill():
                return

    def line_at(p: int) -> int:
        return line_base + buf.count("\n", 0, p)

    skip_ws()
    if pos < len(buf) and buf[pos] == "\ufeff":
        pos += 1
        skip_ws()
    if pos >= len(buf):
        yield 0, JSONBroken("empty file", 1, True)
        return
    in_array = buf[pos] == "["
    if in_array:
        pos += 1
    index = 0
    expect_item = True
    while True:
        skip_ws()
        if pos >= len(buf):
            if in_array:
                yield index, JSONBroken("file ends before the closing ]", line_at(pos), True)
            return
        ch = buf[pos]
        if in_array and ch == "]":
            pos += 1
            skip_ws()
            if pos < len(buf):
                yield index, JSONBroken("extra data after the closing ]", line_at(pos), True)
            return
        if in_array and not expect_item:
            if ch != ",":
                yield index, JSONBroken("Expecting ',' delimiter", line_at(pos), False)
            else:
                pos += 1
            expect_item = True
            continue
        # decode one value; grow the buffer while the value may be incomplete
        want = chunk_size
        while True:
            try:
                value, end = _DECODER.raw_decode(buf, pos)
            except json.JSONDecodeError as err:
                cut = err.msg.startswith("Unterminated string") or err.pos >= len(buf) - 10
                if cut and not eof:
                    want *= 2  # the value continues beyond the buffer
                    fill(want)
                    continue
                line = line_at(err.pos)
                msg = _explain(err, len(buf)) if eof else err.msg
                stop = _value_end(buf, pos)
                while stop is None and not eof:
                    want *= 2
                    fill(want)
                    stop = _value_end(buf, pos)
                if stop is None:
                    yield index, JSONBroken(msg, line, True)
                    return
                yield index, JSONBroken(err.msg, line, False)
                pos = stop
                index += 1
                expect_item = False
                break
            if end == len(buf) and not eof and isinstance(value, int | float):
                fill(want)  # a number cut by the chunk boundary: decode again
                continue
            yield index, value
            pos = end
            index += 1
            expect_item = False
            break
        if not in_array:
            expect_item = True


def _explain(err: json.JSONDecodeError, length: int) -> str:
    """The decoder's message, saying so when the text simply stops (a truncated file)."""
    if err.msg.startswith("Unterminated string") or err.pos >= length - 2:
        return f"file ends unexpectedly, probably truncated ({err.msg})"
    return err.msg


def iter_json_documents(
    fp: BinaryIO, head: bytes, whole_object_limit: int = 64 * 1024 * 1024
) -> Iterator:
    """Top-level JSON documents of a file: the object itself for ``{...}`` (loaded
    whole, as single-study files are small), else items streamed one by one.
    Yields ``(index, value_or_JSONBroken, is_array)``."""
    start = first_char(head)
    if start == "{" and len(head) < HEAD_SIZE:
        # whole file already in ``head``: the fast path for single-study files
        try:
            yield 0, json.loads(head.removeprefix(b"\xef\xbb\xbf")), False
        except json.JSONDecodeError as err:
            if err.msg != "Extra data":
                yield 0, JSONBroken(_explain(err, len(err.doc)), err.lineno, True), False
                return
            # several concatenated objects (JSON Lines): fall through to streaming
        except UnicodeDecodeError as err:
            line = head.count(b"\n", 0, err.start) + 1
            broken = JSONBroken(f"{err.reason} (byte {err.start})", line, True, "not UTF-8 text")
            yield 0, broken, False
            return
        else:
            return
    is_array = start == "["
    with text_view(fp, head, strict=True) as text_stream:
        try:
            for index, value in iter_json_array(text_stream):
                yield index, value, is_array
        except UnicodeDecodeError as err:
            # the position is relative to a chunk: name the problem, not the place
            yield 0, JSONBroken(f"{err.reason}", 0, True, "not UTF-8 text"), is_array


# --------------------------------------------------------------------------- XML


class XMLBroken(Exception):
    """Unreadable XML; nothing after ``line`` can be read."""

    def __init__(self, msg: str, line: int | None = None, column: int | None = None):
        super().__init__(msg)
        self.msg = msg
        self.line = line
        self.column = column

    def describe(self) -> str:
        if self.line is None:
            return f"broken XML: {self.msg}"
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"broken XML at {where}: {self.msg}"


def local(tag: str) -> str:
    """Tag or attribute name without its {namespace}."""
    return tag.rsplit("}", 1)[-1] if tag[:1] == "{" else tag


def iter_xml(fp: BinaryIO, wanted: frozenset[str]) -> Iterator:
    """Yield each complete element whose local name is in ``wanted`` (outermost match
    only), then detach it from its parent so memory stays flat. On a parse error yields
    one XMLBroken and stops. Entity declarations / DTDs are refused (defusedxml)."""
    from xml.etree.ElementTree import ParseError

    import defusedxml
    from defusedxml.ElementTree import iterparse

    stack = []
    inside = 0  # depth inside a wanted element (nested wanted names are plain children)
    try:
        for event, elem in iterparse(fp, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                stack.append(elem)
                if inside or local(elem.tag) in wanted:
                    inside += 1
                continue
            stack.pop()
            if inside:
                inside -= 1
                if inside == 0:
                    yield elem
                    elem.clear()
                    if stack:
                        stack[-1].remove(elem)
            elif stack and not inside:
                # content outside any record: drop it as it completes
                stack[-1].remove(elem)
    except ParseError as err:
        line, column = getattr(err, "position", (None, None))
        msg = str(err).split(": line", 1)[0]
        yield XMLBroken(msg, line, column + 1 if column is not None else None)
    except defusedxml.DefusedXmlException as err:
        yield XMLBroken(f"refused unsafe XML ({type(err).__name__}: {err})")


def xml_to_dict(elem) -> object:
    """Element -> str (leaf) or dict; repeated children become lists; attributes go under
    "@attributes" and a leaf with attributes becomes {"@attributes": ..., "#text": ...}
    (the shape ctrdata uses when it converts registry XML to JSON)."""
    children = list(elem)
    attrs = {local(k): v for k, v in elem.attrib.items()} if elem.attrib else None
    if not children:
        text = elem.text or ""
        if attrs:
            return {"@attributes": attrs, "#text": text}
        return text
    out: dict = {}
    if attrs:
        out["@attributes"] = attrs
    for child in children:
        key = local(child.tag)
        value = xml_to_dict(child)
        if key in out:
            existing = out[key]
            if isinstance(existing, list):
                existing.append(value)
            else:
                out[key] = [existing, value]
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------- CSV


class CSVBroken(Exception):
    def __init__(self, msg: str, fatal: bool):
        super().__init__(msg)
        self.msg = msg
        self.fatal = fatal


def csv_key(name: str) -> str:
    """ "Date registration3" / "Date_registration3" -> "date_registration3"."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def iter_csv(fp: BinaryIO, head: bytes) -> Iterator:
    """Yield ``(row_number, {csv_key(header): value})`` row by row; row_number counts data
    rows from 1 (the header is not counted). Bad rows give ``(row_number, CSVBroken)``."""
    import csv

    sample = head[:4096].decode("utf-8", errors="replace").split("\n", 1)[0]
    dialect = csv.excel_tab if sample.count("\t") > sample.count(",") else csv.excel
    with text_view(fp, head) as text:
        yield from _csv_rows(csv.reader(text, dialect))


def _csv_rows(reader) -> Iterator:
    import csv

    row_number = 0
    try:
        header = next(reader, None)
        if not header:
            yield 0, CSVBroken("empty CSV file", True)
            return
        keys = [csv_key(h) for h in header]
        for row in reader:
            row_number += 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(keys):
                yield (
                    row_number,
                    CSVBroken(f"row has {len(row)} fields but the header has {len(keys)}", False),
                )
                continue
            yield row_number, dict(zip(keys, row, strict=True))
    except csv.Error as err:
        yield row_number + 1, CSVBroken(f"broken CSV near line {reader.line_num}: {err}", True)
