"""Find is paged; each trial has a public view before claiming; a claim asks the organisation's
relation to the trial and a confirmation; the reviewer's claim page links to the trial."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Claim, Trial
from tests.factories import PASSWORD, OrganisationFactory, member, staff, trial


def test_find_is_paged_and_links_to_a_public_view(browser):
    org = OrganisationFactory()
    for i in range(47):
        trial(title=f"Aspirin study {i:02d}", sponsor_name="Someone Else Ltd")
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    first = browser.get("/trials/find?q=aspirin").get_data(as_text=True)
    assert "47 trials found" in first and "Page 1 of 3" in first
    assert first.count('class="app-worklist__item"') == 20
    assert "Aspirin study 00" in first and "Aspirin study 20" not in first
    last = browser.get("/trials/find?q=aspirin&page=3").get_data(as_text=True)
    assert last.count('class="app-worklist__item"') == 7 and "Aspirin study 46" in last

    t = db.session.execute(sa.select(Trial).order_by(Trial.id).limit(1)).scalar_one()
    about = browser.get(f"/trials/{t.id}/about").get_data(as_text=True)
    assert "What the registries say" in about and "No organisation has claimed" in about
    assert f"/trials/{t.id}/claim" in about


def test_a_claim_asks_the_relation_and_a_confirmation(browser):
    org = OrganisationFactory()
    t = trial(title="Unmatched trial", sponsor_name="Someone Else Ltd")
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    url = f"/trials/{t.id}/claim"
    html = browser.post(url, {}, token_from=url).get_data(as_text=True)
    assert "Choose what your organisation is to this trial" in html
    assert "Confirm that your organisation is responsible" in html
    html = browser.post(url, {"relation": "other", "confirm": "y"}, token_from=url).get_data(
        as_text=True
    )
    assert "Say what your organisation is to this trial" in html
    assert db.session.execute(sa.select(sa.func.count()).select_from(Claim)).scalar_one() == 0

    response = browser.post(
        url, {"relation": "legal_representative", "confirm": "y"}, token_from=url
    )
    assert response.status_code == 302
    claim = db.session.execute(sa.select(Claim)).scalar_one()
    assert claim.status == "pending" and claim.relation == "legal_representative"

    browser.logout()
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    page = browser.get(f"/review/claims/{claim.id}").get_data(as_text=True)
    assert f'href="/trials/{t.id}"' in page
    assert "The sponsor&#39;s legal representative in the UK" in page
    assert "Waiting for a decision" in page
