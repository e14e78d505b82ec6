"""Compliance certificates (request, follow, download, revoke), the public verify page, and
portfolio reports. The PDFs are rendered by RQ workers (workers/pdf.py)."""

from flask import Blueprint

# Import WeasyPrint (about a second) once per process, before an RQ worker forks its work-horses:
# otherwise every job would pay for the import, and a certificate would take that much longer.
import workers.pdf_render  # noqa: F401,E402,I001

bp = Blueprint("certificates", __name__)

from portal.certificates import views  # noqa: E402,F401
