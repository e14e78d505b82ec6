"""Signed-in pages of the tracker: an organisation's opt-in, sponsors' responses, and the
reviewers' queue of responses (under /review)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from portal import access
from portal.extensions import db
from portal.forms_util import add_service_error
from portal.models import Organisation, TrackerResponse, TrackerTrial
from portal.services import AlreadyDone, ServiceError
from portal.services.tracker import public
from portal.tracker import bp, queries
from portal.tracker.forms import DisclosureForm, ResponseDecisionForm, ResponseForm
from portal.tracker.views import DUTY_WORDS


@bp.route("/tracker/organisation", methods=["GET", "POST"])
@access.roles("sponsor_admin", "compliance_officer", org_needed=True)
def disclosure():
    org = current_user.organisation
    form = DisclosureForm()
    current = queries.opted_in(org.id)
    if form.validate_on_submit():
        try:
            public.set_disclosure(current_user, form.choice.data == "in")
        except AlreadyDone as exc:
            flash(exc.message, "info")
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash(
                "Your own facts now appear on the public tracker."
                if form.choice.data == "in"
                else "The public tracker now shows registry records only for your trials.",
                "success",
            )
            return redirect(url_for("tracker.disclosure"))
    elif not form.is_submitted():
        form.choice.data = "in" if current else "out"
    return render_template("tracker/disclosure.html", form=form, organisation=org, opted_in=current)


def _own_tracked_trial(trial_id: int) -> TrackerTrial:
    row = queries.tracked_trial(trial_id)
    org = current_user.organisation
    if row is None or org is None or queries.owner_of(trial_id) != org.id:
        abort(404)
    return row


@bp.route("/tracker/trials/<int:trial_id>/respond", methods=["GET", "POST"])
@access.roles(*access.SPONSOR_SIDE, org_needed=True)
def respond(trial_id: int):
    row = _own_tracked_trial(trial_id)
    form = ResponseForm()
    form.duty.choices = [(v["duty"], DUTY_WORDS.get(v["duty"], v["duty"])) for v in row.verdicts]
    if form.validate_on_submit():
        try:
            public.submit_response(current_user, trial_id, form.duty.data, form.body.data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash("Your response has been sent. It appears once a reviewer has read it.", "success")
            return redirect(url_for("tracker.trial", trial_id=trial_id))
    mine = db.session.execute(
        sa.select(TrackerResponse)
        .where(TrackerResponse.trial_id == trial_id)
        .order_by(TrackerResponse.submitted_at.desc())
    ).scalars()
    return render_template("tracker/respond.html", form=form, trial=row, responses=list(mine))


@bp.route("/review/tracker-responses")
@access.roles("reviewer", "admin")
def review_queue():
    rows = db.session.execute(
        sa.select(TrackerResponse, TrackerTrial.title, Organisation.name)
        .outerjoin(TrackerTrial, TrackerTrial.trial_id == TrackerResponse.trial_id)
        .join(Organisation, Organisation.id == TrackerResponse.organisation_id)
        .where(TrackerResponse.status == "pending")
        .order_by(TrackerResponse.submitted_at)
    ).all()
    return render_template("tracker/review_queue.html", rows=rows)


@bp.route("/review/tracker-responses/<int:response_id>", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def review_response(response_id: int):
    if not 0 < response_id <= queries.MAX_ID:
        abort(404)
    response = db.session.get(TrackerResponse, response_id)
    if response is None:
        abort(404)
    form = ResponseDecisionForm()
    if form.validate_on_submit():
        try:
            public.decide_response(
                current_user, response_id, form.decision.data, form.note.data or ""
            )
        except AlreadyDone as exc:
            flash(exc.message, "info")
            return redirect(url_for("tracker.review_queue"))
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash("Decision saved.", "success")
            return redirect(url_for("tracker.review_queue"))
    return render_template(
        "tracker/review_response.html",
        form=form,
        response=response,
        trial=queries.tracked_trial(response.trial_id),
        organisation=db.session.get(Organisation, response.organisation_id),
    )
