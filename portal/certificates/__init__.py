"""Compliance certificates (request, follow, download, revoke), the public verify page, and
portfolio reports. The PDFs are rendered by RQ workers (workers/pdf.py)."""

from flask import Blueprint

bp = Blueprint("certificates", __name__)

from portal.certificates import views  # noqa: E402,F401
