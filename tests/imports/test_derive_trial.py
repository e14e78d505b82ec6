"""derive_trial: a trial's imported facts from all its registry entries."""

from __future__ import annotations

from portal.domain.trials.facts import build_facts
from portal.services.imports import EntryView, derive_trial

AT = "2026-11-01T09:00:00+00:00"


def entry(registry, registry_id, **facts):
    return EntryView(registry=registry, registry_id=registry_id, facts=facts, imported_at=AT)


def test_each_fact_comes_from_the_highest_priority_registry_that_has_it():
    columns = derive_trial(
        [
            entry("ISRCTN", "ISRCTN1", title="From ISRCTN", phase="3"),
            entry("ClinicalTrials.gov", "NCT1", title="From CT.gov"),
        ]
    )
    facts = columns["imported_facts"]
    assert (facts["title"]["value"], facts["title"]["registry"]) == (
        "From CT.gov",
        "ClinicalTrials.gov",
    )
    assert (facts["phase"]["value"], facts["phase"]["record"]) == ("3", "ISRCTN1")
    assert columns["title"] == "From CT.gov"


def test_a_uk_site_listed_on_any_registry_makes_it_a_uk_trial():
    columns = derive_trial(
        [
            entry("ClinicalTrials.gov", "NCT1", countries=["United States", "Germany"]),
            entry("ISRCTN", "ISRCTN1", countries=["United Kingdom", "germany"]),
            entry("DRKS", "DRKS1", countries=["Germany"]),
        ]
    )
    countries = columns["imported_facts"]["countries"]
    assert countries["value"] == ["United States", "Germany", "United Kingdom"]
    assert (countries["registry"], countries["record"]) == ("ClinicalTrials.gov", "NCT1")
    # only the entries that added a country are named
    assert countries["also"] == [{"registry": "ISRCTN", "record": "ISRCTN1"}]
    assert columns["uk_site"] is True
    # and the verdicts say where the countries came from
    _, sources = build_facts(columns["imported_facts"], [], [])
    assert (
        sources["countries"]
        == "ClinicalTrials.gov NCT1, imported 1 November 2026; with ISRCTN ISRCTN1"
    )


def test_entries_that_agree_leave_the_countries_as_the_first_gave_them():
    columns = derive_trial(
        [
            entry("ClinicalTrials.gov", "NCT1", countries=["United Kingdom"]),
            entry("ISRCTN", "ISRCTN1", countries=["UK"]),  # the same country, spelled otherwise
        ]
    )
    countries = columns["imported_facts"]["countries"]
    assert countries["value"] == ["United Kingdom"] and "also" not in countries
    assert columns["uk_site"] is True


def test_no_countries_anywhere_leaves_uk_site_unknown():
    columns = derive_trial([entry("ClinicalTrials.gov", "NCT1"), entry("ISRCTN", "ISRCTN1")])
    assert "countries" not in columns["imported_facts"] and columns["uk_site"] is None
