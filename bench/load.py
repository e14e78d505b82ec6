"""Load benchmark (not a test): N concurrent users mixing the portal's journeys against
gunicorn (2 workers) on loopback, with PostgreSQL and Redis, for a bounded time.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60] [--database-url URL]

It creates a fresh PostgreSQL database on the TEST_DATABASE_URL server (default
postgresql://postgres@127.0.0.1:5432/test), migrates it, loads the demo data (real registry
samples), starts gunicorn and one RQ worker on 127.0.0.1, and runs simulated users in threads:
each signs in (a sponsor, the compliance officer or the reviewer) and loops over the pages of its
journeys (dashboard, trial pages, find, calendar, review queue, audit log, certificate request).
It prints the request count, errors, and p50/p95 latency per page, then stops everything and
drops the database. Traffic goes to 127.0.0.1 only and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TRIAL_LINK = re.compile(r'href="/trials/(\d+)"')


class User:
    def __init__(self, base: str, email: str, password: str, stats, errors, lock) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.email, self.password = email, password
        self.stats, self.errors, self.lock = stats, errors, lock

    def request(self, label: str, path: str, data: dict | None = None) -> str:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        started = time.perf_counter()
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as response:  # noqa: S310
                text = response.read().decode("utf-8", "replace")
                status = response.status
        except urllib.error.HTTPError as exc:
            text, status = exc.read().decode("utf-8", "replace"), exc.code
        except Exception as exc:  # connection refused, timeout
            text, status = str(exc), 599
        elapsed = time.perf_counter() - started
        with self.lock:
            self.stats[label].append(elapsed)
            if status >= 400:
                self.errors[label].append(status)
        return text

    def login(self) -> None:
        page = self.request("GET /login", "/login")
        token = CSRF.search(page).group(1)
        self.request(
            "POST /login",
            "/login",
            {"csrf_token": token, "email": self.email, "password": self.password},
        )


def sponsor_loop(user: User, deadline: float, rng: random.Random) -> None:
    user.login()
    while time.monotonic() < deadline:
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


def officer_loop(user: User, deadline: float, rng: random.Random) -> None:
    user.login()
    while time.monotonic() < deadline:
        user.request("GET /trials", "/trials")
        user.request("GET /trials/export.csv", "/trials/export.csv")
        user.request("GET /audit", "/audit")
        user.request("GET /reports", "/reports")


def reviewer_loop(user: User, deadline: float, rng: random.Random) -> None:
    user.login()
    while time.monotonic() < deadline:
        user.request("GET /review/queue", "/review/queue")
        user.request("GET /review/claims", "/review/claims")
        page = user.request("GET /trials (reviewer)", "/trials?page=" + str(rng.randint(1, 5)))
        ids = TRIAL_LINK.findall(page)
        if ids:
            user.request("GET /trials/<id>", f"/trials/{rng.choice(ids)}")
        user.request("GET /audit", "/audit")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", ""))
    args = parser.parse_args()

    from portal.redis_embedded import EmbeddedRedis
    from tests.conftest import SECRET, private_postgres_database

    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"portal-load-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    redis = None
    redis_url = args.redis_url
    if not redis_url:
        redis = EmbeddedRedis(workdir)
        redis_url = redis.start()
    port = 5600 + os.getpid() % 300
    base = f"http://127.0.0.1:{port}"
    with private_postgres_database(args.database_url, f"bench_load_{os.getpid()}") as url:
        env = {
            **os.environ,
            "PORTAL_ENV": "test",
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET,
            "INSTANCE_PATH": str(workdir),
            "PUBLIC_URL": base,
            "LOGIN_RATE_LIMIT": "100000 per minute",
        }
        flask = [str(ROOT / ".venv/bin/flask"), "--app", "portal"]
        subprocess.run([*flask, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603
        print(
            subprocess.run(
                [*flask, "demo", "load"],
                env=env,
                check=True,  # noqa: S603
                capture_output=True,
                text=True,
            ).stdout.splitlines()[0]
        )
        log = (workdir / "server.log").open("wb")
        procs = [
            subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/gunicorn"),
                    "--bind",
                    f"127.0.0.1:{port}",  # noqa: S603
                    "--workers",
                    "2",
                    "--threads",
                    "8",
                    "--timeout",
                    "60",
                    "wsgi:app",
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [*flask, "worker"],
                env=env,
                cwd=ROOT,
                stdout=log,  # noqa: S603
                stderr=subprocess.STDOUT,
            ),
        ]
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=2)  # noqa: S310
                    break
                except Exception:
                    time.sleep(0.3)
            stats: dict[str, list[float]] = defaultdict(list)
            errors: dict[str, list[int]] = defaultdict(list)
            lock = threading.Lock()
            deadline = time.monotonic() + args.seconds
            threads = []
            for n in range(args.users):
                kind = n % 10
                if kind < 6:
                    user = User(
                        base, "sponsor@demo-trust.example", "demo-password", stats, errors, lock
                    )
                    loop = sponsor_loop
                elif kind < 8:
                    user = User(
                        base, "officer@demo-trust.example", "demo-password", stats, errors, lock
                    )
                    loop = officer_loop
                else:
                    user = User(base, "reviewer@hra.example", "demo-password", stats, errors, lock)
                    loop = reviewer_loop
                thread = threading.Thread(
                    target=loop, args=(user, deadline, random.Random(n)), daemon=True
                )
                threads.append(thread)
                thread.start()
            for thread in threads:
                thread.join(args.seconds + 60)
            total = sum(len(v) for v in stats.values())
            failed = sum(len(v) for v in errors.values())
            print(
                f"\n{args.users} users for {args.seconds} s against gunicorn "
                f"(2 workers x 8 threads), PostgreSQL and Redis ({os.cpu_count()} cores)"
            )
            print(f"requests: {total}  ({total / args.seconds:.1f}/s)   errors: {failed}")
            print(f"{'page':32} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  errors")
            for label in sorted(stats):
                values = sorted(stats[label])
                p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
                print(
                    f"{label:32} {len(values):7d} {statistics.median(values) * 1000:8.0f} "
                    f"{p95 * 1000:8.0f} {values[-1] * 1000:8.0f}  {errors.get(label, [])[:5]}"
                )
            return 1 if failed else 0
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            log.close()
            if redis:
                redis.stop()


if __name__ == "__main__":
    sys.exit(main())
