"""RFC 9457 problem details (``application/problem+json``) for every error under /api/."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from flask import Response, request
from werkzeug.exceptions import HTTPException

CONTENT_TYPE = "application/problem+json"

# What a person should do next, by status (the ``detail`` when the error brings none).
DETAILS = {
    400: "The request could not be read. Check its syntax and try again.",
    401: "Send a valid personal access token: Authorization: Bearer <token>. "
    "Create one on your account page.",
    403: "Your token or your role does not allow this.",
    404: "There is nothing here, or it belongs to another organisation.",
    405: "This address does not accept that method.",
    409: "It is not ready yet: see its status.",
    413: "The request is too large.",
    422: "Some of the request's values are not valid: see errors.",
    429: "Too many requests with this token. Wait, then try again.",
    500: "Sorry, there is a problem with the service. Try again later.",
}


def problem(
    status: int,
    detail: str | None = None,
    *,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or DETAILS.get(status, HTTPStatus(status).phrase),
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    response = Response(orjson.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def _flatten(messages: Any) -> dict[str, Any]:
    """webargs's {"query": {"status": ["..."]}} as {"status": ["..."]}."""
    if not isinstance(messages, dict):
        return {"request": messages}
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def from_exception(error: HTTPException) -> Response:
    """The problem response for any HTTP error raised while answering an /api/ request."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = None
    detail = None
    if "messages" in data:
        errors = _flatten(data["messages"])
        detail = DETAILS[422] if status == 422 else DETAILS.get(status)
    if "message" in data:
        detail = str(data["message"])
    headers = {str(k): str(v) for k, v in (data.get("headers") or {}).items()}
    if status == 405:
        headers["Allow"] = error.get_response().headers.get("Allow", "")
    return problem(status, detail, errors=errors, headers=headers)


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")
