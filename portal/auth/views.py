"""Account pages. Views stay thin: forms in, service calls, redirects out."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal import access
from portal.auth import bp
from portal.auth.forms import (
    AcceptInvitationForm,
    ChangeEmailForm,
    ConfirmWithPasswordForm,
    EmptyForm,
    InviteForm,
    JoinWithPasswordForm,
    LoginForm,
    NewPasswordForm,
    OrganisationForm,
    RegisterForm,
    ResetRequestForm,
)
from portal.auth.watch_forms import WatchForm
from portal.extensions import db, limiter
from portal.forms_util import add_service_error, safe_next
from portal.models import Membership, User
from portal.services import ServiceError, accounts, registry_sync
from portal.timeutil import utcnow

SIGNUP_EMAIL = "signup_email"  # the address this browser signed up with (never shown to others)


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _form_account() -> str:
    """The account a form names, for per-account limits (hashed: no addresses in Redis keys)."""
    email = accounts.normalise_email(request.form.get("email", ""))[:254]
    return "account:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def _failed(response) -> bool:
    """Only failures count against the sign-in limits: a busy office signing in succeeds, and
    a "busy, try again" answer (503: no password was checked) is not a failure either."""
    return response.status_code not in (302, 503)


# Sign-in attempts: failures per client address and per account (issue 17, section 3).
_per_address = limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
_per_account = limiter.limit(
    _login_limit, methods=["POST"], key_func=_form_account, deduct_when=_failed
)
_rate_limited = limiter.limit(_login_limit, methods=["POST"])


def _sign_in(user: User) -> None:
    """Start a server-side session for ``user`` and put its id in the session cookie."""
    raw = accounts.start_session(user)
    session.pop(SIGNUP_EMAIL, None)
    login_user(user)
    session[accounts.SESSION_KEY] = raw


def _sign_out() -> None:
    if current_user.is_authenticated:
        accounts.end_session(current_user._get_current_object(), session.get(accounts.SESSION_KEY))
    logout_user()
    session.pop(accounts.SESSION_KEY, None)


@bp.route("/register", methods=["GET", "POST"])
@access.public
@_rate_limited
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = RegisterForm()
    if form.validate_on_submit():
        # The same answer whether or not the address has an account (no enumeration): an
        # existing owner is emailed instead, and nobody is signed in until the link is opened.
        accounts.register(form.email.data, form.full_name.data, form.password.data)
        session[SIGNUP_EMAIL] = accounts.normalise_email(form.email.data)
        return redirect(url_for("auth.check_email"))
    return render_template("auth/register.html", form=form)


@bp.route("/register/check-email")
@access.public
def check_email():
    if current_user.is_authenticated:
        email = current_user.email
    else:
        email = session.get(SIGNUP_EMAIL)
        if not email:
            return redirect(url_for("auth.login"))
    return render_template("auth/check-email.html", form=EmptyForm(), email=email)


@bp.route("/register/resend", methods=["POST"])
@access.public
@_rate_limited
def resend_confirmation():
    email = current_user.email if current_user.is_authenticated else session.get(SIGNUP_EMAIL)
    if not email:
        return redirect(url_for("auth.login"))
    if EmptyForm().validate_on_submit():
        accounts.resend_confirmation(email)
        flash(f"We have sent another email to {email}.", "success")
    return redirect(url_for("auth.check_email"))


@bp.route("/confirm/<token>", methods=["GET", "POST"])
@access.public
@_per_address
def confirm_email(token: str):
    try:
        user = accounts.check_confirmation(token)
    except ServiceError as exc:
        return render_template("auth/link-problem.html", message=exc.message), 400
    signed_in_as_owner = current_user.is_authenticated and current_user.id == user.id
    proven = signed_in_as_owner or session.get(SIGNUP_EMAIL) == user.email
    form = ConfirmWithPasswordForm()
    if proven or form.validate_on_submit():
        try:
            user = accounts.confirm_email(token, password=form.password.data, proven=proven)
        except ServiceError as exc:
            if exc.field is None:
                return render_template("auth/link-problem.html", message=exc.message), 400
            add_service_error(form, exc)
        else:
            if not signed_in_as_owner:
                _sign_out()
                _sign_in(user)
            flash("Your email address is confirmed.", "success")
            if user.membership is None and not user.system_role:
                return redirect(url_for("auth.create_organisation"))
            return redirect(url_for("main.home"))
    return render_template("auth/confirm-password.html", form=form, email=user.email)


@bp.route("/login", methods=["GET", "POST"])
@access.public
@_per_address
@_per_account
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except accounts.Busy as exc:
            add_service_error(form, exc, default_field="email")
            g.busy_retry_after = exc.retry_after_seconds  # the Retry-After header
            return render_template("auth/login.html", form=form), 503
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            _sign_in(user)
            if not user.email_confirmed:
                return redirect(url_for("auth.check_email"))
            return redirect(safe_next(request.args.get("next")) or url_for("main.home"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@access.signed_in_unconfirmed
def logout():
    if EmptyForm().validate_on_submit():
        _sign_out()
        flash("You have signed out.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/account")
@access.signed_in_unconfirmed
def account():
    return render_template(
        "auth/account.html",
        sessions=accounts.live_sessions(current_user),
        signout_form=EmptyForm(),
        form=ChangeEmailForm(),
    )


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@access.signed_in_unconfirmed
def sign_out_everywhere():
    if EmptyForm().validate_on_submit():
        accounts.sign_out_everywhere(current_user._get_current_object())
        logout_user()
        session.pop(accounts.SESSION_KEY, None)
        flash("You have been signed out on every device. Sign in again to continue.", "success")
        return redirect(url_for("auth.login"))
    return redirect(url_for("auth.account"))


@bp.route("/account/email", methods=["POST"])
@access.signed_in
@_rate_limited
def request_email_change():
    email_form = ChangeEmailForm()
    if email_form.validate_on_submit():
        try:
            accounts.request_email_change(
                current_user._get_current_object(), email_form.email.data, email_form.password.data
            )
        except ServiceError as exc:
            add_service_error(email_form, exc)
        else:
            flash(
                f"We have sent a link to {accounts.normalise_email(email_form.email.data)}. "
                "Your email address changes when you open it.",
                "success",
            )
            return redirect(url_for("auth.account"))
    page = render_template(
        "auth/account.html",
        sessions=accounts.live_sessions(current_user),
        signout_form=EmptyForm(),
        form=email_form,
    )
    return page, 200


@bp.route("/account/email/<token>")
@access.public
def change_email(token: str):
    try:
        user = accounts.change_email(token)
    except ServiceError as exc:
        return render_template("auth/link-problem.html", message=exc.message), 400
    logout_user()
    session.pop(accounts.SESSION_KEY, None)
    flash(
        f"Your email address is now {user.email}. Every session was signed out: sign in again.",
        "success",
    )
    return redirect(url_for("auth.login"))


@bp.route("/reset-password", methods=["GET", "POST"])
@access.public
@_rate_limited
def request_reset():
    form = ResetRequestForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        return render_template("auth/reset-sent.html", email=form.email.data)
    return render_template("auth/reset-request.html", form=form)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@access.public
@_rate_limited
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
        logout_user()
        session.pop(accounts.SESSION_KEY, None)
        flash(
            "Your password has been changed and every session of your account was signed out. "
            "Sign in with your new password.",
            "success",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/reset-password.html", form=form)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@access.public
@_per_address
def accept_invitation(token: str):
    try:
        invitation = accounts.check_invitation(token)
    except ServiceError as exc:
        return render_template("auth/link-problem.html", message=exc.message), 400
    signed_in = current_user.is_authenticated
    if signed_in and current_user.email != invitation.email:
        return render_template("auth/accept-invitation.html", invitation=invitation, other=True)
    existing = accounts.invitation_needs_own_password(invitation)
    if existing and signed_in:
        form = EmptyForm()
    elif existing:
        form = JoinWithPasswordForm()
    else:
        form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            user = accounts.accept_invitation(
                token,
                getattr(form, "full_name", None) and form.full_name.data or "",
                getattr(form, "password", None) and form.password.data or "",
                signed_in_as=current_user._get_current_object() if signed_in else None,
            )
        except ServiceError as exc:
            if isinstance(form, EmptyForm):
                return render_template("auth/link-problem.html", message=exc.message), 400
            add_service_error(form, exc)
        else:
            if not (signed_in and existing):
                _sign_out()
                _sign_in(user)
            flash(f"Welcome to {invitation.organisation.name}.", "success")
            return redirect(url_for("main.home"))
    return render_template(
        "auth/accept-invitation.html",
        form=form,
        invitation=invitation,
        existing=existing,
        signed_in=signed_in,
    )


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
            accounts.invite(
                current_user,
                form.email.data,
                form.role.data,
                webmail_confirmed=bool(form.webmail_confirmed.data),
            )
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash(f"Invitation sent to {accounts.normalise_email(form.email.data)}.", "success")
            return redirect(url_for("auth.organisation"))
    members = db.session.execute(
        sa.select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == org.id)
        .order_by(User.email)
    ).all()
    return render_template(
        "auth/organisation.html",
        org=org,
        members=members,
        pending=accounts.pending_invitations(org),
        form=form,
        action_form=EmptyForm(),
        now=utcnow(),
        watches=registry_sync.watch_list(org.id),
        watch_form=WatchForm(formdata=None),
    )


@bp.route("/organisation/invitations/<int:invitation_id>/revoke", methods=["POST"])
@access.roles("sponsor_admin")
def revoke_invitation(invitation_id: int):
    if EmptyForm().validate_on_submit():
        try:
            invitation = accounts.revoke_invitation(current_user, invitation_id)
        except ServiceError as exc:
            flash(exc.message, "error")
        else:
            flash(f"The invitation to {invitation.email} was withdrawn.", "success")
    return redirect(url_for("auth.organisation"))


@bp.route("/organisation/members/<int:user_id>/remove", methods=["POST"])
@access.roles("sponsor_admin")
def remove_member(user_id: int):
    if EmptyForm().validate_on_submit():
        try:
            user = accounts.remove_member(current_user, user_id)
        except ServiceError as exc:
            flash(exc.message, "error")
        else:
            flash(
                f"{user.full_name or user.email} was removed and signed out everywhere.", "success"
            )
    return redirect(url_for("auth.organisation"))
