"""Load benchmark (not a test): N concurrent users mixing the portal's journeys against
gunicorn (2 workers x 8 threads) on loopback, with PostgreSQL and Redis, then a sign-in burst,
then the same client against a bare-Flask floor under the same gunicorn settings.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60] [--burst 50] [--floor-seconds 20]
                                   [--profile] [--database-url URL]

It creates a fresh PostgreSQL database on the TEST_DATABASE_URL server (default
postgresql://postgres@127.0.0.1:5432/test), migrates it, loads the demo data (real registry
samples), starts gunicorn and one RQ worker on 127.0.0.1, and runs simulated users in threads:
each signs in (a sponsor, the compliance officer or the reviewer) and loops over the pages of its
journeys (dashboard, trial pages, find, calendar, review queue, audit log, certificate request).

Phases, all timed by the same client (urllib, a new connection per request, no think time):
1. steady: every user loops for --seconds. Printed: requests/s, errors, p50/p95 per page, and the
   CPU the gunicorn workers spent per request (their utime+stime from /proc, per 5-second
   window; the median window and the whole phase).
2. burst: --burst new browsers sign in at once (scrypt, deliberately slow) while the users keep
   looping. Printed: p95 of the other pages during the burst against their steady p95, and how
   many sign-ins were asked to wait (503 with Retry-After, which the client honours).
3. signed-in floor: the same accounts, signed in, fetch the same fixed 30 KB page from the
   portal's own app (bench/signed_in_floor.py: one extra route behind the portal's signed-in
   policy) for --floor-seconds: the least any signed-in page can cost here, even a cached one.
4. floor: the same users fetch a fixed 30 KB page from bench/floor_app.py under the same
   gunicorn settings for --floor-seconds. Printed: its requests/s and CPU per request, and the
   portal's throughput as a fraction of it; then the three CPU figures side by side.

--profile serves the portal through bench/profiled_wsgi.py (cProfile on every request) and prints
the top functions by own time and by cumulative time (the throughput figures are then not
comparable). Traffic goes to 127.0.0.1 only and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import pstats
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TRIAL_LINK = re.compile(r'href="/trials/(\d+)"')
TICKS = os.sysconf("SC_CLK_TCK")


class Recorder:
    """Latencies and errors per phase and page; the phase changes while users keep going."""

    def __init__(self) -> None:
        self.phase = "warm-up"
        self.stats: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.errors: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.signed_in = 0

    def add(self, label: str, elapsed: float, status: int) -> None:
        with self.lock:
            self.stats[self.phase][label].append(elapsed)
            if status >= 400:
                self.errors[self.phase][label].append(status)

    def count(self, phase: str) -> int:
        with self.lock:
            return sum(len(v) for v in self.stats[phase].values())


class User:
    def __init__(self, base: str, email: str, password: str, rec: Recorder) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.email, self.password = email, password
        self.rec = rec

    def fetch(self, path: str, data: dict | None = None) -> tuple[int, str, dict, float]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        started = time.perf_counter()
        headers: dict = {}
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as response:  # noqa: S310
                text = response.read().decode("utf-8", "replace")
                status, headers = response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            status, headers = exc.code, dict(exc.headers)
        except Exception as exc:  # connection refused, timeout
            text, status = str(exc), 599
        return status, text, headers, time.perf_counter() - started

    def request(self, label: str, path: str, data: dict | None = None) -> str:
        status, text, _headers, elapsed = self.fetch(path, data)
        self.rec.add(label, elapsed, status)
        return text

    def login(self) -> int:
        """Sign in; a 503 'busy' answer is honoured (wait Retry-After, try again). Returns how
        many times the portal asked to wait."""
        waits = 0
        while not self.rec.stop.is_set():
            status, page, _h, elapsed = self.fetch("/login")
            self.rec.add("GET /login", elapsed, status)
            token = CSRF.search(page)
            if token is None:
                time.sleep(0.5)
                continue
            form = {"csrf_token": token.group(1), "email": self.email, "password": self.password}
            status, _text, headers, elapsed = self.fetch("/login", form)
            if status == 503 and "Retry-After" in headers:
                self.rec.add("POST /login (asked to wait)", elapsed, 200)
                waits += 1
                time.sleep(float(headers["Retry-After"]) * random.uniform(0.5, 1.5))
                continue
            self.rec.add("POST /login", elapsed, status)
            break
        return waits


def sponsor_loop(user: User, rng: random.Random) -> None:
    while not user.rec.stop.is_set():
        page = user.request("GET /trials", "/trials")
        ids = TRIAL_LINK.findall(page)
        if ids:
            trial = rng.choice(ids)
            user.request("GET /trials/<id>", f"/trials/{trial}")
            if rng.random() < 0.2:
                form = user.request("GET /trials/<id>/facts", f"/trials/{trial}/facts")
                match = CSRF.search(form)
                if match:
                    user.request(
                        "POST /trials/<id>/facts",
                        f"/trials/{trial}/facts",
                        {"csrf_token": match.group(1), "iras_id": str(rng.randint(10000, 99999))},
                    )
        user.request(
            "GET /trials/find", "/trials/find?q=" + rng.choice(["cancer", "NCT0", "trial"])
        )
        user.request("GET /trials/calendar", "/trials/calendar")
        if rng.random() < 0.3:
            user.request("GET /trials?filters", "/trials?status=overdue&sort=due")


def officer_loop(user: User, rng: random.Random) -> None:
    while not user.rec.stop.is_set():
        user.request("GET /trials", "/trials")
        user.request("GET /trials/export.csv", "/trials/export.csv")
        user.request("GET /audit", "/audit")
        user.request("GET /reports", "/reports")


def reviewer_loop(user: User, rng: random.Random) -> None:
    while not user.rec.stop.is_set():
        user.request("GET /review/queue", "/review/queue")
        user.request("GET /review/claims", "/review/claims")
        page = user.request("GET /trials (reviewer)", "/trials?page=" + str(rng.randint(1, 5)))
        ids = TRIAL_LINK.findall(page)
        if ids:
            user.request("GET /trials/<id>", f"/trials/{rng.choice(ids)}")
        user.request("GET /audit", "/audit")


def floor_loop(user: User, rng: random.Random) -> None:
    while not user.rec.stop.is_set():
        user.request("GET / (floor)", "/")


def signed_in_floor_loop(user: User, rng: random.Random) -> None:
    while not user.rec.stop.is_set():
        user.request("GET signed-in floor", "/bench/signed-in-floor")


def worker_pids(master: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{master}/task").iterdir():
        pids += [int(x) for x in (task / "children").read_text().split()]
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_healthy(base: str, path: str = "/healthz") -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(base + path, timeout=2)  # noqa: S310
            return
        except Exception:
            time.sleep(0.3)
    raise RuntimeError(f"{base} did not start")


def gunicorn(port: int, app: str, env: dict, log) -> subprocess.Popen:
    command = [str(ROOT / ".venv/bin/gunicorn"), "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "2", "--threads", "8", "--timeout", "60", app]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.95))] if values else float("nan")


def measure(rec: Recorder, phase: str, master: int, seconds: float) -> list[float]:
    """Run ``phase`` for ``seconds``; CPU ms per request of each 5-second window."""
    pids = worker_pids(master)
    rec.phase = phase
    windows = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        cpu0, n0 = cpu_seconds(pids), rec.count(phase)
        time.sleep(min(5.0, left))
        cpu1, n1 = cpu_seconds(pids), rec.count(phase)
        if n1 > n0 and min(5.0, left) >= 2.5:
            windows.append((cpu1 - cpu0) * 1000 / (n1 - n0))
    return windows


def print_phase(rec: Recorder, phase: str, seconds: float, windows: list[float]) -> float:
    stats, errors = rec.stats[phase], rec.errors[phase]
    total = sum(len(v) for v in stats.values())
    failed = sum(len(v) for v in errors.values())
    print(f"requests: {total}  ({total / seconds:.1f}/s)   errors: {failed}")
    if windows:
        print(
            f"gunicorn workers' CPU per request: median {statistics.median(windows):.2f} ms "
            f"over {len(windows)} windows of 5 s (min {min(windows):.2f}, max {max(windows):.2f})"
        )
    print(f"{'page':32} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  errors")
    for label in sorted(stats):
        values = sorted(stats[label])
        print(
            f"{label:32} {len(values):7d} {statistics.median(values) * 1000:8.0f} "
            f"{p95(values) * 1000:8.0f} {values[-1] * 1000:8.0f}  {errors.get(label, [])[:5]}"
        )
    return total / seconds


def print_profile(directory: Path) -> None:
    files = sorted(directory.glob("worker-*.prof"))
    if not files:
        print("no profile written (fewer than 100 requests per worker?)")
        return
    stats = pstats.Stats(*map(str, files))
    stats.strip_dirs()
    print("\nProfile (cProfile, all requests of both workers): top by own time")
    stats.sort_stats("tottime").print_stats(25)
    print("top by cumulative time")
    stats.sort_stats("cumulative").print_stats(40)


def burst(rec: Recorder, base: str, n: int) -> tuple[float, int]:
    """``n`` new browsers sign in at once; returns (seconds until all signed in, waits)."""
    waits: list[int] = []
    ready = threading.Barrier(n + 1)

    def one(k: int) -> None:
        user = User(base, ["sponsor@demo-trust.example", "officer@demo-trust.example"][k % 2],
                    "demo-password", rec)  # fmt: skip
        ready.wait()
        waits.append(user.login())

    threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in range(n)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join(120)
    return time.monotonic() - started, sum(waits)


def start_users(
    rec: Recorder, base: str, users: int, floor: bool, signed_in_floor: bool = False
) -> list[threading.Thread]:
    """The simulated users: the portal's journeys, the bare floor (``floor``) or, with
    ``signed_in_floor``, the same accounts signed in to the signed-in floor's one page."""
    threads = []
    for n in range(users):
        kind = n % 10
        if floor:
            user, loop = User(base, "", "", rec), floor_loop
        elif signed_in_floor:
            email = ["sponsor", "officer", "reviewer"][0 if kind < 6 else 1 if kind < 8 else 2]
            domain = "hra.example" if email == "reviewer" else "demo-trust.example"
            user = User(base, f"{email}@{domain}", "demo-password", rec)
            loop = signed_in_floor_loop
        elif kind < 6:
            user = User(base, "sponsor@demo-trust.example", "demo-password", rec)
            loop = sponsor_loop
        elif kind < 8:
            user = User(base, "officer@demo-trust.example", "demo-password", rec)
            loop = officer_loop
        else:
            user, loop = User(base, "reviewer@hra.example", "demo-password", rec), reviewer_loop

        def run(user=user, loop=loop, seed=n) -> None:
            if not floor:
                user.login()
            with rec.lock:
                rec.signed_in += 1
            loop(user, random.Random(seed))

        thread = threading.Thread(target=run, daemon=True)
        threads.append(thread)
        thread.start()
    return threads


def run_floor(args, base: str, env: dict, log, app: str, signed_in: bool = False):
    """Serve ``app`` under the same gunicorn settings and run the same client against it for
    --floor-seconds. Returns (the arguments of print_phase, median CPU ms per request)."""
    rec = Recorder()
    procs = [gunicorn(int(base.rsplit(":", 1)[1]), app, env, log)]
    try:
        # The RQ worker has stopped by now, so the portal's /healthz would answer 503.
        wait_healthy(base, "/login" if signed_in else "/healthz")
        threads = start_users(rec, base, args.users, floor=not signed_in, signed_in_floor=signed_in)
        until = time.monotonic() + 120
        while rec.signed_in < args.users and time.monotonic() < until:
            time.sleep(0.2)
        time.sleep(2)
        windows = measure(rec, "steady", procs[0].pid, args.floor_seconds)
        rec.stop.set()
        for thread in threads:
            thread.join(60)
    finally:
        rec.stop.set()
        stop(procs)
    median = statistics.median(windows) if windows else float("nan")
    return (rec, "steady", args.floor_seconds, windows), median


@contextmanager
def demo_database(server_url: str, name: str, env: dict) -> Iterator[tuple[dict, str]]:
    """A private database on the PostgreSQL server at ``server_url``, migrated and loaded with the
    demo data through the portal's own commands; yields ``env`` with its DATABASE_URL and the demo
    load's first line. Dropped on exit."""
    from tests.conftest import private_postgres_database

    with private_postgres_database(server_url, name) as url:
        env = {**env, "DATABASE_URL": url}
        flask = [str(ROOT / ".venv/bin/flask"), "--app", "portal"]
        subprocess.run([*flask, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603
        demo = subprocess.run(  # noqa: S603
            [*flask, "demo", "load"], env=env, check=True, capture_output=True, text=True
        )
        yield env, demo.stdout.splitlines()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--floor-seconds", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", ""))
    args = parser.parse_args()

    from portal.redis_embedded import EmbeddedRedis
    from tests.conftest import SECRET

    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"portal-load-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    profile_dir = workdir / "profile"
    profile_dir.mkdir(exist_ok=True)
    redis = None
    redis_url = args.redis_url
    if not redis_url:
        redis = EmbeddedRedis(workdir)
        redis_url = redis.start()
    port = 5600 + os.getpid() % 300
    base = f"http://127.0.0.1:{port}"
    print(f"load average at start: {load_average()} ({os.cpu_count()} cores)")
    settings = {
        **os.environ,
        "PORTAL_ENV": "test",
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(workdir),
        "PUBLIC_URL": base,
        "LOGIN_RATE_LIMIT": "100000 per minute",
        "BENCH_PROFILE_DIR": str(profile_dir),
    }
    with demo_database(args.database_url, f"bench_load_{os.getpid()}", settings) as (env, demo):
        print(demo)
        flask = [str(ROOT / ".venv/bin/flask"), "--app", "portal"]
        log = (workdir / "server.log").open("wb")
        app = "bench.profiled_wsgi:app" if args.profile else "wsgi:app"
        worker = subprocess.Popen(  # noqa: S603
            [*flask, "worker"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        procs = [gunicorn(port, app, env, log), worker]
        rec = Recorder()
        try:
            wait_healthy(base)
            users = start_users(rec, base, args.users, floor=False)
            until = time.monotonic() + 120  # the users sign in (a burst of its own)
            while rec.signed_in < args.users and time.monotonic() < until:
                time.sleep(0.2)
            time.sleep(2)  # and warm up
            (profile_dir / "on").touch()
            windows = measure(rec, "steady", procs[0].pid, args.seconds)
            load_steady = load_average()
            rec.phase = "burst"
            took, waits = burst(rec, base, args.burst) if args.burst else (0.0, 0)
            rec.phase = "after"
            rec.stop.set()
            for thread in users:
                thread.join(60)
            print(
                f"\n{args.users} users for {args.seconds} s against gunicorn "
                f"(2 workers x 8 threads), PostgreSQL and Redis; load average {load_steady}"
            )
            portal_rate = print_phase(rec, "steady", args.seconds, windows)
            failed = sum(len(v) for v in rec.errors["steady"].values())
            if args.burst:
                print(
                    f"\nsign-in burst: {args.burst} browsers signing in at once while the "
                    f"{args.users} users keep going: all signed in after {took:.1f} s, "
                    f"asked to wait {waits} times"
                )
                others = [v for k, vs in rec.stats["burst"].items() if "login" not in k for v in vs]
                steady = [
                    v for k, vs in rec.stats["steady"].items() if "login" not in k for v in vs
                ]
                print(
                    f"other pages' p95 during the burst {p95(others) * 1000:.0f} ms "
                    f"({len(others)} requests) against steady p95 {p95(steady) * 1000:.0f} ms: "
                    f"{p95(others) / p95(steady):.2f}x (target <= 2x)"
                )
                burst_errors = {k: v[:5] for k, v in rec.errors["burst"].items() if v}
                failed += sum(len(v) for v in rec.errors["burst"].values())
                print(f"errors during the burst: {burst_errors or 'none'}")
            if args.profile:
                stop(procs[:1])
                procs = procs[1:]
                print_profile(profile_dir)
            stop(procs)
            procs = []
            if args.floor_seconds:
                cpu = {"portal": statistics.median(windows) if windows else float("nan")}
                rate, cpu["signed-in floor"] = run_floor(
                    args, base, env, log, "bench.signed_in_floor:app", signed_in=True
                )
                print(
                    f"\nsigned-in floor: the portal's own app answering the same fixed 30 KB "
                    f"page to the same signed-in accounts, with no page work (the session, the "
                    f"live-session and user query, the CSRF, rate-limit and header hooks), same "
                    f"gunicorn settings and client, {args.users} users for {args.floor_seconds} "
                    f"s; load average {load_average()}"
                )
                print_phase(*rate)
                floor_rate, cpu["floor"] = run_floor(args, base, env, log, "bench.floor_app:app")
                print(
                    f"\nfloor: a bare Flask app's fixed 30 KB page, same gunicorn settings and "
                    f"client, {args.users} users for {args.floor_seconds} s; "
                    f"load average {load_average()}"
                )
                floor_rate = print_phase(*floor_rate)
                print(
                    f"\nportal {portal_rate:.0f} req/s = {portal_rate / floor_rate:.3f}x the "
                    f"floor's {floor_rate:.0f} req/s (targets: >= 400 req/s and >= 0.15x)"
                )
                print(
                    "median CPU per request: "
                    + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items())
                    + " (target for the portal: <= 3 ms)"
                )
            return 1 if failed else 0
        finally:
            rec.stop.set()
            stop(procs)
            log.close()
            if redis:
                redis.stop()


if __name__ == "__main__":
    sys.exit(main())
