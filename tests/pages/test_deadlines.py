"""The Deadlines page and the iCal feed list overdue duties first, however old (issue 18)."""

from __future__ import annotations

from datetime import timedelta

from portal.timeutil import today
from tests.certificates.helpers import obligation
from tests.factories import PASSWORD, OrganisationFactory, member, trial


def test_overdue_duties_come_first_on_the_page_and_in_the_feed(browser, client):
    org = OrganisationFactory()
    old = trial(title="Long overdue trial", owner=org)
    obligation(old, "UK-RES", "overdue", due=today() - timedelta(days=800), title="Post results")
    recent = trial(title="Recently overdue trial", owner=org)
    obligation(recent, "UK-END", "overdue", due=today() - timedelta(days=3), title="Notify end")
    soon = trial(title="Soon trial", owner=org)
    obligation(soon, "UK-REG", "due_soon", due=today() + timedelta(days=5), title="Register")
    met = trial(title="Met trial", owner=org)
    obligation(met, "UK-REG", "met", due=today() - timedelta(days=5), title="Registered")

    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    html = browser.get("/trials/calendar").get_data(as_text=True)
    assert "Overdue (2)" in html and "Met trial" not in html
    assert html.index("Long overdue trial") < html.index("Recently overdue trial")
    assert html.index("Recently overdue trial") < html.index("Soon trial")

    browser.post("/trials/calendar/token", {"action": "new"}, token_from="/trials/calendar")
    html = browser.get("/trials/calendar").get_data(as_text=True)
    feed = html.split('<code class="app-code">')[1].split("</code>")[0]
    body = client.get(feed.replace("http://localhost", "")).get_data(as_text=True)
    summaries = [line for line in body.split("\r\n") if line.startswith("SUMMARY:")]
    assert summaries[0] == "SUMMARY:OVERDUE: Post results: Long overdue trial"
    assert summaries[1].startswith("SUMMARY:OVERDUE: Notify end")
    assert summaries[2] == "SUMMARY:Register: Soon trial"
    assert len(summaries) == 3
