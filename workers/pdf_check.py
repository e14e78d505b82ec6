"""Can this machine make the portal's PDFs? ``python -m workers.pdf_check`` says so in one line.

`make run` runs it before it starts the worker (issue 23): a tiny page in the certificate's
stylesheet is rendered by the worker's own code (:mod:`workers.pdf_render`) and read back with
pypdf. When a library WeasyPrint needs is missing, the line names the library and the Debian
package that has it (from ``scripts/system-packages.txt``) and the exit status is 1.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES_FILE = ROOT / "scripts" / "system-packages.txt"
PDF_FONT = "DejaVu Sans"  # portal/static/pdf/certificate.css
SAMPLE_TEXT = "Trial Transparency Portal: PDF check"
SAMPLE_HTML = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>PDF check</title></head>"
    f"<body><h1>{SAMPLE_TEXT}</h1><p>4 December 2026</p></body></html>"
)


@dataclass(frozen=True)
class SystemPackage:
    """One line of scripts/system-packages.txt."""

    name: str
    need: str  # "runtime" (make run and make test) or "test" (make test only)
    check: str  # cmd:NAME, lib:SONAME, file:PATH or pymod:MODULE
    why: str


def system_packages(path: Path = PACKAGES_FILE) -> list[SystemPackage]:
    rows = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, need, check, why = line.split(None, 3)
            rows.append(SystemPackage(name, need, check, why))
    return rows


def package_of_library(name: str, path: Path = PACKAGES_FILE) -> str | None:
    """The Debian package of a library as WeasyPrint names it ('libpango-1.0-0')."""
    for row in system_packages(path):
        if row.check.startswith("lib:"):
            stem = row.check[4:].split(".so", 1)[0]  # libpango-1.0
            if name in (stem, row.check[4:]) or name.startswith(stem + "-"):
                return row.name
    return None


def missing_library_message(error: str) -> str:
    """'cannot load library 'libpango-1.0-0': ...' -> the library and its package."""
    match = re.search(r"library '([^']+)'", error)
    if not match:
        return f"PDF rendering does not work: {error[:300]}"
    library = match.group(1)
    package = package_of_library(library)
    fix = (
        f"Debian package {package}; `make run` installs it as root, or run "
        f"`sudo apt-get install {package}`"
        if package
        else "install it with your package manager"
    )
    return f"PDF rendering does not work: the library {library} is missing ({fix})."


def render_sample() -> bytes:
    """The tiny render, through the worker's own renderer and stylesheet."""
    # WeasyPrint prints a banner to stdout before it raises on a missing library: keep our
    # output to one line.
    with contextlib.redirect_stdout(io.StringIO()):
        from workers.pdf_render import html_to_pdf, stylesheet
    return html_to_pdf(
        SAMPLE_HTML, identifier="pdf-check", stylesheets=(stylesheet("certificate.css"),)
    )


def pdf_fonts_and_text(pdf: bytes) -> tuple[list[str], str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    fonts: list[str] = []
    for page in reader.pages:
        resources = page.get("/Resources") or {}
        for font in (resources.get("/Font") or {}).values():
            fonts.append(str(font.get_object().get("/BaseFont", "")).split("+")[-1])
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    return fonts, " ".join(text.split())


def check() -> tuple[bool, str]:
    """(works, one line saying so or naming what is missing)."""
    started = time.perf_counter()
    try:
        pdf = render_sample()
    except OSError as exc:  # cffi: cannot load library 'libpango-1.0-0': ...
        return False, missing_library_message(str(exc))
    except Exception as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
        if cause is not None:
            return False, missing_library_message(str(cause))
        return False, f"PDF rendering does not work: {type(exc).__name__}: {str(exc)[:300]}"
    elapsed = time.perf_counter() - started
    fonts, text = pdf_fonts_and_text(pdf)
    if SAMPLE_TEXT not in text:
        return False, "PDF rendering does not work: the test PDF has none of its text."
    if not any(font.replace("-", " ").startswith(PDF_FONT) for font in fonts):
        return False, (
            f"PDF rendering works, but without the {PDF_FONT} font that certificates use "
            f"(Debian package fonts-dejavu-core); the test PDF used {', '.join(fonts) or 'none'}."
        )
    import weasyprint

    return True, (
        f"PDF rendering works: a test certificate page in {elapsed:.1f} s, loading included "
        f"(WeasyPrint {weasyprint.__version__}, font {PDF_FONT})."
    )


def main() -> int:
    works, line = check()
    print(line, flush=True)
    return 0 if works else 1


if __name__ == "__main__":
    sys.exit(main())
