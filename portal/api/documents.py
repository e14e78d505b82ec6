"""/api/v1 certificates and portfolio reports: list, read, request (a token with the
"request certificates" permission), download once issued. The same services as the pages:
requesting puts the same RQ PDF job on the queue, and the audit entry is the service's."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from flask import Response, send_file, url_for
from flask_smorest import abort

from portal.access import EVERYONE_WITH_ROLE
from portal.api import auth, bp, errors
from portal.api.schemas import (
    CertificatePageSchema,
    CertificateSchema,
    PageArgs,
    ReportListSchema,
    ReportRequestBody,
    ReportSchema,
    cursor_id,
)
from portal.extensions import db
from portal.models import BackgroundJob, Certificate, StoredFile
from portal.models.api_tokens import SCOPE_REQUEST
from portal.services import ServiceError, certificates, reports
from portal.services.files import read_bytes
from portal.services.trial_access import trial_for

READ_ERRORS = (401, 403, 404, 422, 429)
FILE_ERRORS = (401, 403, 404, 409, 429)  # 409: not ready yet
PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
CSV = {"text/csv": {"schema": {"type": "string"}}}


def _file(file_id: int | None, name: str, mimetype: str) -> Response:
    stored = db.session.get(StoredFile, file_id) if file_id else None
    if stored is None:
        abort(404, message="The file is not there yet.")
    response = send_file(
        io.BytesIO(read_bytes(stored)), mimetype=mimetype, as_attachment=True, download_name=name
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _certificate(cert: Certificate) -> dict[str, Any]:
    ready = cert.status == "ready" and cert.file_id is not None
    return {
        "id": cert.id,
        "serial": cert.serial,
        "trial_id": cert.trial_id,
        "status": cert.status,
        "compliant": bool(cert.compliant),
        "as_of": cert.as_of,
        "requested_at": cert.requested_at,
        "issued_at": cert.issued_at,
        "revoked": cert.revoked_at is not None,
        "superseded": cert.superseded_by_id is not None,
        "sha256": cert.sha256,
        "verify_url": certificates.verify_url(cert.serial),
        "download_url": url_for("api.certificate_pdf", certificate_id=cert.id) if ready else None,
    }


@bp.route("/certificates")
@auth.token_required(*EVERYONE_WITH_ROLE)
@bp.arguments(PageArgs, location="query", as_kwargs=True)
@bp.response(200, CertificatePageSchema)
@errors(*READ_ERRORS)
def certificate_list(cursor: str | None = None, limit: int = 25):
    """List your certificates, newest first"""
    query = certificates.scope_certificates(sa.select(Certificate), auth.current())
    if cursor:
        query = query.where(Certificate.id < cursor_id(cursor))
    rows = list(
        db.session.execute(query.order_by(Certificate.id.desc()).limit(limit + 1)).scalars()
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = str(rows[-1].id)
    return {"items": [_certificate(c) for c in rows], "next_cursor": next_cursor}


@bp.route("/certificates/<int(max=2147483647):certificate_id>")
@auth.token_required(*EVERYONE_WITH_ROLE)
@bp.response(200, CertificateSchema)
@errors(*READ_ERRORS)
def certificate(certificate_id: int):
    """One certificate's metadata"""
    return _certificate(certificates.certificate_for(auth.current(), certificate_id))


@bp.route("/certificates/<int(max=2147483647):certificate_id>/certificate.pdf")
@auth.token_required(*EVERYONE_WITH_ROLE)
@bp.doc(responses={"200": {"description": "The issued certificate", "content": PDF}})
@errors(*FILE_ERRORS)
def certificate_pdf(certificate_id: int):
    """Download an issued certificate (409 until it is ready)"""
    cert = certificates.certificate_for(auth.current(), certificate_id)
    if cert.status != "ready":
        abort(409, message="This certificate is not issued yet: see its status.")
    return _file(cert.file_id, f"certificate-{cert.serial}.pdf", "application/pdf")


@bp.route("/trials/<int(max=2147483647):trial_id>/certificates", methods=["POST"])
@auth.token_required(*EVERYONE_WITH_ROLE, scope=SCOPE_REQUEST)
@bp.response(202, CertificateSchema)
@errors(401, 403, 404, 429)
def request_certificate(trial_id: int):
    """Request a certificate for a trial

    Needs a token with the "request certificates" permission. The certificate is made in the
    background: follow Location (its status) until it is ready. A request while one is
    still being made answers with that one.
    """
    user = auth.current()
    found = trial_for(user, trial_id)
    try:
        result = certificates.request_certificate(user, found)
    except ServiceError as exc:
        abort(403, message=exc.message)
    cert = result.certificate
    location = url_for("api.certificate", certificate_id=cert.id)
    return _certificate(cert), 202, {"Location": location}


# --- portfolio reports -------------------------------------------------------------------------


def _report_job(job_id: str) -> BackgroundJob:
    """The report if the token's user may see it; 404 otherwise (a NUL cannot be an id, and
    PostgreSQL refuses one in a query)."""
    if "\x00" in job_id:
        abort(404)
    return reports.report_for(auth.current(), job_id)


def _report(job: BackgroundJob) -> dict[str, Any]:
    done = job.status == "finished" and bool(job.result)
    return {
        "id": job.id,
        "organisation_id": job.organisation_id,
        "status": job.status,
        "requested_at": job.created_at,
        "finished_at": job.finished_at,
        "pdf_url": url_for("api.report_pdf", job_id=job.id) if done else None,
        "csv_url": url_for("api.report_csv", job_id=job.id) if done else None,
    }


@bp.route("/reports")
@auth.token_required(*reports.REPORT_ROLES)
@bp.response(200, ReportListSchema)
@errors(401, 403, 429)
def report_list():
    """Your latest portfolio reports (ten, newest first)"""
    return {"items": [_report(job) for job, _name in reports.recent_reports(auth.current())]}


@bp.route("/reports", methods=["POST"])
@auth.token_required(*reports.REPORT_ROLES, scope=SCOPE_REQUEST)
@bp.arguments(ReportRequestBody, location="json", required=False)
@bp.response(202, ReportSchema)
@errors(400, 401, 403, 404, 422, 429)
def request_report(body: dict[str, Any]):
    """Request a portfolio report

    Needs a token with the "request certificates" permission. Made in the background: follow
    Location until its status is finished, then download the PDF or CSV.
    """
    user = auth.current()
    org_id = body.get("organisation_id")
    if org_id is None:
        own = user.organisation
        if own is None:
            abort(422, errors={"organisation_id": ["Give the organisation to report on."]})
        org_id = own.id
    try:
        result = reports.request_report(user, org_id)
    except ServiceError:
        abort(404, message="There is no organisation with that id that you can report on.")
    location = url_for("api.report", job_id=result.job.id)
    return _report(result.job), 202, {"Location": location}


@bp.route("/reports/<job_id>")
@auth.token_required(*reports.REPORT_ROLES)
@bp.response(200, ReportSchema)
@errors(401, 403, 404, 429)
def report(job_id: str):
    """One portfolio report's status"""
    return _report(_report_job(job_id))


def _report_file(job_id: str, fmt: str) -> Response:
    job = _report_job(job_id)
    if job.status != "finished" or not job.result:
        abort(409, message="This report is not finished yet: see its status.")
    name = f"portfolio-report-{job.result.get('as_of', '')}.{fmt}"
    if fmt == "pdf":
        return _file(job.result.get("pdf_file_id"), name, "application/pdf")
    return _file(job.result.get("csv_file_id"), name, "text/csv")


@bp.route("/reports/<job_id>/report.pdf")
@auth.token_required(*reports.REPORT_ROLES)
@bp.doc(responses={"200": {"description": "The report as a PDF", "content": PDF}})
@errors(*FILE_ERRORS)
def report_pdf(job_id: str):
    """Download a finished report as a PDF"""
    return _report_file(job_id, "pdf")


@bp.route("/reports/<job_id>/report.csv")
@auth.token_required(*reports.REPORT_ROLES)
@bp.doc(responses={"200": {"description": "The report as CSV", "content": CSV}})
@errors(*FILE_ERRORS)
def report_csv(job_id: str):
    """Download a finished report as CSV"""
    return _report_file(job_id, "csv")
