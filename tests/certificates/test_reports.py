"""Portfolio reports: a compliance officer's own organisation, a reviewer's choice of any; a PDF
with the summary (overdue first), a trend chart from the status history and a per-trial table,
and the same data as CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from pypdf import PdfReader

from portal.extensions import db
from portal.models import BackgroundJob, ObligationStatusChange
from portal.services import reports
from portal.timeutil import today
from tests.certificates.helpers import obligation, pdf_text
from tests.factories import PASSWORD, OrganisationFactory, member, staff, trial


def history(t, duty: str, *changes: tuple[date, str]) -> None:
    old = None
    for day, status in changes:
        db.session.add(
            ObligationStatusChange(
                trial_id=t.id,
                duty=duty,
                old_status=old,
                new_status=status,
                changed_on=day,
                reason="daily",
            )
        )
        old = status
    db.session.commit()


def portfolio(org):
    start = today() - timedelta(days=120)
    late = trial(title="Late results trial", owner=org, registry_id="NCT10000001")
    obligation(late, "UK-RES", "overdue", due=today() - timedelta(days=40))
    obligation(late, "UK-REG", "met", due=date(2026, 5, 1))
    history(late, "UK-RES", (start, "upcoming"), (start + timedelta(days=30), "due_soon"),
            (today() - timedelta(days=40), "overdue"))  # fmt: skip
    history(late, "UK-REG", (start, "met"))
    fine = trial(title="=HYPERLINK(evil) trial", owner=org, registry_id="NCT10000002")
    obligation(fine, "US-RES", "upcoming", due=today() + timedelta(days=300), ruleset="us-fdaaa")
    obligation(fine, "UK-END", "data_needed", due=None, missing=["end_of_trial_on"])
    history(fine, "US-RES", (start + timedelta(days=10), "upcoming"))
    trial(title="Trial without duties yet", owner=org, registry_id="NCT10000003")
    return late, fine


def test_a_compliance_officer_gets_the_portfolio_report_as_pdf_and_csv(browser, work, monkeypatch):
    monkeypatch.setattr(reports, "PART_ROWS", 2)  # several parts, joined into one PDF
    org = OrganisationFactory(name="Eastgate University")
    portfolio(org)
    other = trial(title="Someone else's trial", owner=OrganisationFactory())
    obligation(other)
    officer = member("compliance_officer", org)
    browser.login(officer.email, PASSWORD)

    page = browser.get("/reports").get_data(as_text=True)
    assert "Eastgate University" in page
    response = browser.submit("/reports", {"organisation": str(org.id)})
    assert response.status_code == 302
    again = browser.submit("/reports", {"organisation": str(org.id)})
    assert again.location == response.location  # pending: reused
    page = browser.get(response.location).get_data(as_text=True)
    assert "Queued" in page and 'data-poll-ms="2000"' in page
    job_id = response.location.rsplit("/", 1)[-1]

    work()
    page = browser.get(f"/reports/{job_id}").get_data(as_text=True)
    assert "Ready" in page and "http-equiv" not in page
    pdf = browser.get(f"/reports/{job_id}/report.pdf")
    assert pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("attachment;")
    data = pdf.get_data()
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts" / "reports"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "report.pdf").write_bytes(data)  # to look at (pdftoppm)
    text = pdf_text(data)
    summary = text.index("Duties by status and rule set")
    assert (
        summary
        < text.index("Overdue duties (1), most overdue first")
        < text.index("Compliance over the last 24 months")
    )
    assert "Late results trial" in text and "Someone else's trial" not in text
    due = today() - timedelta(days=40)
    # The duty by its plain title, as the certificate prints it (not its code, UK-RES).
    title = "Publish a summary of results in every registry"
    assert f"NCT10000001 · Late results trial {title}, due {due.day} {due:%B %Y} 40" in text
    assert "Overdue (1)" in text  # the chart's legend: in words, not only a colour
    trials = text.index("Trials (3), those with overdue duties first")
    assert text.index("Late results trial", trials) < text.index("(continued, from 3)")
    assert text.index("Trial without duties yet", trials) > trials
    assert "1 overdue · 1 met" in text and "no duties worked out yet" in text

    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata.title == (
        f"Portfolio compliance report: Eastgate University, as of {today().day} {today():%B %Y}"
    )
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "en-GB" and root["/MarkInfo"]["/Marked"]
    assert len(root["/StructTreeRoot"]["/ParentTree"]["/Nums"]) == 2 * len(reader.pages)
    numbers = [page.extract_text().split()[-1] for page in reader.pages]
    assert numbers == [str(n) for n in range(1, len(reader.pages) + 1)]  # one page sequence
    width, height = (round(float(v)) for v in reader.pages[-1].mediabox[2:])
    assert (width, height) == (842, 595)  # A4 landscape

    response = browser.get(f"/reports/{job_id}/report.csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert len(rows) == 5  # four duties, and one row for the trial without any
    assert Counter(r["status"] for r in rows) == Counter(
        {"overdue": 1, "met": 1, "upcoming": 1, "data_needed": 1, "": 1}
    )
    assert {r["title"] for r in rows} >= {"'=HYPERLINK(evil) trial", "Late results trial"}
    late = next(r for r in rows if r["status"] == "overdue")
    assert (late["duty"], late["days_overdue"], late["registries"]) == (
        "UK-RES",
        "40",
        "NCT10000001",
    )


def test_a_reviewer_reports_on_any_organisation_and_others_cannot_see_it(browser, work):
    org = OrganisationFactory(name="Westbrook Pharma")
    outsiders = OrganisationFactory(name="Outsiders Ltd")
    portfolio(org)
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    page = browser.get("/reports").get_data(as_text=True)
    assert "Choose an organisation" in page
    response = browser.submit("/reports", {"organisation": "0"})
    assert response.status_code == 200 and "Choose an organisation" in response.get_data(
        as_text=True
    )
    response = browser.submit("/reports", {"organisation": str(org.id)})
    job_id = response.location.rsplit("/", 1)[-1]
    work()
    assert "Westbrook Pharma" in pdf_text(browser.get(f"/reports/{job_id}/report.pdf").get_data())
    browser.logout()

    outsider = member("compliance_officer", outsiders)
    browser.login(outsider.email, PASSWORD)
    for url in (
        f"/reports/{job_id}",
        f"/reports/{job_id}/report.pdf",
        f"/reports/{job_id}/report.csv",
    ):
        assert browser.client.get(url).status_code == 404
    response = browser.submit("/reports", {"organisation": str(org.id)})
    assert response.status_code == 200  # not a choice for them: nothing is made
    assert db.session.query(BackgroundJob).count() == 1
    browser.logout()

    sponsor = member("sponsor", org)
    browser.login(sponsor.email, PASSWORD)
    assert browser.client.get("/reports").status_code == 403
    assert browser.client.get(f"/reports/{job_id}/report.pdf").status_code == 403
    browser.logout()
    response = browser.client.get(f"/reports/{job_id}/report.pdf")
    assert response.status_code == 302 and "/login" in response.location


def test_the_status_page_shows_progress_while_a_report_renders(browser):
    org = OrganisationFactory()
    officer = member("compliance_officer", org)
    browser.login(officer.email, PASSWORD)
    response = browser.submit("/reports", {"organisation": str(org.id)})
    job = db.session.get(BackgroundJob, response.location.rsplit("/", 1)[-1])
    job.status, job.progress, job.message = "started", 40, "Laying out page 12 of about 30"
    from portal.jobs import redis_connection
    from portal.services.pdf_jobs import LEASE_KEY, lease_seconds

    redis_connection().set(LEASE_KEY.format(job.id), "here:1", ex=lease_seconds())
    job.started_at = job.created_at
    db.session.commit()
    page = browser.get(response.location).get_data(as_text=True)
    assert "Rendering" in page and "Progress: 40%" in page and 'value="40"' in page
    assert "Laying out page 12 of about 30" in page and 'data-poll-ms="2000"' in page
