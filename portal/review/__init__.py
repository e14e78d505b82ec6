"""The reviewer's pages (HRA-style): organisation approvals now, submissions later."""

from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/review")

from portal.review import views  # noqa: E402,F401
