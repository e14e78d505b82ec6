"""Journeys over the pages people act on (issue 18), on the demo data: each role's home page is
a work list; the trial page shows the summary and the first action in the first screen at
1280×800; no page visited scrolls sideways at 390×844 (checked by Journey.check on every page
of every journey, with a screenshot of each at that width)."""

from __future__ import annotations

import re

import pytest

DEMO_PASSWORD = "demo-password"  # noqa: S105


@pytest.fixture
def demo(journey):
    # The demo's records: REGISTRY_SAMPLES, ../shared, or the set the package ships.
    journey.server.flask("demo", "load")
    return journey


def _visit_everything_linked(journey, limit: int = 25) -> None:
    """Follow the service navigation and the first links of the home page (each is checked)."""
    base = journey.server.url
    hrefs = journey.page.eval_on_selector_all(
        "header a[href^='/'], .govuk-service-navigation a[href^='/'], main a[href^='/']",
        "els => els.map(e => e.getAttribute('href'))",
    )
    seen = set()
    for href in hrefs:
        path = href.split("#")[0]
        if not path or path in seen or path.endswith((".csv", ".pdf", ".ics")):
            continue
        seen.add(path)
        journey.page.goto(base + path)
        journey.check()
        if len(seen) >= limit:
            break


@pytest.mark.parametrize(
    ("email", "heading"),
    [
        ("sponsor@demo-trust.example", "What to do next"),
        ("officer@demo-trust.example", "Your portfolio"),
        ("reviewer@hra.example", "Waiting for you"),
        ("admin@portal.example", "Service health"),
    ],
)
def test_each_role_lands_on_its_work_list(demo, email, heading):
    journey = demo
    journey.login(email, DEMO_PASSWORD)
    journey.check()
    journey.screenshot("home")
    assert heading in journey.text()
    _visit_everything_linked(journey)


def test_demo_trial_pages_show_the_summary_and_first_action_in_the_first_screen(demo):
    journey = demo
    journey.page.set_viewport_size({"width": 1280, "height": 800})
    journey.login("sponsor@demo-trust.example", DEMO_PASSWORD)
    journey.go("/trials")
    hrefs = journey.page.eval_on_selector_all(
        "main a[href^='/trials/']", "els => els.map(e => e.getAttribute('href'))"
    )
    links = list(dict.fromkeys(h for h in hrefs if re.fullmatch(r"/trials/\d+", h)))
    assert len(links) >= 4, links
    for href in links:
        journey.go(href)
        journey.page.evaluate("window.scrollTo(0, 0)")
        journey.screenshot("trial-first-screen")
        if journey.page.locator("#duties-summary").count():
            table = journey.page.locator("#duties-summary").bounding_box()
            assert table["y"] < 800, (href, table)
        next_box = journey.page.locator(".app-next-action").bounding_box()
        assert next_box is not None and next_box["y"] + next_box["height"] <= 800, (href, next_box)
        # Overdue rows come before every other kind.
        statuses = journey.page.eval_on_selector_all(
            "#duties-summary tbody td[data-label='Status']", "els => els.map(e => e.innerText)"
        )
        if "Overdue" in statuses:
            assert statuses.index("Overdue") == 0, statuses
