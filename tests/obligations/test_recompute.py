"""recompute_for_trials: verdicts stored per duty, status history, nothing written when nothing
changed, date-driven statuses, bad stored facts, and the newly/no longer overdue queries."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Obligation, ObligationInputs, ObligationStatusChange, SponsorFact
from portal.services.obligations import newly_changed, no_longer, recompute_for_trials
from tests.obligations.helpers import d, history, make_trial, obligations, set_sponsor_fact

IMPORTED = {"study_type": "interventional", "countries": ["United Kingdom"], "phase": "3"}
SPONSOR = {
    "application_submitted_on": "2026-05-01",
    "approved_on": "2026-06-01",
    "first_participant_on": "2026-07-15",
    "end_of_trial_on": "2027-01-31",
}
ENTRIES = [
    {"registry": "ISRCTN", "registry_id": "ISRCTN11111111", "registered_on": d("2026-07-10")}
]
ALL_DUTIES = {
    "UK-REG", "UK-RES", "UK-PART", "UK-END", "UK-LAPSE",
    "EU-START", "EU-END", "EU-RES", "US-REG", "US-RES",
}  # fmt: skip


@pytest.fixture
def trial(app):
    return make_trial(IMPORTED, ENTRIES, SPONSOR)


def recompute(trial_ids, as_of, reason="daily"):
    stats = recompute_for_trials(trial_ids, reason=reason, as_of=d(as_of))
    db.session.commit()
    return stats


def test_creates_one_obligation_per_duty_with_the_full_verdict(trial):
    stats = recompute([trial.id], "2027-02-01", reason="import")
    obs = obligations(trial.id)
    assert set(obs) == ALL_DUTIES
    # the first verdicts are in the status history, but for duties that do not apply
    applicable = {duty for duty, o in obs.items() if o.status != "not_applicable"}
    assert 0 < len(applicable) < 10
    assert stats.inserted == 10 and stats.status_changes == len(applicable)

    reg = obs["UK-REG"]
    assert (reg.status, reg.due, reg.ruleset, reg.as_of) == (
        "met",
        d("2026-07-14"),
        "uk-2026",
        d("2027-02-01"),
    )
    assert reg.params_version == 0
    assert reg.verdict["status"] == "met" and reg.verdict["params_version"] == 0
    # every input names where it came from: the registry entry, the import, the sponsor
    assert "inputs" not in reg.verdict  # stored once per trial (ObligationInputs)
    inputs = reg.inputs
    assert inputs["approved_on"]["source"].startswith(
        "entered by sponsor@trust.example on 2 November 2026"
    )
    assert (
        inputs["countries"]["source"] == "ClinicalTrials.gov NCT01000001, imported 1 November 2026"
    )
    assert "ISRCTN ISRCTN11111111" in inputs["registrations"]["source"]

    end = obs["UK-END"]
    assert (end.status, end.due, end.days_overdue_on(d("2027-02-01"))) == (
        "upcoming",
        d("2027-05-01"),
        0,
    )
    # day counts are not stored (they change daily); they are worked out for the day shown
    assert "days_remaining" not in end.verdict and "days_overdue" not in end.verdict
    assert end.days_remaining_on(d("2027-02-01")) == 89
    assert end.days_remaining_on(d("2027-02-02")) == 88
    assert obs["EU-RES"].status == "not_applicable"

    changes = history(trial.id)
    assert {c.duty for c in changes} == applicable
    assert {(c.old_status, c.reason, c.changed_on) for c in changes} == {
        (None, "import", d("2027-02-01"))
    }


def test_a_second_recompute_with_nothing_changed_writes_nothing(trial):
    recompute([trial.id], "2027-02-01")
    before = {o.duty: (o.id, o.computed_at) for o in obligations(trial.id).values()}
    stats = recompute([trial.id], "2027-02-01")
    assert (stats.inserted, stats.updated, stats.status_changes, stats.unchanged) == (0, 0, 0, 10)
    db.session.expire_all()
    after = {o.duty: (o.id, o.computed_at) for o in obligations(trial.id).values()}
    assert after == before
    assert len(history(trial.id)) == stats.unchanged - sum(
        o.status == "not_applicable" for o in obligations(trial.id).values()
    )


def test_moving_as_of_forward_moves_upcoming_to_due_soon_to_overdue(trial):
    recompute([trial.id], "2027-02-01")
    recompute([trial.id], "2027-04-10")
    end = obligations(trial.id)["UK-END"]
    assert (end.status, end.as_of, end.days_remaining_on(d("2027-04-10"))) == (
        "due_soon",
        d("2027-04-10"),
        21,
    )

    recompute([trial.id], "2027-05-10")
    db.session.expire_all()
    end = obligations(trial.id)["UK-END"]
    assert (end.status, end.days_overdue_on(d("2027-05-10"))) == ("overdue", 9)
    assert end.full_verdict(d("2027-05-10"))["days_overdue"] == 9
    assert end.full_verdict(d("2027-05-12"))["days_overdue"] == 11
    steps = [(c.old_status, c.new_status, c.changed_on) for c in history(trial.id, "UK-END")]
    assert steps == [
        (None, "upcoming", d("2027-02-01")),
        ("upcoming", "due_soon", d("2027-04-10")),
        ("due_soon", "overdue", d("2027-05-10")),
    ]
    # unchanged statuses (UK-REG met) got no new history row, only their first one
    assert len(history(trial.id, "UK-REG")) == 1

    newly = newly_changed(d("2027-05-10"))
    assert [(c.trial_id, c.duty) for c in newly] == [(trial.id, "UK-END")]
    assert newly_changed(d("2027-04-10")) == []
    assert [c.duty for c in newly_changed(d("2027-04-10"), to_status="due_soon")] == ["UK-END"]


def test_a_sponsor_fact_that_meets_the_duty_ends_overdue_and_no_longer_finds_it(trial):
    recompute([trial.id], "2027-05-10")
    assert obligations(trial.id)["UK-END"].status == "overdue"
    set_sponsor_fact(trial.id, "end_of_trial_notified_on", "2027-05-12")
    recompute([trial.id], "2027-05-13", reason="sponsor_fact")
    end = obligations(trial.id)["UK-END"]
    assert (end.status, end.verdict["met_on"]) == ("met_late", "2027-05-12")
    gone = no_longer(d("2027-05-13"))
    assert [(c.duty, c.old_status, c.new_status, c.reason) for c in gone] == [
        ("UK-END", "overdue", "met_late", "sponsor_fact")
    ]
    assert no_longer(d("2027-05-10")) == []


def test_queries_can_be_scoped_to_an_organisation(trial):
    from tests.factories import OrganisationFactory

    mine, other = OrganisationFactory(), OrganisationFactory()
    trial.owner_organisation_id = mine.id
    db.session.commit()
    recompute([trial.id], "2027-05-10")
    assert len(newly_changed(d("2027-05-10"), organisation_id=mine.id)) == 1
    assert newly_changed(d("2027-05-10"), organisation_id=other.id) == []


def test_bad_stored_facts_are_dropped_and_named_in_every_verdict(app):
    trial = make_trial(
        {**IMPORTED, "phase": "phase three", "overall_status": "RECRUITING"},
        ENTRIES,
        {**SPONSOR, "approved_on": "not a date"},
    )
    stats = recompute([trial.id], "2027-02-01", reason="import")
    assert stats.fact_problems == 1
    obs = obligations(trial.id)
    assert set(obs) == ALL_DUTIES
    reg = obs["UK-REG"]
    problems = reg.verdict["fact_problems"]
    assert any(p.startswith("phase:") for p in problems)
    assert any(p.startswith("approved_on:") for p in problems)
    assert "Ignored stored facts that are not valid" in reg.verdict["explanation"]
    assert "approved_on" not in reg.inputs and "phase" not in reg.inputs
    # the rest of the facts still count
    assert reg.inputs["first_participant_on"]["value"] == "2026-07-15"


def test_the_caller_owns_the_transaction(trial):
    """recompute_for_trials never commits: a caller that rolls back leaves nothing behind."""
    recompute_for_trials([trial.id], reason="import", as_of=d("2027-02-01"))
    db.session.rollback()
    assert db.session.execute(sa.select(sa.func.count(Obligation.id))).scalar() == 0
    assert db.session.execute(sa.select(sa.func.count(ObligationStatusChange.id))).scalar() == 0


def test_orm_objects_held_by_the_caller_are_refreshed(trial):
    recompute([trial.id], "2027-02-01")
    end = obligations(trial.id)["UK-END"]
    assert end.status == "upcoming"
    recompute_for_trials([trial.id], reason="daily", as_of=d("2027-05-10"))
    assert end.status == "overdue"  # expired and reloaded, not the stale value
    db.session.commit()


def test_many_trials_in_several_chunks(app, monkeypatch):
    import portal.services.obligations.recompute as service

    monkeypatch.setattr(service, "CHUNK", 3)
    trials = [
        make_trial(IMPORTED, [{**ENTRIES[0], "registry_id": f"ISRCTN{i:08d}"}], SPONSOR,
                   registry_id=f"NCT{i:08d}")
        for i in range(7)
    ]  # fmt: skip
    trials.append(make_trial({"study_type": "observational"}, [], {}, registry_id="NCT99"))
    stats = recompute([t.id for t in trials], "2027-02-01")
    assert stats.trials == 8 and stats.inserted == 80
    assert obligations(trials[-1].id)["UK-REG"].status == "not_applicable"
    assert all(obligations(t.id)["UK-END"].status == "upcoming" for t in trials[:-1])
    # a trial id that does not exist is ignored
    assert recompute([123456], "2027-02-01").trials == 0


def test_stored_verdict_text_is_compact_json_equal_to_the_engine_json(trial):
    recompute([trial.id], "2027-02-01")
    text = db.session.execute(
        sa.select(sa.cast(Obligation.verdict, sa.Text)).where(Obligation.duty == "UK-REG")
    ).scalar_one()
    assert json.loads(text)["id"] == "UK-REG"
    assert ", " not in text[:40]  # compact separators: what the change detection compares


def _stored_inputs(trial_id):
    db.session.expire_all()
    return db.session.get(ObligationInputs, trial_id)


def test_the_facts_shown_on_the_verdicts_are_stored_once_per_trial(trial):
    recompute([trial.id], "2027-02-01")
    row = _stored_inputs(trial.id)
    assert row.inputs["approved_on"]["value"] == "2026-06-01"
    first_written = row.computed_at

    # nothing changed: the row is not rewritten (on another day either: inputs do not move)
    recompute([trial.id], "2027-02-02")
    assert _stored_inputs(trial.id).computed_at == first_written

    # a fact changes: the row follows, and every verdict that reads it shows the new value
    set_sponsor_fact(trial.id, "approved_on", "2026-06-03")
    recompute([trial.id], "2027-02-02", reason="sponsor_fact")
    assert _stored_inputs(trial.id).inputs["approved_on"]["value"] == "2026-06-03"
    obs = obligations(trial.id)
    assert obs["UK-REG"].inputs["approved_on"]["value"] == "2026-06-03"


@pytest.mark.parametrize("as_of", ["2026-07-01", "2027-02-01", "2028-06-30"])
def test_a_stored_verdict_with_its_inputs_is_exactly_the_engine_verdict(trial, as_of):
    """What pages and certificates read (Obligation.full_verdict) equals evaluate()'s JSON."""
    from portal.domain.trials.facts import build_facts
    from portal.rules import Facts, evaluate

    recompute([trial.id], as_of)
    entries = [{**e, "results_posted_on": None} for e in ENTRIES]
    sponsor_rows = db.session.execute(
        sa.select(SponsorFact).where(SponsorFact.trial_id == trial.id, SponsorFact.current)
    ).scalars()
    facts = Facts.from_dict(
        *build_facts(
            trial.imported_facts,
            entries,
            [
                {"key": r.key, "value": r.value, "entered_by_label": r.entered_by_label,
                 "entered_at": r.entered_at}
                for r in sponsor_rows
            ],
        )
    )  # fmt: skip
    expected = {o.id: {**o.to_json(), "params_version": 0} for o in evaluate(facts, d(as_of))}
    stored = {duty: ob.full_verdict(d(as_of)) for duty, ob in obligations(trial.id).items()}
    assert stored == expected
    # and each verdict shows only the facts its duty reads, not the trial's whole set
    assert stored["US-REG"]["inputs"] != stored["UK-PART"]["inputs"]


def test_verdicts_stored_before_the_inputs_table_still_show_their_inputs(trial):
    """Rows written by the old form (inputs inside each verdict) read as before until the next
    recompute rewrites them."""
    recompute([trial.id], "2027-02-01")
    reg = obligations(trial.id)["UK-REG"]
    legacy = {**reg.verdict, "inputs": {"phase": {"value": "3", "source": "old"}}}
    db.session.execute(sa.update(Obligation).where(Obligation.id == reg.id).values(verdict=legacy))
    db.session.execute(sa.delete(ObligationInputs).where(ObligationInputs.trial_id == trial.id))
    db.session.commit()
    reg = obligations(trial.id)["UK-REG"]
    assert reg.inputs == {"phase": {"value": "3", "source": "old"}}
    stats = recompute([trial.id], "2027-02-01")
    assert stats.updated == 1  # the old row is rewritten without its copy of the inputs
    reg = obligations(trial.id)["UK-REG"]
    assert "inputs" not in reg.verdict and reg.inputs["phase"]["value"] == "3"
