"""The trial page lists the facts to check, each fact with its value and source, and the
dashboard filters trials with facts to check (RULES.md "Facts that contradict each other")."""

from __future__ import annotations

from portal.services import sponsor_facts
from portal.timeutil import today
from tests.factories import PASSWORD, OrganisationFactory, member, trial


def test_trial_page_and_dashboard_show_the_facts_to_check(browser):
    org = OrganisationFactory()
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    bad = trial(title="Old record new dates", owner=org, end_of_trial_on="2014-10",
                countries=["United Kingdom"])  # fmt: skip
    good = trial(title="Consistent trial", owner=org, countries=["United Kingdom"])
    for t in (bad, good):
        sponsor_facts.set_facts(
            user, t, {"application_submitted_on": "2026-05-10", "approved_on": "2026-06-01"},
            as_of=today(),
        )  # fmt: skip
    html = browser.get(f"/trials/{bad.id}").get_data(as_text=True)
    assert "Facts to check" in html and "END-BEFORE-APPLICATION" in html
    assert "End of trial: October 2014 (read as 31 October 2014) (ClinicalTrials.gov" in html
    assert f"UK application submitted: 10 May 2026 (entered by {user.email}" in html
    assert "Affects UK-RES, UK-PART, UK-END." in html
    assert "days overdue" not in html
    assert "Facts to check" not in browser.get(f"/trials/{good.id}").get_data(as_text=True)

    listed = browser.get("/trials?facts=1").get_data(as_text=True)
    assert "Old record new dates" in listed and "Consistent trial" not in listed
    assert 'name="facts" type="checkbox" value="1" checked' in listed
    everything = browser.get("/trials").get_data(as_text=True)
    assert "Old record new dates" in everything and "Consistent trial" in everything

    # Correcting the end of trial on the facts form resolves the conflict.
    browser.submit(f"/trials/{bad.id}/facts", {"end_of_trial_on": ["30", "9", "2026"],
                                               "application_submitted_on": ["10", "5", "2026"],
                                               "approved_on": ["1", "6", "2026"]})  # fmt: skip
    html = browser.get(f"/trials/{bad.id}").get_data(as_text=True)
    assert "END-BEFORE-APPLICATION" not in html
    # the registry's date is kept beside the sponsor's: now a warning that they disagree
    assert "END-DATES-DISAGREE" in html
    assert "Old record new dates" in browser.get("/trials?facts=1").get_data(as_text=True)
