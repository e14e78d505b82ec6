"""HTML to PDF with WeasyPrint, offline: tagged PDF/UA-1, A4, deterministic bytes.

Rendering fetches nothing from the network. :class:`PortalAssetFetcher` answers only

* ``file:`` URLs of files inside ``portal/static/`` or ``portal/templates/pdf/`` (the bundled
  CSS), and
* ``data:`` URLs (the QR code),

and raises :class:`RefusedURL` for anything else. Fonts come from fontconfig (local files), never
from ``@font-face`` downloads. Every user-supplied string reaches the HTML through Jinja's
autoescape, so no user text can become markup that asks for a URL in the first place; the fetcher
is the second wall.

The same input gives the same bytes (creation date from the document, a fixed PDF identifier), so
a job that is run twice issues a byte-identical file with the same SHA-256.

Speed (issues 7 and 18, ``bench/pdf.py``): WeasyPrint's time grows with the number of boxes and
lines, so the certificate is set in one font face, its tables have a fixed layout (no measuring of
every cell for column widths), its QR code is a small PNG rather than SVG paths, and its bundled
stylesheet is parsed once per process (:func:`stylesheet`) instead of once per render.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import mimetypes
import time
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit
from urllib.request import url2pathname
from xml.etree import ElementTree

import cssselect2
from weasyprint import CSS, HTML, URLFetcher, _find_base_url
from weasyprint.document import Document
from weasyprint.urls import URLFetcherResponse

log = logging.getLogger(__name__)

PORTAL_DIR = Path(__file__).resolve().parent.parent / "portal"
STATIC_DIR = PORTAL_DIR / "static"
PDF_TEMPLATES_DIR = PORTAL_DIR / "templates" / "pdf"
ALLOWED_ROOTS = (STATIC_DIR.resolve(), PDF_TEMPLATES_DIR.resolve())
# Relative URLs in the PDF templates (``pdf/report.css``) resolve against portal/static/.
BASE_URL = STATIC_DIR.resolve().as_uri() + "/"
PDF_VARIANT = "pdf/ua-1"  # tagged PDF with the PDF/UA-1 identification (WeasyPrint 70)
MAX_DATA_URL_BYTES = 2 * 1024 * 1024


class RefusedURL(ValueError):
    """A URL the PDF renderer will not fetch."""


class RenderError(Exception):
    """The document could not be drawn (a bug in a template or bad data): retrying won't help."""


def _within_roots(path: Path) -> bool:
    return any(path == root or root in path.parents for root in ALLOWED_ROOTS)


def _data_url(url: str) -> tuple[bytes, str]:
    """Decode ``data:[<type>][;base64],<data>`` (RFC 2397) without any network handler."""
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise RefusedURL("malformed data: URL")
    parts = header.split(";")
    media_type = parts[0] or "text/plain"
    if "base64" in parts[1:]:
        body = base64.b64decode(unquote_to_bytes(payload), validate=False)
    else:
        body = unquote_to_bytes(payload)
    if len(body) > MAX_DATA_URL_BYTES:
        raise RefusedURL("data: URL too large")
    return body, media_type


class PortalAssetFetcher(URLFetcher):
    """Serves the portal's bundled files and ``data:`` URLs; refuses everything else."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("file", "data"), allow_redirects=False)
        self.refused: list[str] = []
        self.served: list[str] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            body, media_type = _data_url(url)
            self.served.append("data:")
            return URLFetcherResponse(url, body, {"Content-Type": media_type})
        if scheme == "file":
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                return self._refuse(url)
            path = Path(url2pathname(unquote_to_bytes(parts.path).decode("utf-8"))).resolve()
            if _within_roots(path) and path.is_file():
                media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self.served.append(str(path))
                return URLFetcherResponse(
                    path.as_uri(), path.read_bytes(), {"Content-Type": media_type}
                )
        return self._refuse(url)

    def _refuse(self, url: str) -> URLFetcherResponse:
        self.refused.append(url[:200])
        log.warning("PDF rendering refused to fetch %s", url[:200])
        raise RefusedURL(f"the PDF renderer fetches only the portal's own files, not {url[:80]}")


def _options(identifier: str) -> dict[str, object]:
    """The WeasyPrint options of every PDF the portal writes (and of the benchmark's floor)."""
    return {
        "pdf_variant": PDF_VARIANT,
        "pdf_identifier": identifier.encode("ascii", "replace")[:64],
    }


@functools.lru_cache(maxsize=8)
def _parsed_stylesheet(name: str, mtime_ns: int) -> CSS:
    return CSS(
        url=(STATIC_DIR / "pdf" / name).as_uri(),
        base_url=BASE_URL,
        url_fetcher=PortalAssetFetcher(),
    )


def stylesheet(name: str) -> CSS:
    """``portal/static/pdf/<name>``, parsed once per process (again if the file changes).

    Parsing and compiling a stylesheet's selectors costs a few milliseconds, a noticeable part
    of a one-page render; a parsed stylesheet holds no per-document state, so it is reused.
    Read through :class:`PortalAssetFetcher`, like any other asset.
    """
    path = STATIC_DIR / "pdf" / name
    try:
        return _parsed_stylesheet(name, path.stat().st_mtime_ns)
    except Exception as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}"[:500]) from exc


# Parsed at import: the RQ worker imports this module before it forks a work-horse per job
# (portal/cli.py), so every job starts with the parsed stylesheet rather than parsing it anew.
PRELOADED_STYLESHEETS = ("certificate.css", "certificate-ua.css")
for _name in PRELOADED_STYLESHEETS:
    try:
        stylesheet(_name)
    except RenderError as _exc:  # rendering will report it
        log.warning("could not parse portal/static/pdf/%s: %s", _name, _exc)


@functools.cache
def _font_config():
    """One fontconfig configuration per process for the certificate (see html_to_pdf ``ua``).

    WeasyPrint makes a new one per document by default, loading the system's font list each
    time; the certificate declares no @font-face, so nothing is ever added to it."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


# Made at import too, so the work-horses the RQ worker forks start with it (like the stylesheets).
_font_config()


def _xml_tree(html: str):
    """``html`` parsed as XML (expat, in C), shaped as tinyhtml5 would give it; ParseError if
    it is not well-formed.

    WeasyPrint parses HTML with tinyhtml5, in pure Python, character by character: a tenth of a
    certificate's render. The certificate's template is written to be well-formed XML too (void
    elements closed, every value escaped by Jinja), so expat can parse it in a fraction of a
    millisecond. defusedxml refuses entity declarations; nothing is ever fetched. The result is
    the same element tree tinyhtml5 builds (tests/certificates check the PDF is byte-identical
    either way): whitespace outside ``<head>`` and ``<body>`` moves where the HTML parser puts it.
    """
    from defusedxml.ElementTree import fromstring

    root = fromstring(html)
    if root.tag != "html":
        raise ElementTree.ParseError("not an HTML document")
    root.text = None
    body = root.find("body")
    if body is not None and body.tail:
        last = body[-1] if len(body) else None
        if last is None:
            body.text = (body.text or "") + body.tail
        else:
            last.tail = (last.tail or "") + body.tail
        body.tail = None
    return root


class _LeanHTML(HTML):
    """A document whose user-agent stylesheet is ``self.ua`` (see html_to_pdf ``ua``), parsed
    by :func:`_xml_tree` when it is well-formed XML (by tinyhtml5 otherwise)."""

    ua: CSS

    def __init__(self, *, string: str, base_url: str, url_fetcher: URLFetcher) -> None:
        try:
            root = _xml_tree(string)
        except ElementTree.ParseError:
            super().__init__(string=string, base_url=base_url, url_fetcher=url_fetcher)
            return
        self.base_url = _find_base_url(root, base_url)
        self.url_fetcher = url_fetcher
        self.media_type = "print"
        self.wrapper_element = cssselect2.ElementWrapper.from_html_root(root, content_language=None)
        self.etree_element = self.wrapper_element.etree_element

    def _ua_stylesheets(self, forms: bool = False) -> list[CSS]:
        return [self.ua]


def html_to_pdf(
    html: str,
    *,
    identifier: str,
    fetcher: PortalAssetFetcher | None = None,
    stylesheets: tuple[CSS, ...] = (),
    ua: CSS | None = None,
) -> bytes:
    """Render ``html`` (a complete document from portal/templates/pdf/) to PDF bytes.

    ``identifier`` (the certificate serial, the report job id) becomes the PDF file identifier,
    so the output does not depend on the clock. ``stylesheets`` (from :func:`stylesheet`) apply
    to the document as user stylesheets: over WeasyPrint's defaults, under any stylesheet the
    document links itself (the certificate links none). Raises RenderError if WeasyPrint fails.
    """
    started = time.perf_counter()
    try:
        if ua is not None:
            document = _LeanHTML(
                string=html, base_url=BASE_URL, url_fetcher=fetcher or PortalAssetFetcher()
            )
            document.ua = ua
        else:
            document = HTML(
                string=html, base_url=BASE_URL, url_fetcher=fetcher or PortalAssetFetcher()
            )
        extra = {"font_config": _font_config()} if ua is not None else {}
        pdf = document.write_pdf(stylesheets=list(stylesheets), **extra, **_options(identifier))
    except Exception as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}"[:500]) from exc
    log.info(
        "rendered PDF %s: %d bytes in %.2fs", identifier, len(pdf), time.perf_counter() - started
    )
    return pdf


def html_to_document(html: str, *, fetcher: PortalAssetFetcher | None = None) -> Document:
    """Lay out one part of a long document (see documents_to_pdf)."""
    try:
        return HTML(
            string=html, base_url=BASE_URL, url_fetcher=fetcher or PortalAssetFetcher()
        ).render(**_options("part"))
    except Exception as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}"[:500]) from exc


def documents_to_pdf(
    documents: list[Document],
    *,
    identifier: str,
) -> bytes:
    """One tagged PDF from parts laid out separately (metadata from the first part).

    A long report is laid out in parts so that each part's HTML tree and style cascade are freed
    as soon as it is laid out; only the laid-out pages are kept, and WeasyPrint writes them (and
    their tags) as one document.
    """
    started = time.perf_counter()
    try:
        combined = documents[0].copy([page for doc in documents for page in doc.pages])
        pdf = combined.write_pdf(**_options(identifier))
    except Exception as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}"[:500]) from exc
    log.info(
        "wrote PDF %s: %d pages, %d bytes in %.2fs",
        identifier,
        len(combined.pages),
        len(pdf),
        time.perf_counter() - started,
    )
    return pdf


# One fixed data mask (any of the eight is valid QR): choosing the best one scores all eight,
# which took two thirds of the QR code's time; the code stays readable at this size either way.
QR_MASK = 0
# A module of segno's matrix (1 dark, 0 light) to a grey level (black, white).
_MODULE_TO_GREY = bytes([255, 0]) + bytes(254)


def qr_png_data_url(text: str) -> str:
    """A QR code for ``text`` as a PNG ``data:`` URL: black on white, 4 pixels a module.

    Shown with ``image-rendering: pixelated`` (no smoothing), every module prints as a sharp
    square; 4 pixels a module keeps it readable where a viewer smooths anyway (poppler does, for
    images it enlarges a lot): zbar reads it from a 72 dpi rendering of the page. A small bitmap
    costs WeasyPrint far less than the same code as SVG paths (thousands of segments to parse
    and draw). The two-module margin and the white padding of the box around it make the quiet
    zone.

    The PNG is 8-bit greyscale, written by Pillow from segno's module matrix: WeasyPrint embeds
    a greyscale PNG as it is, where it would convert a 1-bit one (segno's own PNG) to colour and
    write it again; and Pillow writes it faster than segno's pure-Python writer.
    """
    import segno
    from PIL import Image

    # micro=False: a URL never fits a Micro QR code, and trying those sizes first took 40% of
    # the encoding time (the symbol is the same).
    matrix = segno.make(text, error="m", mask=QR_MASK, micro=False).matrix
    border, scale = 2, 4
    size = len(matrix) + 2 * border
    pixels = bytearray(b"\xff" * (size * size))
    for y, row in enumerate(matrix):
        start = (y + border) * size + border
        pixels[start : start + len(row)] = bytes(row).translate(_MODULE_TO_GREY)
    image = Image.frombytes("L", (size, size), bytes(pixels)).resize(
        (size * scale, size * scale), Image.Resampling.NEAREST
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
