"""The sponsor's evidence pages: lay summary versions, results posted per registry, and the
participant offer; downloads of the stored files for authorised users only."""

from __future__ import annotations

import io
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from portal import access
from portal.domain.summaries import readability
from portal.domain.summaries.extract import MAX_BYTES
from portal.extensions import db
from portal.forms_util import add_service_error
from portal.models import StoredFile, Trial
from portal.services import ServiceError, review
from portal.services import summaries as service
from portal.services.files import read_bytes
from portal.services.trial_access import trial_for
from portal.summaries.forms import ParticipantOfferForm, ResultsPostedForm, SummaryUploadForm

bp = Blueprint("summaries", __name__)

VIEWERS = access.EVERYONE_WITH_ROLE
EDITORS = service.EDITOR_ROLES
PREVIEW_CHARS = 200_000  # the page shows this much of the text; the download has all of it


def _can_edit(trial: Trial) -> bool:
    org = current_user.organisation
    return (
        current_user.role in EDITORS and org is not None and trial.owner_organisation_id == org.id
    )


def _editable(trial_id: int) -> Trial:
    trial = trial_for(current_user, trial_id)  # 404 for other organisations' trials
    if not _can_edit(trial):
        abort(403)
    return trial


def _read_upload(storage) -> bytes | None:
    """The uploaded bytes, or None when over the limit (read no further than the limit)."""
    data = storage.read(MAX_BYTES + 1)
    return None if len(data) > MAX_BYTES else data


TOO_BIG = ServiceError("The selected file must be smaller than 10 MB.", field="file")


@bp.errorhandler(413)
def too_large(_error):
    """A request body over MAX_CONTENT_LENGTH (11 MB) on an upload page: the form again, with the
    message beside the file field, instead of a bare error page. Nothing was read or stored, so
    the other answers on the form are gone: the message says so."""
    args = request.view_args or {}
    trial = None
    if request.endpoint in ("summaries.upload", "summaries.offer") and "trial_id" in args:
        try:
            trial = _editable(args["trial_id"]) if current_user.is_authenticated else None
        except HTTPException:
            trial = None  # not theirs to edit: the plain page below, which shows nothing of it
    if trial is None:
        return render_template(
            "errors/error.html",
            title="The file is too large",
            message="Upload a file smaller than 10 MB. Nothing was saved.",
        ), 413
    message = "The selected file must be smaller than 10 MB. Nothing was saved."
    if request.endpoint == "summaries.upload":
        form = SummaryUploadForm(formdata=None)
        form.file.errors = [message]
        form._errors = None
        return render_template("summaries/upload.html", trial=trial, form=form), 413
    form = ParticipantOfferForm(formdata=None)
    approved = service.approved_versions(trial.id)
    _offer_choices(form, approved)
    form.file.errors = [message + " Enter your answers again with a smaller file."]
    form._errors = None
    return render_template("summaries/offer.html", trial=trial, form=form, approved=approved), 413


def _offer_choices(form: ParticipantOfferForm, approved) -> None:
    form.summary_version.choices = [(0, "None: I will upload the summary that was sent")] + [
        (v.id, f"Version {v.version}, uploaded {v.uploaded_at:%-d %B %Y}") for v in approved
    ]


@bp.app_template_global("trial_evidence")
def trial_evidence(trial: Trial, facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the trial page's evidence section shows (summaries/_trial_section.html).

    ``facts`` are the trial's current sponsor facts when the page already has them. Two queries
    for a trial with no evidence yet (the trial page has a query budget), three otherwise.
    """
    versions = service.versions_for(trial.id, light=True)
    offers = service.offers_for(trial.id)
    facts = facts if facts is not None else service.sponsor_facts.current_facts(trial.id)
    # Comments exist only on submissions, and those only for versions, offers or deferrals.
    maybe_submitted = versions or offers or "deferrals" in facts or "waivers" in facts
    return {
        "versions": versions,
        "comments": review.comments_for_trial(trial.id) if maybe_submitted else [],
        "results": service.results_by_entry(trial, facts),
        "offers": offers,
        "can_edit": _can_edit(trial),
        "version_labels": service.VERSION_STATUS_LABELS,
        "offer_labels": service.OFFER_STATUS_LABELS,
        "methods": service.METHODS,
        "audiences": service.AUDIENCES,
        "describe": review.describe,
    }


# --- lay summaries -------------------------------------------------------------------------------


@bp.route("/trials/<int:trial_id>/summaries/new", methods=["GET", "POST"])
@access.roles(*EDITORS, org_needed=True)
def upload(trial_id: int):
    trial = _editable(trial_id)
    form = SummaryUploadForm()
    if form.validate_on_submit():
        data = _read_upload(form.file.data)
        if data is None:
            add_service_error(form, TOO_BIG)
        else:
            try:
                version = service.upload_summary(
                    current_user, trial, data, form.file.data.filename or ""
                )
            except ServiceError as exc:
                add_service_error(form, exc, default_field="file")
            else:
                flash(
                    f"Version {version.version} uploaded. Check the report below, then send it "
                    "for review.",
                    "success",
                )
                return redirect(
                    url_for("summaries.version", trial_id=trial.id, version_id=version.id)
                )
    return render_template("summaries/upload.html", trial=trial, form=form)


@bp.route("/trials/<int:trial_id>/summaries/<int:version_id>")
@access.roles(*VIEWERS, org_needed=True)
def version(trial_id: int, version_id: int):
    trial = trial_for(current_user, trial_id)
    version = service.version_for(trial, version_id)
    if version is None:
        abort(404)
    from portal.auth.forms import EmptyForm

    text = version.extracted_text
    return render_template(
        "summaries/version.html",
        trial=trial,
        version=version,
        report=service.report_for(version),
        preview=text[:PREVIEW_CHARS],
        truncated=len(text) > PREVIEW_CHARS,
        versions=service.versions_for(trial.id),
        submissions=review.submissions_for_trial(trial.id, "summary"),
        comments=[c for c in review.comments_for_trial(trial.id) if c[1].kind == "summary"],
        labels=service.VERSION_STATUS_LABELS,
        can_edit=_can_edit(trial),
        form=EmptyForm(),
        target=readability.TARGET_READING_AGE,
    )


@bp.route("/trials/<int:trial_id>/summaries/<int:version_id>/submit", methods=["POST"])
@access.roles(*EDITORS, org_needed=True)
def submit(trial_id: int, version_id: int):
    from portal.auth.forms import EmptyForm

    trial = _editable(trial_id)
    if service.version_for(trial, version_id) is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        service.submit_summary(current_user, trial, version_id)
    except ServiceError as exc:
        flash(exc.message, "info")
    else:
        flash("Sent for review. A reviewer's comments will appear on the trial page.", "success")
    return redirect(url_for("summaries.version", trial_id=trial.id, version_id=version_id))


@bp.route("/trials/<int:trial_id>/summaries/<int:version_id>/download")
@access.roles(*VIEWERS, org_needed=True)
def download(trial_id: int, version_id: int):
    trial = trial_for(current_user, trial_id)
    version = service.version_for(trial, version_id)
    if version is None:
        abort(404)
    return _attachment(version.file, f"v{version.version}")


def _attachment(stored: StoredFile | None, suffix: str):
    if stored is None:
        abort(404)
    try:
        data = read_bytes(stored)
    except FileNotFoundError:
        abort(404)
    name = stored.original_name or "file"
    stem, dot, ext = name.rpartition(".")
    download_name = f"{stem}-{suffix}.{ext}" if dot else f"{name}-{suffix}"
    response = send_file(
        io.BytesIO(data),
        mimetype=stored.content_type,
        as_attachment=True,
        download_name=download_name,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- results posted in each registry -------------------------------------------------------------


@bp.route("/trials/<int:trial_id>/results/<int:entry_id>", methods=["GET", "POST"])
@access.roles(*EDITORS, org_needed=True)
def results(trial_id: int, entry_id: int):
    trial = _editable(trial_id)
    entry = service.entry_for(trial, entry_id)
    if entry is None:
        abort(404)
    form = ResultsPostedForm()
    if form.validate_on_submit():
        try:
            service.record_results_posted(
                current_user, trial, entry.id, form.posted_on.data, form.evidence_url.data
            )
        except ServiceError as exc:
            add_service_error(form, exc, default_field="posted_on")
        else:
            flash(
                f"Results on {entry.registry_name} recorded; the duties below are up to date.",
                "success",
            )
            return redirect(url_for("trials.trial", trial_id=trial.id))
    return render_template(
        "summaries/results.html",
        trial=trial,
        entry=entry,
        form=form,
        hosts=service.hosts_for(entry.registry_name),
    )


# --- the participant offer -----------------------------------------------------------------------


@bp.route("/trials/<int:trial_id>/participant-offer", methods=["GET", "POST"])
@access.roles(*EDITORS, org_needed=True)
def offer(trial_id: int):
    trial = _editable(trial_id)
    form = ParticipantOfferForm()
    approved = service.approved_versions(trial.id)
    _offer_choices(form, approved)
    if form.validate_on_submit():
        data = None
        upload = form.file.data
        if upload is not None and getattr(upload, "filename", ""):
            data = _read_upload(upload)
            if data is None:
                add_service_error(form, TOO_BIG)
        if not form.errors:
            try:
                service.record_offer(
                    current_user,
                    trial,
                    offered_on=form.offered_on.data,
                    method=form.method.data,
                    audience=form.audience.data or [],
                    summary_version_id=form.summary_version.data or None,
                    data=data,
                    filename=getattr(upload, "filename", "") or "",
                    notes=form.notes.data or "",
                )
            except ServiceError as exc:
                add_service_error(form, exc, default_field="offered_on")
            else:
                flash(
                    "Offer recorded: UK-PART is met, and a reviewer will check the evidence.",
                    "success",
                )
                return redirect(url_for("trials.trial", trial_id=trial.id))
    return render_template("summaries/offer.html", trial=trial, form=form, approved=approved)


@bp.route("/trials/<int:trial_id>/participant-offers/<int:offer_id>/download")
@access.roles(*VIEWERS, org_needed=True)
def offer_download(trial_id: int, offer_id: int):
    trial = trial_for(current_user, trial_id)
    offer = service.offer_for(trial, offer_id)
    if offer is None:
        abort(404)
    if offer.file_id is None:
        version = service.version_for(trial, offer.summary_version_id or 0)
        return _attachment(version.file if version else None, "sent")
    return _attachment(db.session.get(StoredFile, offer.file_id), "sent")
