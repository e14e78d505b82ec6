"""/admin/parameters shows each value as text, not as escaped markup, and after a change the
recompute notice says once, in words, where the job stands (issue 16). Read from the page's raw
HTML: unescaping it first would hide markup shown as text."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import BackgroundJob
from tests.factories import PASSWORD, staff
from tests.obligations.test_parameters import URL, VALUES, end_notice_trial


@pytest.fixture
def admin(browser):
    user = staff("admin")
    browser.login(user.email, PASSWORD)
    return user


def _main(page: str) -> str:
    return page.split("<main", 1)[1].split("</main>", 1)[0]


def _visible_text(fragment: str) -> str:
    return re.sub(r"<[^>]+>", " ", fragment)


def test_each_value_is_shown_as_text_not_as_markup(browser, admin):
    page = _main(browser.get(URL).get_data(as_text=True))
    assert "&lt;" not in page and "&gt;" not in page, re.findall(r".{40}&lt;.{40}", page)[:3]
    lists = page.split('class="govuk-summary-list', 1)[1].split("</dl>", 1)[0]
    text = _visible_text(lists)
    assert "30 days" in text and "10 years" in text and "Yes" in text
    assert "~" not in text
    assert '<p class="govuk-body govuk-!-font-weight-bold' in lists  # real markup, once a value


def test_after_saving_the_recompute_notice_is_plain_words(browser, admin, monkeypatch):
    import portal.services.parameters as parameters

    end_notice_trial()
    monkeypatch.setattr(parameters, "INLINE_RECOMPUTE_LIMIT", 0)  # the job is left queued
    response = browser.submit(URL, {**VALUES, "due_soon_days": "45", "note": "check"})
    assert response.status_code == 302
    assert db.session.execute(sa.select(BackgroundJob)).scalar_one().status == "queued"
    page = _main(browser.get(URL).get_data(as_text=True))
    assert "&lt;" not in page
    inset = page.split('class="govuk-inset-text"', 1)[1].split("</div>", 1)[0]
    assert "<strong>" in inset  # markup, not text
    words = " ".join(_visible_text(inset).split())
    assert words.lower().count("waiting for a worker") == 1, words
    assert "Recomputing every trial's obligations with the new parameters" in words
    assert "params" not in words


def _eu_trial_ending(end: str):
    """A Directive trial (EudraCT only) with sites in Germany, ended in all member states."""
    from portal.services.obligations import recompute_for_trials
    from tests.obligations.helpers import make_trial, obligations

    trial = make_trial(
        {"study_type": "interventional", "countries": ["Germany"],
         "eudract_number": "2012-001234-56"},
        [],
        {"end_of_trial_on": end},
    )  # fmt: skip
    recompute_for_trials([trial.id], reason="import")
    db.session.commit()
    return trial, lambda: obligations(trial.id)


def test_an_admin_changes_the_eu_window_start_date_audited_and_recomputed(browser, admin):
    from portal.models import AuditEvent, ParameterSet
    from portal.services.parameters import current_params

    _trial, verdicts = _eu_trial_ending("2014-09-30")
    assert verdicts()["EU-RES"].status != "not_applicable"  # ended inside the EU window

    page = _main(browser.get(URL).get_data(as_text=True))
    assert "Start of the EU window" in page and "21 July 2014" in page
    assert 'name="eu_window_start"' in page and 'value="21"' in page  # the date boxes, filled
    assert "eu_window_start" not in _visible_text(page)

    response = browser.submit(URL, {**VALUES, "eu_window_start": ["1", "1", "2015"],
                                    "note": "EU window moved"})  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    row = db.session.execute(sa.select(ParameterSet)).scalar_one()
    assert row.values["eu_window_start"] == "2015-01-01"
    assert current_params()[1].eu_window_start.isoformat() == "2015-01-01"
    event = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "parameters.changed")
    ).scalar_one()
    assert event.before["values"]["eu_window_start"] == "2014-07-21"
    assert event.after["values"]["eu_window_start"] == "2015-01-01"
    # Ended before the new window: every EU duty is history only.
    assert verdicts()["EU-RES"].status == "not_applicable"
    page = _main(browser.get(URL).get_data(as_text=True))
    assert "1 January 2015" in _visible_text(page) and "2015-01-01" not in _visible_text(page)


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        (["31", "2", "2015"], "Start of the EU window must be a real date"),
        (["1", "", "2015"], "Start of the EU window must include a month"),
        (["", "", ""], "Enter the start of the EU window as day, month and year"),
        (["1", "1", "1850"], "Start of the EU window must be a date from 1900 to 2199"),
        (["x", "1", "2015"], "Start of the EU window must be a real date"),
    ],
)
def test_a_bad_eu_window_date_gets_a_message_next_to_the_field(browser, admin, boxes, message):
    from portal.models import ParameterSet

    response = browser.submit(
        URL, {**VALUES, "due_soon_days": "45", "eu_window_start": boxes, "note": "try"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    at = page.index('id="eu_window_start-error"')  # the field's own error message
    group = page[:at].rsplit('<div class="govuk-form-group', 1)[1]
    assert group.startswith(" govuk-form-group--error") and "Start of the EU window" in group
    assert message in html.unescape(page[at : page.index("</p>", at)])
    assert 'href="#eu_window_start' in page  # the error summary links to the field
    assert 'value="45"' in page  # the other values entered are kept
    assert db.session.execute(sa.select(sa.func.count(ParameterSet.id))).scalar() == 0
