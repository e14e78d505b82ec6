"""An organisation's watch list: trial ids and sponsor names the registry sync follows for it
(sponsor admins keep it; issue 19)."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user

from portal import access
from portal.auth import bp
from portal.auth.forms import EmptyForm
from portal.auth.watch_forms import WatchForm
from portal.services import ServiceError, registry_sync


def _back():
    return redirect(url_for("auth.organisation") + "#watch-list")


@bp.route("/organisation/watches", methods=["POST"])
@access.roles("sponsor_admin")
def add_watch():
    form = WatchForm()
    if form.validate_on_submit():
        try:
            watch = registry_sync.add_watch(
                current_user, current_user.organisation.id, form.kind.data, form.value.data
            )
        except ServiceError as exc:
            flash(f"{exc.message}. Nothing was added.", "error")
        else:
            flash(f"{watch.value} was added to your watch list.", "success")
    else:
        problems = [e for errors in form.errors.values() for e in errors]
        flash((problems[0] if problems else "Check the form") + ". Nothing was added.", "error")
    return _back()


@bp.route("/organisation/watches/<int:watch_id>/remove", methods=["POST"])
@access.roles("sponsor_admin")
def remove_watch(watch_id: int):
    if EmptyForm().validate_on_submit():
        try:
            value = registry_sync.remove_watch(current_user, current_user.organisation.id, watch_id)
        except ServiceError as exc:
            flash(exc.message, "error")
        else:
            flash(f"{value} is no longer on your watch list.", "success")
    return _back()


@bp.route("/organisation/new-trials")
@access.roles(*access.SPONSOR_SIDE)
def offered_trials():
    """New trials under a watched sponsor name, each with a link to claim it."""
    from flask import render_template

    org = current_user.organisation
    trials = registry_sync.offered_trials(org.id) if org is not None else []
    return render_template("auth/offered_trials.html", org=org, trials=trials)
