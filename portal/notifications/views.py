"""A person's email choices, and one-click unsubscribe from any digest without signing in."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCheckboxesInput, GovRadioInput, GovSubmitInput
from wtforms import RadioField, SelectMultipleField, SubmitField
from wtforms.validators import InputRequired

from portal import access
from portal.extensions import csrf
from portal.models.notifications import KINDS
from portal.services import ServiceError
from portal.services import notifications as service
from portal.services.notify_email import read_unsubscribe_token

bp = Blueprint("notifications", __name__)

FREQUENCY_CHOICES = [
    ("daily", "Daily: one email on the mornings there is something to tell you"),
    ("weekly", "Weekly: one email on Monday mornings"),
    ("off", "Off: no emails about deadlines or decisions"),
]


class PreferencesForm(FlaskForm):
    frequency = RadioField(
        "How often should we email you?",
        widget=GovRadioInput(),
        choices=FREQUENCY_CHOICES,
        validators=[InputRequired(message="Choose how often we email you")],
    )
    kinds = SelectMultipleField(
        "What should the emails tell you about?",
        widget=GovCheckboxesInput(),
        choices=[],
        description="Select all that apply. Every email has a link to stop them in one click.",
    )
    submit = SubmitField("Save your choices", widget=GovSubmitInput())


@bp.route("/account/notifications", methods=["GET", "POST"])
@access.signed_in
def preferences():
    user = current_user._get_current_object()
    kinds = service.kinds_for(user)
    choice = service.preference_for(user)
    form = PreferencesForm()
    form.kinds.choices = [(k, KINDS[k]) for k in kinds]
    if request.method == "GET":
        form.frequency.data = choice.frequency
        form.kinds.data = [k for k in kinds if k not in choice.muted]
    if form.validate_on_submit():
        try:
            service.set_preferences(user, form.frequency.data, form.kinds.data or [])
        except ServiceError as exc:
            flash(exc.message, "error")
        else:
            flash("Your email choices are saved.", "success")
            return redirect(url_for("notifications.preferences"))
    return render_template("notifications/preferences.html", form=form, has_kinds=bool(kinds))


@bp.route("/notifications/unsubscribe/<token>", methods=["GET"])
@access.public
def unsubscribe_page(token: str):
    """The link in the email body: a page with one button (a GET changes nothing, so a mail
    scanner following links unsubscribes nobody)."""
    try:
        read_unsubscribe_token(token)
    except ValueError as exc:
        return render_template("notifications/unsubscribe.html", problem=str(exc)), 400
    return render_template("notifications/unsubscribe.html", token=token, done=False)


@bp.route("/notifications/unsubscribe/<token>", methods=["POST"])
@access.public
@csrf.exempt
def unsubscribe(token: str):
    """RFC 8058 one-click unsubscribe: a POST from the mail client (List-Unsubscribe-Post)
    or the button. No CSRF token: the signed link is the proof; it changes only the
    preferences of the person it was made for."""
    try:
        user_id, kind, stamp = read_unsubscribe_token(token)
    except ValueError as exc:
        return render_template("notifications/unsubscribe.html", problem=str(exc)), 400
    user = service.unsubscribe(user_id, kind, stamp)
    if user is None:
        problem = "This unsubscribe link no longer works. Sign in to choose what we send you."
        return render_template("notifications/unsubscribe.html", problem=problem), 400
    return render_template("notifications/unsubscribe.html", done=True, kind=kind)
