"""Rows and readers shared by the certificate and report tests."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

from pypdf import PdfReader

from portal.extensions import db
from portal.models import Certificate, Obligation, ObligationInputs
from portal.timeutil import today

# The facts every helper-made verdict rests on (each duty that reads end_of_trial_on shows it).
INPUTS = {"end_of_trial_on": {"value": "2025-01-01", "source": "ISRCTN ISRCTN10000001"}}


def obligation(
    t,
    duty: str = "UK-RES",
    status: str = "overdue",
    due: date | None = None,
    ruleset: str = "uk-2026",
    **verdict,
) -> Obligation:
    """An Obligation row as the recompute stores it: the verdict without its inputs, which go
    once per trial into ObligationInputs, and without day counts (worked out from ``due`` when
    shown: an overdue row made with the default due date is 5 days overdue)."""
    due = due if due is not None else today() - timedelta(days=5)
    if db.session.get(ObligationInputs, t.id) is None:
        db.session.add(ObligationInputs(trial_id=t.id, inputs=INPUTS))
    row = Obligation(
        trial_id=t.id,
        duty=duty,
        ruleset=ruleset,
        status=status,
        due=due,
        verdict={
            "id": duty,
            "title": f"{duty} duty",
            "status": status,
            "due": due.isoformat() if due else None,
            "explanation": f"Explanation of {duty}",
            "assumptions": ["deferral_months=30"],
            "source": "RULES.md uk-2026",
            "ruleset_version": "uk-2026.1",
            "missing": [],
            **verdict,
        },
        params_version=0,
        as_of=today(),
    )
    db.session.add(row)
    db.session.commit()
    return row


def pdf_text(data: bytes) -> str:
    """All the text of a PDF, whitespace collapsed (pypdf)."""
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    return re.sub(r"\s+", " ", text)


def certificate_rows() -> list[Certificate]:
    db.session.expire_all()
    return list(db.session.query(Certificate).order_by(Certificate.id))


def request_certificate(browser, trial_id: int):
    """Press the trial page's "Make a compliance certificate" button."""
    return browser.post(f"/trials/{trial_id}/certificates", token_from=f"/trials/{trial_id}")
