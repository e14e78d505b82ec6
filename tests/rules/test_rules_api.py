"""The public API around the rules: rule-set applicability, JSON contract, params, dates."""

from datetime import UTC, date, datetime

import pytest

from portal.rules import (
    DEFAULT_PARAMS,
    Facts,
    FactsError,
    Params,
    ParamsError,
    applicable_rulesets,
    evaluate,
)
from portal.rules.dates import add_months, format_date, parse_date

NEW = {"application_submitted_on": "2026-05-01"}
OLD = {"application_submitted_on": "2025-11-01"}
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


def test_old_rules_part_param_switches_the_duty_off():
    facts = {**OLD, "end_of_trial_on": "2026-09-30"}
    o = verdict(facts, date(2027, 1, 1), "UK-PART", Params(old_rules_part_applies=False))
    assert o.status == "not_applicable"
    assert o.assumptions == [
        "old_rules_part_applies=False: UK-PART is assumed to not apply to old rules trials "
        "ending on or after 2026-04-28"
    ]


def test_rule_sets_that_do_not_apply_still_show_every_duty():
    obligations = evaluate(Facts.from_dict({"countries": ["Australia"]}), date(2026, 11, 20))
    assert [o.id for o in obligations] == [
        "UK-REG",
        "UK-RES",
        "UK-PART",
        "UK-END",
        "UK-LAPSE",
        "EU-START",
        "EU-END",
        "EU-RES",
        "US-REG",
        "US-RES",
    ]
    assert {o.status for o in obligations} == {"not_applicable"}
    assert all(o.explanation for o in obligations)


def test_applicable_rulesets_give_reasons():
    facts = Facts.from_dict({**US_ACT, "countries": ["United Kingdom", "Netherlands"]})
    got = applicable_rulesets(facts)
    assert got["uk-2026"] == (True, "The trial has a site in United Kingdom.")
    assert got["eu-ctr"] == (True, "The trial has sites in the EU/EEA: Netherlands.")
    assert got["us-fdaaa"][0] is True
    observational = applicable_rulesets(Facts.from_dict({"study_type": "observational"}))
    assert not any(applies for applies, _ in observational.values())


def test_json_contract():
    o = verdict(
        {**NEW, "approved_on": "2026-05-04"},
        date(2026, 9, 1),
        "UK-REG",
    )
    data = o.to_json()
    assert {
        "id",
        "ruleset",
        "ruleset_version",
        "status",
        "due",
        "days_overdue",
        "explanation",
        "inputs",
        "assumptions",
        "source",
    } <= set(data)
    assert data["id"] == "UK-REG"
    assert data["ruleset"] == "uk-2026"
    assert data["ruleset_version"] == DEFAULT_PARAMS.version
    assert data["due"] == "2026-08-02"
    assert data["inputs"]["approved_on"] == {"value": "2026-05-04", "source": "given"}
    assert "S.I. 2025/538" in data["source"]


def test_inputs_carry_their_source():
    facts = Facts.from_dict(
        {**NEW, "approved_on": "2026-05-04"},
        sources={"approved_on": "ISRCTN ISRCTN12345678, imported 2026-11-20"},
    )
    (reg,) = [o for o in evaluate(facts, date(2026, 9, 1)) if o.id == "UK-REG"]
    assert reg.inputs["approved_on"]["source"] == "ISRCTN ISRCTN12345678, imported 2026-11-20"
    assert reg.inputs["application_submitted_on"]["source"] == "given"


def test_unknown_source_key_is_rejected():
    with pytest.raises(FactsError, match=r"^sources: approval: unknown fact"):
        Facts.from_dict({}, sources={"approval": "me"})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"due_soon_days": -1}, "due_soon_days: expected a whole number from 0 to 36500, got -1"),
        ({"old_rules_part_applies": "yes"}, "old_rules_part_applies: expected true or false"),
        ({"grace_days": 3}, "grace_days: unknown parameter"),
        ({"uk_in_force": "28/04/2026"}, 'uk_in_force: "28/04/2026" is not a date'),
    ],
)
def test_params_error(data, message):
    with pytest.raises(ParamsError) as err:
        Params.from_dict(data)
    assert str(err.value).startswith(message)


def test_params_round_trip():
    p = Params(due_soon_days=14, version="2026.2")
    assert Params.from_dict(p.to_dict()) == p
    assert p.to_dict()["uk_in_force"] == "2026-04-28"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-07-14", (date(2026, 7, 14), False)),
        ("2026-02", (date(2026, 2, 28), True)),
        ("2028-02", (date(2028, 2, 29), True)),
        (" 2026-12 ", (date(2026, 12, 31), True)),
    ],
)
def test_parse_date_reads_month_only_dates_as_the_last_day(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2026-13", "2026-00-10", "2026-02-29", "26-01-01", "2026/01/01"])
def test_parse_date_rejects_non_dates(text):
    with pytest.raises(ValueError):
        parse_date(text)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 1, 31), 30, date(2029, 7, 31)),
        (date(2026, 12, 15), 12, date(2027, 12, 15)),
        (date(2028, 2, 29), 24, date(2030, 2, 28)),
    ],
)
def test_add_months_moves_a_missing_day_to_the_month_end(start, months, expected):
    assert add_months(start, months) == expected


def test_format_date_reads_like_a_letter():
    assert format_date(date(2026, 7, 4)) == "4 July 2026"


def test_evaluate_wants_a_date_and_facts():
    facts = Facts.from_dict({})
    with pytest.raises(TypeError, match="as_of must be a datetime.date, not datetime"):
        evaluate(facts, datetime(2026, 11, 20, tzinfo=UTC))
    with pytest.raises(TypeError, match=r"facts must be Facts \(see Facts.from_dict\), not dict"):
        evaluate({}, date(2026, 11, 20))  # type: ignore[arg-type]
