"""Certificates list the facts to check and are never compliant while facts conflict (RULES.md
"Facts that contradict each other", worked example 16)."""

from __future__ import annotations

from datetime import date

from portal.services import sponsor_facts
from portal.timeutil import today
from tests.certificates.helpers import certificate_rows, obligation, pdf_text, request_certificate
from tests.factories import PASSWORD, OrganisationFactory, member, trial


def _signed_in(browser):
    org = OrganisationFactory()
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    return user, org


def test_example_16_certificate_is_not_compliant_and_lists_the_facts_to_check(browser, work):
    user, org = _signed_in(browser)
    # The registry's end of trial (October 2014); the sponsor's UK application and approval.
    t = trial(title="Old record, new dates", owner=org, end_of_trial_on="2014-10",
              countries=["United Kingdom"])  # fmt: skip
    sponsor_facts.set_facts(
        user, t, {"application_submitted_on": "2026-05-10", "approved_on": "2026-06-01"},
        as_of=today(),
    )  # fmt: skip
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    statement = cert.statement
    assert cert.compliant is False
    [check] = statement["facts_to_check"]
    assert check["check"] == "END-BEFORE-APPLICATION" and check["conflict"]
    assert {f["label"]: f["value"] for f in check["facts"]} == {
        "End of trial": "October 2014 (read as 31 October 2014)",
        "UK application submitted": "10 May 2026",
    }
    sources = [f["source"] for f in check["facts"]]
    assert "ClinicalTrials.gov" in sources[0] and sources[1].startswith(f"entered by {user.email}")
    statuses = {o["duty"]: o["status"] for o in statement["obligations"]}
    assert statuses["UK-RES"] == statuses["UK-PART"] == statuses["UK-END"] == "data_needed"
    cert_id = cert.id
    work()
    text = pdf_text(browser.get(f"/certificates/{cert_id}/certificate.pdf").get_data())
    assert "NOT COMPLIANT" in text
    assert "Facts to check" in text and "END-BEFORE-APPLICATION" in text
    assert "End of trial: October 2014 (read as 31 October 2014)" in text
    assert "days overdue" not in text
    for page in (f"/certificates/{cert_id}", f"/verify/{statement['serial']}"):
        html = browser.get(page).get_data(as_text=True)
        assert "Facts to check" in html and "END-BEFORE-APPLICATION" in html, page


def test_a_conflict_alone_keeps_a_certificate_from_being_compliant(browser):
    user, org = _signed_in(browser)
    # Approval before application; every stored duty met.
    t = trial(owner=org, application_submitted_on="2026-07-01", approved_on="2026-06-01")
    obligation(t, "UK-REG", "met", due=date(2026, 8, 1), met_on="2026-06-10")
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    assert cert.compliant is False
    assert [c["check"] for c in cert.statement["facts_to_check"]] == ["APPROVAL-BEFORE-APPLICATION"]
    assert any(o["title"] == "The trial's facts" for o in cert.statement["verdict"]["outstanding"])


def test_a_warning_is_listed_but_does_not_change_the_verdict(browser):
    user, org = _signed_in(browser)
    t = trial(owner=org, approved_on="2026-06-01", first_participant_on="2026-05-20")
    obligation(t, "UK-REG", "met", due=date(2026, 8, 1), met_on="2026-05-10")
    request_certificate(browser, t.id)
    [cert] = certificate_rows()
    assert cert.compliant is True
    [warning] = cert.statement["facts_to_check"]
    assert warning["check"] == "PARTICIPANT-BEFORE-APPROVAL" and not warning["conflict"]
