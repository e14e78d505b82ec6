"""Importing registry records into trials: counts, idempotency, updates, merges, rejections,
resuming, concurrency and sponsor facts (portal.services.imports)."""

from __future__ import annotations

import json
import os
import threading
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    AuditEvent,
    ImportRejection,
    ImportRun,
    Obligation,
    RegistryEntry,
    SponsorFact,
    Trial,
    TrialChange,
    TrialIdentifier,
)
from portal.registries import Rejected, TrialRecord, iter_records
from portal.services import ServiceError, imports
from portal.services.imports import batches, parallel, records, runs
from tests.factories import OrganisationFactory
from tests.imports.conftest import (
    CTGOV_FILE,
    ISRCTN_FILE,
    copy_sample,
    cross_reference,
    write_json,
)

TABLES = (Trial, RegistryEntry, TrialIdentifier, TrialChange, ImportRejection, SponsorFact)
SAMPLE_FOLDERS = (
    "ctgov-classic-api-json",
    "ctgov-classic-ctrdata-json",
    "ctgov-classic-xml",
    "ctgov-v2-json",
    "eu",
    "isrctn",
    "who-ictrp",
)


def do_import(*paths, **kwargs) -> tuple[int, dict]:
    return imports.import_paths([str(p) for p in paths], **kwargs)


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def row_counts() -> dict[str, int]:
    return {model.__name__: count(model) for model in TABLES}


def trials_without_entries() -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Trial)
        .where(~sa.exists().where(RegistryEntry.trial_id == Trial.id))
    )


def entry(registry_id: str) -> RegistryEntry:
    return db.session.execute(
        sa.select(RegistryEntry).where(RegistryEntry.registry_id == registry_id)
    ).scalar_one()


def assert_outcomes_add_up(report: dict) -> None:
    outcomes = sum(report[k] for k in ("created", "updated", "unchanged", "merged"))
    assert outcomes + len(report["rejected"]) == report["records_seen"]


# --------------------------------------------------------------------------- the samples


@pytest.mark.parametrize("folder", SAMPLE_FOLDERS)
def test_every_sample_folder_imports_with_counts_that_add_up(app, samples, folder):
    items = list(iter_records([samples / folder]))
    records = [i for i in items if isinstance(i, TrialRecord)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    keys = {(r.entry.registry, r.entry.registry_id) for r in records}
    assert records, f"no records read from {folder}"

    run_id, report = do_import(samples / folder)

    assert report["records_seen"] == len(items)
    assert len(report["rejected"]) == len(rejected)
    assert_outcomes_add_up(report)
    assert report["created"] >= 1
    assert count(RegistryEntry) == len(keys)
    assert count(Trial) == report["created"]  # no two trials were merged in one folder
    assert trials_without_entries() == 0
    run = db.session.get(ImportRun, run_id)
    assert run.status == "finished" and run.finished_at is not None
    assert run.records_seen == len(items) and run.rejected == len(rejected)
    assert count(ImportRejection) == len(rejected)


def test_the_whole_sample_set_merges_across_registries_and_reimports_unchanged(app, samples):
    run_id, report = do_import(samples)
    assert_outcomes_add_up(report)
    assert report["merged"] >= 1
    # ISRCTN80181452 names NCT01035190 (a ctrdata ClinicalTrials.gov record): one trial
    trial = entry("ISRCTN80181452").trial
    assert {(e.registry_name, e.registry_id) for e in trial.entries} == {
        ("ClinicalTrials.gov", "NCT01035190"),
        ("ISRCTN", "ISRCTN80181452"),
    }
    check_whole_set_reimports_unchanged(samples, run_id)


@pytest.mark.corpus
def test_the_whole_corpus_merges_across_registries_and_reimports_unchanged(app, corpus):
    run_id, report = do_import(corpus)
    assert_outcomes_add_up(report)
    assert report["merged"] >= 5
    # the ACTT trial is on ClinicalTrials.gov, ISRCTN and EUCTR (WHO ICTRP and EU exports)
    trial = entry("NCT04280705").trial
    assert {(e.registry_name, e.registry_id) for e in trial.entries} == {
        ("ClinicalTrials.gov", "NCT04280705"),
        ("ISRCTN", "ISRCTN13035264"),
        ("EUCTR", "2020-001052-18"),
    }
    assert trial.title == "Adaptive COVID-19 Treatment Trial (ACTT)"
    assert trial.imported_facts["title"]["registry"] == "ClinicalTrials.gov"
    check_whole_set_reimports_unchanged(corpus, run_id)


def check_whole_set_reimports_unchanged(root, run_id: int) -> None:
    assert trials_without_entries() == 0
    # one registry entry per registry and trial, whatever the cross-references say
    duplicates = db.session.execute(
        sa.select(RegistryEntry.trial_id, RegistryEntry.registry_name)
        .group_by(RegistryEntry.trial_id, RegistryEntry.registry_name)
        .having(sa.func.count() > 1)
    ).all()
    assert duplicates == []

    before = row_counts()
    changes_before = count(TrialChange)
    again_id, again = do_import(root)
    assert again_id != run_id
    assert again["created"] == again["updated"] == again["merged"] == 0
    assert again["unchanged"] == again["records_seen"] - len(again["rejected"])
    assert row_counts() == {**before, "ImportRejection": before["ImportRejection"] * 2}
    assert count(TrialChange) == changes_before


# --------------------------------------------------------------------------- one record


def test_a_second_import_of_the_same_files_changes_nothing(app, samples, tmp_path):
    folder = tmp_path / "in"
    copy_sample(samples, CTGOV_FILE, folder)
    copy_sample(samples, ISRCTN_FILE, folder)
    _, first = do_import(folder)
    assert first["created"] == 2
    trial = entry("NCT00763412").trial
    facts, updated_at = trial.imported_facts, trial.updated_at
    before = row_counts()

    _, second = do_import(folder)

    assert second == {
        "records_seen": 2,
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "merged": 0,
        "rejected": [],
    }
    assert row_counts() == before
    assert count(TrialChange) == 0
    db.session.expire_all()
    trial = entry("NCT00763412").trial
    assert trial.imported_facts == facts and trial.updated_at == updated_at


def test_a_newer_version_updates_the_trial_and_records_what_changed(app, tmp_path, ctgov):
    path = write_json(tmp_path / "in" / "study.json", ctgov)
    do_import(path)
    trial = entry("NCT00763412").trial
    assert trial.imported_facts["end_of_trial_on"]["value"] == "2013-01"

    ctgov["protocolSection"]["statusModule"]["completionDateStruct"]["date"] = "2014-03-15"
    write_json(path, ctgov)
    run_id, report = do_import(path)

    assert report["updated"] == 1 and report["unchanged"] == 0
    change = db.session.execute(sa.select(TrialChange)).scalar_one()
    assert change.trial_id == trial.id and change.run_id == run_id
    assert (change.registry_name, change.registry_id) == ("ClinicalTrials.gov", "NCT00763412")
    assert change.changes == {"end_of_trial_on": ["2013-01", "2014-03-15"]}
    db.session.expire_all()
    assert entry("NCT00763412").trial.imported_facts["end_of_trial_on"]["value"] == "2014-03-15"
    # the version it replaced is not applied again, and neither is an older record
    _, again = do_import(path)
    assert again["unchanged"] == 1


def test_an_older_version_does_not_replace_a_newer_one(app, tmp_path, ctgov):
    newer = json.loads(json.dumps(ctgov))
    newer["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = "2020-01-01"
    newer["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    do_import(write_json(tmp_path / "new" / "s.json", newer))
    _, report = do_import(write_json(tmp_path / "old" / "s.json", ctgov))
    assert report["unchanged"] == 1 and report["updated"] == 0
    assert entry("NCT00763412").trial.overall_status == "terminated"


# --------------------------------------------------------------------------- merging


def test_records_that_cross_reference_each_other_make_one_trial(app, tmp_path, ctgov, isrctn):
    ctgov, isrctn = cross_reference(ctgov, isrctn)
    folder = tmp_path / "in"
    write_json(folder / "a-ctgov.json", ctgov)
    write_json(folder / "b-isrctn.json", isrctn)

    _, report = do_import(folder)

    assert (report["created"], report["merged"]) == (1, 1)
    assert count(Trial) == 1
    trial = db.session.execute(sa.select(Trial)).scalar_one()
    assert {(e.registry_name, e.registry_id) for e in trial.entries} == {
        ("ClinicalTrials.gov", "NCT00763412"),
        ("ISRCTN", "ISRCTN17473621"),
    }
    assert {(i.kind, i.value) for i in trial.identifiers} == {
        ("nct", "NCT00763412"),
        ("isrctn", "ISRCTN17473621"),
    }
    # per fact, the highest-priority registry that has it, named as the source
    assert trial.imported_facts["title"]["registry"] == "ClinicalTrials.gov"
    assert trial.imported_facts["title"]["record"] == "NCT00763412"
    assert trial.title == ctgov["protocolSection"]["identificationModule"]["briefTitle"]
    sources = {fact["registry"] for fact in trial.imported_facts.values()}
    assert sources <= {"ClinicalTrials.gov", "ISRCTN"}


def test_a_record_joining_two_existing_trials_merges_them_into_the_older(
    app, tmp_path, ctgov, isrctn
):
    do_import(write_json(tmp_path / "1" / "ctgov.json", ctgov))
    do_import(write_json(tmp_path / "2" / "isrctn.json", isrctn))
    older = entry("NCT00763412").trial_id
    newer = entry("ISRCTN17473621").trial_id
    assert older < newer
    db.session.add(
        SponsorFact(trial_id=newer, key="iras_id", value="123456", entered_by_label="s@x.example")
    )
    db.session.add(
        Obligation(
            trial_id=newer,
            duty="X-TEST",
            ruleset="uk-2026",
            status="due",
            verdict={},
            as_of=date.today(),
        )
    )
    db.session.commit()

    _, isrctn = cross_reference(ctgov, isrctn)
    _, report = do_import(write_json(tmp_path / "3" / "isrctn.json", isrctn))

    assert report["merged"] == 1
    assert db.session.get(Trial, newer) is None
    assert {e.trial_id for e in db.session.execute(sa.select(RegistryEntry)).scalars()} == {older}
    assert {i.trial_id for i in db.session.execute(sa.select(TrialIdentifier)).scalars()} == {older}
    fact = db.session.execute(sa.select(SponsorFact)).scalar_one()
    assert fact.trial_id == older and fact.value == "123456"
    assert not db.session.execute(sa.select(Obligation).where(Obligation.trial_id == newer)).first()


def test_trials_of_two_organisations_are_not_merged(app, tmp_path, ctgov, isrctn):
    do_import(write_json(tmp_path / "1" / "ctgov.json", ctgov))
    do_import(write_json(tmp_path / "2" / "isrctn.json", isrctn))
    first, second = OrganisationFactory(), OrganisationFactory()
    entry("NCT00763412").trial.owner_organisation_id = first.id
    entry("ISRCTN17473621").trial.owner_organisation_id = second.id
    db.session.commit()

    _, isrctn = cross_reference(ctgov, isrctn)
    _, report = do_import(write_json(tmp_path / "3" / "isrctn.json", isrctn))

    assert report["merged"] == 0 and count(Trial) == 2
    [rejection] = report["rejected"]
    assert rejection["record"] == "ISRCTN17473621"
    assert "different organisations" in rejection["reason"]
    assert entry("ISRCTN17473621").content_hash != ""  # the stored record is untouched


# --------------------------------------------------------------------------- bad records


def test_a_bad_record_is_rejected_with_its_reason_and_the_rest_is_imported(
    app, samples, tmp_path, ctgov
):
    folder = tmp_path / "in"
    copy_sample(samples, ISRCTN_FILE, folder)  # 17473621.json sorts first
    (folder / "2-broken.json").write_text('{"protocolSection": {"identificationModule": ')
    missing_id = json.loads(json.dumps(ctgov))
    del missing_id["protocolSection"]["identificationModule"]["nctId"]
    write_json(folder / "3-no-id.json", missing_id)
    impossible = json.loads(json.dumps(ctgov))
    impossible["protocolSection"]["statusModule"]["startDateStruct"]["date"] = "2019-02-30"
    write_json(folder / "4-bad-date.json", impossible)
    write_json(folder / "5-good.json", ctgov)

    run_id, report = do_import(folder)

    assert report["created"] == 2 and report["records_seen"] == 5
    reasons = {Path(r["file"]).name: r for r in report["rejected"]}
    assert set(reasons) == {"2-broken.json", "3-no-id.json", "4-bad-date.json"}
    assert "JSON" in reasons["2-broken.json"]["reason"]
    assert all(r["reason"] for r in reasons.values())
    stored = db.session.execute(
        sa.select(ImportRejection.file, ImportRejection.record, ImportRejection.reason).where(
            ImportRejection.run_id == run_id
        )
    ).all()
    assert sorted(tuple(r.values()) for r in report["rejected"]) == sorted(map(tuple, stored))


def test_a_failure_in_the_middle_of_a_record_leaves_no_half_written_trial(
    app, samples, monkeypatch, tmp_path
):
    folder = samples / "ctgov-v2-json" / "aact-fixtures"
    victim = "NCT02552212"
    real_insert = batches._bulk_insert

    def failing_insert(table, rows):
        if table is records.ENTRIES and any(r["registry_id"] == victim for r in rows):
            raise RuntimeError("the disk is on fire")
        return real_insert(table, rows)

    monkeypatch.setattr(batches, "_bulk_insert", failing_insert)
    _, report = do_import(folder)

    [rejection] = [r for r in report["rejected"] if victim in r["record"]]
    assert "the disk is on fire" in rejection["reason"]
    assert trials_without_entries() == 0
    assert count(Trial) == report["created"] == count(RegistryEntry)
    assert not db.session.execute(
        sa.select(RegistryEntry).where(RegistryEntry.registry_id == victim)
    ).first()
    assert report["created"] >= 5


def test_a_batch_that_collides_with_a_concurrent_import_is_retried_record_by_record(
    app, samples, monkeypatch, tmp_path
):
    folder = samples / "ctgov-v2-json" / "aact-fixtures"
    do_import(folder)
    before = row_counts()
    real_load = batches._Batch.load
    calls = []

    def stale_load(self, records):  # the batch does not see what the other import committed
        calls.append(len(records))
        if len(calls) == 1:
            return None
        return real_load(self, records)

    monkeypatch.setattr(batches._Batch, "load", stale_load)
    _, report = do_import(folder)

    assert calls[0] > 1 and len(calls) == 1 + calls[0]  # one batch, then record by record
    assert report["unchanged"] == report["records_seen"] - len(report["rejected"])
    assert row_counts() == {**before, "ImportRejection": before["ImportRejection"] * 2}


# --------------------------------------------------------------------------- resuming


def test_an_interrupted_run_resumes_after_what_it_committed(app, samples, monkeypatch):
    folder = samples / "ctgov-v2-json" / "aact-fixtures"
    total = len(list(iter_records([folder])))
    real_commit = runs._commit_batch
    seen: list[str] = []

    def commit(run_id, items, counts, display):
        seen.extend(i.value.registry_id for i in items if isinstance(i.value, imports.Prepared))
        if len(seen) > 4 and not resumed:
            raise KeyboardInterrupt
        return real_commit(run_id, items, counts, display)

    resumed = False
    monkeypatch.setattr(runs, "_commit_batch", commit)
    with pytest.raises(KeyboardInterrupt):
        do_import(folder, batch_size=2)
    run = db.session.execute(sa.select(ImportRun)).scalar_one()
    assert run.status == "failed" and run.records_seen == 4 and run.resume_after
    committed = set(seen[:4])
    assert {e.registry_id for e in db.session.execute(sa.select(RegistryEntry)).scalars()} == (
        committed
    )

    resumed = True
    seen.clear()
    run_id, report = do_import(folder, resume_run_id=run.id, batch_size=2)

    assert run_id == run.id
    assert not committed & set(seen)  # nothing committed before was read into a batch again
    assert report["records_seen"] == total
    assert report["created"] == count(Trial) == total - len(report["rejected"])
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).status == "finished"
    actions = db.session.execute(
        sa.select(AuditEvent.action).where(AuditEvent.object_id == str(run.id))
    ).scalars()
    assert list(actions) == ["import.started", "import.failed", "import.resumed", "import.finished"]


def test_resuming_with_other_files_is_refused(app, samples, monkeypatch, tmp_path):
    folder = samples / "ctgov-v2-json" / "aact-fixtures"
    monkeypatch.setattr(runs, "_commit_batch", _interrupt_after(runs._commit_batch, 1))
    with pytest.raises(KeyboardInterrupt):
        do_import(folder, batch_size=2)
    run = db.session.execute(sa.select(ImportRun)).scalar_one()
    other = copy_sample(samples, ISRCTN_FILE, tmp_path / "other")
    with pytest.raises(ServiceError, match="same paths"):
        do_import(other, resume_run_id=run.id)


def _interrupt_after(real, batches: int):
    done = []

    def commit(*args):
        if len(done) >= batches:
            raise KeyboardInterrupt
        done.append(1)
        return real(*args)

    return commit


def test_a_finished_run_cannot_be_resumed(app, samples, tmp_path):
    run_id, _ = do_import(copy_sample(samples, ISRCTN_FILE, tmp_path))
    with pytest.raises(ServiceError, match="already finished"):
        do_import(resume_run_id=run_id)


# --------------------------------------------------------------------------- sponsor facts


def test_sponsor_entered_facts_survive_a_reimport(app, tmp_path, ctgov):
    path = write_json(tmp_path / "in" / "study.json", ctgov)
    do_import(path)
    trial_id = entry("NCT00763412").trial_id
    db.session.add(
        SponsorFact(
            trial_id=trial_id,
            key="end_of_trial_on",
            value="2012-12-20",
            entered_by_label="sponsor@trust.example",
        )
    )
    db.session.commit()

    ctgov["protocolSection"]["statusModule"]["completionDateStruct"]["date"] = "2014-03-15"
    _, report = do_import(write_json(path, ctgov))

    assert report["updated"] == 1
    fact = db.session.execute(sa.select(SponsorFact)).scalar_one()
    assert (fact.trial_id, fact.key, fact.value, fact.current) == (
        trial_id,
        "end_of_trial_on",
        "2012-12-20",
        True,
    )
    trial = db.session.get(Trial, trial_id)
    assert trial.imported_facts["end_of_trial_on"]["value"] == "2014-03-15"


# --------------------------------------------------------------------------- audit, obligations


def test_each_run_is_audited_with_its_counts(app, samples, tmp_path):
    run_id, report = do_import(copy_sample(samples, CTGOV_FILE, tmp_path))
    events = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.object_type == "import_run").order_by(AuditEvent.id)
    ).scalars()
    started, finished = list(events)
    assert (started.action, finished.action) == ("import.started", "import.finished")
    assert finished.object_id == str(run_id)
    assert finished.after["created"] == 1 and finished.after["records_seen"] == 1


def test_obligations_are_recomputed_for_the_trials_of_each_batch(app, samples, monkeypatch):
    calls = []
    monkeypatch.setattr(batches, "_recompute_obligations", lambda ids, new: calls.append(ids))
    _, report = do_import(samples / "ctgov-v2-json" / "aact-fixtures", batch_size=3)
    touched = sorted(t for batch in calls for t in batch)
    assert touched == sorted(db.session.execute(sa.select(Trial.id)).scalars())
    assert len(calls) == -(-report["records_seen"] // 3)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="needs PostgreSQL sessions")
def test_two_imports_of_the_same_files_at_once_create_each_trial_once(app, samples):
    folder = samples / "ctgov-v2-json"
    keys = {
        (r.entry.registry, r.entry.registry_id)
        for r in iter_records([folder])
        if isinstance(r, TrialRecord)
    }
    barrier = threading.Barrier(2)
    reports: list[dict] = []
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                barrier.wait()
                reports.append(do_import(folder, batch_size=20)[1])
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)

    assert not errors, errors
    assert len(reports) == 2
    assert count(RegistryEntry) == len(keys)
    assert count(Trial) == sum(r["created"] for r in reports) == len(keys)
    assert trials_without_entries() == 0
    for report in reports:
        assert_outcomes_add_up(report)
        assert report["rejected"] == []
        assert report["updated"] == report["merged"] == 0


def test_big_inputs_are_read_in_a_separate_process_with_the_same_result(
    app, samples, monkeypatch, tmp_path
):
    monkeypatch.setattr(parallel, "PROCESS_READER_MIN_BYTES", 1)  # any input counts as big
    started = []
    real = parallel._ProcessReader.__init__

    def spy(self, *args):
        started.append(args)
        real(self, *args)

    monkeypatch.setattr(parallel._ProcessReader, "__init__", spy)
    folder = samples / "ctgov-v2-json"
    items = list(iter_records([folder]))

    _, report = do_import(folder, batch_size=50)

    assert len(started) == 1
    assert report["records_seen"] == len(items)
    assert count(RegistryEntry) == report["created"] == len(items) - len(report["rejected"])
    # a refusal raised while reading in the process reaches the importer
    other = copy_sample(samples, ISRCTN_FILE, tmp_path / "other")
    monkeypatch.setattr(runs, "_commit_batch", _interrupt_after(runs._commit_batch, 1))
    with pytest.raises(KeyboardInterrupt):
        do_import(folder, batch_size=2)
    run_id = db.session.execute(sa.select(sa.func.max(ImportRun.id))).scalar()
    with pytest.raises(ServiceError, match="same paths"):
        do_import(other, resume_run_id=run_id)
