"""Journey: a sponsor resolves a data_needed EU-START from the portal (RULES.md "Which EU law
applies" and "Every fact a rule reads can be entered or corrected by the sponsor"): they enter
the trial's EU CT number, then its EU notification (event, member state, dates) on the facts
page, and watch the duty move from "Data needed" to "Met"."""

from __future__ import annotations

import re

from tests.browser.test_journey_claims import SETUP, _date

TRIAL = """
from portal.extensions import db
from portal.models import Organisation
from portal.services.obligations import recompute_for_trials
from tests.factories import trial
org = db.session.execute(db.select(Organisation)).scalars().first()
t = trial(title="EuroHeart trial", owner=org, countries=["Germany", "United Kingdom"])
recompute_for_trials([t.id], reason="test")
db.session.commit()
print(t.id)
"""


def _duty(journey, duty: str) -> str:
    """The heading line of a duty's detail on the trial page: its title and status."""
    return journey.page.locator(f"#duty-{duty} .app-obligation__title").first.inner_text()


def test_sponsor_resolves_eu_start_by_entering_the_eu_events(journey):
    journey.server.python(SETUP)
    trial_id = int(journey.server.python(TRIAL).strip().splitlines()[-1])
    journey.login("sponsor@ststephens.example", "a long password")
    journey.go(f"/trials/{trial_id}")
    journey.screenshot("eu-start-data-needed")
    assert "Data needed" in _duty(journey, "EU-START")
    assert "EudraCT or EU CT number needed" in journey.text()

    # 1. Which EU law: the EU CT number, on the facts form.
    journey.go(f"/trials/{trial_id}/facts")
    journey.fill("EU CT number (CTIS)", "2024-501234-12-00")
    journey.click("Save facts")
    assert "Data needed" in _duty(journey, "EU-START")
    assert "Regulation (EU) No 536/2014" in journey.text()

    # 2. The EU notification: first visit in Germany, notified 9 days later.
    journey.go(f"/trials/{trial_id}/facts")
    journey.page.get_by_label("Event", exact=True).select_option("first_visit")
    journey.fill("Member state", "Germany")
    _date(journey, "Date of the event", 2, 9, 2025)
    _date(journey, "Date notified", 11, 9, 2025)
    journey.screenshot("eu-notification-entered")
    journey.click("Add EU notification")
    journey.screenshot("eu-start-met")
    assert re.search(r"\bMet\b", _duty(journey, "EU-START"))
    assert "first visit of the first participant (Germany) on 2 September 2025" in journey.text()

    # A notification before its event is refused next to the field; nothing else is lost.
    journey.go(f"/trials/{trial_id}/facts")
    journey.page.get_by_label("Event", exact=True).select_option("recruitment_end")
    _date(journey, "Date of the event", 1, 10, 2025)
    _date(journey, "Date notified", 1, 9, 2025)
    journey.click("Add EU notification")
    assert "The notification date must be the same as or after the event." in journey.text()
    assert journey.page.get_by_label("EU CT number (CTIS)").input_value() == "2024-501234-12-00"

    # The facts page and the filtered dashboard work at 390 px wide.
    journey.page.set_viewport_size({"width": 390, "height": 844})
    for path in (f"/trials/{trial_id}/facts", "/trials?facts=1"):
        journey.page.goto(journey.server.url + path)
        journey.page.wait_for_load_state("load")
        width = journey.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    journey.screenshot("facts-page-390px")
