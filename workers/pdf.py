"""Render compliance certificates and portfolio reports to PDF (the ``pdf`` queue).

Each job takes an id, holds the job's lease while it works (so the sweeper can tell a dead worker
from a slow one), and is safe to run twice: a finished job does nothing, and issuing is a
compare-and-set. A rendering error (a template or WeasyPrint failure) fails the job at once with
its reason: trying again would fail the same way. Anything else (the database, the file store, a
timeout) is left to RQ's retry policy, and the job shows "queued" again meanwhile.
"""

from __future__ import annotations

import gc
import logging
import re
import time
from datetime import UTC
from typing import Any

from flask import current_app, render_template
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from portal.extensions import db
from portal.models import BackgroundJob, Certificate
from portal.services import pdf_jobs
from portal.timeutil import aware
from workers.context import job
from workers.pdf_render import (
    RenderError,
    documents_to_pdf,
    html_to_document,
    html_to_pdf,
    qr_png_data_url,
    stylesheet,
)

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 1.0


def _test_delay() -> None:
    """Tests make a render slow (to kill its worker mid-job); nothing else can."""
    if current_app.config.get("PORTAL_ENV") == "test":
        delay = pdf_jobs.setting("PDF_TEST_DELAY_SECONDS", 0)
        if delay > 0:
            time.sleep(delay)


def _retries_left() -> int:
    rq_job = get_current_job()
    return int(rq_job.retries_left or 0) if rq_job is not None else 0


def _transient(job_id: str, exc: BaseException) -> None:
    """Record a failure RQ may retry; the caller re-raises."""
    db.session.rollback()
    reason = (
        "it took too long"
        if isinstance(exc, JobTimeoutException)
        else f"{type(exc).__name__}: {exc}"[:300]
    )
    pdf_jobs.attempt_failed(job_id, reason, _retries_left())


_BETWEEN_TAGS = re.compile(r">[ \t]*\n\s*<")
CERTIFICATE_CSS = "certificate.css"  # portal/static/pdf/, applied by certificate_pdf
CERTIFICATE_UA_CSS = "certificate-ua.css"  # its short user-agent stylesheet


def certificate_html(certificate: Certificate) -> str:
    """The certificate as HTML (portal/templates/pdf/certificate.html), from its statement.

    The HTML does not link its stylesheet: :func:`certificate_pdf` applies it, parsed once."""
    from portal.services.certificate_layout import layout

    statement = certificate.statement
    requested = aware(certificate.requested_at)
    html = render_template(
        "pdf/certificate.html",
        c=layout(statement),
        qr=qr_png_data_url(statement["verify_url"]),
        # The PDF's dates come from the request, not the clock: a re-render gives the same bytes.
        created=requested.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if requested else "",
    )
    # The template's line breaks between tags are layout of the source only: without them
    # WeasyPrint has no whitespace boxes to make and then drop (the PDF is the same).
    return _BETWEEN_TAGS.sub("><", html)


def certificate_pdf(html: str, serial: str) -> bytes:
    """The certificate's HTML as a tagged PDF/UA-1, with its stylesheet (see pdf_render)."""
    return html_to_pdf(
        html,
        identifier=serial,
        stylesheets=(stylesheet(CERTIFICATE_CSS),),
        ua=stylesheet(CERTIFICATE_UA_CSS),
    )


@job
def render_certificate(certificate_id: int) -> str:
    """Render one certificate and issue it (once)."""
    from portal.services.certificates import issue

    certificate = db.session.get(Certificate, certificate_id)
    if certificate is None or certificate.job_id is None:
        return "no such certificate"
    job_id = certificate.job_id
    db.session.rollback()
    with pdf_jobs.lease(job_id):
        if not pdf_jobs.begin(job_id):
            return "nothing to do"
        try:
            _test_delay()
            certificate = db.session.get(Certificate, certificate_id)
            try:
                html = certificate_html(certificate)
            except Exception as exc:  # a template bug: the same every time
                raise RenderError(f"{type(exc).__name__}: {exc}"[:500]) from exc
            pdf = certificate_pdf(html, certificate.serial)
        except RenderError as exc:
            if isinstance(exc.__cause__, JobTimeoutException):
                _transient(job_id, exc.__cause__)
                raise exc.__cause__ from None
            db.session.rollback()
            pdf_jobs.fail(job_id, f"The PDF could not be drawn ({exc}).")
            log.warning("certificate %s failed: %s", certificate_id, exc)
            return "failed"
        except Exception as exc:
            _transient(job_id, exc)
            raise
        try:
            issued = issue(certificate_id, pdf)
        except Exception as exc:
            _transient(job_id, exc)
            raise
    return "issued" if issued else "already issued"


@job
def render_report(job_id: str) -> str:
    """Render one portfolio report (PDF and CSV) for the organisation in the job's params."""
    from portal.services import reports

    with pdf_jobs.lease(job_id):
        if not pdf_jobs.begin(job_id):
            return "nothing to do"
        background = db.session.get(BackgroundJob, job_id)
        params: dict[str, Any] = dict(background.params or {})
        progress = _Progress(job_id)
        try:
            _test_delay()
            progress(2, "Reading the portfolio")
            data = reports.gather(params["organisation_id"], reports.as_of_from(params))
            csv_bytes = reports.to_csv(data)
            db.session.commit()  # end the read transaction before the long render
            pdf = _report_pdf(data, job_id, progress)
        except RenderError as exc:
            if isinstance(exc.__cause__, JobTimeoutException):
                _transient(job_id, exc.__cause__)
                raise exc.__cause__ from None
            db.session.rollback()
            pdf_jobs.fail(job_id, f"The PDF could not be drawn ({exc}).")
            return "failed"
        except Exception as exc:
            _transient(job_id, exc)
            raise
        try:
            reports.finish(job_id, data, pdf, csv_bytes)
        except Exception as exc:
            _transient(job_id, exc)
            raise
    return "finished"


def _report_pdf(data: Any, job_id: str, progress: _Progress) -> bytes:
    """Lay the report out part by part (10-85 %), then write one tagged PDF (85-99 %)."""
    from portal.services import reports

    parts = reports.report_parts(data)
    documents = []
    pages = 0
    for number, part in enumerate(parts, start=1):
        progress(
            10 + 75 * (number - 1) // len(parts),
            f"Laying out part {number} of {len(parts)} ({pages:,} pages so far)",
            force=False,
        )
        try:
            html = render_template(
                "pdf/report.html",
                r=data,
                part=part,
                labels=reports.labels(),
                first_page=pages + 1,
            )
        except Exception as exc:  # a template bug: the same every time
            raise RenderError(f"{type(exc).__name__}: {exc}"[:500]) from exc
        document = html_to_document(html)
        pages += len(document.pages)
        documents.append(document)
        del html
        gc.collect()  # free this part's HTML tree and styles before the next part
    progress(85, f"Writing the PDF file ({pages:,} pages)")
    return documents_to_pdf(documents, identifier=job_id)


class _Progress:
    """Throttled progress updates on the job row."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.last = 0.0

    def __call__(self, percent: int, message: str, *, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        pdf_jobs.report_progress(self.job_id, percent, message)
