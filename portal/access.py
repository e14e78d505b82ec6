"""Who may use each route. Every view declares a policy; a test fails on a route without one.

Policies check the role only. Which records a user may see (their own organisation's, or all
for reviewers and admins) is enforced by the scoped queries in each area, which answer 404 for
another organisation's ids.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

POLICY_ATTR = "access_policy"


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Anyone, signed in or not."""
    setattr(view, POLICY_ATTR, "public")
    return view


def _guard(
    check: Callable[[], bool],
    label: str,
    *,
    org_needed: bool = False,
    unconfirmed_allowed: bool = False,
):
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not unconfirmed_allowed and not current_user.email_confirmed:
                # Until the address is proven, an account can only confirm it (issue 17: an
                # unconfirmed account may have been signed up by someone else).
                flash("Confirm your email address first: open the link we sent you.", "info")
                return redirect(url_for("auth.check_email"))
            if not check():
                abort(403)
            if org_needed and not current_user.sees_all_organisations:
                org = current_user.organisation
                if org is None:
                    flash("Create or join an organisation first.", "info")
                    return redirect(url_for("auth.create_organisation"))
                if not org.approved:
                    flash("Your organisation is waiting for a reviewer's approval.", "info")
                    return redirect(url_for("main.home"))
            return view(*args, **kwargs)

        setattr(wrapper, POLICY_ATTR, label)
        return wrapper

    return decorator


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Any signed-in user whose email address is confirmed."""
    return _guard(lambda: True, "signed_in")(view)


def signed_in_unconfirmed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Any signed-in user, confirmed or not (signing out, the account page)."""
    return _guard(lambda: True, "signed_in", unconfirmed_allowed=True)(view)


def roles(*names: str, org_needed: bool = False):
    """Signed-in users holding one of ``names`` (sponsor roles, reviewer, admin)."""
    label = "roles:" + ",".join(names)
    return _guard(lambda: role_allows(current_user, names), label, org_needed=org_needed)


def role_allows(user: Any, names: tuple[str, ...], *, org_needed: bool = False) -> bool:
    """The role check of :func:`roles`, for callers without a page (the API's bearer tokens).
    With ``org_needed``, a sponsor-side user must also belong to an approved organisation."""
    if user.role not in names:
        return False
    if org_needed and not user.sees_all_organisations:
        org = user.organisation
        return org is not None and org.approved
    return True


def role_refusal_text(user: Any, names: tuple[str, ...]) -> str:
    """Why :func:`role_allows` said no, in words (the API's 403 detail)."""
    if user.role not in names:
        return "Your role does not allow this."
    if user.organisation is None:
        return "Create or join an organisation first."
    return "Your organisation is waiting for a reviewer's approval."


SPONSOR_SIDE = ("sponsor", "sponsor_admin", "compliance_officer")
EVERYONE_WITH_ROLE = SPONSOR_SIDE + ("reviewer", "admin")
