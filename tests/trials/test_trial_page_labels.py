"""The trial page names facts by their labels (portal.rules.labels), never by their keys with the
underscores swapped for spaces: in "Data to check", in "How this was worked out" and in the facts
from the registries (issue 16)."""

from __future__ import annotations

import html
import re

from portal.services import sponsor_facts
from portal.timeutil import today
from tests.factories import PASSWORD, OrganisationFactory, member, trial


def test_data_to_check_and_how_this_was_worked_out_use_the_fact_labels(browser):
    org = OrganisationFactory()
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    # Sites in Germany and neither EU number known: every EU duty needs one of them.
    t = trial(title="EU sites, no EU number", owner=org,
              countries=["United Kingdom", "Germany"])  # fmt: skip
    sponsor_facts.set_facts(
        user, t, {"application_submitted_on": "2026-05-10", "approved_on": "2026-06-01"},
        as_of=today(),
    )  # fmt: skip
    page = html.unescape(browser.get(f"/trials/{t.id}").get_data(as_text=True))
    # The summary table's "what to do" for the duties waiting for an EU number.
    table = page.split("Duties, most urgent first", 1)[1].split("Each duty in detail", 1)[0]
    assert "Enter: EudraCT number or EU CT number (CTIS)" in table
    assert "eudract number" not in table and "_" not in re.sub(r"<[^>]+>", "", table)

    worked_out = page.split("How this was worked out", 1)[1]
    assert "UK application submitted" in worked_out and "Countries with sites" in worked_out
    assert "Application submitted on" not in page and "Approved on" not in page
    registry = page.split("Facts from the registries", 1)[1].split("</dl>", 1)[0]
    assert "Countries with sites" in registry
