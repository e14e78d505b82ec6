"""Judge an uploaded lay summary by its content (never its name) and extract its text.

Accepted: PDF (``%PDF-`` header), DOCX (a zip holding ``word/document.xml``), and anything else
that decodes as UTF-8 text (plain text or Markdown, shown as text and never rendered). Everything
is refused with a message a person can act on: empty, over 10 MB, encrypted, damaged, zip bombs
(checked from the zip's directory before python-docx opens it), no text at all, or far more text
than a lay summary could have.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024  # the limit; MAX_CONTENT_LENGTH (11 MB) is the hard stop
MAX_TEXT_CHARS = 1_000_000  # a lay summary is a few pages; this is hundreds of pages of text
MAX_PDF_PAGES = 200
# Zip bomb limits for DOCX, read from the zip directory before anything is decompressed. The
# declared sizes cannot be exceeded later: zipfile stops at the declared size and checks the CRC.
DOCX_MAX_MEMBERS = 2000
DOCX_MAX_UNCOMPRESSED = 50 * 1024 * 1024
DOCX_MAX_RATIO = 100  # uncompressed / compressed, for the whole zip and for any member > 1 MB
DOCX_RATIO_FLOOR = 1024 * 1024

KINDS = {
    "pdf": ("application/pdf", "PDF"),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "Word document (DOCX)",
    ),
    "markdown": ("text/markdown; charset=utf-8", "Markdown (shown as text)"),
    "text": ("text/plain; charset=utf-8", "Plain text"),
}
EXTENSIONS = {"pdf": "pdf", "docx": "docx", "markdown": "md", "text": "txt"}
# The endings a file's name may have, and the kind of content each promises (issue 18: a file
# whose content does not match its name is refused, so "fake.pdf" holding text is not accepted).
NAME_ENDINGS = {
    "pdf": ("pdf",),
    "docx": ("docx",),
    "txt": ("text", "markdown"),
    "text": ("text", "markdown"),
    "md": ("text", "markdown"),
    "markdown": ("text", "markdown"),
}
KIND_NAMES = {"pdf": "a PDF", "docx": "a Word document (DOCX)", "text": "plain text"}
KIND_NAMES["markdown"] = KIND_NAMES["text"]

ACCEPTED = "a PDF, a Word document (DOCX), or plain text or Markdown saved as UTF-8"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(\S.*?)\s*#*\s*$")


class ExtractionError(ValueError):
    """The file was refused; ``message`` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Extracted:
    """The text of an accepted file and what kind of file it is."""

    kind: str  # pdf / docx / markdown / text
    text: str
    headings: tuple[str, ...] = ()
    pages: int | None = None

    @property
    def content_type(self) -> str:
        return KINDS[self.kind][0]

    @property
    def label(self) -> str:
        return KINDS[self.kind][1]


def judge(data: bytes) -> str:
    """The kind of file ``data`` is, from its first bytes: pdf, docx (any zip), ole or text."""
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "docx"
    if data.startswith(OLE_MAGIC):
        return "ole"
    return "text"


def extract(data: bytes, filename: str = "") -> Extracted:
    """Judge ``data`` by content and return its text; raise ExtractionError to refuse it.

    When ``filename`` is given, its ending must agree with the content (``check_name``)."""
    if not data:
        raise ExtractionError("The selected file is empty.")
    if len(data) > MAX_BYTES:
        raise ExtractionError("The selected file must be smaller than 10 MB.")
    kind = judge(data)
    if kind == "pdf":
        result = _pdf(data)
    elif kind == "docx":
        result = _docx(data)
    elif kind == "ole":
        raise ExtractionError(
            "This is an old Word (.doc) file or a password-protected Office document. Save it "
            "as a DOCX without a password, or as a PDF, and upload that."
        )
    else:
        result = _text(data)
    text = tidy(result.text)
    if not text.strip():
        if result.kind == "pdf":
            raise ExtractionError(
                "The PDF has no text in it. If it is a scan, upload the document it was made "
                "from instead."
            )
        raise ExtractionError("The file has no text in it.")
    if len(text) > MAX_TEXT_CHARS:
        raise ExtractionError(
            f"The file holds more than {MAX_TEXT_CHARS:,} characters of text: far more than a "
            "lay summary. Upload the lay summary on its own."
        )
    check_name(filename, result.kind)
    return Extracted(result.kind, text, result.headings, result.pages)


def name_ending(filename: str) -> str:
    """The lower-case ending of a file's name after its last dot ("" when there is none)."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ending = base.rpartition(".")
    return ending.strip().lower() if dot and stem else ""


def check_name(filename: str, kind: str) -> None:
    """Refuse a file whose name promises another kind of content than it holds.

    A file with no ending in its name is judged by its content alone."""
    ending = name_ending(filename)
    if not ending:
        return
    promised = NAME_ENDINGS.get(ending)
    if promised is None:
        shown = (
            f"Files whose names end in .{ending}"
            if ending.isalnum() and len(ending) <= 10
            else ("Files of this type")
        )
        raise ExtractionError(f"{shown} are not accepted. Upload {ACCEPTED}.")
    if kind not in promised:
        raise ExtractionError(
            f"The file's name ends in .{ending}, but it holds {KIND_NAMES[kind]}, not "
            f"{KIND_NAMES[promised[0]]}. Upload the {ending.upper()} file itself, or give this "
            f"file a name ending in .{EXTENSIONS[kind]}."
        )


def tidy(text: str) -> str:
    """Unix newlines, no control characters, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def _pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError(
                "The PDF is password-protected (encrypted). Save a copy without a password and "
                "upload that."
            )
        pages = len(reader.pages)
        if pages > MAX_PDF_PAGES:
            raise ExtractionError(
                f"The PDF has {pages} pages: a lay summary should be far shorter (at most "
                f"{MAX_PDF_PAGES}). Upload the lay summary on its own."
            )
        parts = [page.extract_text() or "" for page in reader.pages]
    except ExtractionError:
        raise
    except Exception as exc:  # pypdf raises many types (PdfReadError, ValueError, KeyError...)
        log.info("refused a PDF that could not be read: %r", exc)
        raise ExtractionError(
            "The PDF could not be read: it may be damaged or incomplete. Save it again from the "
            "program that made it and upload the new copy."
        ) from None
    text = "\n\n".join(part.strip("\n") for part in parts)
    return Extracted("pdf", text, tuple(_heading_candidates(text)), pages)


def _check_zip(data: bytes) -> zipfile.ZipFile:
    """Open the zip directory only (nothing decompressed) and refuse bombs and non-DOCX zips."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ExtractionError(
            "The file looks like a Word document (DOCX) but is damaged. Save it again and upload "
            "the new copy."
        ) from None
    names = {m.filename for m in members}
    if "word/document.xml" not in names:
        raise ExtractionError(
            f"The file is a zip archive but not a Word document. Upload {ACCEPTED}."
        )
    if "word/vbaProject.bin" in names:
        raise ExtractionError(
            "The Word document contains macros. Save it as a plain DOCX (or a PDF) and upload that."
        )
    total = sum(m.file_size for m in members)
    too_many = len(members) > DOCX_MAX_MEMBERS
    too_big = total > DOCX_MAX_UNCOMPRESSED
    too_packed = total > DOCX_RATIO_FLOOR and total > DOCX_MAX_RATIO * len(data)
    member_packed = any(
        m.file_size > DOCX_RATIO_FLOOR and m.file_size > DOCX_MAX_RATIO * max(m.compress_size, 1)
        for m in members
    )
    if too_many or too_big or too_packed or member_packed:
        log.warning(
            "refused a DOCX that expands too far: %d members, %d bytes from %d",
            len(members),
            total,
            len(data),
        )
        raise ExtractionError(
            "The Word document expands to far more data than a lay summary could hold, so it was "
            "not opened. Save it again as a normal DOCX or a PDF and upload that."
        )
    return archive


def _docx(data: bytes) -> Extracted:
    _check_zip(data).close()
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        headings: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells = [cell.text.strip() for cell in row.cells]
                    lines.append(" | ".join(c for c in cells if c))
                lines.append("")
                continue
            text = block.text.strip()
            style = (block.style.name if block.style is not None else "") or ""
            if text and (style.startswith("Heading") or style == "Title"):
                headings.append(text)
            lines.append(text)
    except Exception as exc:  # python-docx and lxml raise many types for damaged files
        log.info("refused a DOCX that could not be read: %r", exc)
        raise ExtractionError(
            "The Word document could not be read: it may be damaged. Save it again and upload "
            "the new copy, or upload a PDF."
        ) from None
    text = "\n".join(lines)
    return Extracted("docx", text, tuple(headings) or tuple(_heading_candidates(text)))


def _text(data: bytes) -> Extracted:
    if b"\x00" in data[:65536]:
        raise ExtractionError(f"The file type is not accepted. Upload {ACCEPTED}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExtractionError(
            f"The file is not a PDF or a Word document, and it is not text saved as UTF-8. "
            f"Upload {ACCEPTED}."
        ) from None
    markdown = [m.group(1) for m in map(_MD_HEADING.match, text.splitlines()) if m]
    if markdown:
        return Extracted("markdown", text, tuple(markdown))
    return Extracted("text", text, tuple(_heading_candidates(text)))


def _heading_candidates(text: str) -> list[str]:
    """Lines that look like headings: short, alone, and not ending like a sentence."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        match = _MD_HEADING.match(line)
        if match:
            found.append(match.group(1))
            continue
        words = line.split()
        if not words or len(words) > 12 or not line[0].isalpha():
            continue
        if line.endswith("?") or (line[0].isupper() and line[-1] not in ".,;:!"):
            found.append(line)
    return found
