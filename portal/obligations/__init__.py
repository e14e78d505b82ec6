"""Rule parameters page (admin). The JSON encoding of verdicts is portal.domain.obligations."""

from flask import Blueprint

bp = Blueprint("obligations", __name__)

from portal.obligations import views  # noqa: E402,F401
