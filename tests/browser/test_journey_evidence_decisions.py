"""Issue 16: a reviewer's decision on evidence reaches the duty. The sponsor records how
participants were offered the results (UK-PART met); a reviewer requests changes and the duty
reopens, saying why; the sponsor records the offer again, the reviewer approves, and UK-PART is
met again."""

from __future__ import annotations

from tests.browser.test_journey_claims import OWN, OWN_TITLE, SETUP, claim_first_result
from tests.browser.test_journey_evidence import LAY_SUMMARY

# New rules UK facts: UK-PART due 30 September 2027.
FACTS = """
from datetime import date
from portal.extensions import db
from portal.models import Trial, User
from portal.services import sponsor_facts
mine = User.email == "sponsor@ststephens.example"
user = db.session.execute(db.select(User).where(mine)).scalar_one()
like = Trial.title.like("A Two Way Cross Over%")
trial = db.session.execute(db.select(Trial).where(like)).scalars().first()
sponsor_facts.set_facts(user, trial, {
    "application_submitted_on": date(2026, 5, 1), "approved_on": date(2026, 6, 1),
    "first_participant_on": date(2026, 7, 15), "end_of_trial_on": date(2026, 9, 30),
})
"""


def _claimed(journey) -> None:
    journey.server.python(SETUP)
    journey.server.flask("trials", "import", str(OWN))
    journey.login("sponsor@ststephens.example", "a long password")
    journey.go("/trials/find")
    journey.fill("Registry id, title or sponsor name", "NCT01841593")
    journey.click("Search")
    claim_first_result(journey)
    journey.check()
    journey.server.python(FACTS)
    journey.page.reload()


def _part(journey) -> str:
    """The UK-PART block of the trial page, as the sponsor reads it."""
    return journey.page.locator(".app-obligation", has_text="UK-PART").first.inner_text()


def _record_offer(journey, day: int) -> None:
    journey.link("Record how participants were offered the results")
    group = journey.page.get_by_role("group", name="Date participants were offered the results")
    group.get_by_label("Day").fill(str(day))
    group.get_by_label("Month").fill("11")
    group.get_by_label("Year").fill("2026")
    journey.page.get_by_label("Letter").check()
    journey.page.get_by_label("Participants", exact=True).check()
    journey.page.get_by_label("Or upload the summary that was sent").set_input_files(
        files=[{"name": "sent.txt", "mimeType": "text/plain", "buffer": LAY_SUMMARY.encode()}]
    )
    journey.click("Record the offer")


def _open_trial(journey) -> None:
    journey.go("/trials")
    journey.link(OWN_TITLE)


def _decide(journey, decision: str, comment: str = "") -> None:
    journey.login("reviewer@hra.example", "a long password")
    journey.go("/review/queue")
    journey.page.get_by_role("link", name="Participant offer").first.click()
    journey.check()
    journey.page.get_by_label(decision).check()
    if comment:
        journey.page.get_by_label("Comment for the sponsor").fill(comment)
    journey.click("Save decision")
    journey.logout()


def test_changes_requested_on_the_offer_reopen_uk_part_until_approved(journey):
    _claimed(journey)
    _record_offer(journey, 2)
    _open_trial(journey)
    assert "Met on 2 November 2026" in _part(journey)
    journey.logout()

    _decide(journey, "Request changes", "The letter does not say who sent it.")

    journey.login("sponsor@ststephens.example", "a long password")
    _open_trial(journey)
    part = _part(journey)
    journey.screenshot("uk-part-reopened")
    assert "Met on" not in part and "Upcoming" in part
    assert "does not count as done" in part and "asked for changes" in part
    assert "The letter does not say who sent it." in part
    _record_offer(journey, 3)
    journey.logout()

    _decide(journey, "Approve")

    journey.login("sponsor@ststephens.example", "a long password")
    _open_trial(journey)
    part = _part(journey)
    journey.screenshot("uk-part-met-again")
    assert "Met on 3 November 2026" in part and "does not count" not in part
