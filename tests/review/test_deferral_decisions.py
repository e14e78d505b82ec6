"""A deferral or waiver a reviewer requested changes on is not applied (issue 16; RULES.md uk-2026
"Deferrals and waivers": "confirmed by a reviewer"): the duty keeps its own due date, or is not
waived, and the verdict says why; one entered again with the changes applies again, and an
approved one stays applied."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Submission
from portal.services import review, sponsor_facts
from portal.services.obligations import recompute_range
from portal.services.parameters import current_params
from tests.factories import staff
from tests.summaries.helpers import DUE, obligation, sponsor_with_trial

DEFERRAL = {"duty": "UK-PART", "reference": "HRA-DEF-9", "requested_on": date(2026, 11, 1),
            "until": date(2028, 10, 1)}  # fmt: skip
DEFERRED_TO = date(2028, 10, 1)


def _add(user, trial, key: str, entry: dict) -> Submission:
    current = {k: f.value for k, f in sponsor_facts.current_facts(trial.id).items()}
    sponsor_facts.set_facts(user, trial, {key: [*(current.get(key) or []), entry]})
    db.session.commit()
    return db.session.execute(
        sa.select(Submission)
        .where(Submission.trial_id == trial.id, Submission.kind == key[:-1])
        .order_by(Submission.id.desc())
        .limit(1)
    ).scalar_one()


def test_a_deferral_sent_back_does_not_move_the_due_date_and_the_verdict_says_why(app):
    _org, user, trial = sponsor_with_trial()
    asked = _add(user, trial, "deferrals", DEFERRAL)
    row = obligation(trial.id, "UK-PART")
    assert row.status == "deferred" and row.due == DEFERRED_TO  # applied while waiting

    review.decide(staff("reviewer"), asked.id, "request_changes", "The HRA letter is missing.")
    db.session.commit()
    row = obligation(trial.id, "UK-PART")
    assert row.due == DUE and row.status in ("upcoming", "due_soon", "overdue")
    assert row.verdict.get("deferred_until") is None
    text = row.verdict["explanation"]
    assert "The deferral (HRA-DEF-9) is not applied: a reviewer asked for changes" in text
    assert 'The reviewer said: "The HRA letter is missing."' in text
    assert "Enter the deferral again with the changes asked for." in text
    # The daily recompute, from the facts stored with the verdicts, keeps both.
    version, params = current_params()
    recompute_range(0, trial.id, reason="daily", as_of=date(2027, 1, 5), version=version,
                    params=params)  # fmt: skip
    db.session.commit()
    row = obligation(trial.id, "UK-PART")
    assert (
        row.due == DUE and "The deferral (HRA-DEF-9) is not applied" in row.verdict["explanation"]
    )

    # Entered again with the changes: waiting for review, applied again.
    again = _add(user, trial, "deferrals", {**DEFERRAL, "reference": "HRA-DEF-9A"})
    row = obligation(trial.id, "UK-PART")
    assert row.status == "deferred" and row.due == DEFERRED_TO
    review.decide(staff("reviewer"), again.id, "approve", "")
    db.session.commit()
    row = obligation(trial.id, "UK-PART")
    assert row.status == "deferred" and row.due == DEFERRED_TO
    # The old, sent-back entry still says why it does not count.
    assert "The deferral (HRA-DEF-9) is not applied" in row.verdict["explanation"]


def test_a_waiver_sent_back_does_not_waive_the_duty(app):
    _org, user, trial = sponsor_with_trial()
    asked = _add(user, trial, "waivers", {"duty": "UK-PART", "reference": "HRA-W-1"})
    assert obligation(trial.id, "UK-PART").status == "waived"

    review.decide(staff("reviewer"), asked.id, "request_changes", "Not a waiver ground.")
    db.session.commit()
    row = obligation(trial.id, "UK-PART")
    assert row.status != "waived" and row.due == DUE
    assert "The waiver (HRA-W-1) is not applied" in row.verdict["explanation"]


def test_an_approved_deferral_stays_applied(app):
    _org, user, trial = sponsor_with_trial()
    asked = _add(user, trial, "deferrals", DEFERRAL)
    review.decide(staff("reviewer"), asked.id, "approve", "")
    db.session.commit()
    row = obligation(trial.id, "UK-PART")
    assert row.status == "deferred" and row.due == DEFERRED_TO
    assert "not applied" not in row.verdict["explanation"]
