"""Registry sync pages: each registry's last sync, and "Sync now" as a background job with
live progress (issue 19)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from portal import access
from portal.auth.forms import EmptyForm
from portal.extensions import db
from portal.imports import bp
from portal.models import BackgroundJob, RegistrySyncState
from portal.services import registry_sync
from portal.services.registry_sync.jobs import SYNC_JOB_KIND, request_sync, running_sync_job


def sync_overview() -> dict:
    """What the import pages show about the registry sync."""
    states = {s.source: s for s in db.session.scalars(sa.select(RegistrySyncState))}
    sources = [
        {"name": name, "state": states.get(key)} for key, name in registry_sync.SOURCES.items()
    ]
    last_job = db.session.scalars(
        sa.select(BackgroundJob)
        .where(BackgroundJob.kind == SYNC_JOB_KIND)
        .order_by(BackgroundJob.created_at.desc())
        .limit(1)
    ).first()
    return {"sources": sources, "job": last_job, "running": running_sync_job()}


@bp.route("/sync", methods=["GET"])
@access.roles("reviewer", "admin")
def sync():
    overview = sync_overview()
    return render_template(
        "imports/sync.html",
        form=EmptyForm(),
        in_progress=overview["running"] is not None,
        **overview,
    )


@bp.route("/sync", methods=["POST"])
@access.roles("admin")
def sync_now():
    if EmptyForm().validate_on_submit():
        already = running_sync_job()
        request_sync(current_user, "all")
        if already is not None:
            flash("A sync is already under way: its progress is below.", "success")
        else:
            flash("The sync has started. Its progress is below.", "success")
    return redirect(url_for("imports.sync"))
