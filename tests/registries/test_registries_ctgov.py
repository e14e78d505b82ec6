"""ClinicalTrials.gov formats over real registry records: counts read / rejected, UK
cross-checks against SOURCES.md (the project's tests/data/registry-samples, and the developer
corpus in the ``corpus`` tests), and field values checked against the sample files."""

from __future__ import annotations

import calendar
import json
import xml.etree.ElementTree as ET  # noqa: S405 - reading our own trusted test samples
from datetime import date

import pytest

from portal.registries import DateValue, TrialRecord


def month_end(text: str) -> date:
    year, month = int(text[:4]), int(text[5:7])
    return date(year, month, calendar.monthrange(year, month)[1])


# ----------------------------------------------------------------------------- API v2 JSON

# (folder, records, UK, with results) as listed in the project's SOURCES.md
V2_FOLDERS = [
    ("ctgov-v2-json/aact-fixtures", 8, 0, 4),
    ("ctgov-v2-json/ctrdata-demo", 4, 1, 4),
]
# the same for the developer corpus (its SOURCES.md)
V2_CORPUS_FOLDERS = [
    ("ctgov-v2-json/aact-fixtures", 8, 0, 4),
    ("ctgov-v2-json/ctrdata-demo", 7, 1, 7),
    ("ctgov-v2-json/nsclcbench-ctg-studies", 68, 1, 4),
    ("ctgov-v2-json/json-conversion-ctg-studies", 68, 2, 2),
    ("ctgov-v2-json/dtx-analysis-ctg-studies", 86, 2, 10),
]


@pytest.mark.parametrize(("folder", "count", "uk", "results"), V2_FOLDERS)
def test_v2_counts_match_sources(read, folder, count, uk, results):
    check_v2_counts(read(folder), count, uk, results)


@pytest.mark.corpus
@pytest.mark.parametrize(("folder", "count", "uk", "results"), V2_CORPUS_FOLDERS)
def test_v2_corpus_counts_match_sources(corpus_read, folder, count, uk, results):
    check_v2_counts(corpus_read(folder), count, uk, results)


def check_v2_counts(got, count, uk, results):
    assert len(got.records) == count
    assert got.rejected == []
    assert got.uk() == uk
    assert sum(1 for r in got.records if r.entry.results_posted_on) == results
    assert {r.entry.registry for r in got.records} == {"ClinicalTrials.gov"}


def test_v2_ctrdata_record_fields_match_the_file(read, samples):
    path = samples / "ctgov-v2-json/ctrdata-demo/NCT01592045.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert {"ctrname", "record_last_import"} <= raw.keys()  # the ctrdata variant
    ps = raw["protocolSection"]
    status = ps["statusModule"]
    rec = read("ctgov-v2-json/ctrdata-demo").by_id(ps["identificationModule"]["nctId"])

    assert rec.entry.registry_id == "NCT01592045"
    assert rec.title == ps["identificationModule"]["briefTitle"]
    assert rec.sponsor_name == ps["sponsorCollaboratorsModule"]["leadSponsor"]["name"]
    assert ps["designModule"]["phases"] == ["PHASE1", "PHASE2"]
    assert rec.phases == ("1", "2")
    assert rec.to_facts()["phase"] == "1/2"
    assert rec.study_type == ps["designModule"]["studyType"].lower() == "interventional"
    assert rec.entry.registered_on == date.fromisoformat(status["studyFirstSubmitDate"])
    assert rec.entry.results_posted_on == date.fromisoformat(
        status["resultsFirstPostDateStruct"]["date"]
    )
    assert rec.entry.last_updated == date.fromisoformat(status["lastUpdatePostDateStruct"]["date"])
    # "2012-08" without a type: month precision, last day of month, actual unknown
    assert status["startDateStruct"] == {"date": "2012-08"}
    assert rec.start == DateValue(month_end("2012-08"), "month", None)
    assert status["primaryCompletionDateStruct"]["type"] == "ACTUAL"
    assert rec.primary_completion == DateValue(
        month_end(status["primaryCompletionDateStruct"]["date"]), "month", True
    )
    assert rec.completion.to_fact() == status["completionDateStruct"]["date"]
    assert rec.overall_status == "completed"
    locations = ps["contactsLocationsModule"]["locations"]
    assert rec.countries == tuple(sorted({loc["country"] for loc in locations}))
    assert rec.healthy_volunteers is ps["eligibilityModule"]["healthyVolunteers"]
    assert ps["eligibilityModule"]["stdAges"] == "CHILD"  # ctrdata: one-item list as scalar
    assert rec.age_groups == ("child",) and rec.paediatric is True
    assert rec.fda_regulated_drug is None  # oversightModule has no FDA flags in this record
    assert rec.cross_refs == {"nct": "NCT01592045"}
    assert rec.source_record == "NCT01592045"
    assert rec.source_file == str(path)


def test_v2_uk_record_and_eudract_cross_reference(read, samples):
    raw = json.loads(
        (samples / "ctgov-v2-json/ctrdata-demo/NCT01125800.json").read_text(encoding="utf-8")
    )
    secondary = raw["protocolSection"]["identificationModule"]["secondaryIdInfos"]
    eudract = [s["id"] for s in secondary if s.get("type") == "EUDRACT_NUMBER"]
    rec = read("ctgov-v2-json/ctrdata-demo").by_id("NCT01125800")
    assert rec.uk_site is True
    assert "United Kingdom" in rec.countries
    assert rec.cross_refs["eudract"] == eudract[0] == "2010-019348-37"
    assert rec.cross_refs["nct"] == "NCT01125800"


@pytest.mark.corpus
def test_v2_fda_flags_and_truncated_eu_ct_number(corpus_read, corpus):
    # (records of a repository that states no licence: only in the developer corpus)
    # NCT06094296 gives "2022-503007-22" as its EudraCT number: an EU CT number cut short,
    # not an EudraCT number, so it is not taken as one
    rec = corpus_read("ctgov-v2-json/nsclcbench-ctg-studies").by_id("NCT06094296")
    assert "eudract" not in rec.cross_refs
    raw = json.loads(
        (corpus / "ctgov-v2-json/nsclcbench-ctg-studies/NCT02369484.json").read_text(
            encoding="utf-8"
        )
    )
    oversight = raw["protocolSection"].get("oversightModule", {})
    rec = corpus_read("ctgov-v2-json/nsclcbench-ctg-studies").by_id("NCT02369484")
    assert rec.cross_refs["eudract"] == "2014-005098-35"
    assert rec.fda_regulated_drug == oversight.get("isFdaRegulatedDrug")
    assert rec.fda_regulated_device == oversight.get("isFdaRegulatedDevice")


# ----------------------------------------------------------------------------- classic XML


def test_classic_xml_counts(read):
    fixtures = read("ctgov-classic-xml/aact-fixtures")
    cassette = read("ctgov-classic-xml/aact-vcr-cassette-2016")
    assert (len(fixtures.records), len(fixtures.rejected)) == (6, 0)
    assert (len(cassette.records), len(cassette.rejected)) == (1, 0)
    assert fixtures.uk() == 2  # NCT01841593, NCT03424005
    # NCT00265083 names the United Kingdom only under <removed_countries> (sites withdrawn),
    # which is not a location country
    assert cassette.uk() == 0
    assert cassette.by_id("NCT00265083").uk_site is False


@pytest.mark.corpus
def test_classic_xml_corpus_counts(corpus_read):
    fixtures = corpus_read("ctgov-classic-xml/aact-fixtures")
    cassette = corpus_read("ctgov-classic-xml/aact-vcr-cassette-2016")
    assert (len(fixtures.records), len(fixtures.rejected)) == (43, 0)
    assert (len(cassette.records), len(cassette.rejected)) == (40, 0)
    assert fixtures.uk() == 6
    # SOURCES.md says 6 for the cassette: NCT00265083 names the United Kingdom only under
    # <removed_countries> (sites withdrawn), which is not a location country
    assert cassette.uk() == 5
    assert cassette.by_id("NCT00265083").uk_site is False
    results = sum(1 for r in fixtures.records + cassette.records if r.entry.results_posted_on)
    assert results == 15 + 14


def test_classic_xml_fields_match_the_file(read, samples):
    path = samples / "ctgov-classic-xml/aact-fixtures/NCT01841593.xml"
    root = ET.parse(path).getroot()  # noqa: S314 - trusted sample
    rec = read("ctgov-classic-xml/aact-fixtures").by_id(root.findtext("id_info/nct_id"))
    assert rec.title == root.findtext("brief_title")
    assert rec.sponsor_name == root.findtext("sponsors/lead_sponsor/agency")
    assert root.findtext("phase") == "Phase 1"
    assert rec.phases == ("1",)
    assert root.findtext("eligibility/healthy_volunteers") == "Accepts Healthy Volunteers"
    assert rec.healthy_volunteers is True
    assert rec.countries == ("United Kingdom",) and rec.uk_site is True
    start = root.find("start_date")
    assert rec.start.precision == "month"
    assert rec.start.to_fact() == "2013-04" and start.text.strip() == "April 2013"
    completion = root.find("completion_date")
    assert completion.get("type") == "Actual" and rec.completion.actual is True
    assert rec.entry.registered_on == date(2013, 4, 16)  # study_first_submitted
    assert root.findtext("study_first_submitted") == "April 16, 2013"
    # minimum age 18 Years, no maximum: adult and older adult, not paediatric
    assert rec.age_groups == ("adult", "older_adult") and rec.paediatric is False


def test_classic_xml_eudract_secondary_id(read, samples):
    root = ET.parse(samples / "ctgov-classic-xml/aact-fixtures/NCT03424005.xml").getroot()  # noqa: S314
    secondary = [e.text for e in root.findall("id_info/secondary_id")]
    rec = read("ctgov-classic-xml/aact-fixtures").by_id("NCT03424005")
    assert rec.cross_refs["eudract"] in secondary


# ----------------------------------------------------------------------------- classic API JSON


@pytest.mark.corpus
def test_classic_api_json_corpus_counts(corpus_read):
    got = corpus_read("ctgov-classic-api-json")
    assert (len(got.records), len(got.rejected)) == (71, 0)
    assert got.uk() == 2
    assert sum(1 for r in got.records if r.entry.results_posted_on) == 4


def test_classic_api_json(read, samples):
    got = read("ctgov-classic-api-json")
    assert (len(got.records), len(got.rejected)) == (6, 0)
    assert sorted(r.entry.registry_id for r in got.records if r.uk_site) == [
        "NCT04407585",
        "NCT05531773",
    ]

    raw = json.loads(
        (samples / "ctgov-classic-api-json/aact-fixtures/NCT02028676.json").read_text("utf-8")
    )
    ps = raw["Study"]["ProtocolSection"]
    rec = got.by_id(ps["IdentificationModule"]["NCTId"])
    secondary = ps["IdentificationModule"]["SecondaryIdInfoList"]["SecondaryIdInfo"][0]
    assert secondary["SecondaryIdDomain"] == "ISRCTN"
    assert rec.cross_refs["isrctn"] == "ISRCTN" + secondary["SecondaryId"]
    assert rec.sponsor_name == ps["SponsorCollaboratorsModule"]["LeadSponsor"]["LeadSponsorName"]
    assert ps["DesignModule"]["PhaseList"]["Phase"] == ["Phase 4"] and rec.phases == ("4",)
    assert ps["EligibilityModule"]["StdAgeList"]["StdAge"] == ["Child"]
    assert rec.paediatric is True
    assert ps["StatusModule"]["StudyFirstSubmitDate"] == "December 31, 2013"
    assert rec.entry.registered_on == date(2013, 12, 31)
    assert rec.primary_completion == DateValue(date(2012, 3, 31), "month", True)
    assert rec.countries == ("Uganda", "Zimbabwe")


def test_classic_api_whole_response(tmp_path, samples):
    """A whole {"FullStudiesResponse": {..., "FullStudies": [...]}} file."""
    from portal.registries import read_file

    items = [
        json.loads(p.read_text("utf-8"))
        for p in sorted((samples / "ctgov-classic-api-json/aact-fixtures").glob("*.json"))[:3]
    ]
    response = {
        "FullStudiesResponse": {"APIVrs": "1.01.05", "NStudiesFound": 3, "FullStudies": items}
    }
    path = tmp_path / "response.json"
    path.write_text(json.dumps(response), encoding="utf-8")
    got = read_file(path)
    assert all(isinstance(r, TrialRecord) for r in got) and len(got) == 3
    assert got[0].source_record.startswith("FullStudies item 1 (NCT")


# ----------------------------------------------------------------------------- ctrdata classic


@pytest.mark.corpus
def test_classic_ctrdata_json_corpus_counts(corpus_read):
    got = corpus_read("ctgov-classic-ctrdata-json")
    assert (len(got.records), len(got.rejected)) == (32, 0)
    assert got.uk() == 4
    # SOURCES.md counts 32 "with results" because ctrdata writes an empty clinical_results
    # skeleton into every record; 12 carry a results posting date
    assert sum(1 for r in got.records if r.entry.results_posted_on) == 12


def test_classic_ctrdata_json(read, samples):
    got = read("ctgov-classic-ctrdata-json")
    assert (len(got.records), len(got.rejected)) == (5, 0)
    assert got.uk() == 0
    assert [r.entry.registry_id for r in got.records if r.entry.results_posted_on] == [
        "NCT00506441"
    ]

    raw = json.loads((samples / "ctgov-classic-ctrdata-json/NCT00506441.json").read_text("utf-8"))
    assert raw["ctrname"] == "CTGOV"
    rec = got.by_id(raw["id_info"]["nct_id"])
    assert rec.title == raw["brief_title"]
    assert rec.sponsor_name == raw["sponsors"]["lead_sponsor"]["agency"]
    assert raw["phase"] == "Phase 3" and rec.phases == ("3",)
    assert raw["start_date"] == "September 2007"
    assert rec.start == DateValue(date(2007, 9, 30), "month", None)
    assert rec.entry.results_posted_on == date(2014, 7, 25)  # "July 25, 2014"
    assert raw["results_first_posted"] == "July 25, 2014"
    assert rec.countries == tuple(sorted(raw["location_countries"]["country"]))
