"""ISRCTN: ctrdata JSON samples, the search-results CSV export and the API XML."""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from xml.sax.saxutils import escape

import pytest

from portal.registries import DateValue, Rejected, TrialRecord, detect_format, read_file
from tests.conftest import SYNTHETIC


def test_isrctn_ctrdata_json(read, samples):
    got = read("isrctn/ctrdata-demo-json")
    assert (len(got.records), len(got.rejected)) == (7, 0)
    assert got.uk() == 3  # SOURCES.md: 3 with a UK recruitment country
    assert {r.entry.registry for r in got.records} == {"ISRCTN"}

    raw = json.loads((samples / "isrctn/ctrdata-demo-json/88261002.json").read_text("utf-8"))
    rec = got.by_id("ISRCTN" + raw["isrctn"])
    assert rec.title == raw["trialDescription"]["title"]
    assert raw["participants"]["recruitmentCountries"]["country"] == ["United Kingdom", "England"]
    assert rec.countries == ("United Kingdom",)  # England is the UK
    assert raw["externalRefs"]["eudraCTNumber"] == "2012-004260-22"
    assert rec.cross_refs == {"isrctn": "ISRCTN88261002", "eudract": "2012-004260-22"}
    assert rec.completion == DateValue(date(2018, 5, 31), "day", None)
    assert raw["trialDesign"]["overallEndDate"] == "2018-05-31T00:00:00.000Z"
    assert rec.study_type == raw["trialDesign"]["primaryStudyDesign"].lower()
    assert raw["participants"]["ageRange"] == "Neonate" and rec.paediatric is True
    assert rec.entry.url == "https://www.isrctn.com/ISRCTN88261002"


def test_isrctn_ctrdata_cross_refs_and_phase(read, samples):
    got = read("isrctn/ctrdata-demo-json")
    raw = json.loads((samples / "isrctn/ctrdata-demo-json/80181452.json").read_text("utf-8"))
    rec = got.by_id("ISRCTN80181452")
    assert rec.cross_refs["nct"] == raw["externalRefs"]["clinicalTrialsGovNumber"]
    raw = json.loads((samples / "isrctn/ctrdata-demo-json/96912679.json").read_text("utf-8"))
    rec = got.by_id("ISRCTN96912679")
    assert rec.cross_refs["iras"] == raw["externalRefs"]["irasNumber"] == "1005191"
    assert raw["interventions"]["intervention"]["phase"] == "Phase III"
    assert rec.phases == ("3",)
    assert rec.uk_site is True


def test_isrctn_csv_export_written_for_the_tests():
    """The export's layout with invented trials (tests/data/synthetic/README.md)."""
    path = SYNTHETIC / "isrctn-search-export.csv"
    assert detect_format(path.read_bytes()[:4096]) == "isrctn-csv"
    with open(path, newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    got = read_file(path)
    assert all(isinstance(r, TrialRecord) for r in got) and len(got) == len(rows) == 5
    assert [r.entry.registry for r in got] == ["ISRCTN"] * 5

    rec, row = got[1], rows[1]
    assert rec.source_record == "row 2 (ISRCTN90000002)"
    assert rec.entry.registry_id == row["ISRCTN"]
    assert rec.start == DateValue(date(2020, 2, 13), "day", None)  # "13/02/2020", dd/mm/yyyy
    assert rec.completion.to_fact() == "2020-08-28" and row["Overall trial end"] == "28/08/2020"
    assert rec.entry.last_updated == date(2022, 4, 1)
    assert rec.overall_status == "completed"
    assert rec.cross_refs == {"isrctn": "ISRCTN90000002", "eudract": "2020-900002-12"}
    assert rec.countries == () and rec.uk_site is None  # the export has no country column
    # "Nil known" is no cross-reference; both numbers are when given
    assert got[0].cross_refs == {"isrctn": "ISRCTN90000001"}
    assert got[4].cross_refs == {
        "isrctn": "ISRCTN90000005",
        "eudract": "2014-900005-15",
        "nct": "NCT90000005",
    }


@pytest.mark.corpus
def test_isrctn_csv_export(corpus_read, corpus):
    # (a repository that states no licence: only in the developer corpus)
    path = corpus / "isrctn/isrctn-search-export-csv/ISRCTN_search_results_03apr2022_full.csv"
    got = corpus_read("isrctn/isrctn-search-export-csv")
    assert (len(got.records), len(got.rejected)) == (5167, 0)
    with open(path, newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    assert len({r.entry.registry_id for r in got.records}) == len(rows)

    row = rows[1]  # second data row
    rec = got.records[1]
    assert rec.source_record == f"row 2 ({row['ISRCTN']})"
    assert rec.entry.registry_id == row["ISRCTN"] == "ISRCTN19930942"
    day, month, year = map(int, row["Overall trial start"].split("/"))  # dd/mm/yyyy
    assert rec.start == DateValue(date(year, month, day), "day", None)
    assert rec.completion.to_fact() == "2020-08-28" and row["Overall trial end"] == "28/08/2020"
    assert rec.entry.last_updated == date(2022, 4, 1)
    assert rec.overall_status == row["Overall trial status"].lower() == "completed"
    assert rec.cross_refs["eudract"] == row["EudraCT number"] == "2020-000735-41"
    assert rec.countries == () and rec.uk_site is None  # the export has no country column

    # every well-formed EudraCT / NCT number of the export becomes a cross-reference
    pattern = re.compile(r"^\d{4}-\d{6}-\d{2}$")
    eudract_rows = sum(1 for r in rows if pattern.match(r["EudraCT number"].strip()))
    assert sum(1 for r in got.records if "eudract" in r.cross_refs) >= eudract_rows
    nct_rows = sum(1 for r in rows if r["ClinicalTrials.gov number"].startswith("NCT"))
    assert sum(1 for r in got.records if "nct" in r.cross_refs) == nct_rows


def _element(tag: str, value) -> str:
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_element(k, v) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, list):
        return "".join(_element(tag, v) for v in value)
    return f"<{tag}>{escape(str(value))}</{tag}>"


def test_isrctn_api_xml(tmp_path, samples):
    """No ISRCTN API XML sample is shared, so this builds a small one from the fields of
    the ctrdata JSON sample 96912679.json (ctrdata keeps the XML element names), inside the
    67bricks namespace with the attributes and sponsor element the API adds, and checks the
    XML reader gives the same record as the JSON plus those extras."""
    raw = json.loads((samples / "isrctn/ctrdata-demo-json/96912679.json").read_text("utf-8"))
    skip = ("isrctn", "ctrname", "record_last_import")
    body = "".join(_element(k, v) for k, v in raw.items() if k not in skip)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<allTrials xmlns="http://www.67bricks.com/isrctn" totalCount="1"><fullTrial>'
        '<trial lastUpdated="2024-01-02T10:00:00Z" version="3">'
        f'<isrctn dateAssigned="2023-05-04T00:00:00Z">{raw["isrctn"]}</isrctn>{body}</trial>'
        "<sponsor><organisation>Example Sponsor NHS Trust</organisation></sponsor>"
        "</fullTrial></allTrials>"
    )
    path = tmp_path / "isrctn_api.xml"
    path.write_text(xml, encoding="utf-8")
    assert detect_format(xml.encode()) == "isrctn-xml"

    [rec] = read_file(path)
    [from_json] = read_file(samples / "isrctn/ctrdata-demo-json/96912679.json")
    assert isinstance(rec, TrialRecord)
    assert rec.entry.registry_id == from_json.entry.registry_id == "ISRCTN96912679"
    assert rec.entry.registered_on == date(2023, 5, 4)
    assert rec.entry.last_updated == date(2024, 1, 2)
    assert rec.sponsor_name == "Example Sponsor NHS Trust"
    same = ("title", "phases", "countries", "start", "completion", "cross_refs", "paediatric")
    for field in same:
        assert getattr(rec, field) == getattr(from_json, field), field
    assert rec.source_record == "trial 1 (ISRCTN96912679)"


def test_isrctn_xml_bad_date_is_rejected_and_reading_goes_on(tmp_path):
    trial = (
        "<fullTrial><trial><isrctn>{id}</isrctn><trialDesign>"
        "<overallEndDate>{end}</overallEndDate></trialDesign></trial></fullTrial>"
    )
    xml = (
        '<allTrials xmlns="http://www.67bricks.com/isrctn">'
        + trial.format(id="12345678", end="2021-02-30T00:00:00Z")
        + trial.format(id="87654321", end="2021-02-28T00:00:00Z")
        + "</allTrials>"
    )
    path = tmp_path / "two.xml"
    path.write_text(xml, encoding="utf-8")
    bad, good = read_file(path)
    assert isinstance(bad, Rejected)
    assert bad.reason == "impossible date 2021-02-30T00:00:00Z in overall end date"
    assert isinstance(good, TrialRecord) and good.entry.registry_id == "ISRCTN87654321"
