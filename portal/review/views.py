"""Reviewer pages: approve or reject new sponsor organisations."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from portal import access
from portal.auth.forms import DecisionForm
from portal.extensions import db
from portal.forms_util import add_service_error
from portal.models import Claim, Organisation
from portal.review import bp
from portal.services import ServiceError, accounts
from portal.services import claims as claims_service
from portal.trials.forms import ClaimDecisionForm


@bp.route("/organisations")
@access.roles("reviewer", "admin")
def organisations():
    rows = (
        db.session.execute(
            sa.select(Organisation).order_by(
                sa.case((Organisation.status == "pending", 0), else_=1), Organisation.created_at
            )
        )
        .unique()
        .scalars()
        .all()
    )
    return render_template("review/organisations.html", organisations=rows)


@bp.route("/organisations/<int:org_id>", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def organisation(org_id: int):
    org = db.session.get(Organisation, org_id)
    if org is None:
        abort(404)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            accounts.decide_organisation(
                current_user, org.id, form.decision.data == "approve", form.reason.data or ""
            )
        except ServiceError as exc:
            add_service_error(form, exc, default_field="reason")
        else:
            flash(f"{org.name} is now {org.status}.", "success")
            return redirect(url_for("review.organisations"))
    return render_template("review/organisation.html", org=org, form=form)


@bp.route("/claims")
@access.roles("reviewer", "admin")
def claims():
    rows = (
        db.session.execute(
            sa.select(Claim)
            .where(Claim.status.in_(("pending", "disputed")))
            .order_by(Claim.created_at)
        )
        .scalars()
        .all()
    )
    return render_template("review/claims.html", claims=rows)


@bp.route("/claims/<int:claim_id>", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def claim(claim_id: int):
    claim = db.session.get(Claim, claim_id)
    if claim is None:
        abort(404)
    owner = (
        db.session.get(Organisation, claim.trial.owner_organisation_id)
        if claim.trial.owner_organisation_id
        else None
    )
    form = ClaimDecisionForm()
    if claim.status in ("pending", "disputed") and form.validate_on_submit():
        try:
            claims_service.decide_claim(
                current_user, claim.id, form.decision.data == "approve", form.reason.data or ""
            )
        except ServiceError as exc:
            add_service_error(form, exc, default_field="reason")
        else:
            flash(f"Claim {claim.status}.", "success")
            return redirect(url_for("review.claims"))
    return render_template("review/claim.html", claim=claim, owner=owner, form=form)
