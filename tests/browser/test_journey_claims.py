"""Journey 2: the sponsor claims an imported trial (verified automatically) and another that
needs a reviewer, enters the UK facts, and sees the obligations change. The same journey is
then completed with the keyboard alone."""

from __future__ import annotations

from tests.conftest import SAMPLES

# Two real UK trials from the project's samples: one whose registered sponsor is a name the
# organisation is registered under (claimed automatically), one whose sponsor is not.
OWN = SAMPLES / "ctgov-classic-xml/aact-fixtures/NCT01841593.xml"  # St Stephens Aids Trust
OTHER = SAMPLES / "ctgov-classic-xml/aact-fixtures/NCT03424005.xml"  # Hoffmann-La Roche
OWN_TITLE = "A Two Way Cross Over Pharmacokinetic Interaction Study"

SETUP = """
from werkzeug.security import generate_password_hash
from portal.extensions import db
from portal.models import Membership, Organisation, User
from portal.timeutil import utcnow
org = Organisation(name="St Stephens Clinical Research", email_domains=["ststephens.example"],
                   sponsor_names=["St Stephens Aids Trust"], status="approved")
db.session.add(org); db.session.flush()
for email, role in (("sponsor@ststephens.example", None), ("reviewer@hra.example", "reviewer")):
    user = User(email=email, full_name=email, system_role=role, email_confirmed_at=utcnow(),
                password_hash=generate_password_hash("a long password"))
    db.session.add(user); db.session.flush()
    if role is None:
        db.session.add(Membership(user_id=user.id, organisation_id=org.id, role="sponsor"))
db.session.commit()
"""


def _prepare(server) -> None:
    server.python(SETUP)
    out = server.flask("trials", "import", str(OWN), str(OTHER))
    assert "created" in out.lower()


def _date(journey, legend: str, day: int, month: int, year: int) -> None:
    group = journey.page.get_by_role("group", name=legend)
    group.get_by_label("Day").fill(str(day))
    group.get_by_label("Month").fill(str(month))
    group.get_by_label("Year").fill(str(year))


def claim_first_result(journey, relation: str = "The sponsor") -> None:
    """From search results: open the claim page, say what the organisation is, confirm, send."""
    journey.link("Claim it")
    journey.screenshot("claim-form")
    journey.page.get_by_label(relation, exact=True).check()
    journey.page.get_by_label("I confirm that my organisation is responsible").check()
    journey.click("Claim this trial")


def test_sponsor_claims_trials_enters_facts_and_sees_duties_change(journey):
    _prepare(journey.server)
    journey.login("sponsor@ststephens.example", "a long password")
    journey.go("/trials/find")
    journey.fill("Registry id, title or sponsor name", "NCT01841593")
    journey.click("Search")
    journey.screenshot("find")
    journey.link("See what the registries say")
    journey.screenshot("public-view")
    assert "No organisation has claimed this trial yet" in journey.text()
    journey.link("Claim this trial")
    journey.click("Claim this trial")  # nothing chosen: errors beside the fields, nothing sent
    assert "Choose what your organisation is to this trial" in journey.text()
    journey.screenshot("claim-errors")
    journey.page.get_by_label("The sponsor", exact=True).check()
    journey.page.get_by_label("I confirm that my organisation is responsible").check()
    journey.click("Claim this trial")
    journey.check("claimed-automatically")
    assert "It matched your organisation" in journey.text()
    assert OWN_TITLE in journey.text()
    before = journey.text()
    assert "UK-REG" in before

    journey.link("Enter or change facts")
    _date(journey, "Application submitted", 10, 5, 2026)
    _date(journey, "UK approval date", 1, 6, 2026)
    _date(journey, "First UK participant recruited", 15, 5, 2026)
    journey.click("Save facts")
    assert (
        "The first UK participant must be recruited on or after the UK approval date"
        in journey.text()
    )
    journey.screenshot("facts-error")
    _date(journey, "First UK participant recruited", 15, 7, 2026)
    journey.click("Save facts")
    journey.check("duties-after-facts")
    after = journey.text()
    assert "Due 14 July 2026" in after  # UK-REG: the day before the first participant
    assert after != before

    journey.go("/trials/find")
    journey.fill("Registry id, title or sponsor name", "NCT03424005")
    journey.click("Search")
    claim_first_result(journey, "The sponsor's legal representative in the UK")
    journey.check("claim-sent-to-reviewer")
    assert "Claim sent to a reviewer" in journey.text()
    journey.logout()

    journey.login("reviewer@hra.example", "a long password")
    journey.go("/review/claims")
    journey.link("Morpheus-TNBC")
    assert "does not match the organisation's names" in journey.text()
    assert "The sponsor's legal representative in the UK" in journey.text()
    assert journey.page.get_by_role("link", name="Open the trial").count() == 1
    journey.page.get_by_label("Approve").check()
    journey.click("Save decision")
    journey.logout()

    journey.login("sponsor@ststephens.example", "a long password")
    journey.go("/trials")
    journey.screenshot("dashboard")
    assert "Morpheus-TNBC" in journey.text()
    assert OWN_TITLE in journey.text()


def test_claiming_and_entering_facts_by_keyboard_alone(journey):
    """Journey 2 without a mouse: Tab to fields and buttons, type, press Enter."""
    _prepare(journey.server)
    page = journey.page
    journey.go("/login")
    page.keyboard.press("Tab")  # skip link
    focused = page.evaluate("document.activeElement.textContent")
    assert "Skip to main content" in focused
    page.get_by_label("Email address", exact=True).focus()
    page.keyboard.type("sponsor@ststephens.example")
    page.keyboard.press("Tab")
    page.keyboard.type("a long password")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "What to do next" in journey.text(), journey.text()[:500]
    journey.go("/trials/find")
    page.get_by_label("Registry id, title or sponsor name").focus()
    page.keyboard.type("NCT01841593")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_role("link", name="Claim it").first.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_label("The sponsor", exact=True).focus()
    page.keyboard.press("Space")
    page.get_by_label("I confirm that my organisation is responsible").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Claim this trial").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "It matched your organisation" in journey.text()
    page.get_by_role("link", name="Enter or change facts").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_role("group", name="UK approval date").get_by_label("Day").focus()
    for value in ("1", "6", "2026"):
        page.keyboard.type(value)
        page.keyboard.press("Tab")
    page.get_by_role("button", name="Save facts").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    journey.check("keyboard-facts-saved")
    assert "UK approval date" in journey.text() and "1 June 2026" in journey.text()
