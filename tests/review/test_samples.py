"""Audit sampling: a reproducible random sample of met duties across organisations, and the
reviewer's findings on each."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, AuditSample, AuditSampleItem, Obligation
from portal.services.review import draw, sample_population
from tests.factories import PASSWORD, OrganisationFactory, staff, trial


def _obligation(trial_id: int, duty: str, status: str) -> None:
    db.session.add(
        Obligation(
            trial_id=trial_id,
            duty=duty,
            ruleset="uk-2026",
            status=status,
            due=date(2026, 8, 1),
            verdict={"title": duty},
            as_of=date(2026, 11, 21),
        )
    )


@pytest.fixture
def met_duties(app):
    """Five met duties of owned trials in two organisations, plus ones that must not be drawn."""
    orgs = [OrganisationFactory(), OrganisationFactory()]
    for i, org in enumerate(orgs):
        owned = trial(owner=org, title=f"Owned {i}")
        _obligation(owned.id, "UK-REG", "met")
        _obligation(owned.id, "UK-RES", "met_late")
        _obligation(owned.id, "UK-PART", "overdue")  # not met: never sampled
    extra = trial(owner=orgs[0], title="Owned 2")
    _obligation(extra.id, "UK-REG", "met")
    unowned = trial(title="Nobody's")
    _obligation(unowned.id, "UK-REG", "met")  # no organisation: not sampled
    db.session.commit()
    return orgs


def test_a_reviewer_draws_a_sample_that_its_seed_reproduces(met_duties, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    response = browser.submit("/review/samples", {"size": "3"})
    assert response.status_code == 302
    sample = db.session.execute(sa.select(AuditSample)).scalar_one()
    assert sample.size == 3 and len(sample.seed) == 32
    items = db.session.execute(
        sa.select(AuditSampleItem.trial_id, AuditSampleItem.duty).where(
            AuditSampleItem.sample_id == sample.id
        )
    ).all()
    population = [tuple(r) for r in db.session.execute(sample_population()).all()]
    assert len(population) == 5
    assert sorted(tuple(i) for i in items) == draw(sample.seed, population, 3)
    assert draw(sample.seed, population, 3) == draw(sample.seed, population, 3)
    page = browser.get(response.location).get_data(as_text=True)
    assert sample.seed in page and "Record a finding" in page
    event = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "audit_sample.drawn")
    ).scalar_one()
    assert event.after["seed"] == sample.seed and event.after["population"] == 5


def test_the_default_size_is_10_and_never_more_than_there_are(met_duties, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    assert 'value="10"' in browser.get("/review/samples").get_data(as_text=True)
    browser.submit("/review/samples", {"size": "10"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditSampleItem)) == 5


def test_a_bad_size_is_refused_and_nothing_drawn(met_duties, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    for size in ("0", "201", "ten", ""):
        html = browser.submit("/review/samples", {"size": size}).get_data(as_text=True)
        assert "There is a problem" in html, size
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditSample)) == 0


def test_findings_are_recorded_and_a_problem_needs_notes(met_duties, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    location = browser.submit("/review/samples", {"size": "2"}).location
    sample = db.session.execute(sa.select(AuditSample)).scalar_one()
    first, second = db.session.execute(
        sa.select(AuditSampleItem).order_by(AuditSampleItem.id)
    ).scalars()
    url = f"/review/samples/{sample.id}/items/{first.id}"
    refused = browser.post(url, {f"f{first.id}-finding": "problem"}, token_from=location)
    assert "Describe the problem you found" in browser.get(refused.location).get_data(as_text=True)
    browser.post(
        url,
        {f"f{first.id}-finding": "problem", f"f{first.id}-notes": "No evidence on ISRCTN."},
        token_from=location,
    )
    browser.post(
        f"/review/samples/{sample.id}/items/{second.id}",
        {f"f{second.id}-finding": "confirmed"},
        token_from=location,
    )
    db.session.expire_all()
    assert (first.finding, first.notes) == ("problem", "No evidence on ISRCTN.")
    assert second.finding == "confirmed" and second.decided_by_id == reviewer.id
    page = browser.get(location).get_data(as_text=True)
    assert "Problem found" in page and "No evidence on ISRCTN." in page
    listing = browser.get("/review/samples").get_data(as_text=True)
    assert sample.seed in listing
    findings = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "audit_sample.finding")
    ).scalars()
    assert len(list(findings)) == 2


def test_an_item_of_another_sample_is_404(met_duties, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    location = browser.submit("/review/samples", {"size": "1"}).location
    item = db.session.execute(sa.select(AuditSampleItem)).scalar_one()
    response = browser.post(
        f"/review/samples/999/items/{item.id}", {"f1-finding": "confirmed"}, token_from=location
    )
    assert response.status_code == 404
    assert browser.client.get("/review/samples/999").status_code == 404


def test_with_nothing_met_the_reviewer_is_told_so(app, browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    html = browser.submit("/review/samples", {"size": "5"}).get_data(as_text=True)
    assert "No duties are met yet" in html
