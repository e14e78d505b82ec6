"""Signed, expiring, single-use tokens for the links we email."""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from portal.extensions import db
from portal.models import UsedToken


class TokenError(Exception):
    """The link cannot be used; the message says why in words a person understands."""


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"portal-{purpose}")


def make_token(purpose: str, **payload: Any) -> str:
    return _serializer(purpose).dumps({**payload, "nonce": secrets.token_hex(16)})


def read_token(purpose: str, token: str, *, max_age: int | None = None) -> dict[str, Any]:
    """Check signature, age and single use; does not mark the token used."""
    age = max_age or current_app.config["TOKEN_MAX_AGE_SECONDS"]
    try:
        payload = _serializer(purpose).loads(token, max_age=age)
    except SignatureExpired as exc:
        raise TokenError("This link has expired. Ask for a new one.") from exc
    except BadSignature as exc:
        raise TokenError("This link is not valid. Check you copied all of it.") from exc
    if db.session.get(UsedToken, payload["nonce"]) is not None:
        raise TokenError("This link has already been used.")
    return payload


def spend_token(purpose: str, payload: dict[str, Any]) -> None:
    """Mark a token used in the current transaction (the primary key refuses a second use)."""
    db.session.add(UsedToken(nonce=payload["nonce"], purpose=purpose))
