"""Normalisation helpers: dates, phases, countries, ages and trial ids."""

from __future__ import annotations

from datetime import date

import pytest

from portal.registries import DateValue
from portal.registries import normalise as n


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-15", (date(2021, 3, 15), "day")),
        ("2021-03", (date(2021, 3, 31), "month")),
        ("2024-02", (date(2024, 2, 29), "month")),  # leap year: last day of month
        ("March 2021", (date(2021, 3, 31), "month")),
        ("March 15, 2021", (date(2021, 3, 15), "day")),
        ("Sept 3, 2021", (date(2021, 9, 3), "day")),
        ("15 March 2021", (date(2021, 3, 15), "day")),
        ("15/03/2021", (date(2021, 3, 15), "day")),  # ISRCTN / WHO: day first
        ("2021-03-15T00:00:00", (date(2021, 3, 15), "day")),
        ("2021-03-15T00:00:00.000Z", (date(2021, 3, 15), "day")),
        ("2017-07-20T00:00:00+02:00", (date(2017, 7, 20), "day")),
        ("2020/03/01", (date(2020, 3, 1), "day")),
        ("20200217", (date(2020, 2, 17), "day")),
        ("  ", None),
        (None, None),
    ],
)
def test_parse_date(text, expected):
    assert n.parse_date(text, "start date") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2021-02-30", "impossible date 2021-02-30 in completion date"),
        ("30/02/2021", "impossible date 30/02/2021 in completion date"),
        ("February 30, 2021", "impossible date February 30, 2021 in completion date"),
        ("2021-13", "impossible date 2021-13 in completion date"),
        ("soon", "unreadable date 'soon' in completion date"),
    ],
)
def test_bad_dates_name_the_field(text, reason):
    with pytest.raises(n.BadValue) as caught:
        n.parse_date(text, "completion date")
    assert str(caught.value) == reason


def test_date_value_and_fact():
    assert n.date_value("2021-03", "x", True) == DateValue(date(2021, 3, 31), "month", True)
    assert n.date_value("2021-03", "x").to_fact() == "2021-03"
    assert n.date_value("2021-03-05", "x").to_fact() == "2021-03-05"
    assert n.actual_flag("ACTUAL") is True
    assert n.actual_flag("Anticipated") is False
    assert n.actual_flag("ESTIMATED") is False
    assert n.actual_flag("Estimate") is False
    assert n.actual_flag(None) is None


@pytest.mark.parametrize(
    ("values", "expected", "fact"),
    [
        (["PHASE1", "PHASE2"], ("1", "2"), "1/2"),
        (["Phase 1/Phase 2"], ("1", "2"), "1/2"),
        (["Phase II/III"], ("2", "3"), "2/3"),
        (["2-3"], ("2", "3"), "2/3"),
        (["EARLY_PHASE1"], ("1",), "1"),
        (["Phase I and Phase II (Integrated)- Other"], ("1", "2"), "1/2"),
        (["Therapeutic confirmatory  (Phase III)"], ("3",), "3"),
        (["NA"], ("n/a",), "n/a"),
        (["Not Applicable"], ("n/a",), "n/a"),
        (["PHASE4"], ("4",), "4"),
        (["Phase 1", "Phase 3"], ("1", "3"), "3"),  # not adjacent: the highest
        ([], (), None),
    ],
)
def test_phases(values, expected, fact):
    phases = n.phases_from_values(values)
    assert phases == expected
    assert n.combined_phase(phases) == fact


def test_countries():
    assert n.countries(["England", "Scotland", "Wales", "Northern Ireland", "UK", "GB"]) == (
        "United Kingdom",
    )
    assert n.countries(["United States", "USA", "Korea, Republic of", "china", None, ""]) == (
        "China",
        "South Korea",
        "United States",
    )
    assert n.country("Czech Republic") == n.country("Czechia") == "Czechia"
    assert n.country_from_code("GB") == "United Kingdom"
    assert n.country_from_code("EL") == "Greece"


@pytest.mark.parametrize(
    ("low", "high", "groups"),
    [
        ("18 Years", "N/A", ("adult", "older_adult")),
        ("N/A", "17 Years", ("child",)),
        ("3 Months", "17 Years", ("child",)),
        ("18 Years", "64 Years", ("adult",)),
        ("65 Years", None, ("older_adult",)),
        ("2 Days", "14 Days", ("child",)),
        ("no limit", "no limit", ("child", "adult", "older_adult")),
        (None, None, ()),
        ("??", "ND", ()),
    ],
)
def test_age_groups_from_limits(low, high, groups):
    assert n.age_groups_from_limits(low, high) == groups


def test_ids():
    assert n.nct_id(" nct01234567 ") == "NCT01234567"
    assert n.isrctn_id("ISRCTN 12345678") == "ISRCTN12345678"
    assert n.isrctn_id("12345678") is None
    assert n.isrctn_id("12345678", bare_digits=True) == "ISRCTN12345678"
    assert n.eudract_id("EUCTR2012-003632-23-GB") == "2012-003632-23"
    assert n.eudract_id("2020- 000735-41") == "2020-000735-41"
    assert n.eudract_id("Nil known") is None
    assert n.eudract_id("2022-500676-59-00") is None  # an EU CT number
    assert n.euct_id("EU CT 2022-500676-59-00") == "2022-500676-59-00"
    assert n.iras_id("1005191") == "1005191"
    refs: dict[str, str] = {}
    n.refs_from_free_text("see NCT04335201 and EudraCT 2020-001513-20", refs)
    assert refs == {"nct": "NCT04335201", "eudract": "2020-001513-20"}


def test_status_and_study_type():
    assert n.status("ACTIVE_NOT_RECRUITING") == n.status("Active, not recruiting")
    assert n.status("GB - no longer in EU/EEA") == "gb_no_longer_in_eu_eea"
    assert n.study_type("INTERVENTIONAL") == "interventional"
    assert n.study_type("Observational [Patient Registry]") == "observational"
    assert n.study_type("EXPANDED_ACCESS") == "expanded access"
    assert n.study_type("Diagnostic test") == "diagnostic test"
