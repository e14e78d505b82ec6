"""The certificate's layout (issue 18), read back from the PDF a real worker renders: page 1 holds
the verdict, the trial and one table of every duty grouped by rule set in order of due date; the
facts appear once with their sources; the evidence follows in the same order; plain English."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import date, timedelta

from pypdf import PdfReader

from portal.services import sponsor_facts
from portal.services.certificate_layout import citation, day_text, layout, plain
from portal.timeutil import today
from tests.certificates.helpers import certificate_rows, obligation, request_certificate
from tests.factories import PASSWORD, OrganisationFactory, member, trial

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "certificates"
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


def _page_texts(data: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(data))
    return [re.sub(r"\s+", " ", page.extract_text() or "") for page in reader.pages]


def _real_trial(browser):
    """A UK trial whose verdicts come from the rules engine (set_facts recomputes them)."""
    org = OrganisationFactory(name="Northfield NHS Trust")
    user = member("sponsor", org, full_name="Dr Ada Lovelace")
    t = trial(
        title="Aspirin after stroke",
        sponsor_name="Northfield NHS Trust",
        owner=org,
        study_type="interventional",
        countries=["United Kingdom"],
        phase="3",
    )
    sponsor_facts.set_facts(
        user,
        t,
        {
            "application_submitted_on": date(2026, 5, 1),
            "approved_on": date(2026, 6, 1),
            "first_participant_on": date(2026, 7, 15),
            "end_of_trial_on": date(2026, 9, 30),
        },
    )
    browser.login(user.email, PASSWORD)
    return t


def test_page_one_has_the_verdict_the_trial_and_every_duty_in_one_table(browser, work, tmp_path):
    t = _real_trial(browser)
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    cert_id, serial = cert.id, cert.serial
    statement = cert.statement
    work()
    data = browser.get(f"/certificates/{cert_id}/certificate.pdf").get_data()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "certificate.pdf").write_bytes(data)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", str(ARTIFACTS / "certificate.pdf"), str(ARTIFACTS / "p")],
        check=True,
        timeout=60,
    )
    pages = _page_texts(data)
    first = pages[0]

    # The verdict, the trial and the table's header and groups are on page 1.
    assert "NOT COMPLIANT" in first or "COMPLIANT as of" in first
    assert "Aspirin after stroke" in first and "Northfield NHS Trust" in first
    assert "Duty Status Due · Met on, or what is missing" in first
    assert "United Kingdom: S.I. 2025/538" in first
    # Every applicable duty is a row on page 1, in order of due date within its rule set.
    uk = [o for o in statement["obligations"] if o["ruleset"] == "uk-2026"]
    expected = [o["duty"] for o in sorted(uk, key=lambda o: (o["due"] is None, o["due"] or ""))]
    table = first[first.index("Met on, or what is missing") :]
    positions = [table.index(f"{duty} ") for duty in expected]
    assert positions == sorted(positions), (expected, positions)
    for ob in uk:
        if ob["due"]:
            assert day_text(ob["due"]) in first, ob["duty"]
    # The verification block: serial, content fingerprint, QR code, address.
    assert f"http://localhost/verify/{serial}" in first.replace(" ", "") or (
        f"/verify/{serial}" in first
    )
    assert "Fingerprint of its content (SHA-256)" in first
    assert len(PdfReader(io.BytesIO(data)).pages[0].images) == 1

    rest = " ".join(pages[1:])
    # The facts appear once, with their sources, after page 1.
    assert "The facts, once, with where each came from" in rest
    assert rest.count("End of trial 30 September 2026") == 1
    assert "entered by" in rest
    # The appendix follows in the same order as the table.
    appendix = rest[rest.index("Appendix: the evidence for each duty") :]
    order = [appendix.index(f"{duty} ") for duty in expected]
    assert order == sorted(order)
    assert "Rests on:" in appendix
    # Plain English: no internal keys, no ISO dates, no file names.
    whole = " ".join(pages)
    assert not ISO_DATE.search(whole), ISO_DATE.search(whole)
    assert not SNAKE.search(whole), SNAKE.search(whole)
    assert "RULES.md" not in whole and "None" not in whole.split()


def test_facts_to_check_print_only_when_there_are_findings():
    statement = {
        "serial": "TTP-1",
        "as_of": "2026-12-04",
        "obligations": [],
        "verdict": {"compliant": True, "outstanding": []},
    }
    assert layout(statement)["findings"] == []
    # A finding as portal.services.fact_checks.shown records it in the statement.
    statement["facts_to_check"] = [
        {
            "check": "end-before-start",
            "conflict": True,
            "message": "The end of trial is before the first_visit.",
            "duties": ["UK-END"],
            "facts": [{"label": "End of trial", "value": "2026-01-01", "source": "ISRCTN1"}],
        }
    ]
    assert layout(statement)["findings"] == [
        {
            "label": "Conflict",
            "text": "The end of trial is before the first visit. Affects UK-END. "
            "End of trial: 1 January 2026 (ISRCTN1).",
        }
    ]


def test_plain_words_for_internal_ones():
    assert plain("Add: first_participant_on or eu_events") == (
        "Add: first UK participant recruited or EU notifications (start, first visit, end of "
        "recruitment, end of trial)"
    )
    assert plain("assumes deferral_months=30") == "assumes One deferral lasts: 30 months"
    assert plain("due_soon_days=30: a duty is due soon within 30 days.") == (
        "a duty is due soon within 30 days."
    )
    # A label whose first word is a name keeps its capitals inside a sentence.
    assert plain("eudract_number or eu_ct_number") == "EudraCT number or EU CT number (CTIS)"
    assert plain("end_of_trial_on") == "end of trial"
    assert plain("entered by Ada on 2026-05-01 10:30") == "entered by Ada on 1 May 2026 at 10:30"
    assert citation("RULES.md uk-2026 UK-RES; S.I. 2025/538; HRA guidance 'Results'") == (
        "S.I. 2025/538; HRA guidance 'Results'"
    )


def test_the_table_groups_by_rule_set_and_orders_by_due_date(browser, work):
    org = OrganisationFactory()
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    t = trial(owner=org)
    obligation(t, "UK-REG", "met", due=date(2026, 5, 10), met_on="2026-05-01")
    obligation(t, "UK-END", "upcoming", due=today() + timedelta(days=40))
    obligation(t, "UK-RES", "overdue", due=today() - timedelta(days=5))
    obligation(t, "US-RES", "data_needed", due=None, ruleset="us-fdaaa", missing=["us_site"])
    obligation(t, "US-REG", "met", due=date(2025, 1, 1), ruleset="us-fdaaa", met_on="2024-12-01")
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    cert_id = cert.id
    work()
    first = _page_texts(browser.get(f"/certificates/{cert_id}/certificate.pdf").get_data())[0]
    first = first[first.index("Met on, or what is missing") :]  # the table, after the verdict
    order = [first.index(d) for d in ("UK-REG", "UK-RES", "UK-END", "US-REG", "US-RES")]
    assert order == sorted(order)
    assert "Met on 1 May 2026" in first and "5 days overdue" in first
    assert "Missing: Site in the United States" in first
    assert first.index("United Kingdom: S.I.") < first.index("United States: FDAAA")


def test_the_xml_parse_path_gives_the_bytes_tinyhtml5_would(app):
    """workers/pdf_render parses the certificate with expat when it is well-formed XML: the
    element tree, and so the PDF, are the same as WeasyPrint's own HTML parser gives."""
    from flask import render_template
    from weasyprint import HTML

    from workers import pdf_render
    from workers.pdf import certificate_pdf

    statement = {
        "serial": "TTP-XML",
        "as_of": "2026-12-04",
        "verify_url": "http://localhost/verify/TTP-XML",
        "trial": {"title": "Aspirin & <stroke>", "sponsor": "Northfield NHS Trust"},
        "obligations": [],
        "verdict": {"compliant": True, "outstanding": []},
    }
    with app.test_request_context():
        html = render_template(
            "pdf/certificate.html",
            c=layout(statement),
            qr=pdf_render.qr_png_data_url(statement["verify_url"]),
            created="2026-12-04T10:00:00Z",
        )
    tree = pdf_render._xml_tree(html)  # well-formed: the fast path is taken
    assert tree.find("body/h1").text == "Compliance certificate"
    fast = certificate_pdf(html, "TTP-XML")
    original = pdf_render._LeanHTML.__init__
    try:
        pdf_render._LeanHTML.__init__ = HTML.__init__  # tinyhtml5, as WeasyPrint parses
        slow = certificate_pdf(html, "TTP-XML")
    finally:
        pdf_render._LeanHTML.__init__ = original
    assert fast == slow
    assert "Aspirin & <stroke>" in " ".join(
        page.extract_text() for page in PdfReader(io.BytesIO(fast)).pages
    )
    with __import__("pytest").raises(pdf_render.ElementTree.ParseError):
        pdf_render._xml_tree("<html><body><p>not closed</body></html>")
