"""EU registers: EUCTR and CTIS as stored by ctrdata, the EUCTR full-text download, the
DIRECCT EUCTR scrape CSV, and the files that are rejected on purpose."""

from __future__ import annotations

import ast
import csv
import json
from datetime import date

import pytest

from portal.registries import DateValue, TrialRecord, read_file
from tests.conftest import SYNTHETIC


@pytest.mark.corpus
def test_euctr_ctrdata_json_corpus_counts(corpus_read):
    got = corpus_read("eu/euctr-ctrdata-demo-json")
    assert (len(got.records), len(got.rejected)) == (18, 0)
    assert got.uk() == 3  # SOURCES.md: 3 member-state records GB
    uk = sorted(r.source_record for r in got.records if r.uk_site)
    assert uk == ["2012-003632-23-GB", "2014-002606-20-GB", "2014-003556-31-GB"]
    # one record per member state: the id has no member-state suffix, the locator does
    assert {r.entry.registry_id for r in got.records} == {
        "2012-003632-23",
        "2013-000615-24",
        "2014-002606-20",
        "2014-003556-31",
        "2016-003884-20",
        "2016-004489-24",
        "2019-000338-20",
        "2019-002663-10",
    }


def test_euctr_ctrdata_json(read, samples):
    got = read("eu/euctr-ctrdata-demo-json")
    assert (len(got.records), len(got.rejected)) == (9, 0)
    uk = sorted(r.source_record for r in got.records if r.uk_site)
    assert uk == ["2012-003632-23-GB", "2014-002606-20-GB", "2014-003556-31-GB"]
    # one record per member state: the id has no member-state suffix, the locator does
    assert {r.entry.registry_id for r in got.records} == {
        "2012-003632-23",
        "2013-000615-24",
        "2014-002606-20",
        "2014-003556-31",
    }

    raw = json.loads((samples / "eu/euctr-ctrdata-demo-json/2012-003632-23-GB.json").read_text())
    rec = next(r for r in got.records if r.source_record == "2012-003632-23-GB")
    assert rec.entry.registry == "EUCTR"
    assert rec.entry.registry_id == raw["a2_eudract_number"]
    assert raw["a1_member_state_concerned"] == "UK - MHRA"
    assert rec.countries == ("United Kingdom",)
    assert rec.entry.registered_on == date.fromisoformat(
        raw["x6_date_on_which_this_record_was_first_entered_in_the_eudract_database"]
    )
    assert rec.completion == DateValue(
        date.fromisoformat(raw["p_date_of_the_global_end_of_the_trial"]), "day", True
    )
    assert rec.sponsor_name == raw["b1_sponsor"][0]["b11_name_of_sponsor"] == "NovImmune SA"
    assert raw["e72_therapeutic_exploratory_phase_ii"] == "Yes"
    assert raw["e73_therapeutic_confirmatory_phase_iii"] == "Yes"
    assert rec.phases == ("2", "3")
    assert rec.cross_refs == {
        "eudract": "2012-003632-23",
        "nct": raw["a52_us_nct_clinicaltrialsgov_registry_number"],
    }
    assert rec.paediatric is (raw["f11_trial_has_subjects_under_18"] == "Yes")
    assert rec.healthy_volunteers is False and raw["f31_healthy_volunteers"] == "No"
    assert rec.overall_status == "completed"
    # results part (trialInformation): primary completion and recruitment start
    info = raw["trialInformation"]
    assert rec.primary_completion.value == date.fromisoformat(info["primaryCompletionDate"][:10])
    assert rec.start.value == date.fromisoformat(info["recruitmentStartDate"][:10])
    assert (
        rec.entry.url == "https://www.clinicaltrialsregister.eu/ctr-search/trial/2012-003632-23/GB"
    )


def test_euctr_third_country_record(read):
    rec = next(
        r for r in read("eu/euctr-ctrdata-demo-json").records if r.source_record.endswith("-3RD")
    )
    assert rec.source_record == "2014-002606-20-3RD"
    assert rec.countries == () and rec.uk_site is None
    assert rec.phases == ("4",)
    assert rec.age_groups == ("child",)


@pytest.mark.corpus
def test_ctis_ctrdata_json_corpus_counts(corpus_read):
    got = corpus_read("eu/ctis-ctrdata-demo-json")
    assert (len(got.records), len(got.rejected)) == (7, 0)
    assert {r.entry.registry for r in got.records} == {"CTIS"}
    # SOURCES.md gives 0 UK: no EU member state is the UK; but 2024-512095-35-00 lists the
    # United Kingdom among its countries outside the EEA (rowCountriesInfo), which count
    # as trial countries here
    assert [r.entry.registry_id for r in got.records if r.uk_site] == ["2024-512095-35-00"]


def test_ctis_ctrdata_json(read, samples):
    got = read("eu/ctis-ctrdata-demo-json")
    assert (len(got.records), len(got.rejected)) == (3, 0)
    assert {r.entry.registry for r in got.records} == {"CTIS"}
    assert [r.entry.registry_id for r in got.records if r.uk_site] == []

    # older ctrdata shape (search list + full record merged)
    raw = json.loads((samples / "eu/ctis-ctrdata-demo-json/2022-500676-59-00.json").read_text())
    rec = got.by_id(raw["ctNumber"])
    assert rec.title == raw["title"]
    assert rec.sponsor_name == raw["primarySponsor"]["organisation"]["name"]
    assert raw["trialCountries"] == "DE:Ongoing, recruiting" and rec.countries == ("Germany",)
    assert raw["trialPhase"] == "Therapeutic exploratory (Phase II)" and rec.phases == ("2",)
    assert rec.start == DateValue(date.fromisoformat(raw["trialStartDate"]), "day", True)
    assert rec.entry.last_updated == date.fromisoformat(raw["lastUpdated"])
    assert rec.age_groups == ("child", "adult") and rec.paediatric is True
    assert rec.overall_status == "ongoing_recruiting"
    assert rec.cross_refs == {"euct": "2022-500676-59-00"}

    # newer shape (authorizedApplication), dates written dd/mm/yyyy
    raw = json.loads((samples / "eu/ctis-ctrdata-demo-json/2023-505613-24-00.json").read_text())
    rec = got.by_id("2023-505613-24-00")
    part1 = raw["authorizedApplication"]["authorizedPartI"]
    assert rec.title == part1["trialDetails"]["clinicalTrialIdentifiers"]["fullTitle"]
    assert raw["startDateEU"] == "28/04/2021" and rec.start.value == date(2021, 4, 28)
    assert rec.cross_refs["eudract"] == raw["authorizedApplication"]["eudraCt"]["eudraCtCode"]
    assert rec.cross_refs["nct"] == "NCT04665037"
    assert {"Belgium", "Greece", "Poland"} <= set(rec.countries)


def test_euctr_full_text_download(read):
    got = read("eu/euctr-fulltext")
    assert (len(got.records), len(got.rejected)) == (3, 0)  # 3 member-state records
    assert {r.entry.registry_id for r in got.records} == {"2022-002568-62"}  # 1 trial
    assert [r.countries for r in got.records] == [("Spain",), ("Sweden",), ("Sweden",)]
    rec = got.records[0]
    assert rec.source_record == "2022-002568-62-ES"
    assert rec.entry.registered_on == date(2023, 1, 16)
    assert rec.sponsor_name == "AviadoBio Ltd"
    assert rec.phases == ("1", "2")
    assert rec.age_groups == ("adult", "older_adult") and rec.paediatric is False
    assert rec.overall_status == "ongoing"
    assert (
        rec.entry.url == "https://www.clinicaltrialsregister.eu/ctr-search/trial/2022-002568-62/ES/"
    )


def test_euctr_scrape_csv_written_for_the_tests():
    """The scrape's layout with invented trials (tests/data/synthetic/README.md)."""
    path = SYNTHETIC / "euctr-scrape.csv"
    with open(path, newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    got = read_file(path)
    assert len(rows) == 5
    # the repeated row of a trial is read once: 4 trials
    assert all(isinstance(r, TrialRecord) for r in got) and len(got) == 4
    assert [r.entry.registry_id for r in got] == [
        "2020-900001-11",
        "2020-900002-12",
        "2020-900003-13",
        "2020-900004-14",
    ]
    assert {r.entry.registry for r in got} == {"EUCTR"}

    rec = got[2]
    secondary = ast.literal_eval(rows[2]["secondary_ids"])
    assert rec.cross_refs == {"eudract": "2020-900003-13", "nct": secondary["nct_id"]}
    assert rec.countries == ("Italy",) and rec.overall_status == "ongoing"

    rec = got[1]
    assert rec.completion == DateValue(date(2020, 4, 28), "day", True)
    assert rec.overall_status == "prematurely_ended"

    # member states by code, GB among them: a UK trial, ended on the last global end date
    rec = got[3]
    assert ast.literal_eval(rows[3]["countries"]) == ["ES", "GB", "FR"]
    assert rec.countries == ("France", "Spain", "United Kingdom") and rec.uk_site is True
    assert rec.completion == DateValue(date(2020, 12, 18), "day", True)


@pytest.mark.corpus
def test_euctr_scrape_csv(corpus_read, corpus):
    # (a repository that states no licence: only in the developer corpus)
    path = corpus / "eu/direcct-euctr-scrape/euctr_03apr_2022.csv"
    got = corpus_read("eu/direcct-euctr-scrape")
    with open(path, newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    assert len(rows) == 389
    # repeated rows of a trial are read once: 338 trials (SOURCES.md)
    assert (len(got.records), len(got.rejected)) == (338, 0)
    assert len({r.entry.registry_id for r in got.records}) == 338
    assert got.uk() == 52

    row = next(r for r in rows if r["trial_id"] == "2020-001513-20")
    rec = got.by_id("2020-001513-20")
    secondary = ast.literal_eval(row["secondary_ids"])
    assert rec.cross_refs == {"eudract": "2020-001513-20", "nct": secondary["nct_id"]}
    assert rec.countries == ("Italy",) and ast.literal_eval(row["countries"]) == ["IT"]
    assert rec.overall_status == "ongoing"

    rec = got.by_id("2020-001281-11")
    assert rec.completion == DateValue(date(2020, 4, 28), "day", True)
    assert rec.overall_status == "prematurely_ended"


def test_rejected_eu_files(read):
    html = read("eu/euctr-html-ebmdatalab")
    assert html.records == [] and len(html.rejected) == 2
    assert all(
        r.reason.startswith("EUCTR HTML page: not a supported export") for r in html.rejected
    )

    tracker = read("eu/eu-trials-tracker-fixtures")
    assert tracker.records == [] and len(tracker.rejected) == 3
    assert all("derived data" in r.reason for r in tracker.rejected)
    assert {r.file.rsplit("/", 1)[-1] for r in tracker.rejected} == {
        "trials.csv",
        "all_trials.json",
        "all_sponsors.json",
    }
