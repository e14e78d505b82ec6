"""Journey 1: a new sponsor signs up, confirms the email, creates an organisation; a reviewer
approves it. Also: the same journey by keyboard alone is covered in test_keyboard.py."""

from __future__ import annotations

from tests.browser.conftest import outbox_link


def test_new_sponsor_signs_up_and_a_reviewer_approves_the_organisation(journey):
    server = journey.server
    server.flask("demo", "load")
    journey.go("/")
    journey.screenshot("home")
    journey.page.get_by_role("button", name="Create an account").click()
    journey.check()
    journey.fill("Full name", "Nia Newcomer")
    journey.fill("Work email address", "nia@newcomer-trust.example")
    journey.fill("Password", "a long password")
    journey.fill("Confirm password", "a different one")
    journey.click("Create account")
    assert "Passwords must match" in journey.text()
    assert journey.page.title().startswith("Error:")
    journey.screenshot("register-error")
    journey.fill("Password", "a long password")
    journey.fill("Confirm password", "a long password")
    journey.click("Create account")
    assert "Check your email" in journey.text()

    journey.go(outbox_link(server, "nia@newcomer-trust.example"))
    assert "Create your organisation" in journey.text()
    journey.fill("Organisation name", "Newcomer Trust")
    journey.page.get_by_label("Names the organisation is registered under as sponsor").fill(
        "Newcomer Trust"
    )
    journey.click("Create organisation")
    assert "Pending" in journey.text()
    journey.screenshot("organisation-pending")
    journey.logout()

    journey.login("reviewer@hra.example", "demo-password")
    journey.go("/review/organisations")
    journey.link("Newcomer Trust")
    journey.page.get_by_label("Approve").check()
    journey.click("Save decision")
    assert "Newcomer Trust is now approved" in journey.text()
    journey.screenshot("reviewer-approved")
    journey.logout()

    journey.login("nia@newcomer-trust.example", "a long password")
    journey.go("/trials")
    assert "No trials yet" in journey.text()
    journey.screenshot("empty-dashboard")
