"""The audit log pages: reviewers filter and export every event; sponsors see only their own
organisation's, and another organisation's ids answer 404."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from portal.services import transactional
from portal.services.audit import record
from portal.timeutil import today
from tests.factories import PASSWORD, OrganisationFactory, member, staff, trial
from tests.summaries.helpers import sponsor_with_trial


def _day(value: date) -> list[str]:
    return [str(value.day), str(value.month), str(value.year)]


@pytest.fixture
def two_orgs(app):
    """Organisations A and B, each with a sponsor who has entered facts on their own trial."""
    org_a, sponsor_a, trial_a = sponsor_with_trial(title="Alpha")
    org_b, sponsor_b, trial_b = sponsor_with_trial(title="Bravo")
    return {
        "a": (org_a, sponsor_a, trial_a),
        "b": (org_b, sponsor_b, trial_b),
    }


def _csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_reviewers_see_everything_and_filter_it(two_orgs, browser):
    org_a, sponsor_a, trial_a = two_orgs["a"]
    org_b, sponsor_b, trial_b = two_orgs["b"]
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)

    everything = browser.get("/audit").get_data(as_text=True)
    assert sponsor_a.email in everything and sponsor_b.email in everything

    by_org = browser.get(f"/audit?organisation={org_a.id}").get_data(as_text=True)
    assert sponsor_a.email in by_org and sponsor_b.email not in by_org

    by_trial = browser.get(f"/audit?trial={trial_b.id}").get_data(as_text=True)
    assert sponsor_b.email in by_trial and sponsor_a.email not in by_trial
    assert f"Trial {trial_b.id}" in by_trial

    by_user = browser.get(f"/audit?user={sponsor_a.email.split('@')[0].upper()}")
    assert sponsor_b.email not in by_user.get_data(as_text=True)

    by_action = browser.get("/audit?action=trial.facts_changed").get_data(as_text=True)
    assert "2 events" in by_action

    tomorrow = today() + timedelta(days=1)
    later = browser.client.get("/audit", query_string={"date_from": _day(tomorrow)})
    assert "0 events" in later.get_data(as_text=True)
    now = browser.client.get(
        "/audit", query_string={"date_from": _day(today()), "date_to": _day(today())}
    )
    assert "3 events" in now.get_data(as_text=True)  # two facts_changed and the sign-in


def test_bad_filters_get_a_clear_message_not_an_error(two_orgs, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    response = browser.client.get(
        "/audit", query_string={"trial": "abc", "date_from": ["31", "2", "2026"]}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Enter the trial number in digits" in html and "must be a real date" in html
    csv_response = browser.client.get("/audit/export.csv", query_string={"trial": "abc"})
    assert csv_response.status_code == 302 and "/audit?" in csv_response.location


def test_the_csv_export_is_streamed_with_the_same_filters(two_orgs, browser):
    org_a, sponsor_a, _trial_a = two_orgs["a"]
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    response = browser.get(f"/audit/export.csv?organisation={org_a.id}")
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = _csv(response)
    assert rows and {r["organisation_id"] for r in rows} == {str(org_a.id)}
    assert {r["actor"] for r in rows} == {sponsor_a.email}
    assert len(rows[0]["hash"]) == 64


def test_sponsors_see_only_their_own_organisations_events(two_orgs, browser):
    org_a, sponsor_a, trial_a = two_orgs["a"]
    org_b, sponsor_b, trial_b = two_orgs["b"]
    browser.login(sponsor_a.email, PASSWORD)
    html = browser.get("/audit").get_data(as_text=True)
    assert sponsor_a.email in html and sponsor_b.email not in html
    rows = _csv(browser.get("/audit/export.csv"))
    assert rows and {r["organisation_id"] for r in rows} == {str(org_a.id)}
    assert browser.client.get(f"/audit?organisation={org_b.id}").status_code == 404
    assert browser.client.get(f"/audit?trial={trial_b.id}").status_code == 404
    assert browser.client.get(f"/audit/export.csv?trial={trial_b.id}").status_code == 404
    own = browser.get(f"/audit?trial={trial_a.id}").get_data(as_text=True)
    assert sponsor_a.email in own
    # A compliance officer of A sees the same; nobody of B's ever sees A's events.
    browser.logout()
    officer = member("compliance_officer", org_a)
    browser.login(officer.email, PASSWORD)
    assert sponsor_a.email in browser.get("/audit").get_data(as_text=True)


def test_the_log_is_paginated(two_orgs, browser):
    org_a, _sponsor, _trial = two_orgs["a"]

    @transactional
    def many() -> None:
        for i in range(60):
            record("test.bulk", "thing", i, organisation_id=org_a.id)

    many()
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    first = browser.get("/audit?action=test.bulk").get_data(as_text=True)
    assert "60 events" in first and "Page 1 of 2" in first
    assert first.count("Test bulk</td>") == 50
    second = browser.get("/audit?action=test.bulk&page=2").get_data(as_text=True)
    assert second.count("Test bulk</td>") == 10
    assert len(_csv(browser.get("/audit/export.csv?action=test.bulk"))) == 60


def test_anonymous_users_are_sent_to_sign_in(client):
    for url in ("/audit", "/audit/export.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location


def test_the_log_describes_actions_and_changes_in_words(browser):
    org = OrganisationFactory()
    sponsor = member("sponsor", org)
    t = trial(owner=org)

    @transactional
    def change() -> None:
        record(
            "trial.facts_changed",
            "trial",
            t.id,
            organisation_id=org.id,
            before={"end_of_trial_on": None},
            after={"end_of_trial_on": "2026-09-30"},
        )

    change()
    browser.login(sponsor.email, PASSWORD)
    html = browser.get("/audit").get_data(as_text=True)
    assert "Facts changed" in html and "trial.facts_changed</td>" not in html
    assert "End of trial: not set → 30 September 2026" in html
    assert "end_of_trial_on" not in html and "2026-09-30" not in html
