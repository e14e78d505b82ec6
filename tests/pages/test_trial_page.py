"""The trial page puts urgency first: a summary table ordered overdue → facts to check → due soon
→ upcoming → met, each with what to do, reviewer requests beside their duty (issue 18)."""

from __future__ import annotations

from datetime import timedelta

from portal.extensions import db
from portal.models import ReviewComment, Submission
from portal.timeutil import today, utcnow
from tests.certificates.helpers import obligation
from tests.factories import PASSWORD, OrganisationFactory, member, trial


def _summary_table(html: str) -> str:
    start = html.index('id="duties-summary"')
    return html[start : html.index("</table>", start)]


def test_summary_table_is_ordered_by_urgency_with_actions_and_requests(browser):
    org = OrganisationFactory()
    t = trial(title="Busy trial", owner=org)
    # Created in rule order, deliberately not in urgency order.
    obligation(t, "UK-REG", "met", due=today() - timedelta(days=300), title="Register it")
    obligation(t, "UK-RES", "upcoming", due=today() + timedelta(days=200), title="Post results")
    obligation(t, "UK-PART", "due_soon", due=today() + timedelta(days=12), title="Offer summary")
    obligation(
        t, "UK-END", "data_needed", due=None, title="Notify the end", missing=["end_of_trial_on"]
    )
    obligation(t, "EU-END", "overdue", due=today() - timedelta(days=30), title="Notify EU end")
    sub = Submission(
        kind="participant_offer",
        trial_id=t.id,
        organisation_id=org.id,
        object_id=1,
        duty="UK-PART",
        status="changes_requested",
        submitted_at=utcnow(),
    )
    db.session.add(sub)
    db.session.flush()
    db.session.add(
        ReviewComment(submission_id=sub.id, decision="request_changes", body="Attach the letter.")
    )
    db.session.commit()

    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    html = browser.get(f"/trials/{t.id}").get_data(as_text=True)
    table = _summary_table(html)
    names = ("Notify EU end", "Notify the end", "Offer summary", "Post results", "Register it")
    order = [table.index(name) for name in names]
    assert order == sorted(order)
    # The first action is above the table, and it is the overdue duty's.
    assert html.index("What to do next") < html.index('id="duties-summary"')
    assert "Do it now: notify EU end" in html
    assert "Enter: End of trial" in table
    # The reviewer's request sits in the row of the duty it concerns.
    row = table[table.index("Offer summary") : table.index("Post results")]
    assert "Reviewer asked" in row and "Attach the letter." in row
    assert "end_of_trial_on" not in html
