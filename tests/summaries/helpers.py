"""Real files for upload tests (PDF by pypdf, DOCX by python-docx) and a sponsor's trial."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import sqlalchemy as sa
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, StreamObject

from portal.extensions import db
from portal.models import Obligation, RegistryEntry, StoredFile, SummaryVersion
from portal.services import sponsor_facts
from tests.factories import PASSWORD, OrganisationFactory, member, trial

LAY_SUMMARY = """A trial of Breathwell for people with asthma

Who sponsored this trial?
The trial was sponsored by Acme Pharma Ltd.

Why was the trial done?
We wanted to find out if a new medicine, Breathwell, helps people with asthma breathe more easily.

When and where was the trial done?
The trial took place between March 2025 and June 2026 in 12 hospitals in the UK.

Who took part?
120 adults with asthma took part.

What were they given?
Half of the people had Breathwell. The other half had a dummy inhaler, called a placebo.

What were the results?
People who had Breathwell had fewer asthma attacks.

What side effects did people have?
Some people had a sore throat. Nobody had a serious side effect.

How has this trial helped?
The results will help doctors choose the best treatment for asthma.

Where can I find more information?
Read more at https://clinicaltrials.gov/study/NCT01234567 or contact the trial team.
"""

# The sponsor facts that make the UK duties apply, with UK-RES and UK-PART due 2027-09-30.
UK_FACTS = {
    "application_submitted_on": date(2026, 5, 1),
    "approved_on": date(2026, 6, 1),
    "first_participant_on": date(2026, 7, 15),
    "end_of_trial_on": date(2026, 9, 30),
}
DUE = date(2027, 9, 30)


def pdf_bytes(text: str = LAY_SUMMARY, password: str | None = None) -> bytes:
    """A real one-page PDF whose text layer holds ``text`` (Helvetica, one line per line)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=2000)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    ops = ["BT", "/F1 10 Tf", "12 TL", "40 1960 Td"]
    for line in text.splitlines():
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = StreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    if password:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def docx_bytes(text: str = LAY_SUMMARY) -> bytes:
    """A real DOCX: lines ending in "?" become Heading 2, the rest paragraphs."""
    import docx

    document = docx.Document()
    for line in text.splitlines():
        if line.endswith("?"):
            document.add_heading(line, level=2)
        elif line:
            document.add_paragraph(line)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_bomb(size: int = 60 * 1024 * 1024) -> bytes:
    """A zip shaped like a DOCX whose document.xml expands from kilobytes to ``size`` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * size)
    return buffer.getvalue()


def sponsor_with_trial(org=None, facts=None, **trial_kwargs):
    """An approved organisation, a sponsor in it, and a trial it owns with the UK facts set."""
    org = org or OrganisationFactory()
    user = member("sponsor", org)
    row = trial(
        owner=org,
        study_type="interventional",
        countries=["United Kingdom"],
        phase="3",
        **trial_kwargs,
    )
    sponsor_facts.set_facts(user, row, {**UK_FACTS, **(facts or {})})
    return org, user, row


def add_entry(trial_row, registry: str, registry_id: str) -> RegistryEntry:
    entry = RegistryEntry(
        trial_id=trial_row.id,
        registry_name=registry,
        registry_id=registry_id,
        registered_on=date(2026, 5, 1),
        content_hash="y" * 64,
        record={},
    )
    db.session.add(entry)
    db.session.commit()
    return entry


def obligation(trial_id: int, duty: str) -> Obligation | None:
    db.session.expire_all()
    return db.session.execute(
        sa.select(Obligation).where(Obligation.trial_id == trial_id, Obligation.duty == duty)
    ).scalar_one_or_none()


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def post_multipart(browser, url: str, fields: dict, files: dict, *, follow: bool = False):
    """GET ``url`` for its CSRF token, then POST a multipart body built in memory.

    (The test client would spool a large body to a temporary file it never closes, which
    pytest reports as an unraisable ResourceWarning.)"""
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    from tests.conftest import csrf_token_from

    token = csrf_token_from(browser.client.get(url).get_data(as_text=True))
    values = MultiDict([("csrf_token", token)])
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            values.add(key, item)
    for key, (data, name) in files.items():
        values.add(key, FileStorage(io.BytesIO(data), filename=name))
    boundary, body = encode_multipart(values)
    return browser.client.post(
        url,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        follow_redirects=follow,
    )


def upload(browser, trial_id: int, data: bytes, name: str, *, follow: bool = False):
    return post_multipart(
        browser, f"/trials/{trial_id}/summaries/new", {}, {"file": (data, name)}, follow=follow
    )


def nothing_stored() -> bool:
    return count(StoredFile) == 0 and count(SummaryVersion) == 0


__all__ = ["PASSWORD"]
