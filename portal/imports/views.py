"""Upload a registry export and watch its import (reviewers and admins)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from portal import access
from portal.extensions import db
from portal.forms_util import add_service_error
from portal.imports import bp
from portal.imports.forms import UploadForm
from portal.models import BackgroundJob, ImportRejection, ImportRun
from portal.services import ServiceError
from portal.services import imports as service

RECENT_RUNS = 20
SHOWN_REJECTIONS = 500


def _index_page(form: UploadForm, status: int = 200):
    runs = (
        db.session.execute(sa.select(ImportRun).order_by(ImportRun.id.desc()).limit(RECENT_RUNS))
        .scalars()
        .all()
    )
    from portal.imports.sync_views import sync_overview

    return render_template("imports/index.html", form=form, runs=runs, sync=sync_overview()), status


@bp.route("/", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def index():
    form = UploadForm()
    if form.validate_on_submit():
        try:
            run_id = service.accept_upload(current_user, form.export.data)
        except ServiceError as exc:
            add_service_error(form, exc, default_field="export")
        else:
            flash("The file was uploaded. Its import runs in the background.", "success")
            return redirect(url_for("imports.run", run_id=run_id))
    return _index_page(form)


@bp.errorhandler(413)
def too_large(_error):
    """A file over MAX_CONTENT_LENGTH: say so on the form (nothing was read or stored)."""
    form = UploadForm(formdata=None)
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    form.export.errors = [f"The selected file must be smaller than {service.size_text(limit)}"]
    form._errors = None
    return _index_page(form, 413)


@bp.route("/runs/<int:run_id>")
@access.roles("reviewer", "admin")
def run(run_id: int):
    import_run = db.get_or_404(ImportRun, run_id)
    job = db.session.get(BackgroundJob, import_run.job_id) if import_run.job_id else None
    rejections = (
        db.session.execute(
            sa.select(ImportRejection)
            .where(ImportRejection.run_id == run_id)
            .order_by(ImportRejection.id)
            .limit(SHOWN_REJECTIONS)
        )
        .scalars()
        .all()
    )
    in_progress = import_run.status == "running" or (
        job is not None and job.status in ("queued", "started")
    )
    return render_template(
        "imports/run.html",
        run=import_run,
        job=job,
        rejections=rejections,
        in_progress=in_progress,
        shown_rejections=SHOWN_REJECTIONS,
    )
