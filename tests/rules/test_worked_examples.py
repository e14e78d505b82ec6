"""The ten worked examples of RULES.md ("Worked examples (expected verdicts)"), verbatim."""

from datetime import date

from portal.rules import Facts, evaluate


def verdicts(facts: dict, as_of: date) -> dict:
    """Evaluate and index the verdicts by duty id."""
    return {o.id: o for o in evaluate(Facts.from_dict(facts), as_of)}


def test_example_1_registered_before_first_participant_is_met():
    """1. New rules trial, approved 2026-06-01, first participant 2026-07-15, registered on ISRCTN
    2026-07-10. UK-REG due 2026-07-14 (the earlier of 2026-07-14 and 2026-08-30): `met`."""
    reg = verdicts(
        {
            "application_submitted_on": "2026-05-01",
            "approved_on": "2026-06-01",
            "first_participant_on": "2026-07-15",
            "registrations": [{"registry": "ISRCTN", "registered_on": "2026-07-10"}],
        },
        as_of=date(2026, 9, 1),
    )["UK-REG"]
    assert reg.status == "met"
    assert reg.due == date(2026, 7, 14)
    assert reg.met_on == date(2026, 7, 10)
    assert reg.days_overdue == 0
    assert "14 July 2026" in reg.explanation and "30 August 2026" in reg.explanation


def test_example_2_registered_after_due_is_met_late():
    """2. Same trial but registered 2026-08-01: `met_late` (due 2026-07-14)."""
    reg = verdicts(
        {
            "application_submitted_on": "2026-05-01",
            "approved_on": "2026-06-01",
            "first_participant_on": "2026-07-15",
            "registrations": [{"registry": "ISRCTN", "registered_on": "2026-08-01"}],
        },
        as_of=date(2026, 9, 1),
    )["UK-REG"]
    assert reg.status == "met_late"
    assert reg.due == date(2026, 7, 14)
    assert reg.days_overdue == 18  # registered 18 days after the due date


def test_example_3_unregistered_trial_is_overdue_by_30_days():
    """3. New rules trial approved 2026-05-04, no participant yet, not registered, as of
    2026-09-01: UK-REG due 2026-08-02: `overdue` by 30 days."""
    reg = verdicts(
        {"application_submitted_on": "2026-04-30", "approved_on": "2026-05-04"},
        as_of=date(2026, 9, 1),
    )["UK-REG"]
    assert reg.status == "overdue"
    assert reg.due == date(2026, 8, 2)
    assert reg.days_overdue == 30
    assert reg.to_json()["days_overdue"] == 30


def test_example_4_old_rules_trial_ended_before_28_april_has_no_legal_results_duty():
    """4. Old rules trial (applied 2025-11-01), end of trial 2026-03-31: UK-RES `not_applicable`
    (ended before 28 April 2026)."""
    res = verdicts(
        {
            "application_submitted_on": "2025-11-01",
            "approved_on": "2025-12-15",
            "end_of_trial_on": "2026-03-31",
        },
        as_of=date(2026, 11, 20),
    )["UK-RES"]
    assert res.status == "not_applicable"
    assert res.due is None
    assert "best practice, not a legal duty" in res.explanation.lower()


def test_example_5_old_rules_trial_missing_results_on_one_registry_is_overdue():
    """5. Old rules trial (applied 2025-11-01), end of trial 2026-09-30, registered on ISRCTN and
    ClinicalTrials.gov, results posted on ISRCTN only on 2027-06-01, as of 2027-10-15: UK-RES due
    2027-09-30, `overdue`, missing on ClinicalTrials.gov."""
    res = verdicts(
        {
            "application_submitted_on": "2025-11-01",
            "end_of_trial_on": "2026-09-30",
            "registrations": [
                {"registry": "ISRCTN", "id": "ISRCTN12345678", "results_posted_on": "2027-06-01"},
                {"registry": "ClinicalTrials.gov", "id": "NCT01234567"},
            ],
        },
        as_of=date(2027, 10, 15),
    )["UK-RES"]
    assert res.status == "overdue"
    assert res.due == date(2027, 9, 30)
    assert res.days_overdue == 15
    assert res.missing == ["ClinicalTrials.gov"]
    assert "ClinicalTrials.gov" in res.explanation


def test_example_6_early_termination_gives_15_days_to_notify():
    """6. Trial terminated early on 2026-10-01: UK-END due 2026-10-16 (15 days)."""
    end = verdicts(
        {
            "application_submitted_on": "2026-05-01",
            "approved_on": "2026-06-01",
            "end_of_trial_on": "2026-10-01",
            "early_termination": True,
        },
        as_of=date(2026, 10, 2),
    )["UK-END"]
    assert end.due == date(2026, 10, 16)
    assert end.trigger == date(2026, 10, 1)
    assert end.status == "due_soon"
    assert end.days_remaining == 14


def test_example_7_phase_1_healthy_volunteers_are_deferred_30_months_after_end():
    """7. Phase 1, healthy volunteers, new rules, end of trial 2027-01-31: UK-REG and UK-RES
    `deferred` until 2029-07-31 (30 months after the end, **[param]**)."""
    got = verdicts(
        {
            "application_submitted_on": "2026-05-01",
            "approved_on": "2026-06-01",
            "first_participant_on": "2026-07-01",
            "end_of_trial_on": "2027-01-31",
            "phase": "1",
            "healthy_volunteers": True,
        },
        as_of=date(2027, 3, 1),
    )
    for duty in ("UK-REG", "UK-RES"):
        o = got[duty]
        assert o.status == "deferred", duty
        assert o.deferred_until == date(2029, 7, 31)
        assert o.due == date(2029, 7, 31)
        assert any(a.startswith("deferral_months=30") for a in o.assumptions)


def test_example_8_paediatric_results_are_due_in_12_months_not_6():
    """8. A paediatric new rules trial ending 2026-12-31: UK-RES due 2027-12-31 (12 months,
    not 6)."""
    res = verdicts(
        {
            "application_submitted_on": "2026-05-01",
            "approved_on": "2026-06-01",
            "end_of_trial_on": "2026-12-31",
            "paediatric": True,
        },
        as_of=date(2027, 1, 15),
    )["UK-RES"]
    assert res.due == date(2027, 12, 31)
    assert res.status == "upcoming"


def test_example_9_month_only_end_date_is_read_as_month_end_and_flagged():
    """9. Month-only end date "2027-03": treated as 2027-03-31, UK-RES due 2028-03-31, flagged
    estimated."""
    res = verdicts(
        {
            "application_submitted_on": "2026-05-01",
            "approved_on": "2026-06-01",
            "end_of_trial_on": "2027-03",
        },
        as_of=date(2027, 4, 1),
    )["UK-RES"]
    assert res.trigger == date(2027, 3, 31)
    assert res.due == date(2028, 3, 31)
    assert res.estimated is True
    assert "estimated from a month-only date" in res.assumptions
    assert res.inputs["end_of_trial_on"]["value"] == "2027-03 (read as 2027-03-31)"


def test_example_10_delay_certification_defers_us_results_to_3_years():
    """10. US ACT, primary completion 2025-05-20, no results, delay certification filed
    2026-04-01: US-RES due 2028-05-20, `deferred`."""
    res = verdicts(
        {
            "study_type": "interventional",
            "fda_regulated_drug": True,
            "phase": "3",
            "us_site": True,
            "start_on": "2023-01-10",
            "primary_completion_on": "2025-05-20",
            "delay_certification_on": "2026-04-01",
        },
        as_of=date(2026, 11, 20),
    )["US-RES"]
    assert res.status == "deferred"
    assert res.due == date(2028, 5, 20)
    assert res.deferred_until == date(2028, 5, 20)
    assert res.days_overdue == 0
