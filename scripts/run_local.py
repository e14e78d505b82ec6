"""`make run`: the portal on this machine, and the supervisor of its processes.

First, one line each: Redis (embedded unless REDIS_URL is set), the database migrations, the
demo data, a test PDF render. Then the RQ worker, the daily-recompute scheduler and the web
server, each in a process group of its own, so that a Ctrl-C at the terminal reaches only this
runner, which stops them in order.

While the portal runs (issue 17, section 4):

* a worker or scheduler that dies (a crash, the OOM killer's SIGKILL) is started again after
  1, 2, 4 ... 30 s and said so here; the wait starts over once it has run for a minute;
* only the web server's death ends the run;
* Ctrl-C or SIGTERM stops the web server first (the port is free within seconds), then the
  worker, then the scheduler, and Redis last: the others need it to say goodbye (release their
  locks, register their death). What is left of a child's process group (a gunicorn worker, an
  RQ work-horse or scheduler process) is stopped with it, so nothing is orphaned;
* every minute ``flask jobs sweep`` enqueues jobs saved while Redis was away and requeues those
  whose worker died mid-job.

Environment: PORT (5000), INSTANCE_PATH (instance/), REDIS_URL (embedded when unset),
RUN_LOG_TO_CONSOLE=1 to see the children's logs here rather than in INSTANCE_PATH/logs/.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess  # noqa: S404
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.config import DEFAULT_INSTANCE  # noqa: E402
from portal.demo import DEMO_PASSWORD, DEMO_USERS  # noqa: E402
from portal.redis_embedded import EmbeddedRedis  # noqa: E402

BIN = ROOT / ".venv" / "bin"
FLASK = [str(BIN / "flask"), "--app", "portal"]
FIRST_DELAY = 1.0  # seconds before the first restart of a dead worker or scheduler
MAX_DELAY = 30.0
STEADY_SECONDS = 60.0  # a child that ran this long starts its backoff over
SWEEP_SECONDS = 60.0
HEALTHY_WITHIN = 60.0  # seconds the web server and worker get to answer /healthz
PR_SET_PDEATHSIG = 1


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived while starting up."""


def _die_with_runner() -> None:
    """In a child, before exec: be sent SIGTERM when the runner dies, even by SIGKILL (Linux).

    The children live in sessions of their own (so a terminal's Ctrl-C reaches only the
    runner); without this, a runner killed outright would leave them running."""
    with suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    if not Path("/proc/self/stat").exists():  # not Linux: ask the kernel (zombies count)
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _describe_exit(code: int) -> str:
    if code < 0:
        with suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Child:
    """A process the runner keeps alive: the web server, the worker or the scheduler."""

    name: str  # log file name
    label: str  # what the runner calls it
    argv: list[str]
    essential: bool = False  # its death ends the run
    stop_timeout: float = 5.0
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    delay: float = FIRST_DELAY
    restart_at: float | None = None
    pids_seen: set[int] = field(default_factory=set)

    def start(self, env: dict[str, str], output: IO[bytes] | None) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            self.argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_runner,  # noqa: PLW1509  (single-threaded runner)
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        self.pids_seen.add(self.process.pid)

    def next_delay(self) -> float:
        """Exponential backoff that starts over after a steady minute."""
        if time.monotonic() - self.started_at >= STEADY_SECONDS:
            self.delay = FIRST_DELAY
        delay = self.delay
        self.delay = min(self.delay * 2, MAX_DELAY)
        return delay


class Runner:
    def __init__(self) -> None:
        self.env = dict(os.environ)
        self.instance = Path(self.env.setdefault("INSTANCE_PATH", str(DEFAULT_INSTANCE)))
        self.port = int(self.env.setdefault("PORT", "5000"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.env.setdefault("PUBLIC_URL", self.url)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.to_console = self.env.get("RUN_LOG_TO_CONSOLE", "").lower() in {"1", "true", "yes"}
        self.log_dir = self.instance / "logs"
        self.redis: EmbeddedRedis | None = None
        self.stop_signals = 0
        self.logs: dict[str, IO[bytes]] = {}
        self.sweeper: subprocess.Popen[bytes] | None = None
        gunicorn = [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--graceful-timeout",
            "5",
            "--access-logfile",
            "-",
            "wsgi:app",
        ]
        # Stopped in this order: web first (frees the port), Redis after all of them.
        self.children = [
            Child("web", "web server", gunicorn, essential=True, stop_timeout=7.0),
            Child("worker", "worker", [*FLASK, "worker"], stop_timeout=10.0),
            # The daily recompute of date-driven statuses (upcoming -> due_soon -> overdue).
            Child("scheduler", "scheduler", [*FLASK, "obligations", "cron"], stop_timeout=5.0),
        ]

    # -- output -------------------------------------------------------------------------
    @staticmethod
    def say(text: str) -> None:
        print(text, flush=True)

    def where(self, path: Path) -> str:
        with suppress(ValueError):
            return str(path.relative_to(Path.cwd()))
        return str(path)

    def log(self, name: str) -> IO[bytes] | None:
        if self.to_console:
            return None
        if name not in self.logs:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.logs[name] = (self.log_dir / f"{name}.log").open("ab")
        return self.logs[name]

    # -- signals ------------------------------------------------------------------------
    def on_signal(self, signum: int, _frame: object) -> None:
        self.stop_signals += 1
        if self.stop_signals == 2:
            self.say("Stopping faster: children that do not stop at once are killed.")

    @property
    def stopping(self) -> bool:
        return self.stop_signals > 0

    # -- start-up steps -----------------------------------------------------------------
    def begin(self, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start a start-up command: its stdout is read by :meth:`finish`, its stderr goes to
        the setup log."""
        log = self.log("setup")
        process = subprocess.Popen(  # noqa: S603
            argv,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log if log is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_runner,  # noqa: PLW1509
        )
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        return process

    def finish(self, process: subprocess.Popen[bytes], name: str) -> tuple[int, str]:
        """Wait for a start-up command (or Ctrl-C): its exit status and output."""
        assert process.stdout is not None
        out: list[bytes] = []
        while True:
            chunk = process.stdout.read()
            if chunk:
                out.append(chunk)
            if process.poll() is not None:
                rest = process.stdout.read()
                if rest:
                    out.append(rest)
                break
            if self.stopping:
                _signal_group(process.pid, signal.SIGTERM)
                process.wait()
                raise Stopped
            time.sleep(0.05)
        text = b"".join(out).decode("utf-8", "replace").strip()
        log = self.log("setup")
        if log is not None and text:
            log.write(f"== {name}\n{text}\n".encode())
            log.flush()
        return process.returncode, text

    def step(self, argv: list[str], name: str) -> tuple[int, str]:
        return self.finish(self.begin(argv), name)

    def fail(self, what: str, output: str) -> int:
        self.say(f"{what} failed.")
        lines = output.splitlines()[-15:]
        for line in lines:
            self.say(f"  {line}")
        if not self.to_console:
            self.say(f"The whole output is in {self.where(self.log_dir / 'setup.log')}.")
        return 1

    def port_in_use(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                return True
        return False

    def start_up(self) -> int | None:
        """The one-line steps before the children start; an exit code if the run ends here."""
        if self.port_in_use():
            self.say(
                f"Port {self.port} is already in use (another `make run`?). Stop that program, "
                f"or start on another port: PORT={self.port + 1} make run"
            )
            return 1
        self.instance.mkdir(parents=True, exist_ok=True)
        if not self.env.get("REDIS_URL"):
            self.redis = EmbeddedRedis(self.instance)
            self.env["REDIS_URL"] = self.redis.start(own_session=True, preexec_fn=_die_with_runner)
            self.say(f"Redis: embedded, on {self.where(self.redis.socket)}.")
        else:
            self.say("Redis: the server at REDIS_URL.")

        # The PDF check needs neither the database nor Redis: it runs meanwhile.
        pdf_check = self.begin([str(BIN / "python"), "-m", "workers.pdf_check"])
        try:
            code, out = self.step([*FLASK, "db", "upgrade"], "flask db upgrade")
            if code:
                return self.fail("Applying the database migrations", out)
            database = (
                "DATABASE_URL"
                if self.env.get("DATABASE_URL")
                else self.where(self.instance / "portal.db")
            )
            self.say(f"Database: {database}, migrations applied.")

            code, out = self.step([*FLASK, "demo", "load", "--no-logins"], "flask demo load")
            if code:
                return self.fail("Loading the demo data", out)
            # The line of `flask demo load` saying how many trials it loaded, and from where.
            self.say(out.splitlines()[-1] if out else "Demo data loaded.")

            code, out = self.finish(pdf_check, "PDF check")
            self.say(out.splitlines()[-1] if out else "The PDF check printed nothing.")
            if code:
                self.say("The worker could not make certificates here: nothing was started.")
                return 1
        finally:
            if pdf_check.poll() is None:  # the run ended before it did
                _signal_group(pdf_check.pid, signal.SIGKILL)
                pdf_check.wait()
        return None

    # -- children -----------------------------------------------------------------------
    def wait_until_healthy(self) -> str:
        """Poll /healthz until it answers 200 (the worker's first heartbeat is in)."""
        deadline = time.monotonic() + HEALTHY_WITHIN
        last = "no answer"
        while time.monotonic() < deadline and not self.stopping:
            if self.children[0].process and self.children[0].process.poll() is not None:
                return "the web server stopped"
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return ""
            except urllib.error.HTTPError as exc:  # 503: which check fails
                with suppress(Exception):
                    checks = json.load(exc)["checks"]
                    last = ", ".join(name for name, check in checks.items() if not check["ok"])
                    last = f"not yet healthy: {last}"
            except OSError:
                pass
            time.sleep(0.25)
        return last

    def banner(self) -> None:
        logs = (
            "Logs of the web server, worker and scheduler: here (RUN_LOG_TO_CONSOLE)."
            if self.to_console
            else f"Logs: {self.where(self.log_dir)}/ (web.log, worker.log, scheduler.log)."
        )
        self.say(logs)
        self.say("Press Ctrl-C to stop the portal, its worker, scheduler and Redis.")
        self.say("")
        self.say(f"Trial Transparency Portal: {self.url}/")
        self.say(f"Demo logins (password for every one: {DEMO_PASSWORD}):")
        width = max(len(role) for role in DEMO_USERS) + 2
        for role, (email, _name, _org_role) in DEMO_USERS.items():
            self.say(f"  {role.replace('_', ' '):<{width}}{email}")

    def supervise(self) -> int:
        """Until Ctrl-C: restart a dead worker or scheduler; end if the web server dies."""
        next_sweep = time.monotonic() + SWEEP_SECONDS
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                process = child.process
                if process is not None and process.poll() is not None:
                    how = _describe_exit(process.returncode)
                    self.clear_group(child)
                    child.process = None
                    if child.essential:
                        self.say(f"The {child.label} stopped ({how}): stopping the portal.")
                        return 1
                    delay = child.next_delay()
                    child.restarts += 1
                    child.restart_at = now + delay
                    self.say(
                        f"The {child.label} stopped ({how}); starting it again in {delay:.0f} s "
                        f"(restart {child.restarts})."
                    )
                elif process is None and child.restart_at is not None and now >= child.restart_at:
                    child.start(self.env, self.log(child.name))
                    self.say(f"The {child.label} is running again (pid {child.process.pid}).")
            if self.sweeper is not None and self.sweeper.poll() is not None:
                self.sweeper = None
            if now >= next_sweep and self.sweeper is None:
                self.sweeper = subprocess.Popen(  # noqa: S603
                    [*FLASK, "jobs", "sweep"],
                    env=self.env,
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=self.log("sweep") or subprocess.DEVNULL,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_runner,  # noqa: PLW1509
                )
                next_sweep = now + SWEEP_SECONDS
            time.sleep(0.2)
        return 0

    def clear_group(self, child: Child, timeout: float = 2.0) -> None:
        """Stop whatever is left of a child's process group once its leader is gone."""
        if child.process is None:
            return
        pgid = child.process.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not _group_members(pgid):
                return
            _signal_group(pgid, sig)
            deadline = time.monotonic() + (0.5 if self.stop_signals > 1 else timeout)
            while _group_members(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def stop_child(self, child: Child) -> None:
        process = child.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            timeout = 0.5 if self.stop_signals > 1 else child.stop_timeout
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                if child.name == "worker":  # a second SIGTERM: RQ's cold shutdown
                    process.send_signal(signal.SIGTERM)
                    with suppress(subprocess.TimeoutExpired):
                        process.wait(3)
                if process.poll() is None:
                    self.say(f"The {child.label} did not stop in time; killing it.")
                    _signal_group(process.pid, signal.SIGKILL)
                    process.wait()
        self.clear_group(child)

    def shut_down(self) -> None:
        if self.sweeper is not None and self.sweeper.poll() is None:
            _signal_group(self.sweeper.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.sweeper.wait(5)
        for child in self.children:
            self.stop_child(child)
        if self.redis is not None:
            self.redis.stop()
        for log in self.logs.values():
            log.close()

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.on_signal)
        code = 1
        try:
            code = self.start_up()
            if code is not None:
                return code
            for child in self.children[1:] + self.children[:1]:  # the web server last
                child.start(self.env, self.log(child.name))
            problem = self.wait_until_healthy()
            if self.stopping:
                raise Stopped
            if problem:
                self.say(f"The portal is up, but {problem} (see /healthz).")
            self.banner()
            code = self.supervise()
            return code
        except Stopped:
            return 0
        finally:
            if self.stopping:
                self.say("Stopping the web server, worker, scheduler and Redis...")
            self.shut_down()
            self.say("Stopped.")


def main() -> int:
    return Runner().run()


if __name__ == "__main__":
    sys.exit(main())
