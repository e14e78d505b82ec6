"""Bearer tokens on /api/v1: who is asking, may they, and not too often.

The same role policy as the pages (``portal.access.role_allows``) and the same scoped queries
(``portal.services.trial_access`` and the services' own) decide what a token's user sees: a
token never sees more than its user does on the pages. Cookie sessions are not read here at
all, so a browser's session cannot call the API and CSRF does not arise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request
from flask_smorest import abort

from portal import access
from portal.extensions import limiter
from portal.models import ApiToken, User
from portal.services import api_tokens

POLICY_PREFIX = "api_token:"


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _rate_limit(token: ApiToken) -> None:
    """Every use of a token counts against API_RATE_LIMIT (per token, not per address)."""
    if not limiter.enabled or not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    from limits import parse

    item = parse(current_app.config["API_RATE_LIMIT"])
    key = f"api-token:{token.id}"
    strategy = limiter.limiter
    if strategy is None:
        return
    try:
        allowed = strategy.hit(item, "api", key)
    except Exception:  # storage down: the login limits swallow errors too (RATELIMIT_SWALLOW)
        return
    if not allowed:
        reset = strategy.get_window_stats(item, "api", key).reset_time
        from time import time

        abort(
            429,
            message="Too many requests with this token. Wait, then try again.",
            headers={"Retry-After": str(max(1, int(reset - time()) + 1))},
        )


def current() -> User:
    return g.api_user


def current_token() -> ApiToken:
    return g.api_token


def token_required(
    *role_names: str, scope: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A valid bearer token whose user holds one of ``role_names`` (in an approved organisation
    unless they see every organisation), and ``scope`` when given. 401, then 403."""
    names = role_names or access.EVERYONE_WITH_ROLE

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = _bearer()
            found = api_tokens.authenticate(raw) if raw else None
            if found is None:
                abort(
                    401,
                    message=(
                        "This token is not valid: it is unknown, expired or revoked."
                        if raw
                        else "Send a personal access token: Authorization: Bearer <token>."
                    ),
                    headers={"WWW-Authenticate": 'Bearer realm="api"'},
                )
            token, user = found
            g.api_token, g.api_user = token, user
            _rate_limit(token)
            if not access.role_allows(user, names, org_needed=True):
                abort(403, message=access.role_refusal_text(user, names))
            if scope and not token.may(scope):
                abort(
                    403,
                    message="This token is read-only. Create a token with the "
                    "'request certificates' permission on your account page.",
                )
            return view(*args, **kwargs)

        setattr(wrapper, access.POLICY_ATTR, POLICY_PREFIX + ",".join(names))
        return wrapper

    return decorator
