"""The account page's personal access tokens for the API (issue 21): create, list, revoke.

A new token is shown once, on the page that answers the form (never in a cookie or a flash
message); only its SHA-256 is kept (portal/services/api_tokens.py).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import BooleanField, RadioField, StringField, SubmitField
from wtforms.validators import InputRequired, Length

from portal import access
from portal.auth import bp
from portal.auth.forms import EmptyForm
from portal.forms_util import add_service_error
from portal.services import ServiceError, accounts, api_tokens


class ApiTokenForm(FlaskForm):
    name = StringField(
        "What is the token for?",
        widget=GovTextInput(),
        description="For example, the name of the spreadsheet or dashboard that will use it.",
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[
            InputRequired(message="Enter what the token is for"),
            Length(max=api_tokens.MAX_NAME, message="Use 100 characters or fewer"),
        ],
    )
    expires = RadioField(
        "How long should it work?",
        widget=GovRadioInput(),
        choices=[(str(d), f"{d} days") for d in api_tokens.EXPIRY_DAYS],
        default="90",
        validators=[InputRequired(message="Choose how long the token works")],
    )
    request_certificates = BooleanField(
        "Let it request certificates and portfolio reports (otherwise it can only read)",
        widget=GovCheckboxInput(),
    )
    submit = SubmitField("Create token", widget=GovSubmitInput())


def _page(token_form: ApiTokenForm, new_token: str | None = None, status: int = 200):
    from portal.auth.forms import ChangeEmailForm

    return render_template(
        "auth/account.html",
        sessions=accounts.live_sessions(current_user),
        signout_form=EmptyForm(),
        form=ChangeEmailForm(),
        token_form=token_form,
        new_token=new_token,
    ), status


@bp.app_template_global()
def api_tokens_of(user) -> list:
    return api_tokens.tokens_of(user)


@bp.app_template_global()
def new_api_token_form() -> ApiTokenForm:
    return ApiTokenForm(formdata=None)


@bp.app_template_global()
def revoke_api_token_form() -> EmptyForm:
    return EmptyForm()


@bp.route("/account/tokens", methods=["POST"])
@access.roles(*access.EVERYONE_WITH_ROLE)
def create_api_token():
    form = ApiTokenForm()
    if form.validate_on_submit():
        try:
            _token, raw = api_tokens.create_token(
                current_user._get_current_object(),
                form.name.data,
                days=int(form.expires.data),
                request_certificates=bool(form.request_certificates.data),
            )
        except ServiceError as exc:
            add_service_error(form, exc, default_field="name")
        else:
            return _page(ApiTokenForm(formdata=None), new_token=raw)
    return _page(form, status=400)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@access.roles(*access.EVERYONE_WITH_ROLE)
def revoke_api_token(token_id: int):
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("auth.account"))
    try:
        token = api_tokens.revoke_token(current_user._get_current_object(), token_id)
    except ServiceError as exc:
        flash(exc.message, "info")
    else:
        flash(f"The token “{token.name}” no longer works.", "success")
    return redirect(url_for("auth.account") + "#api-tokens")
