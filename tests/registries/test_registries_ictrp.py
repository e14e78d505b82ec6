"""WHO ICTRP exports (XML and CSV): records attributed to each trial's own registry."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET  # noqa: S405 - trusted sample
from collections import Counter
from datetime import date

import pytest

from portal.registries import DateValue


@pytest.mark.corpus
def test_ictrp_corpus_counts(corpus_read):
    got = corpus_read("who-ictrp/ICTRP-Results_18Mar2020.xml")
    assert (len(got.records), len(got.rejected)) == (386, 0)
    assert got.uk() == 2
    assert Counter(r.entry.registry for r in got.records) == {
        "ChiCTR": 316,
        "ClinicalTrials.gov": 70,
    }
    got = corpus_read("who-ictrp/COVID19-927-trials_7Apr2020.csv")
    assert (len(got.records), len(got.rejected)) == (619, 0)
    assert got.uk() == 14
    assert Counter(r.entry.registry for r in got.records) == {
        "ChiCTR": 392,
        "ClinicalTrials.gov": 189,
        "EUCTR": 13,
        "ISRCTN": 6,
        "ANZCTR": 6,
        "IRCT": 4,
        "JPRN": 4,
        "NTR": 3,
        "DRKS": 1,
        "TCTR": 1,
    }


def test_ictrp_xml(read, samples):
    got = read("who-ictrp/ICTRP-Results_18Mar2020.xml")
    assert (len(got.records), len(got.rejected)) == (28, 0)
    assert got.uk() == 2
    assert Counter(r.entry.registry for r in got.records) == {
        "ChiCTR": 22,
        "ClinicalTrials.gov": 6,
    }
    root = ET.parse(samples / "who-ictrp/ICTRP-Results_18Mar2020.xml").getroot()  # noqa: S314
    first = root.find("Trial")
    rec = got.records[0]
    assert rec.entry.registry_id == first.findtext("TrialID") == "ChiCTR2000029953"
    assert rec.source_record == "Trial 1 (ChiCTR2000029953)"
    assert rec.entry.registered_on == date(2020, 2, 17)
    assert first.findtext("Date_registration3") == "20200217"
    assert rec.sponsor_name == first.findtext("Primary_sponsor")
    assert rec.title == first.findtext("Public_title")
    assert rec.entry.url == first.findtext("web_address")
    assert first.findtext("Study_type") == "Observational study"
    assert rec.study_type == "observational"
    assert first.findtext("Phase") == "N/A" and rec.phases == ("n/a",)
    assert rec.countries == ("China",)
    enrolment = date.fromisoformat(first.findtext("Date_enrollement"))
    assert rec.start == DateValue(enrolment, "day", None)
    assert rec.overall_status == "not_recruiting"
    nct = [r for r in got.records if r.entry.registry == "ClinicalTrials.gov"]
    assert all(r.cross_refs == {"nct": r.entry.registry_id} for r in nct)


def test_ictrp_csv(read, samples):
    path = samples / "who-ictrp/COVID19-927-trials_7Apr2020.csv"
    got = read("who-ictrp/COVID19-927-trials_7Apr2020.csv")
    assert (len(got.records), len(got.rejected)) == (59, 0)
    assert got.uk() == 14
    assert Counter(r.entry.registry for r in got.records) == {
        "ChiCTR": 25,
        "ClinicalTrials.gov": 13,
        "EUCTR": 13,
        "ISRCTN": 6,
        "IRCT": 1,
        "ANZCTR": 1,
    }
    with open(path, newline="", encoding="utf-8-sig") as fp:
        rows = {row["TrialID"]: row for row in csv.DictReader(fp)}

    # EUCTR record: EudraCT number without the member-state suffix, phases from the
    # "Therapeutic exploratory (Phase II): yes" lines
    row = rows["EUCTR2020-001162-12-FR"]
    rec = got.by_id("2020-001162-12")
    assert rec.entry.registry == "EUCTR"
    assert rec.cross_refs == {"eudract": "2020-001162-12"}
    assert "(Phase II): yes" in row["Phase"] and "(Phase III): yes" in row["Phase"]
    assert rec.phases == ("2", "3") and rec.to_facts()["phase"] == "2/3"
    assert row["Countries"] == "Italy;Japan;Germany;Israel;Russian Federation;Spain;Canada;France"
    assert rec.countries == tuple(
        sorted(["Italy", "Japan", "Germany", "Israel", "Russia", "Spain", "Canada", "France"])
    )
    assert rec.study_type == "interventional"

    # NCT record: registration date from "Date registration3" (yyyymmdd), start "January 25, 2020"
    row = rows["NCT04246242"]
    rec = got.by_id("NCT04246242")
    assert row["Date registration"] == "27/01/2020" and row["Date registration3"] == "20200127"
    assert rec.entry.registered_on == date(2020, 1, 27)
    assert row["Date enrollement"] == "January 25, 2020"
    assert rec.start == DateValue(date(2020, 1, 25), "day", None)
    assert rec.phases == ("4",) and row["Phase"] == "Phase 4"

    # ISRCTN record with a UK site
    rec = got.by_id("ISRCTN50189673")
    assert rec.entry.registry == "ISRCTN" and rec.uk_site is True
    assert rows["ISRCTN50189673"]["Phase"] == "Phase II/III" and rec.phases == ("2", "3")

    # ages: "18 years" .. "75 years" -> adult and older adult
    rec = got.by_id("IRCT20100228003449N28")
    assert rec.age_groups == ("adult", "older_adult") and rec.paediatric is False
    assert rows["IRCT20100228003449N28"]["Countries"] == "Iran (Islamic Republic of)"
    assert rec.countries == ("Iran",)
