"""The tracker's public pages: no sign-in, plain English, downloads that match the pages, and
no 500 on any bad parameter (issue 21)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date

import pytest

from portal.services.tracker import recompute
from tests.pages.crawl import crawl, problems, read
from tests.tracker.helpers import uk_trial

AS_OF = date(2027, 8, 1)


@pytest.fixture
def figures(app):
    trials = {
        "overdue": uk_trial("Acme Pharma Ltd", end="2026-06-30"),
        "on_time": uk_trial("Acme Pharma Ltd", end="2026-05-31", results_on=date(2027, 3, 1)),
        "late": uk_trial("Bolt Biotech", end="2026-05-15", results_on=date(2027, 6, 1)),
        "not_due": uk_trial("Cobalt Trials Unit", end="2027-03-31"),
    }
    recompute(date(2027, 7, 31))
    recompute(AS_OF)
    return trials


def test_league_table_shows_each_sponsor_and_when_it_was_worked_out(client, figures):
    page = client.get("/tracker")
    assert page.status_code == 200
    text = read(page.get_data(as_text=True)).text
    assert "UK trial transparency tracker" in text
    assert re.search(r"Figures last worked out \d+ [A-Z][a-z]+ \d{4} at \d\d:\d\d", text)
    # Sorted by overdue, highest first: Acme (1 overdue) leads.
    names = re.findall(r'href="/tracker/sponsors/([a-z0-9-]+)"', page.get_data(as_text=True))
    assert names[0] == "acme-pharma-ltd"
    assert "50%" in text  # Acme: 1 of 2 due reported
    assert "Trials due 3: 1 reported on time, 1 reported late, 1 overdue" in text
    by_name = client.get("/tracker?sort=name&order=asc").get_data(as_text=True)
    assert re.findall(r'href="/tracker/sponsors/([a-z0-9-]+)"', by_name)[:3] == [
        "acme-pharma-ltd",
        "bolt-biotech",
        "cobalt-trials-unit",
    ]
    # The navigation offers the tracker to everyone.
    assert 'href="/tracker"' in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    ["page=abc", "page=-3", "page=0", "page=99999999999999999999", "page=7", "sort=drop+table",
     "sort=name&order=sideways", "sort=percent&order=asc", "page=1.5&sort="],
)  # fmt: skip
def test_bad_parameters_never_fail(client, figures, query):
    response = client.get(f"/tracker?{query}")
    assert response.status_code == 200
    assert "Acme Pharma Ltd" in response.get_data(as_text=True)
    for download in ("/tracker/sponsors.csv", "/tracker/sponsors.json"):
        assert client.get(f"{download}?{query}").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/tracker/sponsors/no-such-sponsor", "/tracker/sponsors/..%2f", "/tracker/trials/999999",
     "/tracker/trials/abc", "/tracker/sponsors/nobody.csv", "/tracker/trials/999999.json",
     "/tracker/trials/99999999999999999999", "/tracker/trials/99999999999999999999.csv",
     "/tracker/sponsors/" + "x" * 300],
)  # fmt: skip
def test_unknown_sponsor_or_trial_is_a_page_not_found(client, figures, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_a_trial_not_tracked_is_not_found(client, figures, app):
    foreign = uk_trial("Acme Pharma Ltd", end="2026-06-30", countries=["France"])
    recompute(AS_OF)
    assert client.get(f"/tracker/trials/{foreign.id}").status_code == 404


def test_sponsor_and_trial_pages(client, figures):
    sponsor = client.get("/tracker/sponsors/acme-pharma-ltd").get_data(as_text=True)
    text = read(sponsor).text
    assert "2 of its 2 trials under the UK 2026 rules are due" in text
    assert "1 reported on time, 0 reported late, 1 overdue (50% reported)" in text
    overdue = figures["overdue"]
    assert f'href="/tracker/trials/{overdue.id}"' in sponsor
    page = read(client.get(f"/tracker/trials/{overdue.id}").get_data(as_text=True)).text
    assert "Summary of results in every registry" in page
    assert "Overdue" in page and "32 days overdue" in page
    assert "Due 30 June 2027" in page
    assert "ClinicalTrials.gov" in page  # the registry source of each fact
    assert "Duties registry records cannot show" in page


def test_downloads_match_the_pages(client, figures):
    response = client.get("/tracker/sponsors.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["sponsor"], r["trials_due"], r["overdue"], r["percentage_reported"]) for r in rows][
        :3
    ] == [("Acme Pharma Ltd", "2", "1", "50"), ("Bolt Biotech", "1", "0", "100"),
          ("Cobalt Trials Unit", "0", "0", "")]  # fmt: skip
    data = json.loads(client.get("/tracker/sponsors.json").get_data(as_text=True))
    assert data["as_of"] == "2027-08-01"
    assert [(r["sponsor"], r["reported_on_time"], r["reported_late"]) for r in data["rows"]] == [
        ("Acme Pharma Ltd", 1, 0),
        ("Bolt Biotech", 0, 1),
        ("Cobalt Trials Unit", 0, 0),
    ]
    page = client.get("/tracker").get_data(as_text=True)
    for row in data["rows"]:
        assert row["sponsor"] in page
    trials = list(
        csv.DictReader(
            io.StringIO(client.get("/tracker/sponsors/acme-pharma-ltd.csv").get_data(as_text=True))
        )
    )
    assert {(r["duty"], r["status"]) for r in trials if r["state"] == "Overdue"} == {
        ("UK-REG", "met"),
        ("UK-RES", "overdue"),
    }
    one = json.loads(client.get(f"/tracker/trials/{figures['late'].id}.json").get_data())
    assert one["rows"][0]["state"] == "late"


def test_changes_lists_the_day_the_duty_became_overdue(client, app):
    row = uk_trial("Acme Pharma Ltd", end="2026-06-30")
    recompute(date(2027, 6, 30))
    recompute(date(2027, 7, 1))
    page = read(client.get("/tracker/changes").get_data(as_text=True)).text
    assert "on 1 July 2027" in page and "Newly overdue (1)" in page
    assert "No longer overdue (0)" in page
    rows = list(csv.DictReader(io.StringIO(client.get("/tracker/changes.csv").get_data(True))))
    assert [(r["list"], r["trial"], r["duty"]) for r in rows] == [
        ("newly_overdue", str(row.id), "UK-RES")
    ]


def test_pages_before_any_figures(client, app):
    for path in ("/tracker", "/tracker/changes", "/tracker/method"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Figures have not been worked out yet" in response.get_data(as_text=True)


def test_every_tracker_page_reads_in_plain_english(client, figures):
    def get(path):
        response = client.get(path)
        return response.status_code, response.get_data(as_text=True)

    failures, visited = [], []
    for path, status, page in crawl(get, start="/tracker"):
        if not path.startswith("/tracker"):
            continue
        visited.append(path)
        if status != 200:
            failures.append(f"{path}: {status}")
            continue
        failures.extend(f"{path}: {p}" for p in problems(page.text))
    assert len(visited) >= 8, visited
    assert not failures, "\n".join(failures)
