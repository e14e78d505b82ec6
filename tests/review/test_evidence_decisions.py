"""Evidence decisions reach duties (issue 16): participant-offer evidence a reviewer requested
changes on, or a duty with "problem found" in an audit sample, does not meet the duty, and the
verdict says why; approval (or a confirmed finding) restores it; certificates follow."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditSampleItem, Submission
from portal.rules import DEFAULT_PARAMS
from portal.rules.evidence import withhold
from portal.rules.model import DUE_SOON, MET, MET_LATE, OVERDUE, UPCOMING
from portal.services import review, summaries
from tests.certificates.conftest import work  # noqa: F401  (the real RQ worker fixture)
from tests.certificates.helpers import certificate_rows, pdf_text, request_certificate
from tests.factories import PASSWORD, staff
from tests.summaries.helpers import DUE, LAY_SUMMARY, obligation, sponsor_with_trial


def _offer(user, trial, on=date(2026, 10, 15)):
    return summaries.record_offer(
        user,
        trial,
        offered_on=on,
        method="email",
        audience=["participants"],
        summary_version_id=None,
        data=LAY_SUMMARY.encode(),
        filename="sent.txt",
    )


def _submission(trial_id: int) -> Submission:
    return db.session.execute(
        sa.select(Submission)
        .where(Submission.trial_id == trial_id, Submission.kind == "participant_offer")
        .order_by(Submission.id.desc())
        .limit(1)
    ).scalar_one()


@pytest.fixture
def offered(app):
    org, user, trial = sponsor_with_trial()
    _offer(user, trial)
    assert obligation(trial.id, "UK-PART").status == MET
    return org, user, trial


def test_changes_requested_on_the_offer_reopens_uk_part_and_says_why(offered):
    _org, user, trial = offered
    reviewer = staff("reviewer")
    review.decide(reviewer, _submission(trial.id).id, "request_changes", "The letter is unsigned.")
    row = obligation(trial.id, "UK-PART")
    assert row.status == UPCOMING and row.due == DUE
    text = row.verdict["explanation"]
    assert "does not count as done" in text and "asked for changes" in text
    assert "The letter is unsigned." in text and "Done on" not in text
    assert row.verdict["met_on"] is None

    # The sponsor records the offer again; the reviewer approves it: met again.
    _offer(user, trial, on=date(2026, 11, 1))
    assert obligation(trial.id, "UK-PART").status == MET
    review.decide(reviewer, _submission(trial.id).id, "approve", "")
    row = obligation(trial.id, "UK-PART")
    assert row.status == MET and row.verdict["met_on"] == "2026-11-01"
    assert "does not count" not in row.verdict["explanation"]


def test_the_daily_recompute_keeps_the_evidence_withheld(offered):
    from portal.domain.parameters import current_params
    from portal.services.obligations import recompute_range
    from portal.timeutil import today

    _org, _user, trial = offered
    review.decide(staff("reviewer"), _submission(trial.id).id, "request_changes", "Unsigned.")
    db.session.commit()
    version, params = current_params()
    recompute_range(0, trial.id, reason="daily", as_of=today(), version=version, params=params)
    db.session.commit()
    assert obligation(trial.id, "UK-PART").status == UPCOMING


def test_a_problem_found_in_an_audit_sample_reopens_the_duty_until_confirmed(offered, browser):
    _org, _user, trial = offered
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    response = browser.submit("/review/samples", {"size": "50"})
    sample_url = response.location
    item = db.session.execute(
        sa.select(AuditSampleItem).where(
            AuditSampleItem.trial_id == trial.id, AuditSampleItem.duty == "UK-PART"
        )
    ).scalar_one()
    url = f"{sample_url}/items/{item.id}"
    browser.post(
        url,
        {f"f{item.id}-finding": "problem", f"f{item.id}-notes": "No copy of the letter."},
        token_from=sample_url,
    )
    row = obligation(trial.id, "UK-PART")
    assert row.status == UPCOMING
    assert "found a problem" in row.verdict["explanation"]
    assert "No copy of the letter." in row.verdict["explanation"]

    page = browser.get(f"/trials/{trial.id}").get_data(as_text=True)
    assert "found a problem" in page

    browser.post(url, {f"f{item.id}-finding": "confirmed"}, token_from=sample_url)
    assert obligation(trial.id, "UK-PART").status == MET


def test_a_certificate_issued_after_changes_were_requested_does_not_state_the_duty_met(
    offered,
    browser,
    work,  # noqa: F811  (the fixture imported above)
):
    _org, user, trial = offered
    review.decide(staff("reviewer"), _submission(trial.id).id, "request_changes", "Unsigned.")
    db.session.commit()
    browser.login(user.email, PASSWORD)
    request_certificate(browser, trial.id)
    cert_id = certificate_rows()[-1].id
    work()
    text = pdf_text(browser.get(f"/certificates/{cert_id}/certificate.pdf").get_data())
    # The UK-PART heading, up to the next duty's id.
    part = re.split(r"\b(?:UK|EU|US)-[A-Z]+\b", text.split("UK-PART", 1)[1], maxsplit=1)[0]
    assert "UPCOMING" in part and not re.search(r"\bMET\b", part)

    assert "asked for changes" in text


@pytest.mark.parametrize(
    "as_of, status",
    [(date(2027, 10, 1), OVERDUE), (date(2027, 9, 10), DUE_SOON), (date(2027, 1, 1), UPCOMING)],
)
def test_withhold_derives_the_status_from_the_due_date(as_of, status):
    from portal.rules import Facts, evaluate

    facts = Facts.from_dict(
        {
            "application_submitted_on": "2026-05-01",
            "approved_on": "2026-06-01",
            "end_of_trial_on": "2026-09-30",
            "participant_summary_offered_on": "2026-10-15",
        }
    )
    part = next(o for o in evaluate(facts, as_of, DEFAULT_PARAMS) if o.id == "UK-PART")
    assert part.status in (MET, MET_LATE)
    out = withhold(part, "a reviewer asked for changes", as_of, DEFAULT_PARAMS)
    assert out.status == status and out.met_on is None and out.due == part.due
    assert out.explanation.endswith(("overdue.", "Not done yet."))
    assert "a reviewer asked for changes." in out.explanation
    # Anything not met is left as it is.
    assert withhold(out, "x", as_of, DEFAULT_PARAMS) is out
