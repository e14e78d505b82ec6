"""Results posted in each registry (with evidence on that registry's site), the participant
offer (UK-PART), and deferrals going to the reviewer: the obligations follow each fact."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import ParticipantOffer, SponsorFact, StoredFile, Submission
from portal.services import sponsor_facts
from tests.factories import PASSWORD, staff
from tests.summaries.helpers import (
    DUE,
    LAY_SUMMARY,
    add_entry,
    count,
    obligation,
    pdf_bytes,
    post_multipart,
    sponsor_with_trial,
    upload,
)


def _day(value: date) -> list[str]:
    return [str(value.day), str(value.month), str(value.year)]


@pytest.fixture
def sponsor(app, browser):
    org, user, trial = sponsor_with_trial()
    browser.login(user.email, PASSWORD)
    return org, user, trial


def _results(browser, trial_id, entry_id, url, on=date(2026, 11, 1)):
    return browser.submit(
        f"/trials/{trial_id}/results/{entry_id}", {"posted_on": _day(on), "evidence_url": url}
    )


@pytest.mark.parametrize(
    "registry, url, message",
    [
        ("ClinicalTrials.gov", "https://www.isrctn.com/ISRCTN1", "on ClinicalTrials.gov"),
        ("ClinicalTrials.gov", "https://clinicaltrials.gov.evil.example/x", "not clinicaltrials"),
        ("ClinicalTrials.gov", "https://user@clinicaltrials.gov/x", "must not contain a user"),
        ("ClinicalTrials.gov", "javascript:alert(1)", "starting with https://"),
        ("ClinicalTrials.gov", "clinicaltrials.gov/study/NCT1", "starting with https://"),
        ("ClinicalTrials.gov", "https://clinicaltrials.gov/a b", "a single web address"),
        ("ClinicalTrials.gov", "", "Enter the link to the results"),
        ("ISRCTN", "https://clinicaltrials.gov/study/NCT1", "on ISRCTN (isrctn.com)"),
        ("CTIS", "https://www.isrctn.com/ISRCTN1", "euclinicaltrials.eu or clinicaltrials"),
        ("ANZCTR", "https://anzctr.org.au/x", "cannot check results links for ANZCTR"),
    ],
)
def test_a_results_link_must_be_on_that_registrys_own_site(registry, url, message):
    from portal.services import ServiceError
    from portal.services.summaries import check_evidence_url

    with pytest.raises(ServiceError, match=re.escape(message)):
        check_evidence_url(registry, url)


@pytest.mark.parametrize(
    "registry, url",
    [
        ("ClinicalTrials.gov", "https://clinicaltrials.gov/study/NCT01234567?tab=results"),
        ("ClinicalTrials.gov", "https://classic.clinicaltrials.gov/ct2/show/results/NCT1"),
        ("ISRCTN", "https://www.isrctn.com/ISRCTN12345678"),
        ("CTIS", "https://euclinicaltrials.eu/ctis-public/view/2023-123456-12-00"),
        ("EUCTR", "https://www.clinicaltrialsregister.eu/ctr-search/trial/2012-001234-12/results"),
    ],
)
def test_links_on_the_registrys_site_are_accepted(registry, url):
    from portal.services.summaries import check_evidence_url

    assert check_evidence_url(registry, url) == url


def test_a_bad_results_link_is_shown_on_the_form_and_nothing_saved(sponsor, browser):
    _org, _user, trial = sponsor
    entry = trial.entries[0]
    html = _results(browser, trial.id, entry.id, "https://evil.example/x").get_data(as_text=True)
    assert "There is a problem" in html and "not evil.example" in html
    assert "results_posted" not in sponsor_facts.current_facts(trial.id)


def test_a_future_results_date_is_refused(sponsor, browser):
    _org, _user, trial = sponsor
    entry = trial.entries[0]
    url = "https://clinicaltrials.gov/study/NCT1?tab=results"
    html = _results(browser, trial.id, entry.id, url, on=date(2099, 1, 1)).get_data(as_text=True)
    assert "must be today or in the past" in html


def test_uk_res_is_met_only_when_every_registry_has_results(sponsor, browser):
    _org, _user, trial = sponsor
    ctgov = trial.entries[0]
    isrctn = add_entry(trial, "ISRCTN", "ISRCTN12345678")
    assert obligation(trial.id, "UK-RES").status != "met"

    response = _results(
        browser, trial.id, ctgov.id, f"https://clinicaltrials.gov/study/{ctgov.registry_id}"
    )
    assert response.status_code == 302
    posted = sponsor_facts.current_facts(trial.id)["results_posted"].value
    assert posted[ctgov.registry_id] == {
        "on": "2026-11-01",
        "evidence_url": f"https://clinicaltrials.gov/study/{ctgov.registry_id}",
    }
    first = obligation(trial.id, "UK-RES")
    assert first.status != "met"  # ISRCTN still has no results

    isrctn_url = "https://www.isrctn.com/ISRCTN12345678"
    _results(browser, trial.id, isrctn.id, isrctn_url, date(2026, 11, 5))
    met = obligation(trial.id, "UK-RES")
    assert met.status == "met"
    page = browser.get(f"/trials/{trial.id}").get_data(as_text=True)
    assert "https://www.isrctn.com/ISRCTN12345678" in page


def test_an_entry_of_another_trial_is_404(sponsor, browser):
    org, _user, trial = sponsor
    from tests.factories import trial as make_trial

    other = make_trial(owner=org)
    url = f"/trials/{trial.id}/results/{other.entries[0].id}"
    assert browser.client.get(url).status_code == 404


def _offer(browser, trial_id, *, files=None, **fields):
    data = {
        "offered_on": _day(date(2026, 11, 10)),
        "method": "letter",
        "audience": ["participants", "parents"],
        "summary_version": "0",
        **fields,
    }
    return post_multipart(browser, f"/trials/{trial_id}/participant-offer", data, files or {})


def test_recording_the_offer_meets_uk_part_and_goes_to_the_reviewer(sponsor, browser):
    org, _user, trial = sponsor
    assert obligation(trial.id, "UK-PART").status != "met"
    response = _offer(browser, trial.id, files={"file": (pdf_bytes(), "letter.pdf")})
    assert response.status_code == 302, response.get_data(as_text=True)

    offer = db.session.execute(sa.select(ParticipantOffer)).scalar_one()
    assert offer.method == "letter" and offer.status == "recorded"
    assert offer.audience == ["participants", "parents"]
    assert offer.file_id is not None
    facts = sponsor_facts.current_facts(trial.id)
    assert facts["participant_summary_offered_on"].value == "2026-11-10"
    assert obligation(trial.id, "UK-PART").status == "met"
    submission = db.session.execute(sa.select(Submission)).scalar_one()
    assert (submission.kind, submission.duty) == ("participant_offer", "UK-PART")
    assert submission.due == DUE
    assert submission.organisation_id == org.id

    download = browser.get(f"/trials/{trial.id}/participant-offers/{offer.id}/download")
    assert (
        download.mimetype == "application/pdf"
        and "attachment" in download.headers["Content-Disposition"]
    )
    browser.logout()

    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    queue = browser.get("/review/queue").get_data(as_text=True)
    assert "Participant offer" in queue
    browser.submit(
        f"/review/submissions/{submission.id}",
        {"decision": "request_changes", "comment": "The letter is not dated."},
    )
    db.session.expire_all()
    assert db.session.get(ParticipantOffer, offer.id).status == "questioned"
    browser.logout()

    browser.login(_user.email, PASSWORD)
    page = browser.get(f"/trials/{trial.id}").get_data(as_text=True)
    assert "Questioned by a reviewer" in page and "The letter is not dated." in page


def test_an_approved_summary_can_be_the_one_sent(sponsor, browser):
    _org, user, trial = sponsor
    upload(browser, trial.id, LAY_SUMMARY.encode(), "s.txt")
    from portal.models import SummaryVersion

    version = db.session.execute(sa.select(SummaryVersion)).scalar_one()
    html = _offer(browser, trial.id, summary_version=str(version.id)).get_data(as_text=True)
    assert "Not a valid choice" in html or "approved summaries" in html  # a draft is not approved
    version.status = "approved"
    db.session.commit()
    response = _offer(browser, trial.id, summary_version=str(version.id), method="website")
    assert response.status_code == 302
    offer = db.session.execute(sa.select(ParticipantOffer)).scalar_one()
    assert offer.summary_version_id == version.id and offer.file_id is None


def test_a_bad_offer_gets_a_clear_message_and_saves_nothing(sponsor, browser):
    _org, _user, trial = sponsor
    cases = [
        ({"offered_on": ["", "", ""]}, None, "Enter the date participants were offered"),
        ({"offered_on": _day(date(2099, 1, 1))}, None, "must be today or in the past"),
        ({"audience": []}, None, "Choose who was offered the results"),
        ({"method": "pigeon"}, None, "Not a valid choice"),
        ({}, None, "or upload the summary that was sent"),
        ({}, {"file": (pdf_bytes(password="x"), "s.pdf")}, "password-protected"),
    ]
    for fields, files, message in cases:
        html = _offer(browser, trial.id, files=files, **fields).get_data(as_text=True)
        assert message in html, (fields, message)
    assert count(ParticipantOffer) == 0 and count(Submission) == 0 and count(StoredFile) == 0
    assert "participant_summary_offered_on" not in sponsor_facts.current_facts(trial.id)


def test_a_new_deferral_goes_to_the_reviewer_with_the_duty_due_date_it_had(sponsor, browser):
    _org, _user, trial = sponsor
    response = browser.post(  # the deferral form on the facts page posts here
        f"/trials/{trial.id}/deferrals",
        {
            "d-kind": "deferral",
            "d-duty": "UK-RES",
            "d-reference": "HRA-DEF-1",
            "d-requested_on": _day(date(2026, 11, 1)),
            "d-until": _day(date(2029, 3, 31)),
        },
        token_from=f"/trials/{trial.id}/facts",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    submission = db.session.execute(sa.select(Submission)).scalar_one()
    assert (submission.kind, submission.duty, submission.due) == ("deferral", "UK-RES", DUE)
    row = db.session.get(SponsorFact, submission.object_id)
    assert row.key == "deferrals" and row.current
    assert obligation(trial.id, "UK-RES").status == "deferred"
    browser.logout()

    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    page = browser.get(f"/review/submissions/{submission.id}").get_data(as_text=True)
    assert "HRA-DEF-1" in page and "Deferral of UK-RES" in page
