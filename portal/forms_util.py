"""Helpers shared by every area's views."""

from __future__ import annotations

from urllib.parse import urlparse

from flask_wtf import FlaskForm

from portal.services import ServiceError


def add_service_error(
    form: FlaskForm, error: ServiceError, default_field: str | None = None
) -> None:
    """Show a service refusal on the form, next to its field, so the error summary links to it."""
    name = error.field or default_field or next(iter(form._fields))
    if name == "csrf_token" or name not in form._fields:
        name = next(n for n in form._fields if n != "csrf_token")
    field = form[name]
    field.errors = [*list(field.errors or []), error.message]
    form._errors = None  # recompute form.errors with the added message


def safe_next(target: str | None) -> str | None:
    """Only local paths are followed after sign-in (no open redirects)."""
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
