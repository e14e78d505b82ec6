"""Reading mechanics: detection by content, folders, zips, JSON arrays, broken input,
facts for the rules engine, idempotent hashes and bounded memory."""

from __future__ import annotations

import gzip
import json
import shutil
import time
import tracemalloc
import zipfile
from collections import Counter
from datetime import date

import pytest

from portal.registries import (
    Rejected,
    TrialRecord,
    detect_format,
    iter_records,
    read_file,
)
from tests.conftest import SYNTHETIC

# one sample per format: (path under the samples root, expected format)
FORMAT_SAMPLES = [
    ("ctgov-v2-json/aact-fixtures/NCT00973089.json", "ctgov-v2-json"),
    ("ctgov-v2-json/ctrdata-demo/NCT01592045.json", "ctgov-v2-json"),
    ("ctgov-classic-xml/aact-fixtures/NCT01841593.xml", "ctgov-classic-xml"),
    ("ctgov-classic-api-json/aact-fixtures/NCT02028676.json", "ctgov-classic-api-json"),
    ("ctgov-classic-ctrdata-json/NCT00506441.json", "ctgov-classic-ctrdata-json"),
    ("isrctn/ctrdata-demo-json/88261002.json", "isrctn-ctrdata-json"),
    ("who-ictrp/ICTRP-Results_18Mar2020.xml", "ictrp-xml"),
    ("who-ictrp/COVID19-927-trials_7Apr2020.csv", "ictrp-csv"),
    ("eu/euctr-ctrdata-demo-json/2012-003632-23-GB.json", "euctr-ctrdata-json"),
    ("eu/ctis-ctrdata-demo-json/2022-500676-59-00.json", "ctis-ctrdata-json"),
    ("eu/euctr-fulltext/test_error_trials_euctr.txt", "euctr-text"),
    ("eu/euctr-html-ebmdatalab/a.html", "euctr-html"),
    ("eu/eu-trials-tracker-fixtures/trials.csv", "eu-trials-tracker"),
]
# formats whose only samples come from repositories that state no licence (corpus only)
CORPUS_FORMAT_SAMPLES = [
    (
        "isrctn/isrctn-search-export-csv/ISRCTN_search_results_03apr2022_full.csv",
        "isrctn-csv",
    ),
    ("eu/direcct-euctr-scrape/euctr_03apr_2022.csv", "euctr-scrape-csv"),
]


@pytest.mark.parametrize(("relative", "expected"), FORMAT_SAMPLES)
def test_detection_by_content_not_extension(samples, tmp_path, relative, expected):
    check_detection(samples / relative, tmp_path, expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("isrctn-search-export.csv", "isrctn-csv"), ("euctr-scrape.csv", "euctr-scrape-csv")],
)
def test_detection_of_the_exports_written_for_the_tests(tmp_path, name, expected):
    check_detection(SYNTHETIC / name, tmp_path, expected)


@pytest.mark.corpus
@pytest.mark.parametrize(("relative", "expected"), CORPUS_FORMAT_SAMPLES)
def test_corpus_detection_by_content_not_extension(corpus, tmp_path, relative, expected):
    check_detection(corpus / relative, tmp_path, expected)


def check_detection(source, tmp_path, expected):
    assert detect_format(source.read_bytes()[:4096]) == expected
    # the same bytes under a misleading name read exactly the same
    renamed = tmp_path / "export.pdf"
    shutil.copyfile(source, renamed)
    original = [_comparable(r) for r in iter_records([source])]
    moved = [_comparable(r) for r in iter_records([renamed])]
    assert moved == original and original


def _comparable(item):
    if isinstance(item, TrialRecord):
        return ("record", item.entry.registry_id, item.content_hash)
    return ("rejected", item.record, item.reason)


def test_unknown_and_odd_files_are_rejected_not_raised(tmp_path, samples):
    (tmp_path / "notes.txt").write_text("just some notes\n", encoding="utf-8")
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "noise.bin").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "other.json").write_text('{"hello": "world"}', encoding="utf-8")
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04 definitely not a zip")
    results = {r.file.rsplit("/", 1)[-1]: r for r in iter_records([tmp_path])}
    assert all(isinstance(r, Rejected) for r in results.values())
    assert results["notes.txt"].reason == "unrecognised format"
    assert results["noise.bin"].reason == "unrecognised format"
    assert results["empty.json"].reason == "empty file"
    assert results["other.json"].reason.startswith("unrecognised format (JSON object")
    assert results["fake.zip"].reason.startswith("broken zip file")
    [missing] = iter_records([tmp_path / "nope"])
    assert missing.reason == "no such file or folder"
    # the SOURCES.md beside the samples is not a registry file either
    [sources] = read_file(samples / "SOURCES.md")
    assert sources.reason == "unrecognised format"


def test_zip_of_a_folder(samples, tmp_path):
    folder = samples / "isrctn"
    archive = tmp_path / "isrctn.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder.parent))
    direct = list(iter_records([folder]))
    zipped = list(iter_records([archive]))
    assert [_comparable(r) for r in zipped] == [_comparable(r) for r in direct]
    assert sum(isinstance(r, TrialRecord) for r in zipped) == 7
    sample = next(r for r in zipped if isinstance(r, TrialRecord))
    assert sample.source_file.startswith(f"{archive}!isrctn/")


def test_gzip_file(samples, tmp_path):
    source = samples / "who-ictrp/COVID19-927-trials_7Apr2020.csv"
    packed = tmp_path / "ictrp.csv.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    records = [r for r in read_file(packed) if isinstance(r, TrialRecord)]
    assert len(records) == 59


def test_json_array_of_studies(samples, tmp_path):
    names = ["NCT00973089.json", "NCT03475563.json", "NCT06171568.json"]
    studies = [
        json.loads((samples / "ctgov-v2-json/aact-fixtures" / n).read_text("utf-8")) for n in names
    ]
    path = tmp_path / "ctg-studies.json"
    path.write_text(json.dumps(studies, indent=2), encoding="utf-8")
    assert detect_format(path.read_bytes()[:4096]) == "ctgov-v2-json"
    records = read_file(path)
    assert [r.entry.registry_id for r in records] == [n[:-5] for n in names]
    assert [r.source_record for r in records] == [
        f"item {i} ({n[:-5]})" for i, n in enumerate(names, 1)
    ]
    # same content as the single-study files: same hash (idempotent import)
    singles = [read_file(samples / "ctgov-v2-json/aact-fixtures" / n)[0] for n in names]
    assert [r.content_hash for r in records] == [r.content_hash for r in singles]


def test_broken_json_and_impossible_date_do_not_stop_the_rest(samples, tmp_path):
    source = samples / "ctgov-v2-json/aact-fixtures"
    texts = [(source / n).read_text("utf-8") for n in ("NCT00973089.json", "NCT03475563.json")]
    # a JSON array whose second item lacks a comma, third has an impossible date
    bad_date = json.loads(texts[1])
    bad_date["protocolSection"]["statusModule"]["completionDateStruct"] = {
        "date": "2021-02-30",
        "type": "ACTUAL",
    }
    broken = texts[0].replace('"briefTitle"', '"briefTitle" "oops"', 1)
    array = "[\n" + ",\n".join([texts[0], broken, json.dumps(bad_date), texts[1]]) + "\n]"
    (tmp_path / "array.json").write_text(array, encoding="utf-8")
    # single-study files: broken, truncated, no id, impossible date
    (tmp_path / "broken.json").write_text(
        texts[0].replace('"nctId": "NCT00973089",', '"nctId": "NCT00973089"', 1), "utf-8"
    )
    (tmp_path / "truncated.json").write_text(texts[0][: len(texts[0]) // 2], "utf-8")
    no_id = json.loads(texts[0])
    del no_id["protocolSection"]["identificationModule"]["nctId"]
    (tmp_path / "no_id.json").write_text(json.dumps(no_id), "utf-8")
    (tmp_path / "z_good.json").write_text(texts[1], "utf-8")

    items = list(iter_records([tmp_path]))
    got = [
        (r.file.rsplit("/", 1)[-1], r.record, r.reason) for r in items if isinstance(r, Rejected)
    ]
    lines = array.split("\n")
    broken_line = next(i for i, line in enumerate(lines, 1) if '"oops"' in line)
    assert got == [
        ("array.json", "item 2", f"broken JSON at line {broken_line}: Expecting ':' delimiter"),
        ("array.json", "item 3 (NCT03475563)", "impossible date 2021-02-30 in completion date"),
        ("broken.json", "", "broken JSON at line 5: Expecting ',' delimiter"),
        ("no_id.json", "", "missing trial id"),
        (
            "truncated.json",
            "",
            got[-1][2],  # line depends on where the cut falls; the wording is checked below
        ),
    ]
    assert got[-1][2].startswith("broken JSON at line ")
    assert "file ends unexpectedly, probably truncated" in got[-1][2]
    records = [r for r in items if isinstance(r, TrialRecord)]
    assert [(r.source_file.rsplit("/", 1)[-1], r.entry.registry_id) for r in records] == [
        ("array.json", "NCT00973089"),
        ("array.json", "NCT03475563"),
        ("z_good.json", "NCT03475563"),
    ]


def test_broken_xml_keeps_the_records_before_it(samples, tmp_path):
    text = (samples / "who-ictrp/ICTRP-Results_18Mar2020.xml").read_text("utf-8")
    third = text.index("<Trial>", text.index("<Trial>", text.index("<Trial>") + 1) + 1)
    (tmp_path / "ictrp.xml").write_text(
        text[:third] + "<Trial><TrialID>X</Trial>" + text[third:], "utf-8"
    )
    items = read_file(tmp_path / "ictrp.xml")
    assert [type(r).__name__ for r in items] == ["TrialRecord", "TrialRecord", "Rejected"]
    assert items[-1].record == "after Trial 2"
    assert items[-1].reason.startswith("broken XML at line ")
    assert items[-1].reason.endswith("mismatched tag")

    # an entity-expansion attack is refused, not expanded
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;">]><clinical_study>&lol2;</clinical_study>'
    )
    (tmp_path / "bomb.xml").write_text(bomb, "utf-8")
    [refused] = read_file(tmp_path / "bomb.xml")
    assert isinstance(refused, Rejected) and refused.reason.startswith("broken XML: refused")


def test_csv_impossible_date_rejects_the_row_only_in_an_export_written_for_the_tests(tmp_path):
    source = SYNTHETIC / "isrctn-search-export.csv"
    lines = source.read_text("utf-8").splitlines(keepends=True)
    assert "13/02/2020" in lines[2]
    lines[2] = lines[2].replace("13/02/2020", "30/02/2020")
    (tmp_path / "export.csv").write_text("".join(lines), "utf-8")
    items = read_file(tmp_path / "export.csv")
    assert [type(r).__name__ for r in items] == ["TrialRecord", "Rejected"] + ["TrialRecord"] * 3
    assert items[1] == Rejected(
        str(tmp_path / "export.csv"),
        "row 2 (ISRCTN90000002)",
        "impossible date 30/02/2020 in overall trial start date",
    )


@pytest.mark.corpus
def test_csv_impossible_date_rejects_the_row_only(corpus, tmp_path):
    # (an export from a repository that states no licence: only in the developer corpus)
    source = corpus / "isrctn/isrctn-search-export-csv/ISRCTN_search_results_03apr2022_full.csv"
    lines = source.read_text("utf-8").splitlines(keepends=True)[:6]
    lines[2] = lines[2].replace("13/02/2020", "30/02/2020")
    (tmp_path / "export.csv").write_text("".join(lines), "utf-8")
    items = read_file(tmp_path / "export.csv")
    assert [type(r).__name__ for r in items] == ["TrialRecord", "Rejected"] + ["TrialRecord"] * 3
    assert items[1] == Rejected(
        str(tmp_path / "export.csv"),
        "row 2 (ISRCTN19930942)",
        "impossible date 30/02/2020 in overall trial start date",
    )


def test_to_facts_for_a_uk_record(read):
    rec = read("ctgov-classic-xml/aact-fixtures").by_id("NCT01841593")
    facts = rec.to_facts()
    assert facts == {
        "study_type": "interventional",
        "phase": "1",
        "healthy_volunteers": True,
        "paediatric": False,
        "countries": ["United Kingdom"],
        "us_site": False,
        "primary_completion_on": "2013-09",
        "end_of_trial_on": "2013-09",
        "start_on": "2013-04",
        "registrations": [
            {
                "registry": "ClinicalTrials.gov",
                "id": "NCT01841593",
                "registered_on": "2013-04-16",
                "results_posted_on": "2014-09-29",
            }
        ],
    }
    assert json.loads(json.dumps(facts)) == facts  # JSON-able
    assert rec.uk_site is True and rec.interventional is True
    # FDA flags are unknown for this record: omitted, not null
    assert "fda_regulated_drug" not in facts

    euctr = next(
        r
        for r in read("eu/euctr-ctrdata-demo-json").records
        if r.source_record == "2012-003632-23-GB"
    )
    facts = euctr.to_facts()
    assert facts["phase"] == "2/3" and facts["countries"] == ["United Kingdom"]
    assert facts["end_of_trial_on"] == "2019-01-04"
    assert facts["registrations"] == [
        {
            "registry": "EUCTR",
            "id": "2012-003632-23",
            "registered_on": "2012-10-08",
            "results_posted_on": None,
        }
    ]


def test_content_hash_ignores_location_and_sees_content(samples, tmp_path):
    source = samples / "ctgov-v2-json/aact-fixtures/NCT00973089.json"
    copy = tmp_path / "elsewhere.json"
    shutil.copyfile(source, copy)
    [a], [b] = read_file(source), read_file(copy)
    assert a.content_hash == b.content_hash and a.source_file != b.source_file
    changed = json.loads(source.read_text("utf-8"))
    changed["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    copy.write_text(json.dumps(changed), "utf-8")
    [c] = read_file(copy)
    assert c.content_hash != a.content_hash and c.overall_status == "terminated"


def test_whole_sample_tree(samples):
    items = list(iter_records([samples]))
    records = [r for r in items if isinstance(r, TrialRecord)]
    rejected = [r for r in items if isinstance(r, Rejected)]
    # CT.gov v2, classic XML, classic API, ctrdata classic; ISRCTN; ICTRP XML and CSV;
    # EUCTR ctrdata and full text; CTIS (the project's SOURCES.md)
    assert len(records) == 12 + 7 + 6 + 5 + 7 + 28 + 59 + 9 + 3 + 3
    # SOURCES.md, the 4 licence files, 2 EUCTR HTML pages, 3 EU Trials Tracker files
    assert len(rejected) == 10
    registries = Counter(r.entry.registry for r in records)
    assert registries["ISRCTN"] == 7 + 6
    assert registries["EUCTR"] == 9 + 3 + 13
    assert registries["CTIS"] == 3
    check_every_date_and_fact(records)


@pytest.mark.corpus
def test_whole_corpus_tree(corpus):
    items = list(iter_records([corpus]))
    records = [r for r in items if isinstance(r, TrialRecord)]
    rejected = [r for r in items if isinstance(r, Rejected)]
    assert len(records) == 237 + 83 + 71 + 32 + 7 + 5167 + 386 + 619 + 18 + 7 + 3 + 338
    # SOURCES.md, 2 EUCTR HTML pages, 3 EU Trials Tracker files
    assert len(rejected) == 6
    registries = Counter(r.entry.registry for r in records)
    assert registries["ISRCTN"] == 7 + 5167 + 6
    assert registries["EUCTR"] == 18 + 3 + 338 + 13
    assert registries["CTIS"] == 7
    check_every_date_and_fact(records)


def check_every_date_and_fact(records):
    # every date came out as a real date and facts are JSON-able everywhere
    for rec in records:
        json.dumps(rec.to_facts())
        for d in (rec.start, rec.primary_completion, rec.completion):
            assert d is None or isinstance(d.value, date)


@pytest.mark.slow
def test_large_json_array_is_streamed(samples, tmp_path):
    """~20,000 studies in one JSON array: memory stays flat (tracemalloc peak far below the
    file size) and the read stays quick."""
    study = json.loads((samples / "ctgov-v2-json/aact-fixtures/NCT00973089.json").read_text())
    ps = study["protocolSection"]
    keep = ("identificationModule", "statusModule", "sponsorCollaboratorsModule", "designModule")
    study = {"protocolSection": {k: ps[k] for k in keep if k in ps}}
    n = 20_000
    path = tmp_path / "big.json"
    with open(path, "w", encoding="utf-8") as fp:
        fp.write("[")
        for i in range(n):
            study["protocolSection"]["identificationModule"]["nctId"] = f"NCT8{i:07d}"
            fp.write((",\n" if i else "\n") + json.dumps(study))
        fp.write("\n]\n")
    size = path.stat().st_size
    assert size > 20_000_000

    started = time.perf_counter()
    tracemalloc.start()
    try:
        count = 0
        last = None
        for item in iter_records([path]):
            assert isinstance(item, TrialRecord)
            count += 1
            last = item
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert count == n and last.entry.registry_id == f"NCT8{n - 1:07d}"
    assert peak < size / 10, f"peak {peak:,} bytes for a {size:,}-byte file"
    assert peak < 16_000_000
    assert elapsed < 30  # ~5 s on a shared 2-core box; generous against noisy CI


def test_mixed_ctrdata_array_and_api_page_and_bom(samples, tmp_path):
    """A ctrdata-style export holding records of several registers in one array, a
    ClinicalTrials.gov API v2 results page, and a JSON file starting with a UTF-8 BOM."""
    euctr = json.loads((samples / "eu/euctr-ctrdata-demo-json/2014-003556-31-GB.json").read_text())
    isrctn = json.loads((samples / "isrctn/ctrdata-demo-json/88261002.json").read_text())
    ctis = json.loads((samples / "eu/ctis-ctrdata-demo-json/2022-501142-30-00.json").read_text())
    path = tmp_path / "ctrdata-export.json"
    path.write_text(json.dumps([euctr, isrctn, {"something": "else"}, ctis]), encoding="utf-8")
    items = read_file(path)
    assert [(type(r).__name__, getattr(r, "source_record", None) or r.record) for r in items] == [
        ("TrialRecord", "item 1 (2014-003556-31-GB)"),
        ("TrialRecord", "item 2 (ISRCTN88261002)"),
        ("Rejected", "item 3"),
        ("TrialRecord", "item 4 (2022-501142-30-00)"),
    ]
    assert items[2].reason == "unrecognised format (JSON object with keys something)"

    studies = [
        json.loads((samples / "ctgov-v2-json/aact-fixtures" / n).read_text("utf-8"))
        for n in ("NCT00973089.json", "NCT03475563.json")
    ]
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"studies": studies, "nextPageToken": "abc"}), encoding="utf-8")
    assert [r.source_record for r in read_file(page)] == [
        "studies item 1 (NCT00973089)",
        "studies item 2 (NCT03475563)",
    ]

    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(isrctn).encode("utf-8"))
    [rec] = read_file(bom)
    assert isinstance(rec, TrialRecord) and rec.entry.registry_id == "ISRCTN88261002"
