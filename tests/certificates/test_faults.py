"""Faults, with a real Redis and real worker processes: a worker killed mid-job, Redis down when a
certificate is asked for, a rendering error, a job stuck past its timeout, a job Redis lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis

from portal.extensions import db
from portal.models import AuditEvent, BackgroundJob, Certificate, StoredFile
from portal.services import pdf_jobs
from portal.services.files import read_bytes
from portal.timeutil import utcnow
from tests.certificates.helpers import certificate_rows, obligation, request_certificate
from tests.cli import run_sweep
from tests.conftest import ROOT, make_env
from tests.factories import PASSWORD, OrganisationFactory, member, trial


@pytest.fixture
def sponsor(browser):
    org = OrganisationFactory()
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    return user


def _new_trial(sponsor) -> int:
    t = trial(owner=sponsor.organisation)
    obligation(t)
    return t.id


def _audit(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.query(AuditEvent).filter_by(action=action).order_by(AuditEvent.id))


class WorkerProcess:
    """``flask --app portal worker`` in its own process, with the test app's environment."""

    def __init__(self, app, log: Path, **extra: str) -> None:
        env = {
            **os.environ,
            **make_env(
                app.config["SQLALCHEMY_DATABASE_URI"],
                app.config["REDIS_URL"],
                Path(app.config["INSTANCE_PATH"]),
                **extra,
            ),
        }
        self.log_path = log
        self.log = log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603
            [
                str(Path(sys.executable).parent / "flask"),
                "--app",
                "portal",
                "worker",
                "--queue",
                "pdf",
                "--name",
                f"test-{uuid.uuid4().hex[:8]}",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        if not self.log.closed:
            self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.reap()
        if not self.log.closed:
            self.log.close()

    def reap(self) -> None:
        """Kill whatever is left of the worker's process group (a work-horse it forked), so no
        process outlives the test."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _wait_for(predicate, seconds: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    detail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{detail}")


def _status(certificate_id: int) -> str:
    db.session.rollback()
    return db.session.get(Certificate, certificate_id).status


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_it_to_another_worker_and_one_certificate_is_issued(
    app, browser, sponsor, tmp_path
):
    app.config["PDF_LEASE_SECONDS"] = 2
    trial_id = _new_trial(sponsor)
    request_certificate(browser, trial_id)
    [cert] = certificate_rows()
    cert_id, job_id = cert.id, cert.job_id
    db.session.commit()

    first = WorkerProcess(
        app, tmp_path / "w1.log", PDF_TEST_DELAY_SECONDS="60", PDF_LEASE_SECONDS="2"
    )
    second = None
    try:
        holder = _wait_for(
            lambda: _status(cert_id) == "rendering" and pdf_jobs.lease_holder(job_id),
            60,
            "the first worker to start",
            first.log_path,
        )
        horse_pid = int(holder.rsplit(":", 1)[1])
        # The machine dies: the worker and its work-horse (its own process group) both go.
        first.kill()
        os.kill(horse_pid, signal.SIGKILL)
        _wait_for(lambda: pdf_jobs.lease_holder(job_id) is None, 10, "the lease to expire")
        time.sleep(2.1)  # started_at is now older than the lease

        assert "1 requeued" in run_sweep(app)
        assert _status(cert_id) == "queued"
        second = WorkerProcess(app, tmp_path / "w2.log", PDF_LEASE_SECONDS="2")
        _wait_for(lambda: _status(cert_id) == "ready", 90, "the second worker", tmp_path / "w2.log")
    finally:
        first.kill()
        first.reap()
        if second is not None:
            second.stop()

    db.session.expire_all()
    [cert] = certificate_rows()
    job = db.session.get(BackgroundJob, job_id)
    assert (job.status, job.params["attempts"]) == ("finished", 2)
    stored = db.session.get(StoredFile, cert.file_id)
    assert stored.sha256 == cert.sha256 and db.session.query(StoredFile).count() == 1
    assert read_bytes(stored)[:5] == b"%PDF-"
    assert len(_audit("certificate.issued")) == 1
    assert len(_audit("certificate.rendering")) == 2
    [requeued] = _audit("certificate.requeued")
    assert requeued.after["reason"] == "the worker running it stopped"
    assert "nothing to do" not in (tmp_path / "w2.log").read_text()


def test_a_request_made_while_redis_is_down_is_saved_and_enqueued_when_it_is_back(
    app, browser, sponsor, work, tmp_path
):
    trial_id = _new_trial(sponsor)
    real_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = f"unix://{tmp_path}/no-redis-here.sock"
    app.extensions.pop("portal_redis", None)
    try:
        response = request_certificate(browser, trial_id)
        assert response.status_code == 302
        page = browser.get(response.location).get_data(as_text=True)
        assert "The job queue cannot be reached at the moment" in page
        assert "Your request is saved" in page and "Queued" in page
        [cert] = certificate_rows()
        assert db.session.get(BackgroundJob, cert.job_id).enqueued is False
        assert "Redis is still unreachable" in run_sweep(app)
    finally:
        app.config["REDIS_URL"] = real_url
        app.extensions.pop("portal_redis", None)

    assert "1 enqueued" in run_sweep(app)
    [cert] = certificate_rows()
    assert db.session.get(BackgroundJob, cert.job_id).enqueued is True
    work()
    assert certificate_rows()[0].status == "ready"
    assert len(_audit("certificate.enqueued")) == 1


def test_a_rendering_error_shows_failed_with_its_reason_and_a_retry_works(
    browser, sponsor, work, monkeypatch
):
    import weasyprint

    def broken(*args, **kwargs):
        raise ValueError("the layout engine broke")

    trial_id = _new_trial(sponsor)
    request_certificate(browser, trial_id)
    [cert] = certificate_rows()
    cert_id, serial = cert.id, cert.serial
    with monkeypatch.context() as patch:
        patch.setattr(weasyprint.HTML, "write_pdf", broken)
        work()
    page = browser.get(f"/certificates/{cert_id}").get_data(as_text=True)
    assert "Failed" in page and "the layout engine broke" in page
    assert "http-equiv" not in page and "Try again" in page
    assert _status(cert_id) == "failed"
    assert len(_audit("certificate.failed")) == 1

    response = browser.post(f"/certificates/{cert_id}/retry", token_from=f"/certificates/{cert_id}")
    assert response.status_code == 302
    assert _status(cert_id) == "queued" and len(_audit("certificate.retried")) == 1
    work()
    [cert] = certificate_rows()
    assert (cert.status, cert.serial) == ("ready", serial)


def test_a_job_stuck_past_its_timeout_or_never_started_is_marked_failed_by_the_sweeper(
    app, browser, sponsor
):
    stuck_trial, waiting_trial = _new_trial(sponsor), _new_trial(sponsor)
    request_certificate(browser, stuck_trial)
    request_certificate(browser, waiting_trial)
    stuck, waiting = certificate_rows()
    stuck_id, waiting_id = stuck.id, waiting.id
    # A worker that started two hours ago and still renews its lease (hung, not dead).
    job = db.session.get(BackgroundJob, stuck.job_id)
    job.status, job.started_at = "started", utcnow() - timedelta(hours=2)
    stuck.status = "rendering"
    Redis.from_url(app.config["REDIS_URL"]).set(pdf_jobs.LEASE_KEY.format(job.id), "elsewhere:1")
    # Queued an hour ago, and no worker ever took it.
    other = db.session.get(BackgroundJob, waiting.job_id)
    other.params = {**other.params, "queued_at": (utcnow() - timedelta(hours=1)).isoformat()}
    db.session.commit()

    assert "2 marked failed" in run_sweep(app)
    assert _status(stuck_id) == "failed" and _status(waiting_id) == "failed"
    page = browser.get(f"/certificates/{stuck_id}").get_data(as_text=True)
    assert "took longer than 5 minute(s)" in page and "http-equiv" not in page
    page = browser.get(f"/certificates/{waiting_id}").get_data(as_text=True)
    assert "No worker started it within 30 minute(s)" in page and "Try again" in page


def test_a_job_that_redis_lost_is_queued_again(app, browser, sponsor, work):
    trial_id = _new_trial(sponsor)
    request_certificate(browser, trial_id)
    Redis.from_url(app.config["REDIS_URL"]).flushdb()
    assert "1 requeued" in run_sweep(app)
    work()
    [cert] = certificate_rows()
    assert cert.status == "ready"
