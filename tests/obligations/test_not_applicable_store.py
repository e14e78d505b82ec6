"""Verdicts of not applicable are stored once per trial (ObligationInputs.not_applicable), not as
obligations rows; every reader gets them back exactly as the engine gave them."""

from __future__ import annotations

import json
import logging
import random
from datetime import date

import sqlalchemy as sa

from portal.domain.obligations.encode import VerdictEncoder
from portal.domain.obligations.stored import document, parse, trial_verdicts, verdicts_for
from portal.domain.parameters import current_params
from portal.extensions import db
from portal.models import Obligation, ObligationInputs, Trial
from portal.rules import Facts, evaluate
from portal.services import certificates, reports
from portal.services.obligations import recompute_for_trials
from tests.factories import PASSWORD, OrganisationFactory, member, trial
from tests.obligations.helpers import d, history, make_trial, set_sponsor_fact
from tests.obligations.test_encode import random_facts


def expected_stored(verdict, extra) -> str:
    """The text a row of this verdict would hold (encode.STORED_OMITS left out)."""
    return VerdictEncoder(extra, inputs=False).encode(verdict)


UK = {"study_type": "interventional", "countries": ["United Kingdom"], "phase": "3"}
NOWHERE = {"study_type": "interventional", "countries": ["Japan"], "phase": "3"}


def test_the_document_reads_back_as_written_and_groups_shared_verdicts():
    text_a, text_b = '{"status":"not_applicable","explanation":"A"}', '{"explanation":"B"}'
    entries = {
        "UK-REG": (date(2026, 6, 1), text_a),
        "UK-RES": (date(2026, 6, 1), text_a),
        "EU-RES": (date(2026, 7, 1), text_a),
        "US-REG": (date(2026, 6, 1), text_b),
    }
    doc = document(entries)
    assert parse(doc) == entries
    assert doc.count('"duties"') == 3  # UK-REG and UK-RES share one group
    assert document({}) is None and parse(None) == {}


def test_a_document_that_cannot_be_read_counts_as_none_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        assert parse("[{") == {} and parse('[{"duties": ["UK-REG"]}]') == {}
    assert "cannot be read" in caplog.text


def test_stored_verdicts_are_the_engines_verdicts_not_applicable_ones_included(app):
    """Over varied trials, every verdict read back (rows and document) equals evaluate()'s,
    and no not-applicable verdict is an obligations row."""
    rng = random.Random(20261122)
    ids = []
    for i in range(60):
        facts = random_facts(rng)
        facts.pop("registrations")
        imported = {k: facts.pop(k) for k in ("study_type", "phase", "countries")}
        ids.append(make_trial(imported, [], facts, registry_id=f"NCT{i:08d}").id)
    as_of = d("2026-09-15")
    recompute_for_trials(ids, reason="import", as_of=as_of)
    db.session.commit()
    version, params = current_params()
    encoder_extra = {"params_version": version}
    statuses = set()
    for trial_id, stored in verdicts_for(ids).items():
        row = db.session.get(ObligationInputs, trial_id)
        facts = Facts.from_dict(row.facts["facts"], row.facts["sources"])
        engine = evaluate(facts, as_of, params)
        extra = dict(encoder_extra)
        if row.facts["problems"]:
            extra["fact_problems"] = row.facts["problems"]
        assert [o.duty for o in stored] == [o.id for o in engine]  # evaluation order
        for ob, verdict in zip(stored, engine, strict=True):
            expected = VerdictEncoder(extra, facts).encode(verdict)
            assert ob.full_verdict(as_of) == json.loads(expected), (trial_id, ob.duty)
            assert ob.status == verdict.status and ob.due == verdict.due
            assert list(ob.verdict) == list(json.loads(expected_stored(verdict, extra)))
            statuses.add(ob.status)
    assert "not_applicable" in statuses and len(statuses) >= 4
    assert (
        db.session.execute(
            sa.select(sa.func.count())
            .select_from(Obligation)
            .where(Obligation.status == "not_applicable")
        ).scalar()
        == 0
    )


def test_a_duty_that_stops_applying_and_applies_again_keeps_its_history(app):
    t = make_trial(UK, [], {"end_of_trial_on": "2025-01-10"}, registry_id="NCT00000042")
    recompute_for_trials([t.id], reason="import", as_of=d("2026-06-01"))
    db.session.commit()
    uk_before = {o.duty: o.status for o in trial_verdicts(t.id) if o.ruleset == "uk-2026"}
    assert "not_applicable" not in uk_before.values()

    # the sponsor says it is observational: no UK duty applies any more
    set_sponsor_fact(t.id, "study_type", "observational")
    gone = recompute_for_trials([t.id], reason="sponsor_fact", as_of=d("2026-06-02"))
    db.session.commit()
    db.session.expire_all()
    after = {o.duty: o for o in trial_verdicts(t.id)}
    assert all(o.status == "not_applicable" for o in after.values())
    assert all(o.as_of == d("2026-06-02") for o in after.values())
    assert "do not apply" in after["UK-REG"].verdict["explanation"]
    assert after["UK-REG"].verdict["title"] == "Register the trial in a public registry"
    assert not db.session.execute(sa.select(Obligation).where(Obligation.trial_id == t.id)).first()
    changes = [(h.old_status, h.new_status) for h in history(t.id, "UK-REG")]
    assert changes[-1] == (uk_before["UK-REG"], "not_applicable")

    # and back: the rows return, the change from not applicable is recorded
    set_sponsor_fact(t.id, "study_type", "interventional")
    back = recompute_for_trials([t.id], reason="sponsor_fact", as_of=d("2026-06-03"))
    db.session.commit()
    db.session.expire_all()
    again = {o.duty: o.status for o in trial_verdicts(t.id) if o.ruleset == "uk-2026"}
    assert again == uk_before
    # verdicts moving between a row and the document are updates both ways
    assert (gone.inserted, gone.deleted) == (0, 0) and gone.updated >= len(uk_before)
    assert (back.inserted, back.deleted) == (0, 0) and back.updated >= len(uk_before)
    changes = [(h.old_status, h.new_status) for h in history(t.id, "UK-REG")]
    assert changes[-1] == ("not_applicable", uk_before["UK-REG"])
    # a later recompute that changes nothing leaves the not-applicable verdicts' day alone
    recompute_for_trials([t.id], reason="sponsor_fact", as_of=d("2026-06-04"))
    db.session.commit()
    db.session.expire_all()
    eu = [o for o in trial_verdicts(t.id) if o.ruleset == "eu-ctr"]
    assert eu and all(o.status == "not_applicable" and o.as_of == d("2026-06-03") for o in eu)


def test_the_dashboard_filters_trials_with_a_duty_that_does_not_apply(browser):
    org = OrganisationFactory()
    computed = trial(title="Trial in Japan", owner=org)
    computed.imported_facts = {
        key: {"value": value, "registry": "ClinicalTrials.gov", "record": "NCT1",
              "imported_at": "2026-11-01T09:00:00+00:00"}
        for key, value in NOWHERE.items()
    }  # fmt: skip
    plain = trial(title="Trial with rows only", owner=org)
    db.session.add(
        Obligation(
            trial_id=plain.id, duty="UK-RES", ruleset="uk-2026", status="overdue",
            due=date(2026, 1, 1), verdict={"title": "x"}, as_of=date(2026, 6, 1),
        )
    )  # fmt: skip
    db.session.commit()
    recompute_for_trials([computed.id], reason="import", as_of=d("2026-06-01"))
    db.session.commit()
    assert db.session.get(ObligationInputs, computed.id).not_applicable

    browser.login(member("compliance_officer", org).email, PASSWORD)
    html = browser.get("/trials?status=not_applicable").get_data(as_text=True)
    assert "Trial in Japan" in html and "Trial with rows only" not in html
    html = browser.get(f"/trials/{computed.id}").get_data(as_text=True)
    assert "do not apply" in html and "Register the trial in a public registry" in html


def test_a_document_that_cannot_be_read_is_written_again_by_the_next_recompute(app, caplog):
    t = make_trial(NOWHERE, [], {}, registry_id="NCT00000043")
    recompute_for_trials([t.id], reason="import", as_of=d("2026-06-01"))
    db.session.commit()
    before = [(o.duty, o.status, o.verdict, o.as_of) for o in trial_verdicts(t.id)]
    assert sum(status == "not_applicable" for _, status, _, _ in before) >= 5
    db.session.execute(
        sa.update(ObligationInputs)
        .where(ObligationInputs.trial_id == t.id)
        .values(not_applicable=[{"not": "a group"}])
    )
    db.session.commit()
    db.session.expire_all()
    with caplog.at_level(logging.WARNING):
        assert all(o.status != "not_applicable" for o in trial_verdicts(t.id))
    assert "unreadable" in caplog.text
    # same facts, same digest: the document is written again all the same
    recompute_for_trials([t.id], reason="check", as_of=d("2026-06-01"))
    db.session.commit()
    db.session.expire_all()
    assert [(o.duty, o.status, o.verdict, o.as_of) for o in trial_verdicts(t.id)] == before


def _japan_trial(org, title: str) -> int:
    t = trial(title=title, owner=org)
    t.imported_facts = {
        key: {"value": value, "registry": "ClinicalTrials.gov", "record": "NCT1",
              "imported_at": "2026-11-01T09:00:00+00:00"}
        for key, value in {"study_type": "observational", "countries": ["Japan"]}.items()
    }  # fmt: skip
    db.session.commit()
    recompute_for_trials([t.id], reason="import", as_of=d("2026-06-01"))
    db.session.commit()
    return t.id


def test_certificates_and_reports_state_the_duties_that_do_not_apply(app):
    """An observational trial in Japan: no duty applies, none is a row; its certificate lists
    every duty as not applicable and is compliant, and the portfolio report counts them."""
    org = OrganisationFactory()
    trial_id = _japan_trial(org, "Observational study in Japan")
    assert not db.session.execute(
        sa.select(Obligation).where(Obligation.trial_id == trial_id)
    ).first()
    user = member("compliance_officer", org)
    statement = certificates.build_statement(
        db.session.get(Trial, trial_id), user, serial="TEST-1", as_of=d("2026-11-22"),
        requested_at="2026-11-22T10:00:00+00:00",
    )  # fmt: skip
    duties = statement["obligations"]
    assert len(duties) == 10 and {o["status"] for o in duties} == {"not_applicable"}
    assert all(o["explanation"] and o["title"] and o["source"] for o in duties)
    assert statement["verdict"]["text"].startswith("compliant as of")

    data = reports.gather(org.id, d("2026-11-22"))
    assert len(data.obligations) == 10
    assert data.totals["not_applicable"] == 10
    assert sum(c["not_applicable"] for c in data.by_ruleset.values()) == 10
