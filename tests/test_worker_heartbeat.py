"""/healthz tells the truth about the worker (issue 17, "seen while attacking").

An idle RQ worker used to beat only when its wait for a job timed out, after worker_ttl - 15 =
405 s, while /healthz called a worker dead after 120 s without a beat: a healthy idle portal
turned 503 a few minutes after start. `flask worker` now waits at most WORKER_HEARTBEAT_SECONDS
between beats, idle or busy, and /healthz calls a worker dead after three intervals."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from tests.conftest import ROOT, make_env

HEARTBEAT = 1


def healthz(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    return response.status_code, response.get_json()["checks"]["worker"]


def test_an_idle_worker_keeps_beating_and_a_killed_one_is_reported_dead(app, redis_url, tmp_path):
    app.config["WORKER_HEARTBEAT_SECONDS"] = HEARTBEAT
    env = {
        **os.environ,
        **make_env(app.config["SQLALCHEMY_DATABASE_URI"], redis_url, tmp_path / "worker-instance"),
        "WORKER_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "PYTHONPATH": str(ROOT),
    }
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "flask"), "--app", "portal", "worker"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = app.test_client()
    try:
        deadline = time.monotonic() + 60
        while healthz(client)[0] != 200:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker never became healthy"
            time.sleep(0.2)

        # Idle for longer than the window in which a worker must beat: it is still healthy,
        # and its last beat is recent (the old worker's was as old as the worker).
        time.sleep(3 * HEARTBEAT + 2)
        status, check = healthz(client)
        assert status == 200 and check["ok"] is True and check["workers"] == 1
        assert check["last_heartbeat_seconds_ago"] <= HEARTBEAT + 1
        assert check["dead_after_seconds"] == 3 * HEARTBEAT

        # Killed outright, it stays registered in Redis, but /healthz sees no beats.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        time.sleep(3 * HEARTBEAT + 1)
        status, check = healthz(client)
        assert status == 503 and check["ok"] is False and check["workers"] == 0
        assert check["last_heartbeat_seconds_ago"] > 3 * HEARTBEAT
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
