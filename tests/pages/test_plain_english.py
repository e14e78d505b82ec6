"""Plain English everywhere: a crawler visits every page each role can reach from its home page
(demo data: real registry records, facts, a claim, a review request, audit events) and fails on
snake_case words, ISO dates, "None" or "RULES.md" in visible text, and on any 500 (issue 18)."""

from __future__ import annotations

import pytest

from portal.demo import load_demo, load_demo_trials
from portal.extensions import db
from portal.plain import citation, humanise, missing_facts
from tests.conftest import Browser
from tests.pages.crawl import crawl, problems

DEMO_PASSWORD = "demo-password"  # noqa: S105


def test_humanise_names_facts_by_label_and_spells_dates():
    text = humanise(
        "Cannot work out this duty yet: no start date. Add: first_participant_on or eu_events."
    )
    assert "first_participant_on" not in text and "eu_events" not in text
    assert "First UK participant recruited" in text and "EU notifications" in text
    assert humanise("Primary completion on 2005-11, due 2006-11-30.") == (
        "Primary completion on November 2005, due 30 November 2006."
    )
    assert humanise("due_soon_days=30: a duty is 'due soon' within 30 days") == (
        "A duty is 'due soon' within 30 days"
    )
    assert citation("RULES.md uk-2026 UK-REG; S.I. 2025/538; HRA guidance") == (
        "S.I. 2025/538; HRA guidance"
    )
    assert missing_facts(["first_participant_on or eu_events", "end_of_trial_on"]) == (
        "First UK participant recruited or EU notifications (start, first visit, end of "
        "recruitment, end of trial) and End of trial"
    )


@pytest.fixture
def demo(app, monkeypatch):
    emails = load_demo()
    db.session.commit()
    # The demo's registry records (REGISTRY_SAMPLES, ../shared, or the set the package ships).
    load_demo_trials()
    db.session.commit()
    _add_review_request(emails)
    return emails


def _add_review_request(emails):
    """A claim waiting and a reviewer's change request, so those pages are reached too."""
    import sqlalchemy as sa

    from portal.models import Claim, Organisation, ReviewComment, Submission, Trial, User
    from portal.timeutil import utcnow

    org = db.session.execute(sa.select(Organisation)).scalars().first()
    owned = db.session.execute(
        sa.select(Trial).where(Trial.owner_organisation_id == org.id).order_by(Trial.id)
    ).scalars().first()  # fmt: skip
    unowned = db.session.execute(
        sa.select(Trial).where(Trial.owner_organisation_id.is_(None)).order_by(Trial.id)
    ).scalars().first()  # fmt: skip
    sponsor = db.session.execute(
        sa.select(User).where(User.email == emails["sponsor"])
    ).scalar_one()
    db.session.add(
        Claim(
            trial_id=unowned.id,
            organisation_id=org.id,
            requested_by_id=sponsor.id,
            status="pending",
            match_reason="The sponsor name does not match your organisation's names.",
        )
    )
    sub = Submission(
        kind="participant_offer",
        trial_id=owned.id,
        organisation_id=org.id,
        object_id=0,
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


@pytest.mark.parametrize(
    "role", ["sponsor", "sponsor_admin", "compliance_officer", "reviewer", "admin"]
)
def test_every_page_reads_in_plain_english(app, demo, role):
    browser = Browser(app.test_client())
    browser.login(demo[role], DEMO_PASSWORD)

    def get(path):
        response = browser.client.get(path)
        return response.status_code, response.get_data(as_text=True)

    failures, visited = [], []
    for path, status, page in crawl(get, extra=["/trials/find?q=trial", "/trials?page=2"]):
        visited.append(path)
        if status >= 500:
            failures.append(f"{path}: {status}")
            continue
        failures.extend(f"{path}: {p}" for p in problems(page.text))
    print(role, len(visited), visited)  # noqa: T201 (shown with -s: what the crawler reached)
    assert len(visited) >= 8, visited
    assert not failures, "\n".join(failures[:60])
