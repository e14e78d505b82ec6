"""Edge cases of RULES.md: month ends, leap days, boundaries, deferrals, waivers, missing data."""

from datetime import date

import pytest

from portal.rules import (
    DEFAULT_PARAMS,
    STATUSES,
    Facts,
    FactsError,
    Params,
    evaluate,
)

NEW = {"application_submitted_on": "2026-05-01"}  # a new rules trial
OLD = {"application_submitted_on": "2025-11-01"}  # an old rules trial
US_ACT = {
    "study_type": "interventional",
    "fda_regulated_drug": True,
    "phase": "3",
    "us_site": True,
    "start_on": "2024-01-10",
}


def verdict(facts: dict, as_of: date, duty: str, params: Params = DEFAULT_PARAMS):
    """The verdict on `duty` for `facts` as of `as_of`."""
    (o,) = [o for o in evaluate(Facts.from_dict(facts), as_of, params) if o.id == duty]
    return o


# RULES.md "Which EU law applies": the eu-ctr duties below are CTR duties (an EU CT number).
CTR = {"eu_ct_number": "2026-500001-12-00"}

CASES = [
    # (case, facts, as_of, duty, expected attributes)
    (
        "approval at a month end + 90 days",
        {**NEW, "approved_on": "2026-11-30"},
        date(2026, 12, 1),
        "UK-REG",
        {"status": "upcoming", "due": date(2027, 2, 28), "days_remaining": 89},
    ),
    (
        "approval on 31 December + 90 days",
        {**NEW, "approved_on": "2026-12-31"},
        date(2027, 3, 1),
        "UK-REG",
        {"status": "due_soon", "due": date(2027, 3, 31), "days_remaining": 30},
    ),
    (
        "first participant on 1 March: registration due the last day of February",
        {**NEW, "approved_on": "2027-01-15", "first_participant_on": "2027-03-01"},
        date(2027, 3, 5),
        "UK-REG",
        {"status": "overdue", "due": date(2027, 2, 28), "days_overdue": 5},
    ),
    (
        "end on a leap day + 12 months lands on 28 February",
        {**NEW, "end_of_trial_on": "2028-02-29"},
        date(2028, 3, 1),
        "UK-RES",
        {"status": "upcoming", "due": date(2029, 2, 28)},
    ),
    (
        "end on 31 August + 6 months (EU paediatric) lands on a leap day",
        {**CTR, "countries": ["Germany"], "end_of_trial_on": "2027-08-31", "paediatric": True},
        date(2027, 9, 1),
        "EU-RES",
        {"status": "upcoming", "due": date(2028, 2, 29), "missing": ["CTIS"]},
    ),
    (
        "end on 31 August + 6 months (EU paediatric) in a common year",
        {**CTR, "countries": ["France"], "end_of_trial_on": "2026-08-31", "paediatric": True},
        date(2026, 9, 1),
        "EU-RES",
        {"due": date(2027, 2, 28)},
    ),
    (
        "approval on a leap day lapses 2 years later on 28 February",
        {**NEW, "approved_on": "2028-02-29"},
        date(2029, 12, 1),
        "UK-LAPSE",
        {"status": "due_soon", "due": date(2030, 2, 28), "days_remaining": 89},
    ),
    (
        "early termination: end of trial notification within 15 days",
        {**NEW, "end_of_trial_on": "2026-12-20", "early_termination": True},
        date(2027, 1, 10),
        "UK-END",
        {"status": "overdue", "due": date(2027, 1, 4), "days_overdue": 6},
    ),
    (
        "planned end: end of trial notification within 90 days",
        {**NEW, "end_of_trial_on": "2026-12-20", "early_termination": False},
        date(2027, 1, 10),
        "UK-END",
        {"status": "upcoming", "due": date(2027, 3, 20), "days_remaining": 69},
    ),
    (
        "end of trial notified on the due date is met",
        {**NEW, "end_of_trial_on": "2026-12-20", "end_of_trial_notified_on": "2027-03-20"},
        date(2027, 6, 1),
        "UK-END",
        {"status": "met", "met_on": date(2027, 3, 20), "days_overdue": 0},
    ),
    (
        "deferral requested after the deadline is ignored",
        {
            **NEW,
            "end_of_trial_on": "2026-06-30",
            "deferrals": [{"duty": "UK-RES", "requested_on": "2027-07-01", "until": "2028-12-31"}],
        },
        date(2027, 8, 1),
        "UK-RES",
        {"status": "overdue", "due": date(2027, 6, 30), "days_overdue": 32},
    ),
    (
        "deferral requested on the due date itself is ignored (RULES.md: 'before')",
        {
            **NEW,
            "end_of_trial_on": "2026-06-30",
            "deferrals": [{"duty": "UK-RES", "requested_on": "2027-06-30", "until": "2028-12-31"}],
        },
        date(2027, 8, 1),
        "UK-RES",
        {"status": "overdue", "due": date(2027, 6, 30)},
    ),
    (
        "deferral requested the day before the due date moves the due date",
        {
            **NEW,
            "end_of_trial_on": "2026-06-30",
            "deferrals": [{"duty": "UK-RES", "requested_on": "2027-06-29", "until": "2028-12-31"}],
        },
        date(2027, 8, 1),
        "UK-RES",
        {"status": "deferred", "due": date(2028, 12, 31), "deferred_until": date(2028, 12, 31)},
    ),
    (
        "a deferral without an end date runs 30 months from the end of trial",
        {
            **NEW,
            "end_of_trial_on": "2026-08-31",
            "deferrals": [{"duty": "UK-PART", "requested_on": "2027-01-05", "reference": "D-9"}],
        },
        date(2027, 9, 1),
        "UK-PART",
        {"status": "deferred", "deferred_until": date(2029, 2, 28)},
    ),
    (
        "a deferral cannot run beyond 10 years after the end of trial",
        {
            **NEW,
            "end_of_trial_on": "2026-08-31",
            "deferrals": [{"duty": "UK-RES", "requested_on": "2027-01-05", "until": "2040-01-01"}],
        },
        date(2027, 9, 1),
        "UK-RES",
        {"status": "deferred", "deferred_until": date(2036, 8, 31)},
    ),
    (
        "once a deferral ends without results, the duty is overdue against the deferred date",
        {
            **NEW,
            "end_of_trial_on": "2026-06-30",
            "deferrals": [{"duty": "UK-RES", "requested_on": "2027-01-05", "until": "2028-01-31"}],
        },
        date(2028, 2, 10),
        "UK-RES",
        {"status": "overdue", "due": date(2028, 1, 31), "days_overdue": 10},
    ),
    (
        "applied 27 April 2026: old rules, no approval lapse",
        {"application_submitted_on": "2026-04-27", "approved_on": "2026-06-01"},
        date(2026, 7, 1),
        "UK-LAPSE",
        {"status": "not_applicable", "due": None},
    ),
    (
        "applied 28 April 2026: new rules, approval lapses after 2 years",
        {"application_submitted_on": "2026-04-28", "approved_on": "2026-06-01"},
        date(2026, 7, 1),
        "UK-LAPSE",
        {"status": "upcoming", "due": date(2028, 6, 1)},
    ),
    (
        "old rules trial ended 27 April 2026: results are best practice only",
        {**OLD, "end_of_trial_on": "2026-04-27"},
        date(2027, 6, 1),
        "UK-RES",
        {"status": "not_applicable", "due": None},
    ),
    (
        "old rules trial ended 28 April 2026: results are a legal duty",
        {**OLD, "end_of_trial_on": "2026-04-28"},
        date(2027, 6, 1),
        "UK-RES",
        {"status": "overdue", "due": date(2027, 4, 28), "days_overdue": 34},
    ),
    (
        "old rules trial ended 27 April 2026: registration is best practice only",
        {**OLD, "end_of_trial_on": "2026-04-27"},
        date(2027, 6, 1),
        "UK-REG",
        {"status": "not_applicable"},
    ),
    (
        "old rules trial ending later and on ISRCTN: registration already met",
        {
            **OLD,
            "approved_on": "2025-12-01",
            "end_of_trial_on": "2027-06-30",
            "registrations": [{"registry": "ISRCTN", "id": "ISRCTN1"}],
        },
        date(2026, 11, 20),
        "UK-REG",
        {"status": "met"},
    ),
    (
        "old rules trial ending later, unregistered: due when the rules came into force",
        {**OLD, "approved_on": "2025-12-01", "end_of_trial_on": "2027-06-30"},
        date(2026, 11, 20),
        "UK-REG",
        {"status": "overdue", "due": date(2026, 4, 28), "days_overdue": 206},
    ),
    (
        "old rules trial ending later: participant summary assumed to apply [param]",
        {**OLD, "end_of_trial_on": "2026-09-30"},
        date(2027, 10, 15),
        "UK-PART",
        {"status": "overdue", "due": date(2027, 9, 30)},
    ),
    (
        "approval before 28 April 2026 without an application date: old rules",
        {"approved_on": "2026-03-01", "end_of_trial_on": "2026-04-01"},
        date(2026, 11, 20),
        "UK-RES",
        {"status": "not_applicable"},
    ),
    (
        "results in one registry of two",
        {
            **NEW,
            "end_of_trial_on": "2026-09-30",
            "registrations": [
                {"registry": "ISRCTN", "results_posted_on": "2027-03-01"},
                {"registry": "ClinicalTrials.gov"},
            ],
        },
        date(2027, 4, 1),
        "UK-RES",
        {"status": "upcoming", "missing": ["ClinicalTrials.gov"], "met_on": None},
    ),
    (
        "results in both registries: met on the later posting",
        {
            **NEW,
            "end_of_trial_on": "2026-09-30",
            "registrations": [
                {"registry": "ISRCTN", "results_posted_on": "2027-03-01"},
                {"registry": "ClinicalTrials.gov", "results_posted_on": "2027-09-30"},
            ],
        },
        date(2027, 11, 1),
        "UK-RES",
        {"status": "met", "missing": [], "met_on": date(2027, 9, 30)},
    ),
    (
        "results in both registries, one late: met_late by the later posting",
        {
            **NEW,
            "end_of_trial_on": "2026-09-30",
            "registrations": [
                {"registry": "ISRCTN", "results_posted_on": "2027-03-01"},
                {"registry": "ClinicalTrials.gov", "results_posted_on": "2027-10-10"},
            ],
        },
        date(2027, 11, 1),
        "UK-RES",
        {"status": "met_late", "days_overdue": 10, "met_on": date(2027, 10, 10)},
    ),
    (
        "no registry entry: results cannot be met",
        {**NEW, "end_of_trial_on": "2026-09-30", "registrations": []},
        date(2027, 11, 1),
        "UK-RES",
        {"status": "overdue", "missing": ["registry entry"]},
    ),
    (
        "results posted after as_of do not count yet",
        {
            **NEW,
            "end_of_trial_on": "2026-09-30",
            "registrations": [{"registry": "ISRCTN", "results_posted_on": "2027-12-01"}],
        },
        date(2027, 11, 1),
        "UK-RES",
        {"status": "overdue", "missing": ["ISRCTN"]},
    ),
    (
        "waiver",
        {
            **NEW,
            "end_of_trial_on": "2026-09-30",
            "waivers": [{"duty": "UK-RES", "reference": "W-2027-001"}],
        },
        date(2027, 11, 1),
        "UK-RES",
        {"status": "waived", "due": None, "days_overdue": 0},
    ),
    (
        "a waiver on the ground of commercial confidentiality does not count",
        {
            **NEW,
            "approved_on": "2026-06-01",
            "waivers": [{"duty": "UK-REG", "ground": "commercial confidentiality"}],
        },
        date(2026, 11, 1),
        "UK-REG",
        {"status": "overdue", "due": date(2026, 8, 30)},
    ),
    (
        "data needed: approval date for registration",
        {**NEW, "first_participant_on": "2026-07-01"},
        date(2026, 11, 1),
        "UK-REG",
        {"status": "data_needed", "missing": ["approved_on"], "due": None},
    ),
    (
        "data needed: end of trial for results",
        {**NEW, "approved_on": "2026-06-01"},
        date(2026, 11, 1),
        "UK-RES",
        {"status": "data_needed", "missing": ["end_of_trial_on"]},
    ),
    (
        "data needed: application date decides old or new rules",
        {"approved_on": "2026-06-01"},
        date(2026, 11, 1),
        "UK-LAPSE",
        {"status": "data_needed", "missing": ["application_submitted_on"]},
    ),
    (
        "data needed: a registry entry without a registration date",
        {**NEW, "approved_on": "2026-06-01", "registrations": [{"registry": "DRKS"}]},
        date(2026, 11, 1),
        "UK-REG",
        {"status": "data_needed", "missing": ["registered_on of the DRKS entry"]},
    ),
    (
        "data needed: FDAAA applicability without a study type",
        {k: v for k, v in US_ACT.items() if k != "study_type"},
        date(2026, 11, 1),
        "US-REG",
        {"status": "data_needed", "missing": ["study_type"]},
    ),
    (
        "data needed: US results without any completion date",
        US_ACT,
        date(2026, 11, 1),
        "US-RES",
        {"status": "data_needed", "missing": ["primary_completion_on or completion_on"]},
    ),
    (
        "US registration 21 days after the first participant, met on ClinicalTrials.gov",
        {
            **US_ACT,
            "first_participant_on": "2024-01-10",
            "registrations": [{"registry": "ClinicalTrials.gov", "registered_on": "2024-01-31"}],
        },
        date(2026, 11, 1),
        "US-REG",
        {"status": "met", "due": date(2024, 1, 31)},
    ),
    (
        "US results fall back to the completion date",
        {**US_ACT, "completion_on": "2026-01-31"},
        date(2026, 11, 1),
        "US-RES",
        {"status": "upcoming", "due": date(2027, 1, 31)},
    ),
    (
        "a delay certification filed after results were due is ignored",
        {**US_ACT, "primary_completion_on": "2025-05-20", "delay_certification_on": "2026-06-01"},
        date(2026, 11, 1),
        "US-RES",
        {"status": "overdue", "due": date(2026, 5, 20), "days_overdue": 165},
    ),
    (
        "a good-cause extension moves the due date to its granted date",
        {
            **US_ACT,
            "primary_completion_on": "2025-05-20",
            "good_cause_extension_until": "2026-12-01",
        },
        date(2026, 11, 20),
        "US-RES",
        {"status": "due_soon", "due": date(2026, 12, 1), "days_remaining": 11},
    ),
    (
        "results submitted late to ClinicalTrials.gov",
        {
            **US_ACT,
            "primary_completion_on": "2025-05-20",
            "results_submitted_on": "2026-06-19",
        },
        date(2026, 11, 20),
        "US-RES",
        {"status": "met_late", "days_overdue": 30, "met_on": date(2026, 6, 19)},
    ),
    (
        "Phase 1 trials are not applicable clinical trials",
        {**US_ACT, "phase": "1", "primary_completion_on": "2025-05-20"},
        date(2026, 11, 20),
        "US-RES",
        {"status": "not_applicable"},
    ),
    (
        "a trial started before 18 January 2017 and completed after it is a probable ACT",
        {**US_ACT, "start_on": "2016-06-01", "primary_completion_on": "2017-06-01"},
        date(2026, 11, 20),
        "US-RES",
        {"status": "overdue", "due": date(2018, 6, 1)},
    ),
    (
        "a trial started and completed before 18 January 2017 is out of scope",
        {**US_ACT, "start_on": "2015-06-01", "primary_completion_on": "2016-06-01"},
        date(2026, 11, 20),
        "US-RES",
        {"status": "not_applicable"},
    ),
    (
        "EU start events are due 15 days after each event",
        {
            **CTR,
            "countries": ["Spain"],
            "eu_events": [
                {"event": "trial_start", "on": "2026-09-01", "notified_on": "2026-09-10"},
                {"event": "first_visit", "on": "2026-10-01", "member_state": "Spain"},
            ],
        },
        date(2026, 10, 20),
        "EU-START",
        {
            "status": "overdue",
            "due": date(2026, 10, 16),
            "days_overdue": 4,
            "missing": ["first visit of the first participant (Spain)"],
        },
    ),
    (
        "EU events: a late notification outranks an event not yet due",
        {
            **CTR,
            "countries": ["Spain"],
            "eu_events": [
                {"event": "trial_start", "on": "2026-09-01", "notified_on": "2026-09-20"},
                {"event": "first_visit", "on": "2026-10-01"},
            ],
        },
        date(2026, 10, 5),
        "EU-START",
        {
            "status": "met_late",
            "days_overdue": 4,
            "missing": ["first visit of the first participant"],
        },
    ),
    (
        "EU end notified late in one member state",
        {
            **CTR,
            "countries": ["Spain", "Italy"],
            "eu_events": [
                {"event": "end_member_state", "on": "2026-09-01", "notified_on": "2026-09-20"},
                {"event": "end_all_member_states", "on": "2026-10-01", "notified_on": "2026-10-02"},
            ],
        },
        date(2026, 10, 20),
        "EU-END",
        {"status": "met_late", "due": date(2026, 9, 16), "days_overdue": 4},
    ),
    (
        "EU results posted in CTIS",
        {
            "countries": ["Italy"],
            "end_of_trial_on": "2026-01-15",
            "paediatric": False,
            "registrations": [{"registry": "CTIS", "results_posted_on": "2027-01-10"}],
        },
        date(2027, 3, 1),
        "EU-RES",
        {"status": "met", "due": date(2027, 1, 15), "missing": []},
    ),
    (
        "month-only approval date flags registration as estimated",
        {**NEW, "approved_on": "2026-06"},
        date(2026, 7, 1),
        "UK-REG",
        {"status": "upcoming", "due": date(2026, 9, 28), "estimated": True},
    ),
    (
        "a month-only date not used for the due date does not flag it",
        {**NEW, "approved_on": "2026-06-01", "first_participant_on": "2026-09"},
        date(2026, 7, 1),
        "UK-REG",
        {"due": date(2026, 8, 30), "estimated": False},
    ),
    (
        "a month-only first participant date that may decide the due date flags it",
        {**NEW, "approved_on": "2026-06-01", "first_participant_on": "2026-08"},
        date(2026, 7, 1),
        "UK-REG",
        {"due": date(2026, 8, 30), "estimated": True},
    ),
]


@pytest.mark.parametrize(
    ("facts", "as_of", "duty", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_edge_case(facts, as_of, duty, expected):
    o = verdict(facts, as_of, duty)
    got = {k: getattr(o, k) for k in expected}
    assert got == expected, o.explanation
    assert o.status in STATUSES


def test_ignored_deferral_is_explained():
    o = verdict(
        {
            **NEW,
            "end_of_trial_on": "2026-06-30",
            "deferrals": [{"duty": "UK-RES", "requested_on": "2027-07-01", "reference": "D-1"}],
        },
        date(2027, 8, 1),
        "UK-RES",
    )
    assert "D-1" in o.explanation
    assert "is ignored: it was not requested before the due date" in o.explanation


def test_old_rules_history_is_shown_but_not_applied():
    o = verdict({**OLD, "end_of_trial_on": "2026-09-30"}, date(2027, 1, 1), "UK-RES")
    assert o.due == date(2027, 9, 30)
    assert "6 months for paediatric trials); shown as history only" in o.explanation


def test_lapse_warning_window_is_a_param():
    facts = {**NEW, "approved_on": "2026-06-01"}
    as_of = date(2028, 4, 1)  # 61 days before the lapse
    assert verdict(facts, as_of, "UK-LAPSE").status == "due_soon"
    narrow = Params(lapse_warning_days=60)
    o = verdict(facts, as_of, "UK-LAPSE", narrow)
    assert o.status == "upcoming"
    assert any(a.startswith("lapse_warning_days=60") for a in o.assumptions)


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"aproved_on": "2026-01-01"}, "aproved_on: unknown fact (did you mean approved_on?)"),
        ({"as_of": "2026-01-01"}, "as_of: not a fact (pass as_of to evaluate() instead)"),
        (
            {"approved_on": "2026-13-01"},
            'approved_on: "2026-13-01" is not a date (use YYYY-MM-DD or YYYY-MM)',
        ),
        (
            {"end_of_trial_on": "2026-02-30"},
            'end_of_trial_on: "2026-02-30" is not a date (use YYYY-MM-DD or YYYY-MM)',
        ),
        (
            {"end_of_trial_on": "30/04/2026"},
            'end_of_trial_on: "30/04/2026" is not a date (use YYYY-MM-DD or YYYY-MM)',
        ),
        (
            {"approved_on": 20260101},
            "approved_on: expected a date string (use YYYY-MM-DD or YYYY-MM), got 20260101",
        ),
        ({"early_termination": "yes"}, 'early_termination: expected true or false, got "yes"'),
        ({"countries": "United Kingdom"}, 'countries: expected a list, got "United Kingdom"'),
        ({"phase": "5"}, 'phase: "5" is not one of 1, 1/2, 2, 2/3, 3, 4, n/a'),
        (
            {"registrations": [{"registry": "ISRCTN", "registered_on": "2026-7-1"}]},
            'registrations[0].registered_on: "2026-7-1" is not a date (use YYYY-MM-DD or YYYY-MM)',
        ),
        (
            {"registrations": [{"registry": "ISRCTN"}, {"registry": "MyRegistry"}]},
            'registrations[1].registry: "MyRegistry" is not a WHO ICTRP primary registry or '
            "data provider (e.g. ISRCTN, ClinicalTrials.gov, CTIS, EUCTR, DRKS, ANZCTR)",
        ),
        (
            {"registrations": [{"registry": "ISRCTN", "url": "x"}]},
            "registrations[0].url: unknown field",
        ),
        ({"deferrals": [{"duty": "UK-RES"}]}, "deferrals[0].requested_on: required"),
        (
            {"deferrals": [{"duty": "EU-RES", "requested_on": "2026-01-01"}]},
            'deferrals[0].duty: "EU-RES" cannot be given a deferral (the EU CTR has had no '
            "deferrals since 18 June 2024)",
        ),
    ],
)
def test_facts_error_names_the_key_and_the_problem(facts, message):
    with pytest.raises(FactsError) as err:
        Facts.from_dict(facts)
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_facts_accept_none_as_absent_and_round_trip():
    data = {
        **NEW,
        "approved_on": "2026-06",
        "end_of_trial_on": None,
        "registrations": [{"registry": "clinicaltrials.gov", "id": "NCT01234567"}],
    }
    facts = Facts.from_dict(data)
    assert facts.end_of_trial_on is None
    assert facts.approved_on == date(2026, 6, 30)
    assert facts.to_dict() == {
        **NEW,
        "approved_on": "2026-06",
        "registrations": [{"registry": "ClinicalTrials.gov", "id": "NCT01234567"}],
    }
    assert Facts.from_dict(facts.to_dict()) == facts


def test_phase_1_deferral_without_an_end_date_stays_deferred_until_it_can_be_dated():
    facts = {
        **NEW,
        "approved_on": "2026-06-01",
        "first_participant_on": "2026-07-01",
        "phase": "1",
        "healthy_volunteers": True,
    }
    o = verdict(facts, date(2026, 11, 1), "UK-REG")
    assert (o.status, o.due, o.deferred_until) == ("deferred", None, None)
    assert o.missing == ["end_of_trial_on"]
    registered = {**facts, "registrations": [{"registry": "ISRCTN", "registered_on": "2026-10-01"}]}
    o = verdict(registered, date(2026, 11, 1), "UK-REG")
    assert (o.status, o.met_on) == ("met", date(2026, 10, 1))
