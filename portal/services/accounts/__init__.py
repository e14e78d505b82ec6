"""Accounts: sign-up, email confirmation, sign-in, sessions, password reset, organisations and
invitations.

One module per concern: ``signup`` (sign-up, confirmation, sign-in), ``sessions``, ``passwords``
(reset and email change), ``organisations`` and ``invitations``. The views call these through
this package (``accounts.register(...)``); the names below are its interface.
"""

from __future__ import annotations

from portal.services.accounts.invitations import (
    accept_invitation,
    check_invitation,
    invitation_needs_own_password,
    invite,
    pending_invitations,
    remove_member,
    revoke_invitation,
)
from portal.services.accounts.organisations import (
    create_organisation,
    decide_organisation,
    find_organisation,
    is_webmail,
    webmail_warning,
)
from portal.services.accounts.passwords import (
    change_email,
    check_reset_token,
    request_email_change,
    request_password_reset,
    reset_password,
)
from portal.services.accounts.sessions import (
    end_session,
    live_sessions,
    session_user,
    sign_out_everywhere,
    start_session,
)
from portal.services.accounts.signup import (
    CONFIRM,
    EMAIL_CHANGE,
    INVITE,
    RESET,
    SESSION_KEY,
    WEBMAIL_DOMAINS,
    Busy,
    authenticate,
    check_confirmation,
    confirm_email,
    email_domain,
    find_user,
    hash_slots,
    normalise_email,
    register,
    resend_confirmation,
)

__all__ = [
    "CONFIRM",
    "EMAIL_CHANGE",
    "INVITE",
    "RESET",
    "SESSION_KEY",
    "WEBMAIL_DOMAINS",
    "Busy",
    "accept_invitation",
    "authenticate",
    "change_email",
    "check_confirmation",
    "check_invitation",
    "check_reset_token",
    "confirm_email",
    "create_organisation",
    "decide_organisation",
    "email_domain",
    "end_session",
    "find_organisation",
    "find_user",
    "hash_slots",
    "invitation_needs_own_password",
    "invite",
    "is_webmail",
    "live_sessions",
    "normalise_email",
    "pending_invitations",
    "register",
    "remove_member",
    "request_email_change",
    "request_password_reset",
    "resend_confirmation",
    "reset_password",
    "revoke_invitation",
    "session_user",
    "sign_out_everywhere",
    "start_session",
    "webmail_warning",
]
