"""Uploads are judged by content, their text extracted, and bad files refused with a reason."""

from __future__ import annotations

import io
import zipfile

import pytest

from portal.domain.summaries import extract as ex
from tests.summaries.helpers import LAY_SUMMARY, docx_bytes, pdf_bytes, zip_bomb


def test_a_pdf_is_read_from_its_text_layer():
    result = ex.extract(pdf_bytes())
    assert result.kind == "pdf" and result.pages == 1
    assert result.content_type == "application/pdf"
    assert "Breathwell, helps people with asthma" in result.text
    assert "Why was the trial done?" in result.headings


def test_a_docx_is_read_with_its_headings():
    result = ex.extract(docx_bytes())
    assert result.kind == "docx"
    assert "120 adults with asthma took part." in result.text
    assert "Who took part?" in result.headings


def test_plain_text_and_markdown_are_told_apart_by_content():
    assert ex.extract(LAY_SUMMARY.encode()).kind == "text"
    markdown = ex.extract(b"# Results\n\nPeople had **fewer** attacks.\n")
    assert markdown.kind == "markdown" and markdown.headings == ("Results",)
    assert "**fewer**" in markdown.text  # kept as text, never rendered


def test_the_type_comes_from_the_bytes_not_the_name():
    assert ex.judge(pdf_bytes()) == "pdf"
    assert ex.judge(docx_bytes()) == "docx"
    assert ex.judge(b"just words") == "text"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The selected file is empty."),
        (b"   \n\n\t ", "The file has no text in it."),
        (pdf_bytes(password="secret"), "password-protected"),
        (b"%PDF-1.7\nthis is not really a PDF\n%%EOF", "could not be read"),
        (pdf_bytes("")[:-300], "could not be read"),
        (ex.OLE_MAGIC + b"\0" * 600, "an old Word"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not accepted"),
        (b"caf\xe9 latin-1 text", "not text saved as UTF-8"),
        (b"x" * (ex.MAX_BYTES + 1), "smaller than 10 MB"),
    ],
    ids=["empty", "blank", "encrypted", "broken", "truncated", "ole", "binary", "latin1", "big"],
)
def test_bad_files_are_refused_with_a_reason(data, message):
    with pytest.raises(ex.ExtractionError, match=message):
        ex.extract(data)


def test_a_pdf_without_text_is_refused_as_a_probable_scan():
    with pytest.raises(ex.ExtractionError, match="If it is a scan"):
        ex.extract(pdf_bytes(""))


def test_a_zip_bomb_is_refused_before_python_docx_opens_it(monkeypatch):
    import docx

    def never(*_args, **_kwargs):
        raise AssertionError("python-docx must not open a zip bomb")

    monkeypatch.setattr(docx, "Document", never)
    bomb = zip_bomb()
    assert len(bomb) < 200_000  # kilobytes that claim 60 MB
    with pytest.raises(ex.ExtractionError, match="expands to far more data"):
        ex.extract(bomb)


def test_a_highly_compressed_member_is_refused_even_under_the_total_limit():
    with pytest.raises(ex.ExtractionError, match="expands to far more data"):
        ex.extract(zip_bomb(5 * 1024 * 1024))


def test_a_zip_that_is_not_a_word_document_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ex.ExtractionError, match="zip archive but not a Word document"):
        ex.extract(buffer.getvalue())


def test_a_broken_docx_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<not-xml")
    with pytest.raises(ex.ExtractionError, match="Word document could not be read"):
        ex.extract(buffer.getvalue())


def test_control_characters_are_dropped_and_newlines_unified():
    assert ex.tidy("a\r\nb\x07c\n\n\n\nd") == "a\nbc\n\nd"


@pytest.mark.parametrize(
    "data, name, message",
    [
        (LAY_SUMMARY.encode(), "fake.pdf", "ends in .pdf, but it holds plain text, not a PDF"),
        (pdf_bytes(), "summary.docx", "ends in .docx, but it holds a PDF"),
        (docx_bytes(), "notes.txt", "ends in .txt, but it holds a Word document"),
        (LAY_SUMMARY.encode(), "summary.rtf", "names end in .rtf are not accepted"),
    ],
)
def test_a_name_that_promises_other_content_is_refused(data, name, message):
    with pytest.raises(ex.ExtractionError, match=message):
        ex.extract(data, name)


@pytest.mark.parametrize(
    "data, name",
    [
        (pdf_bytes(), "Summary.PDF"),
        (docx_bytes(), "s.docx"),
        (LAY_SUMMARY.encode(), "s.md"),
        (b"# Results\n\nFewer attacks.", "s.txt"),
        (LAY_SUMMARY.encode(), "no ending"),
        (LAY_SUMMARY.encode(), ""),
    ],
)
def test_names_that_match_their_content_are_accepted(data, name):
    assert ex.extract(data, name).text
