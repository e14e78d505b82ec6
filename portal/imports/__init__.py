"""Registry imports: upload a registry export (reviewers and admins) and follow its import run."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/imports")

from portal.imports import sync_views, views  # noqa: E402,F401
