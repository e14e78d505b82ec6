"""Deferrals (RULES.md uk-2026 "Deferrals and waivers"): asked for a duty not yet done and before
its due date. A duty already done keeps its own due date; the page and the verdict's text name
one due date, the one in force (issue 16)."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import SponsorFact, Submission
from portal.rules import DEFAULT_PARAMS, Facts, evaluate
from portal.rules.dates import format_date
from portal.services import summaries
from tests.factories import PASSWORD
from tests.summaries.helpers import DUE, LAY_SUMMARY, obligation, sponsor_with_trial

BASE = {
    "application_submitted_on": "2026-05-01",
    "approved_on": "2026-06-01",
    "first_participant_on": "2026-07-15",
    "end_of_trial_on": "2026-09-30",
    "countries": ["United Kingdom"],
}


def _verdict(duty: str, as_of: date, **facts):
    f = Facts.from_dict({**BASE, **facts})
    return next(o for o in evaluate(f, as_of, DEFAULT_PARAMS) if o.id == duty)


def _deferral(requested: str, until: str, duty: str = "UK-PART"):
    return {"duty": duty, "reference": "HRA-D1", "requested_on": requested, "until": until}


def _by_dates(text: str) -> list[str]:
    return re.findall(r"by (\d{1,2} [A-Z][a-z]+ \d{4})", text)


def test_a_deferral_asked_after_the_duty_was_done_changes_nothing():
    o = _verdict(
        "UK-PART",
        date(2028, 12, 1),
        participant_summary_offered_on="2026-10-15",
        deferrals=[_deferral("2026-11-01", "2028-10-01")],
    )
    assert o.status == "met" and o.due == date(2027, 9, 30)
    assert o.deferred_until is None
    assert "is ignored: the duty was already done" in o.explanation
    assert _by_dates(o.explanation)[0] == format_date(o.due)


def test_a_duty_done_on_time_keeps_its_own_due_date_even_with_an_earlier_deferral():
    o = _verdict(
        "UK-PART",
        date(2028, 12, 1),
        participant_summary_offered_on="2026-10-15",
        deferrals=[_deferral("2026-10-01", "2028-10-01")],
    )
    assert o.status == "met" and o.due == date(2027, 9, 30) and o.deferred_until is None
    assert "2028" not in o.explanation


def test_a_deferral_asked_in_time_moves_the_due_date_and_the_text_names_it():
    o = _verdict("UK-PART", date(2027, 1, 1), deferrals=[_deferral("2026-11-01", "2028-10-01")])
    assert o.status == "deferred" and o.due == date(2028, 10, 1)
    assert _by_dates(o.explanation)[0] == "1 October 2028"
    assert "deferred from 30 September 2027" in o.explanation

    # Done late but during the deferral: met, against the deferred due date.
    late = _verdict(
        "UK-PART",
        date(2028, 12, 1),
        participant_summary_offered_on="2028-01-10",
        deferrals=[_deferral("2026-11-01", "2028-10-01")],
    )
    assert late.status == "met" and late.due == date(2028, 10, 1)
    assert _by_dates(late.explanation)[0] == "1 October 2028"


def test_a_deferral_asked_after_the_due_date_is_ignored():
    o = _verdict("UK-PART", date(2028, 1, 1), deferrals=[_deferral("2027-10-01", "2028-10-01")])
    assert o.status == "overdue" and o.due == date(2027, 9, 30)
    assert "not requested before the due date" in o.explanation


@pytest.mark.parametrize("duty", ["UK-REG", "UK-RES", "UK-PART"])
@pytest.mark.parametrize(
    "requested, until", [("2026-06-02", "2029-01-31"), ("2026-11-01", "2027-06-30")]
)
def test_the_text_names_the_due_date_the_verdict_has(duty, requested, until):
    for as_of in (date(2026, 12, 1), date(2028, 1, 1), date(2030, 1, 1)):
        o = _verdict(duty, as_of, deferrals=[_deferral(requested, until, duty)])
        if o.due is not None:
            assert _by_dates(o.explanation)[0] == format_date(o.due), o.explanation


# --- through the page ---------------------------------------------------------------------------


@pytest.fixture
def sponsor(app, browser):
    org, user, trial = sponsor_with_trial()
    browser.login(user.email, PASSWORD)
    return org, user, trial


def _ask(browser, trial_id: int, duty: str, requested: date, until: date):
    def day(d):
        return [str(d.day), str(d.month), str(d.year)]

    return browser.post(
        f"/trials/{trial_id}/deferrals",
        {
            "d-kind": "deferral",
            "d-duty": duty,
            "d-reference": "HRA-DEF-9",
            "d-requested_on": day(requested),
            "d-until": day(until),
        },
        token_from=f"/trials/{trial_id}/facts",
    )


def _nothing_asked(trial_id: int) -> bool:
    deferrals = db.session.execute(
        sa.select(SponsorFact).where(
            SponsorFact.trial_id == trial_id, SponsorFact.key == "deferrals"
        )
    ).scalar_one_or_none()
    submissions = db.session.execute(
        sa.select(Submission).where(Submission.kind == "deferral")
    ).scalar_one_or_none()
    return deferrals is None and submissions is None


def test_a_deferral_of_a_duty_already_done_is_refused_with_a_message(sponsor, browser):
    _org, user, trial = sponsor
    summaries.record_offer(
        user,
        trial,
        offered_on=date(2026, 10, 15),
        method="letter",
        audience=["participants"],
        summary_version_id=None,
        data=LAY_SUMMARY.encode(),
        filename="sent.txt",
    )
    assert obligation(trial.id, "UK-PART").status == "met"
    response = _ask(browser, trial.id, "UK-PART", date(2026, 11, 1), date(2028, 10, 1))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "There is a problem" in html
    assert "not yet done: UK-PART was done on 15 October 2026" in html
    assert _nothing_asked(trial.id)
    row = obligation(trial.id, "UK-PART")
    assert row.status == "met" and row.due == DUE


def test_a_deferral_asked_after_the_due_date_is_refused(sponsor, browser):
    _org, _user, trial = sponsor
    # UK-REG was due 14 July 2026 (the day before the first participant).
    response = _ask(browser, trial.id, "UK-REG", date(2026, 8, 1), date(2027, 1, 1))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "There is a problem" in html
    assert "was done on" in html or "before the duty&#39;s deadline" in html
    assert _nothing_asked(trial.id)


def test_the_page_shows_one_due_date_and_the_text_agrees(sponsor, browser):
    _org, _user, trial = sponsor
    response = _ask(browser, trial.id, "UK-PART", date(2026, 11, 1), date(2028, 10, 1))
    assert response.status_code == 302
    row = obligation(trial.id, "UK-PART")
    assert row.status == "deferred" and row.due == date(2028, 10, 1)
    page = browser.get(f"/trials/{trial.id}").get_data(as_text=True)
    block = page.split('id="duty-UK-PART"', 1)[1].split("How this was worked out", 1)[0]
    assert "Due 1 October 2028" in block
    dates = block.split("Due 1 October 2028", 1)[1].split("</p>", 1)[0]  # the line of dates
    assert "Deferred until" not in dates  # the due date is the deferral's end: said once
    assert "1 October 2028" not in dates
    assert set(_by_dates(block)) == {"1 October 2028"}
    assert "30 September 2027" not in re.sub(r"deferred from 30 September 2027", "", block)
