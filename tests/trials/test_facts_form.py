"""The facts form: every fact any rule reads has a way in (RULES.md "Every fact a rule reads can be
entered or corrected by the sponsor"), the registry's value is kept and shown beside the
sponsor's, EU notifications can be added, and bad input gets a message next to its field."""

from __future__ import annotations

import re

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Obligation, ObligationInputs, SponsorFact
from portal.rules.facts import FACT_KEYS
from portal.rules.labels import FACT_LABELS
from portal.trials.forms import FACT_WAYS_IN, FACTS_FORM_KINDS, EuEventForm, FactsForm
from tests.factories import PASSWORD, OrganisationFactory, member, trial

FORMS = {
    "trials.facts": FactsForm,
    "trials.add_eu_event": EuEventForm,
}


def test_every_fact_the_rules_read_has_a_way_in_and_a_label(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    for key in FACT_KEYS:
        assert key in FACT_WAYS_IN, f"{key}: no way for a sponsor to enter or correct it"
        endpoint, field = FACT_WAYS_IN[key]
        assert endpoint in endpoints, (key, endpoint)
        form = FORMS.get(endpoint)
        if form is not None and field is not None:
            assert hasattr(form, field), (key, endpoint, field)
        label = FACT_LABELS[key]
        assert label and "_" not in label and label[0].isupper(), key
    # the facts form itself stores each of its fields as the fact of the same name
    assert set(FACTS_FORM_KINDS) <= set(FACT_KEYS)
    assert all(FACT_WAYS_IN[k] == ("trials.facts", k) for k in FACTS_FORM_KINDS)


def _stored_facts(trial_id: int) -> dict:
    db.session.expire_all()
    row = db.session.get(ObligationInputs, trial_id)
    return row.facts


def _date(name: str, d: str) -> dict:
    y, m, day = d.split("-")
    return {name: [day.lstrip("0"), m.lstrip("0"), y]}


VALUES = {
    "study_type": ("interventional", "interventional"),
    "phase": ("3", "3"),
    "healthy_volunteers": ("no", False),
    "paediatric": ("yes", True),
    "countries": ("United Kingdom\nGermany", ["United Kingdom", "Germany"]),
    "eudract_number": ("2017-001234-56", "2017-001234-56"),
    "eu_ct_number": ("2023-501234-12-00", "2023-501234-12-00"),
    "fda_regulated_drug": ("yes", True),
    "fda_regulated_device": ("no", False),
    "device_feasibility": ("no", False),
    "us_site": ("yes", True),
    "ind_or_ide": ("no", False),
    "early_termination": ("y", True),
}
DATES = {
    "application_submitted_on": "2026-05-01",
    "approved_on": "2026-06-01",
    "first_participant_on": "2026-07-01",
    "end_of_trial_on": "2026-10-01",
    "end_of_trial_notified_on": "2026-10-10",
    "start_on": "2026-06-20",
    "eu_transition_on": "2026-07-15",
    "primary_completion_on": "2026-09-01",
    "completion_on": "2026-10-01",
    "delay_certification_on": "2026-10-20",
    "good_cause_extension_until": "2028-01-01",
    "results_submitted_on": "2026-11-01",
}


def _sponsor_trial(browser, **facts):
    org = OrganisationFactory()
    user = member("sponsor", org)
    t = trial(owner=org, **facts)
    browser.login(user.email, PASSWORD)
    return user, t


def test_every_field_of_the_facts_form_reaches_the_rules(browser):
    user, t = _sponsor_trial(browser, end_of_trial_on="2014-10")
    assert set(VALUES) | set(DATES) == set(FACTS_FORM_KINDS)
    data = {key: value for key, (value, _) in VALUES.items()}
    for key, d in DATES.items():
        data.update(_date(key, d))
    response = browser.submit(f"/trials/{t.id}/facts", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    doc = _stored_facts(t.id)
    facts, sources = doc["facts"], doc["sources"]
    for key, (_, expected) in VALUES.items():
        assert facts[key] == expected, key
        assert sources[key].startswith(f"entered by {user.email}"), key
    for key, d in DATES.items():
        assert facts[key] == d, key
    # the registry's end of trial is kept beside the sponsor's
    assert facts["registry_end_of_trial_on"] == "2014-10"
    assert "ClinicalTrials.gov" in sources["registry_end_of_trial_on"]
    # and the form shows it under the field
    html = browser.get(f"/trials/{t.id}/facts").get_data(as_text=True)
    assert re.search(r'data-fact="end_of_trial_on">Registry: 31 October 2014|'
                     r'data-fact="end_of_trial_on">Registry: October 2014', html)  # fmt: skip


def test_an_eu_notification_can_be_added_and_removed(browser):
    _, t = _sponsor_trial(browser, countries=["Germany"])
    data = {"e-event": "first_visit", "e-member_state": "Germany"}
    data.update({f"e-{k}": v for k, v in _date("on", "2026-09-01").items()})
    data.update({f"e-{k}": v for k, v in _date("notified_on", "2026-09-10").items()})
    response = browser.post(f"/trials/{t.id}/eu-events", data, token_from=f"/trials/{t.id}/facts")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    events = _stored_facts(t.id)["facts"]["eu_events"]
    assert events == [
        {"event": "first_visit", "on": "2026-09-01", "notified_on": "2026-09-10",
         "member_state": "Germany"}
    ]  # fmt: skip
    html = browser.get(f"/trials/{t.id}/facts").get_data(as_text=True)
    assert "First visit of the first participant (Germany) on 1 September 2026" in html
    browser.post(f"/trials/{t.id}/eu-events/0/remove", token_from=f"/trials/{t.id}/facts")
    assert "eu_events" not in _stored_facts(t.id)["facts"]


def test_bad_input_gets_a_message_next_to_the_field_and_keeps_the_rest(browser):
    _, t = _sponsor_trial(browser)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(SponsorFact))
    data = {"eudract_number": "not-a-number", "eu_ct_number": "2023-501234-12-00"}
    data.update(_date("approved_on", "2026-06-01"))
    response = browser.submit(f"/trials/{t.id}/facts", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "A EudraCT number looks like 2017-001234-56." in html
    assert 'id="eudract_number-error"' in html or "govuk-error-message" in html
    assert 'value="2023-501234-12-00"' in html  # what was entered is kept on the page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SponsorFact)) == before
    # a notification dated before its event
    data = {"e-event": "trial_start"}
    data.update({f"e-{k}": v for k, v in _date("on", "2026-09-01").items()})
    data.update({f"e-{k}": v for k, v in _date("notified_on", "2026-08-01").items()})
    response = browser.post(f"/trials/{t.id}/eu-events", data, token_from=f"/trials/{t.id}/facts")
    assert response.status_code == 200
    assert "The notification date must be the same as or after the event." in response.get_data(
        as_text=True
    )
    # a member state outside the EU/EEA, and a month that does not exist
    data = {"e-event": "trial_start", "e-member_state": "Narnia"}
    data.update({f"e-{k}": v for k, v in _date("on", "2026-09-01").items()})
    response = browser.post(f"/trials/{t.id}/eu-events", data, token_from=f"/trials/{t.id}/facts")
    assert "Narnia is not an EU or EEA member state" in response.get_data(as_text=True)
    data = {"e-event": "trial_start", "e-on": ["1", "13", "2026"]}
    response = browser.post(f"/trials/{t.id}/eu-events", data, token_from=f"/trials/{t.id}/facts")
    assert response.status_code == 200
    assert "must be a real date" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SponsorFact)) == before


def test_a_data_needed_eu_start_is_resolved_from_the_form(browser):
    _, t = _sponsor_trial(browser, countries=["Germany"])
    browser.submit(f"/trials/{t.id}/facts", {"eu_ct_number": "2023-501234-12-00"})
    db.session.expire_all()
    start = db.session.execute(
        sa.select(Obligation).where(Obligation.trial_id == t.id, Obligation.duty == "EU-START")
    ).scalar_one()
    assert start.status == "data_needed"
    data = {"e-event": "first_visit", "e-member_state": "Germany"}
    data.update({f"e-{k}": v for k, v in _date("on", "2025-09-01").items()})
    data.update({f"e-{k}": v for k, v in _date("notified_on", "2025-09-10").items()})
    browser.post(f"/trials/{t.id}/eu-events", data, token_from=f"/trials/{t.id}/facts")
    db.session.expire_all()
    start = db.session.execute(
        sa.select(Obligation).where(Obligation.trial_id == t.id, Obligation.duty == "EU-START")
    ).scalar_one()
    assert start.status == "met"
