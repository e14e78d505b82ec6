"""Certificates and reports: the pages that request and follow PDF jobs, the downloads, revoking,
and the public /verify/<serial> page. Views stay thin: services own the rows and the audit."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from portal import access
from portal.auth.forms import EmptyForm
from portal.certificates import bp
from portal.certificates.forms import VERIFY_MAX_BYTES, ReportForm, RevokeForm, VerifyForm
from portal.extensions import db, limiter
from portal.forms_util import add_service_error
from portal.models import BackgroundJob, StoredFile, Trial
from portal.services import ServiceError, certificates, pdf_jobs, reports
from portal.services.files import read_bytes
from portal.services.trial_access import trial_for

VIEWERS = access.EVERYONE_WITH_ROLE
STAFF = ("reviewer", "admin")
NOT_QUEUED_MESSAGE = (
    "The job queue cannot be reached at the moment. Your request is saved and starts by itself "
    "as soon as the queue is back; this page follows it."
)


# --- template helpers --------------------------------------------------------------------------


@bp.app_template_filter("pdf_day")
def pdf_day(value: date | str | None) -> str:
    """``21 November 2026`` from a date or an ISO date string (the statement's dates)."""
    if value in (None, ""):
        return "not known"
    return certificates.day_text(value)


@bp.app_template_global("trend_geometry")
def trend_geometry(points: list) -> dict[str, Any]:
    """The stacked bar chart of components/_trend.html (portal/domain/obligations/trend.py)."""
    from portal.domain.obligations import trend

    return trend.chart(points)


@bp.app_template_global("trend_summary")
def trend_summary(points: list) -> str:
    from portal.domain.obligations import trend

    return trend.describe(points)


@bp.app_template_global()
def certificates_for_trial(trial: Trial) -> dict[str, Any]:
    """What the trial page's certificate section shows (certificates/_trial_section.html)."""
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    return {
        "items": certificates.certificates_of_trial(user, trial),
        "can_request": certificates.may_request(user, trial),
    }


def _follow(job: BackgroundJob | None) -> None:
    """A status page nudges its own job along (the sweeper's rules, for this job only)."""
    if job is not None and job.status in pdf_jobs.OPEN:
        pdf_jobs.sweep([job.id])
        db.session.expire_all()


def _download(file_id: int | None, name: str, mimetype: str):
    stored = db.session.get(StoredFile, file_id) if file_id else None
    if stored is None:
        abort(404)
    # Read whole (certificates are ~100 KB, reports a few MB) so no file handle outlives the
    # response.
    response = send_file(
        io.BytesIO(read_bytes(stored)), mimetype=mimetype, as_attachment=True, download_name=name
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- certificates --------------------------------------------------------------------------------


@bp.route("/trials/<int:trial_id>/certificates", methods=["POST"])
@access.roles(*VIEWERS, org_needed=True)
def request_certificate(trial_id: int):
    trial = trial_for(current_user, trial_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        result = certificates.request_certificate(current_user, trial)
    except ServiceError as exc:
        flash(exc.message, "info")
        return redirect(url_for("trials.trial", trial_id=trial.id))
    certificate = result.certificate
    if result.reused:
        flash("A certificate for this trial is already being made: this is it.", "info")
    elif not db.session.get(BackgroundJob, certificate.job_id).enqueued:
        flash(NOT_QUEUED_MESSAGE, "info")
    return redirect(url_for("certificates.certificate", certificate_id=certificate.id))


@bp.route("/certificates/<int:certificate_id>")
@access.roles(*VIEWERS, org_needed=True)
def certificate(certificate_id: int):
    cert = certificates.certificate_for(current_user, certificate_id)
    job = db.session.get(BackgroundJob, cert.job_id) if cert.job_id else None
    _follow(job)
    return _certificate_page(cert, job)


def _certificate_page(cert, job, revoke_form: RevokeForm | None = None, status: int = 200):
    trial = db.session.get(Trial, cert.trial_id)
    newer = db.session.get(type(cert), cert.superseded_by_id) if cert.superseded_by_id else None
    can_revoke = current_user.role in STAFF and cert.status == "ready" and not cert.revoked_at
    return render_template(
        "certificates/certificate.html",
        cert=cert,
        job=job,
        trial=trial,
        s=cert.statement,
        newer=newer,
        form=revoke_form or (RevokeForm() if can_revoke else None),
        can_revoke=can_revoke,
        action_form=EmptyForm(),
        refresh=cert.status in certificates.PENDING,
        not_queued=job is not None and not job.enqueued and job.status == "queued",
    ), status


@bp.route("/certificates/<int:certificate_id>/certificate.pdf")
@access.roles(*VIEWERS, org_needed=True)
def download_certificate(certificate_id: int):
    cert = certificates.certificate_for(current_user, certificate_id)
    if cert.status != "ready":
        abort(404)
    return _download(cert.file_id, f"certificate-{cert.serial}.pdf", "application/pdf")


@bp.route("/certificates/<int:certificate_id>/retry", methods=["POST"])
@access.roles(*VIEWERS, org_needed=True)
def retry_certificate(certificate_id: int):
    cert = certificates.certificate_for(current_user, certificate_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        certificates.retry(current_user, cert)
    except ServiceError as exc:
        flash(exc.message, "info")
    else:
        flash("Trying again: the same certificate (same serial) is being made.", "success")
    return redirect(url_for("certificates.certificate", certificate_id=certificate_id))


@bp.route("/certificates/<int:certificate_id>/revoke", methods=["POST"])
@access.roles(*STAFF)
def revoke_certificate(certificate_id: int):
    cert = certificates.certificate_for(current_user, certificate_id)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            certificates.revoke(current_user, cert, form.reason.data)
        except ServiceError as exc:
            add_service_error(form, exc, default_field="reason")
        else:
            flash(f"Certificate {cert.serial} is revoked.", "success")
            return redirect(url_for("certificates.certificate", certificate_id=cert.id))
    job = db.session.get(BackgroundJob, cert.job_id) if cert.job_id else None
    return _certificate_page(cert, job, revoke_form=form, status=400)


# --- the public verify page ---------------------------------------------------------------------


@bp.route("/verify/<serial>", methods=["GET", "POST"])
@access.public
@limiter.limit("30 per minute", methods=["POST"])
def verify(serial: str):
    found = certificates.verification(serial)
    if found is None:
        return render_template("certificates/verify-unknown.html", serial=serial[:40]), 404
    if found.certificate.serial != serial:
        return redirect(url_for("certificates.verify", serial=found.certificate.serial))
    form = VerifyForm()
    outcome = None
    status = 200
    if request.method == "POST":
        try:
            valid = form.validate_on_submit()
        except RequestEntityTooLarge:
            valid = False
            form.file.errors = ["The file must be smaller than 10 MB"]
        if valid:
            data = form.file.data.read(VERIFY_MAX_BYTES + 1)
            if len(data) > VERIFY_MAX_BYTES:
                form.file.errors = ["The file must be smaller than 10 MB"]
            elif not data.startswith(b"%PDF-"):
                form.file.errors = ["The file must be a PDF: this one is not"]
            else:
                outcome = "match" if certificates.matches(found.certificate, data) else "mismatch"
        if form.file.errors:
            form._errors = None
            status = 400
    return render_template(
        "certificates/verify.html",
        found=found,
        cert=found.certificate,
        s=found.certificate.statement,
        form=form,
        outcome=outcome,
    ), status


# --- portfolio reports -------------------------------------------------------------------------


@bp.route("/reports", methods=["GET", "POST"])
@access.roles(*reports.REPORT_ROLES, org_needed=True)
def reports_page():
    organisations = reports.organisations_for(current_user)
    form = ReportForm()
    choices = [(org.id, org.name) for org in organisations]
    if len(choices) != 1:
        choices.insert(0, (0, "Choose an organisation"))
    form.organisation.choices = choices
    if len(organisations) == 1 and request.method == "GET":
        form.organisation.data = organisations[0].id
    if form.validate_on_submit():
        try:
            result = reports.request_report(current_user, form.organisation.data)
        except ServiceError as exc:
            add_service_error(form, exc, default_field="organisation")
        else:
            if result.reused:
                flash("A report for this organisation is already being made: this is it.", "info")
            elif not db.session.get(BackgroundJob, result.job.id).enqueued:
                flash(NOT_QUEUED_MESSAGE, "info")
            return redirect(url_for("certificates.report", job_id=result.job.id))
    return render_template(
        "certificates/reports.html",
        form=form,
        recent=reports.recent_reports(current_user),
        single=organisations[0] if len(organisations) == 1 else None,
    )


@bp.route("/reports/<job_id>")
@access.roles(*reports.REPORT_ROLES, org_needed=True)
def report(job_id: str):
    job = reports.report_for(current_user, job_id)
    _follow(job)
    from portal.models import Organisation

    org = db.session.get(Organisation, job.organisation_id) if job.organisation_id else None
    return render_template(
        "certificates/report.html",
        job=job,
        org=org,
        action_form=EmptyForm(),
        refresh=job.status in pdf_jobs.OPEN,
        not_queued=not job.enqueued and job.status == "queued",
    )


@bp.route("/reports/<job_id>/report.pdf", defaults={"fmt": "pdf"})
@bp.route("/reports/<job_id>/report.csv", defaults={"fmt": "csv"})
@access.roles(*reports.REPORT_ROLES, org_needed=True)
def download_report(job_id: str, fmt: str):
    job = reports.report_for(current_user, job_id)
    if job.status != "finished" or not job.result:
        abort(404)
    as_of = (job.result or {}).get("as_of", "")
    name = f"portfolio-report-{as_of}.{fmt}"
    if fmt == "pdf":
        return _download(job.result.get("pdf_file_id"), name, "application/pdf")
    return _download(job.result.get("csv_file_id"), name, "text/csv")


@bp.route("/reports/<job_id>/retry", methods=["POST"])
@access.roles(*reports.REPORT_ROLES, org_needed=True)
def retry_report(job_id: str):
    job = reports.report_for(current_user, job_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        reports.retry(current_user, job)
    except ServiceError as exc:
        flash(exc.message, "info")
    else:
        flash("Trying again.", "success")
    return redirect(url_for("certificates.report", job_id=job.id))
