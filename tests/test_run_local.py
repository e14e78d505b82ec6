"""`make run`'s runner, scripts/run_local.py (issue 17, section 4), started for real on a free
port with an instance folder of its own: a worker or scheduler killed outright is started again
and certificates are still issued; only the web server's death ends the run; Ctrl-C (SIGINT to
the process group, as a terminal sends it) stops everything, frees the port within 10 s and
leaves no process and no traceback behind."""

from __future__ import annotations

import http.cookiejar
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfReader
from redis import Redis
from rq import Worker

from tests.conftest import ROOT, csrf_token_from

pytestmark = pytest.mark.slow

HEARTBEAT = 1  # WORKER_HEARTBEAT_SECONDS for the runner's worker
STARTED = "Demo logins"  # the runner's last lines once the portal is healthy


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (through /proc), whatever its session."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    port: int
    instance: Path
    output_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"the runner ended ({self.process.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {text!r} from the runner within {timeout} s:\n{self.output()}")
            time.sleep(0.1)

    def redis(self) -> Redis:
        return Redis(unix_socket_path=str(self.instance / "redis.sock"))

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in (self.instance / "logs").glob("*"))

    def child(self, words: str) -> int:
        """The pid of the runner's child whose command line holds ``words``."""
        for pid in descendants(self.process.pid):
            if words in command_line(pid) and alive(pid):
                parent = Path(f"/proc/{pid}/stat").read_text()
                if int(parent[parent.rfind(")") + 2 :].split()[1]) == self.process.pid:
                    return pid
        pytest.fail(f"no child running {words!r}")


def start_runner(folder: Path) -> Run:
    instance = folder / "instance"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PORTAL_ENV", "PUBLIC_URL"}
    }
    port = free_port()
    env.update(
        PORT=str(port),
        INSTANCE_PATH=str(instance),
        WORKER_HEARTBEAT_SECONDS=str(HEARTBEAT),
        REGISTRY_SAMPLES=str(folder / "no-samples"),  # no import: the test makes its own trial
        PYTHONPATH=str(ROOT),
    )
    output_path = folder / "runner.out"
    with output_path.open("wb") as output:
        process = subprocess.Popen(  # a session of its own: its Ctrl-C is ours to send
            [sys.executable, str(ROOT / "scripts" / "run_local.py")],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = Run(process, port, instance, output_path)
    run.wait_for(STARTED, timeout=90)
    return run


def stop_runner(run: Run) -> None:
    if run.process.poll() is None:
        left = descendants(run.process.pid)
        os.killpg(run.process.pid, signal.SIGINT)
        try:
            run.process.wait(20)
        except subprocess.TimeoutExpired:
            for pid in left | {run.process.pid}:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    run = start_runner(tmp_path_factory.mktemp("run-local"))
    yield run
    stop_runner(run)


def sponsor_with_a_trial(run: Run) -> tuple[str, int]:
    """A sponsor and a trial of theirs, written to the running portal's own database."""
    from portal import create_app
    from portal.extensions import db
    from tests.factories import member, trial

    app = create_app(
        env={
            "PORTAL_ENV": "local",
            "INSTANCE_PATH": str(run.instance),
            "REDIS_URL": f"unix://{run.instance / 'redis.sock'}",
            "PUBLIC_URL": run.url,
        }
    )
    with app.app_context():
        user = member("sponsor", full_name="Dr Runner Test")
        t = trial(title="Survives a dead worker", owner=user.organisation)
        email, trial_id = user.email, t.id
        db.session.remove()
        db.engine.dispose()
    return email, trial_id


class Session:
    """A person at a browser: cookies, CSRF tokens, redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[str, bytes]:
        with self.opener.open(self.base + path, timeout=20) as response:
            return response.geturl(), response.read()

    def post(self, path: str, data: dict[str, str], token_from: str) -> str:
        token = csrf_token_from(self.get(token_from)[1].decode())
        body = urllib.parse.urlencode({"csrf_token": token, **data}).encode()
        with self.opener.open(self.base + path, data=body, timeout=20) as response:
            return response.geturl()


def test_each_step_is_one_line_and_the_last_lines_are_the_url_and_the_demo_logins(runner: Run):
    from portal.demo import DEMO_PASSWORD, DEMO_USERS

    lines = runner.output().rstrip().splitlines()
    assert lines[0] == f"Redis: embedded, on {runner.instance / 'redis.sock'}."
    assert lines[1] == f"Database: {runner.instance / 'portal.db'}, migrations applied."
    assert "trials" in lines[2]  # the demo data: how many trials, from where
    assert lines[3].startswith("PDF rendering works: a test certificate page in ")
    logins = lines[-len(DEMO_USERS) - 2 :]
    assert logins[0] == f"Trial Transparency Portal: {runner.url}/"
    assert logins[1] == f"Demo logins (password for every one: {DEMO_PASSWORD}):"
    for line, (email, _name, _role) in zip(logins[2:], DEMO_USERS.values(), strict=True):
        assert line.endswith(email) and "_" not in line
    assert len(lines) <= 15


def test_a_killed_worker_is_started_again_and_a_certificate_is_still_issued(runner: Run):
    [worker] = Worker.all(connection=runner.redis())
    os.kill(worker.pid, signal.SIGKILL)  # as the OOM killer would
    runner.wait_for("The worker stopped (killed by SIGKILL); starting it again in 1 s")
    runner.wait_for("The worker is running again")
    assert runner.process.poll() is None

    from tests.factories import PASSWORD

    email, trial_id = sponsor_with_a_trial(runner)
    browser = Session(runner.url)
    browser.post("/login", {"email": email, "password": PASSWORD}, token_from="/login")
    status_page = browser.post(
        f"/trials/{trial_id}/certificates", {}, token_from=f"/trials/{trial_id}"
    )
    certificate_path = urllib.parse.urlsplit(status_page).path
    deadline = time.monotonic() + 60
    while "Download the certificate" not in browser.get(certificate_path)[1].decode():
        assert time.monotonic() < deadline, "no certificate within 60 s of asking"
        time.sleep(0.5)
    _url, pdf = browser.get(f"{certificate_path}/certificate.pdf")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Survives a dead worker" in text and "Dr Runner Test" in text
    # The one that did it is the new worker: the killed one stays registered, without heartbeat.
    live = [w.pid for w in Worker.all(connection=runner.redis()) if w.pid != worker.pid]
    assert len(live) == 1 and alive(live[0])


def test_a_killed_scheduler_is_started_again(runner: Run):
    scheduler = runner.child("obligations cron")
    log = runner.instance / "logs" / "scheduler.log"
    births = log.read_text(errors="replace").count("registering birth")
    os.kill(scheduler, signal.SIGKILL)
    runner.wait_for("The scheduler stopped (killed by SIGKILL); starting it again in 1 s")
    runner.wait_for("The scheduler is running again")
    assert runner.child("obligations cron") != scheduler
    assert runner.process.poll() is None
    # The runner says "running again" when it starts the process; the new scheduler is at work
    # once it has registered itself (a second or two later: it loads the app first). The next
    # test's Ctrl-C expects a scheduler that is at work, one that can say goodbye.
    deadline = time.monotonic() + 60
    while log.read_text(errors="replace").count("registering birth") <= births:
        assert time.monotonic() < deadline, "the new scheduler did not register within 60 s"
        assert runner.process.poll() is None
        time.sleep(0.1)


def test_ctrl_c_stops_every_child_frees_the_port_and_leaves_no_traceback(runner: Run):
    children = descendants(runner.process.pid)
    assert len(children) >= 5  # redis, worker (+ its scheduler), cron, gunicorn (+ workers)
    signalled = time.monotonic()
    os.killpg(runner.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    while not port_is_free(runner.port):
        assert time.monotonic() - signalled < 10, "the port is still taken 10 s after Ctrl-C"
        time.sleep(0.1)
    assert runner.process.wait(20) == 0
    assert [pid for pid in children if alive(pid)] == []
    output, logs = runner.output(), runner.logs()
    assert "Traceback" not in output and "Traceback" not in logs
    assert "SchedulerNotFound" not in logs and "ConnectionError" not in logs
    assert output.rstrip().endswith("Stopped.")
    # Redis went last: the worker's scheduler released its locks, the cron scheduler said goodbye.
    assert "releasing locks" in logs and "shutdown complete" in logs


def test_only_the_web_servers_death_ends_the_run(tmp_path: Path):
    run = start_runner(tmp_path)
    try:
        children = descendants(run.process.pid)
        os.kill(run.child("gunicorn"), signal.SIGKILL)
        assert run.process.wait(30) == 1
        assert "The web server stopped (killed by SIGKILL): stopping the portal." in run.output()
        assert [pid for pid in children if alive(pid)] == []
        assert port_is_free(run.port)
    finally:
        stop_runner(run)
