"""Registry sync against the stand-in APIs (a real HTTP server): a full sync through faults, an
incremental one, a second sync changing nothing, rejections with reasons, no network, resume
after a real RQ worker is killed in the middle, and a watched sponsor's new trial offered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    AuditEvent,
    BackgroundJob,
    ImportRun,
    RegistryEntry,
    RegistrySyncState,
    Trial,
    TrialChange,
)
from portal.timeutil import today
from tests import factories
from tests.conftest import ROOT, make_env
from tests.registry_sync.conftest import run_sync
from tests.registry_sync.standin import study_id

CTGOV = "ClinicalTrials.gov"


def _ctgov_requests(standin):
    return [r for r in standin.requests if r["path"].endswith("/studies")]


def test_full_sync_through_503_429_and_a_timeout_then_a_second_sync_changes_nothing(
    sync_app, standin, tmp_path
):
    n = len(standin.studies)
    standin.faults = [("503", None), ("429", 1), ("slow", 1.0)]

    result, report = run_sync(sync_app, tmp_path, "--registry", "ctgov")

    assert result.exit_code == 0, result.output
    assert report["records_seen"] == n
    assert report["created"] + report["merged"] == n
    assert report["rejected"] == [] and report["updated"] == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RegistryEntry)) == n
    asked = _ctgov_requests(standin)
    first = asked[0]["query"]
    assert first["query.locn"] == "United Kingdom"
    assert first["countTotal"] == "true" and first["pageSize"] == "4"
    assert "filter.advanced" not in first  # no cursor yet: everything
    assert all("TrialTransparencyPortal" in r["agent"] for r in asked)
    # 3 pages, plus one answer each for the 503, the 429 and the timed-out request
    assert len(asked) == 3 + 3
    assert [r["query"].get("pageToken") for r in asked[-3:]] == [None, "p4", "p8"]
    retry_after = asked[2]["at"] - asked[1]["at"]
    assert retry_after >= 0.95, "the 429's Retry-After (1 s) was honoured"
    state = db.session.get(RegistrySyncState, "ctgov")
    assert state.cursor_on == today() and state.run_id is None

    # A stand-in that ignores the filter serves everything again: all unchanged.
    standin.ignore_filters = True
    standin.requests.clear()
    result, again = run_sync(sync_app, tmp_path, "--registry", "ctgov")
    assert result.exit_code == 0, result.output
    assert again["records_seen"] == n and again["unchanged"] == n
    assert again["created"] == again["updated"] == again["merged"] == 0
    advanced = _ctgov_requests(standin)[0]["query"]["filter.advanced"]
    assert advanced == f"AREA[LastUpdatePostDate]RANGE[{today().isoformat()},MAX]"


def test_incremental_sync_asks_for_changes_and_audits_a_claimed_trial(sync_app, standin, tmp_path):
    result, _ = run_sync(sync_app, tmp_path, "--registry", "ctgov")
    assert result.exit_code == 0, result.output
    nct = study_id(standin.studies[0])
    entry = db.session.scalar(sa.select(RegistryEntry).where(RegistryEntry.registry_id == nct))
    owner = factories.OrganisationFactory()
    trial = db.session.get(Trial, entry.trial_id)
    trial.owner_organisation_id = owner.id
    db.session.commit()
    standin.change_study(nct, "A changed title for the sync test", today().isoformat())
    standin.requests.clear()

    result, report = run_sync(sync_app, tmp_path, "--registry", "ctgov")

    assert result.exit_code == 0, result.output
    assert report["records_seen"] == 1 and report["updated"] == 1
    assert report["created"] == report["unchanged"] == 0
    asked = _ctgov_requests(standin)
    assert len(asked) == 1
    assert asked[0]["query"]["filter.advanced"].startswith("AREA[LastUpdatePostDate]RANGE[")
    db.session.expire_all()
    assert db.session.get(Trial, trial.id).title == "A changed title for the sync test"
    change = db.session.scalar(sa.select(TrialChange).where(TrialChange.trial_id == trial.id))
    assert change.changes["title"][1] == "A changed title for the sync test"
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "trial.registry_changed")
    )
    assert event is not None and event.object_id == str(trial.id)
    assert "Title" in event.after["fields changed"]
    assert "title" not in event.after  # labels, not keys


def test_rejections_with_reasons_and_a_malformed_page_keeps_the_cursor(sync_app, standin, tmp_path):
    studies = [s for s in standin.studies]
    broken = {"protocolSection": {"identificationModule": {"briefTitle": "No id at all"}}}
    standin.set_studies(studies[:7])
    standin.studies.insert(0, broken)  # page 1: one study without an id and three others
    standin.bad_tokens = {"p4": "malformed"}  # page 2 is never valid JSON

    result, report = run_sync(sync_app, tmp_path, "--registry", "ctgov")

    assert result.exit_code == 0, result.output
    reasons = [r["reason"] for r in report["rejected"]]
    assert len(reasons) == 2, reasons
    assert any("not valid JSON" in reason for reason in reasons)
    assert all(reason for reason in reasons)
    [bad_page] = [r for r in report["rejected"] if "not valid JSON" in r["reason"]]
    assert bad_page["file"] == f"{CTGOV} page 2"
    assert report["created"] + report["merged"] == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Trial)) == 3
    state = db.session.get(RegistrySyncState, "ctgov")
    assert state.cursor_on is None, "a sync that did not read every page does not move"
    assert "could not be read" in state.last_error


def test_no_network_fails_fast_with_one_clear_line_and_loses_nothing(sync_app, tmp_path):
    sync_app.config["CTGOV_API_URL"] = "http://127.0.0.1:9/api/v2"  # nothing listens there
    started = time.monotonic()

    result, report = run_sync(sync_app, tmp_path, "--registry", "ctgov")

    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "could not be reached" in lines[0], result.output
    assert report is None
    state = db.session.get(RegistrySyncState, "ctgov")
    assert state.cursor_on is None and state.run_id is not None  # resumable
    assert db.session.get(ImportRun, state.run_id).status == "failed"


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _kill_tree(pid: int) -> None:
    """SIGKILL the worker and its work-horse (RQ puts the horse in a session of its own)."""
    for child in _children(pid):
        _kill_tree(child)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_killed_worker_resumes_from_its_last_committed_page(
    sync_app, standin, tmp_path, run_jobs
):
    """A real RQ worker (a separate process) is killed while it waits for page 3; the job
    run again by a worker resumes after page 2 and sees every study once."""
    from portal.services.registry_sync.jobs import enqueue_sync, request_sync

    n = len(standin.studies)
    standin.bad_tokens = {"p8": "hang"}
    job_id = request_sync(None, "ctgov")
    env = {
        "PATH": os.environ.get("PATH", ""),
        **make_env(
            sync_app.config["SQLALCHEMY_DATABASE_URI"],
            sync_app.config["REDIS_URL"],
            tmp_path / "worker-instance",
            CTGOV_API_URL=standin.url,
            REGISTRY_SYNC_PAGE_SIZE="4",
            REGISTRY_SYNC_RATE="200",
            REGISTRY_SYNC_BACKOFF="0.05",
        ),
    }
    (tmp_path / "worker-instance").mkdir()
    log_file = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "portal",
            "worker",
            "--burst",
            "--queue",
            "import",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    try:
        assert standin.hang.wait(60), "the worker never asked for page 3"
        deadline = time.monotonic() + 20
        run_id = None
        while time.monotonic() < deadline:
            state = db.session.get(RegistrySyncState, "ctgov")
            run_id = state.run_id if state else None
            run = db.session.get(ImportRun, run_id) if run_id else None
            seen = run.records_seen if run is not None else 0
            db.session.rollback()  # no read transaction left open to block the worker
            if seen == 8:
                break
            time.sleep(0.1)
        else:
            log = (tmp_path / "worker.log").read_text()[-3000:]
            raise AssertionError(f"pages 1 and 2 were never committed ({seen}): {log}")
    finally:
        _kill_tree(worker.pid)
        worker.wait(10)
        log_file.close()
    assert db.session.get(RegistrySyncState, "ctgov").cursor_on is None
    standin.bad_tokens = {}
    standin.release.set()
    standin.requests.clear()

    enqueue_sync(job_id)  # what RQ's retry (or the next schedule) does
    run_jobs()

    job = db.session.get(BackgroundJob, job_id)
    assert job.status == "finished", job.error
    assert job.result["records_seen"] == n
    assert job.result["created"] + job.result["merged"] == n, job.result
    tokens = [r["query"].get("pageToken") for r in _ctgov_requests(standin)]
    assert tokens == ["p4", "p8"], "resumed from the last committed page, not the start"
    state = db.session.get(RegistrySyncState, "ctgov")
    assert state.cursor_on == today() and state.run_id is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RegistryEntry)) == n


def test_watched_sponsor_new_trials_are_offered_to_the_organisation(sync_app, standin, tmp_path):
    from portal.services.registry_sync import add_watch, offered_trials

    admin = factories.member("sponsor_admin")
    org = admin.membership.organisation
    add_watch(admin, org.id, "sponsor", "Example Sponsor NHS Trust")
    add_watch(admin, org.id, "trial", "NCT01234567")

    result, report = run_sync(sync_app, tmp_path, "--registry", "all")

    assert result.exit_code == 0, result.output
    queries = [r["query"] for r in _ctgov_requests(standin)]
    assert any(q.get("query.spons") == "Example Sponsor NHS Trust" for q in queries)
    assert any(q.get("filter.ids") == "NCT01234567" for q in queries)
    offered = offered_trials(org.id)
    isrctn = len(standin.isrctn)
    assert len(offered) == isrctn
    assert {t.sponsor_name for t in offered} == {"Example Sponsor NHS Trust"}
    assert report["created"] + report["merged"] >= isrctn
