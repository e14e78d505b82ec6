"""The API for an organisation's own tools (issue 21): /api/v1, bearer tokens, OpenAPI 3.

flask-smorest builds the OpenAPI document from the views' marshmallow schemas; every error is
an RFC 9457 problem (portal/api/problems.py). Register with :func:`init_app`.
"""

from __future__ import annotations

import http

from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from flask import Flask
from flask_smorest import Api as _Api
from flask_smorest import Blueprint
from flask_smorest.spec import prepare_response
from werkzeug.exceptions import HTTPException

from portal.api import problems
from portal.api.schemas import ProblemSchema

PREFIX = "/api/v1"
ERROR_STATUSES = (400, 401, 403, 404, 409, 422, 429)

bp = Blueprint(
    "api",
    __name__,
    url_prefix=PREFIX,
    description="Your organisation's trials, duties, certificates and reports.",
)


def _schema_name(schema) -> str:
    """Component names without the "Schema" suffix."""
    return resolver(schema)


class Api(_Api):
    """flask-smorest, with problem+json errors documented and handled on /api/ only (the
    pages keep their own HTML error pages), and no documentation blueprint of its own."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:  # handled in init_app, for /api/ only
        return None

    def _register_responses(self) -> None:
        for status in ERROR_STATUSES:
            name = http.HTTPStatus(status).name
            response = {"description": http.HTTPStatus(status).phrase, "schema": ProblemSchema}
            prepare_response(response, self.spec, problems.CONTENT_TYPE)
            self.spec.components.response(name, response)


def _problem(error: HTTPException):
    return problems.from_exception(error)


# By code as well: Flask prefers the app's handler for a code (the HTML error pages) to a
# blueprint's handler for a class.
bp.register_error_handler(HTTPException, _problem)
for _code in (400, 401, 403, 404, 405, 413, 422, 429, 500):
    bp.register_error_handler(_code, _problem)


def errors(*statuses: int):
    """Document the problem responses a view can give (on top of every error it always can)."""

    def decorator(view):
        for status in sorted(set(statuses)):
            view = bp.alt_response(status, response=http.HTTPStatus(status).name)(view)
        return view

    return decorator


def init_app(app: Flask) -> None:
    from portal.extensions import csrf

    app.config.setdefault("API_TITLE", "Trial Transparency Portal API")
    app.config.setdefault("API_VERSION", "1.0.0")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "servers": [{"url": "/"}],
            "info": {
                "description": "Read your organisation's trials, their duties under the UK 2026 "
                "rules and the verdicts' reasons; request certificates and portfolio reports. "
                "Authenticate with a personal access token from your account page: "
                "Authorization: Bearer <token>. Errors are RFC 9457 problem details.",
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api = Api(
        spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=_schema_name)}
    )
    api.init_app(app)
    app.extensions["portal-api"] = api
    api.spec.components.security_scheme(
        "bearerAuth",
        {"type": "http", "scheme": "bearer", "description": "A personal access token"},
    )
    from portal.api import views  # noqa: F401  (routes on bp)

    csrf.exempt(bp)  # bearer tokens, never cookies: there is no session to ride on
    api.register_blueprint(bp)
    from portal.api.meta import bp as docs_bp

    app.register_blueprint(docs_bp)
