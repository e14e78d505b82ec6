"""The sponsor's dashboard, CSV export, deadline calendar and iCal feed, and who sees what."""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from datetime import date, timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.timeutil import today
from tests.certificates.helpers import obligation
from tests.factories import PASSWORD, OrganisationFactory, member, staff, trial


@contextmanager
def count_queries():
    statements: list[str] = []

    def listener(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)


def test_new_sponsor_sees_how_to_claim_their_first_trial(browser):
    user = member("sponsor")
    browser.login(user.email, PASSWORD)
    html = browser.get("/trials").get_data(as_text=True)
    assert "No trials yet" in html and "Find and claim a trial" in html


def test_dashboard_counts_lists_and_filters_the_organisations_trials(browser):
    org = OrganisationFactory()
    other = OrganisationFactory()
    late = trial(title="Late trial", owner=org)
    obligation(late, "UK-RES", "overdue")
    obligation(late, "UK-REG", "met", due=date(2026, 6, 1))
    soon = trial(title="Soon trial", owner=org)
    obligation(soon, "UK-END", "due_soon", due=today() + timedelta(days=10))
    hidden = trial(title="Someone else's trial", owner=other)
    obligation(hidden, "UK-RES", "overdue")

    user = member("compliance_officer", org)
    browser.login(user.email, PASSWORD)
    html = browser.get("/trials").get_data(as_text=True)
    assert "Late trial" in html and "Soon trial" in html
    assert "Someone else" not in html
    assert html.index("Late trial") < html.index("Soon trial")  # most urgent first
    assert (
        '<span class="app-counts__number">1</span>\n      <span class="app-counts__label">Overdue'
        in html
    )

    html = browser.get("/trials?status=due_soon").get_data(as_text=True)
    assert "Soon trial" in html and "Late trial" not in html
    html = browser.get("/trials?due_within=30&q=soon").get_data(as_text=True)
    assert "Soon trial" in html and "Late trial" not in html
    html = browser.get("/trials?sort=title&page=abc&due_within=-4&status=<script>").get_data(
        as_text=True
    )
    assert "Late trial" in html and "<script>" not in html

    response = browser.get("/trials/export.csv?status=overdue")
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["title"] for r in rows] == ["Late trial"]
    assert rows[0]["next_duty"] == "UK-RES" and rows[0]["overdue"] == "1" and rows[0]["met"] == "1"


def test_csv_export_neutralises_spreadsheet_formulas(browser):
    org = OrganisationFactory()
    trial(title='=HYPERLINK("http://evil")', owner=org)
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    body = browser.get("/trials/export.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in body


def test_the_trial_page_explains_each_verdict(browser):
    org = OrganisationFactory()
    t = trial(title="Explained trial", owner=org)
    obligation(t, "UK-RES", "overdue")
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    html = browser.get(f"/trials/{t.id}").get_data(as_text=True)
    assert "Explanation of UK-RES" in html
    assert "5 days overdue" in html
    assert "ISRCTN ISRCTN1" in html and "Deferral months: 30" in html
    assert "deferral_months" not in html and "RULES.md" not in html  # plain English (issue 18)
    assert "1 January 2025 — ISRCTN ISRCTN1" in html  # facts read as a person reads them


def test_another_organisations_trial_is_a_404_for_every_sponsor_page(browser):
    mine, theirs = OrganisationFactory(), OrganisationFactory()
    foreign = trial(owner=theirs)
    user = member("sponsor_admin", mine)
    browser.login(user.email, PASSWORD)
    for url in (
        f"/trials/{foreign.id}",
        f"/trials/{foreign.id}/facts",
        f"/trials/{foreign.id}/release",
    ):
        assert browser.client.get(url).status_code == 404, url
    response = browser.post(
        f"/trials/{foreign.id}/transfer", {"t-organisation": "1"}, token_from="/trials"
    )
    assert response.status_code == 404


def test_reviewers_see_every_organisations_trials(browser):
    a, b = OrganisationFactory(), OrganisationFactory()
    trial(title="Trial A", owner=a)
    trial(title="Trial B", owner=b)
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    html = browser.get("/trials").get_data(as_text=True)
    assert "Trial A" in html and "Trial B" in html


def test_dashboard_queries_do_not_grow_with_the_number_of_trials(browser):
    org = OrganisationFactory()
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)

    def queries_for_dashboard() -> int:
        with count_queries() as statements:
            browser.get("/trials")
        return len(statements)

    t = trial(owner=org)
    obligation(t)
    small = queries_for_dashboard()
    for _ in range(30):
        t = trial(owner=org)
        obligation(t, "UK-RES", "overdue")
        obligation(t, "UK-REG", "met")
    large = queries_for_dashboard()
    assert large == small, (small, large)
    assert large <= 12

    with count_queries() as statements:
        browser.get(f"/trials/{t.id}")
    # 13 since the page also reads the reviewers' requests beside each duty and works out the
    # facts to check (one statement each, whatever the trial's size); 15 since it also says
    # when each registry was last synced and lists the registries' changes (issue 19).
    assert len(statements) <= 15


def test_calendar_and_private_ical_feed_can_be_revoked(browser, client):
    org = OrganisationFactory()
    t = trial(title="Calendar trial", owner=org)
    obligation(t, "UK-END", "upcoming", due=today() + timedelta(days=40))
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    html = browser.get("/trials/calendar").get_data(as_text=True)
    assert "Calendar trial" in html and "Create a calendar address" in html
    browser.post("/trials/calendar/token", {"action": "new"}, token_from="/trials/calendar")
    html = browser.get("/trials/calendar").get_data(as_text=True)
    feed = (
        html.split('<code class="app-code">')[1].split("</code>")[0].replace("http://localhost", "")
    )
    browser.logout()

    response = client.get(feed)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    assert "BEGIN:VEVENT" in body and "UK-END duty: Calendar trial" in body
    assert f"DTSTART;VALUE=DATE:{(today() + timedelta(days=40)):%Y%m%d}" in body

    browser.login(user.email, PASSWORD)
    browser.post("/trials/calendar/token", {"action": "revoke"}, token_from="/trials/calendar")
    assert client.get(feed).status_code == 404


def test_registries_that_disagree_are_listed_as_data_to_check(browser):
    from portal.models import RegistryEntry

    org = OrganisationFactory()
    t = trial(title="Two registries", owner=org)
    first = t.entries[0]
    first.record = {"facts": {"end_of_trial_on": "2026-09-30", "overall_status": "completed"}}
    db.session.add(
        RegistryEntry(
            trial_id=t.id,
            registry_name="ISRCTN",
            registry_id="ISRCTN11112222",
            content_hash="y" * 64,
            record={"facts": {"end_of_trial_on": "2026-12-31", "overall_status": "completed"}},
        )
    )
    db.session.commit()
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    html = browser.get(f"/trials/{t.id}").get_data(as_text=True)
    assert "The registries disagree on the end of trial date" in html
    assert "ISRCTN ISRCTN11112222 says 31 December 2026" in html
    assert "disagree on the overall status" not in html


def test_dashboard_pages_carry_the_total_and_the_sort_holds_across_pages(browser):
    """Issue 22: the total comes with the page (a window count); it must be the same as counting
    the filtered trials, on every page, past the end and with no match; trials without an open
    duty sort after those with one, as before."""
    org = OrganisationFactory()
    titles = {}
    for n in range(30):
        t = trial(title=f"Paged trial {n:02d}", owner=org)
        titles[n] = t.title
        if n % 3 == 0:
            obligation(t, "UK-RES", "overdue", due=today() - timedelta(days=n + 1))
        elif n % 3 == 1:
            obligation(t, "UK-END", "due_soon", due=today() + timedelta(days=n))
        else:
            obligation(t, "UK-REG", "met", due=date(2026, 6, 1))  # no open duty
    user = member("compliance_officer", org)
    browser.login(user.email, PASSWORD)

    first = browser.get("/trials").get_data(as_text=True)
    second = browser.get("/trials?page=2").get_data(as_text=True)
    past = browser.get("/trials?page=3").get_data(as_text=True)
    assert "30 trials, page 1 of 2." in first and "30 trials, page 2 of 2." in second
    assert "30 trials, page 3 of 2." in past and "Paged trial" not in past.split("30 trials")[1]
    shown = [t for t in titles.values() if t in first] + [t for t in titles.values() if t in second]
    assert sorted(shown) == sorted(titles.values())  # every trial once, across the two pages
    # Most urgent first: the ten overdue trials, then the ten due soon, then the ten with
    # nothing open (five on each page).
    overdue = [titles[n] for n in range(0, 30, 3)]
    due_soon = [titles[n] for n in range(1, 30, 3)]
    nothing_open = [titles[n] for n in range(2, 30, 3)]
    assert all(t in first for t in overdue + due_soon)
    assert max(first.index(t) for t in overdue) < min(first.index(t) for t in due_soon)
    on_first = [t for t in nothing_open if t in first]
    assert len(on_first) == 5 and max(first.index(t) for t in due_soon) < min(
        first.index(t) for t in on_first
    )
    assert [t for t in titles.values() if t in second] == [
        t for t in nothing_open if t not in on_first
    ]
    # Filters: the total is the filtered count, and nothing found says so.
    assert "10 trials." in browser.get("/trials?status=overdue").get_data(as_text=True)
    none = browser.get("/trials?q=no+such+title").get_data(as_text=True)
    assert "0 trials." in none
    # Sorted by title, the same total, and the join the urgency needs is not made.
    by_title = browser.get("/trials?sort=title").get_data(as_text=True)
    assert "30 trials, page 1 of 2." in by_title
    assert by_title.index(titles[0]) < by_title.index(titles[1]) < by_title.index(titles[24])
