"""Account pages. Views stay thin: forms in, service calls, redirects out."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from portal import access
from portal.auth import bp
from portal.auth.forms import (
    AcceptInvitationForm,
    EmptyForm,
    InviteForm,
    LoginForm,
    NewPasswordForm,
    OrganisationForm,
    RegisterForm,
    ResetRequestForm,
)
from portal.extensions import db, limiter
from portal.forms_util import add_service_error, safe_next
from portal.models import Invitation, Membership, User
from portal.services import ServiceError, accounts


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/register", methods=["GET", "POST"])
@access.public
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(form.email.data, form.full_name.data, form.password.data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            login_user(user)
            return redirect(url_for("auth.check_email"))
    return render_template("auth/register.html", form=form)


@bp.route("/register/check-email")
@access.signed_in
def check_email():
    return render_template("auth/check-email.html", form=EmptyForm())


@bp.route("/register/resend", methods=["POST"])
@access.signed_in
def resend_confirmation():
    if EmptyForm().validate_on_submit():
        accounts.resend_confirmation(current_user)
        flash("We have sent you a new confirmation link.", "success")
    return redirect(url_for("auth.check_email"))


@bp.route("/confirm/<token>")
@access.public
def confirm_email(token: str):
    try:
        user = accounts.confirm_email(token)
    except ServiceError as exc:
        return render_template("auth/link-problem.html", message=exc.message), 400
    login_user(user)
    flash("Your email address is confirmed.", "success")
    if user.membership is None and not user.system_role:
        return redirect(url_for("auth.create_organisation"))
    return redirect(url_for("main.home"))


@bp.route("/login", methods=["GET", "POST"])
@access.public
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("main.home"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@access.signed_in
def logout():
    if EmptyForm().validate_on_submit():
        logout_user()
        flash("You have signed out.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/reset-password", methods=["GET", "POST"])
@access.public
@limiter.limit(_login_limit, methods=["POST"])
def request_reset():
    form = ResetRequestForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        return render_template("auth/reset-sent.html", email=form.email.data)
    return render_template("auth/reset-request.html", form=form)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@access.public
@limiter.limit(_login_limit, methods=["POST"])
def reset_password(token: str):
    try:
        accounts.check_reset_token(token)
    except ServiceError as exc:
        return render_template("auth/link-problem.html", message=exc.message), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data)
        except ServiceError as exc:
            return render_template("auth/link-problem.html", message=exc.message), 400
        flash("Your password has been changed. Sign in with your new password.", "success")
        logout_user()
        return redirect(url_for("auth.login"))
    return render_template("auth/reset-password.html", form=form)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@access.public
def accept_invitation(token: str):
    try:
        invitation = accounts.check_invitation(token)
    except ServiceError as exc:
        return render_template("auth/link-problem.html", message=exc.message), 400
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            user = accounts.accept_invitation(token, form.full_name.data, form.password.data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            login_user(user)
            flash(f"Welcome to {invitation.organisation.name}.", "success")
            return redirect(url_for("main.home"))
    return render_template("auth/accept-invitation.html", form=form, invitation=invitation)


@bp.route("/organisation/new", methods=["GET", "POST"])
@access.signed_in
def create_organisation():
    if current_user.membership is not None or current_user.system_role:
        return redirect(url_for("auth.organisation"))
    form = OrganisationForm()
    if form.validate_on_submit():
        try:
            accounts.create_organisation(
                current_user, form.name.data, form.domain_list(), form.sponsor_name_list()
            )
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash("Organisation created. A reviewer will approve it before you can claim trials.")
            return redirect(url_for("auth.organisation"))
    return render_template("auth/organisation-new.html", form=form)


@bp.route("/organisation", methods=["GET", "POST"])
@access.roles(*access.SPONSOR_SIDE)
def organisation():
    org = current_user.organisation
    form = InviteForm()
    if current_user.has_role("sponsor_admin") and form.validate_on_submit():
        try:
            accounts.invite(current_user, form.email.data, form.role.data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash(f"Invitation sent to {form.email.data}.", "success")
            return redirect(url_for("auth.organisation"))
    members = db.session.execute(
        sa.select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == org.id)
        .order_by(User.email)
    ).all()
    pending = (
        db.session.execute(
            sa.select(Invitation)
            .where(Invitation.organisation_id == org.id, Invitation.accepted_at.is_(None))
            .order_by(Invitation.created_at.desc())
        )
        .scalars()
        .all()
    )
    return render_template(
        "auth/organisation.html", org=org, members=members, pending=pending, form=form
    )
