"""The rule parameters page: reviewers see the values in force and their history; an
administrator changes them (a new version, audited, and every trial is recomputed)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import access
from portal.domain.parameters import PARAMETERS, current_params, editable_values
from portal.extensions import db
from portal.forms_util import add_service_error
from portal.models import ParameterSet, User
from portal.obligations import bp
from portal.obligations.forms import ParametersForm
from portal.services import ServiceError
from portal.services import obligations as obligation_service  # module: import cycle
from portal.services.parameters import update_params

HISTORY_LIMIT = 50


@bp.route("/admin/parameters", methods=["GET", "POST"])
@access.roles("reviewer", "admin")
def parameters():
    can_change = current_user.role == "admin"
    if request.method == "POST" and not can_change:
        abort(403)
    version, params = current_params()
    values = editable_values(params)
    form = ParametersForm(data=ParametersForm.initial(values))
    if can_change and form.validate_on_submit():
        try:
            row = update_params(current_user, form.values(), form.note.data or "")
        except ServiceError as exc:
            add_service_error(form, exc, default_field="note")
        else:
            flash(
                f"Version {row.version} of the rule parameters is in force. Every trial's "
                "obligations are recomputed with it.",
                "success",
            )
            return redirect(url_for("obligations.parameters"))
    history = db.session.execute(
        sa.select(ParameterSet, User.email)
        .outerjoin(User, User.id == ParameterSet.created_by_id)
        .order_by(ParameterSet.version.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    job = obligation_service.latest_recompute_job()
    return render_template(
        "obligations/parameters.html",
        form=form,
        can_change=can_change,
        version=version,
        values=values,
        meanings=PARAMETERS,
        history=history,
        job=job if job is not None and job.status in ("queued", "started") else None,
        failed_job=job if job is not None and job.status == "failed" else None,
    )
