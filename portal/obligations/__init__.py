"""Rule parameters page (admin) and the JSON encoding of verdicts."""

from flask import Blueprint

bp = Blueprint("obligations", __name__)

from portal.obligations import views  # noqa: E402,F401
