"""Page cost benchmark (not a test): the CPU each page of bench/load.py's journeys costs in one
process, through the Flask test client, on a fresh PostgreSQL database with the demo data.

    .venv/bin/python bench/page_cost.py [--requests 40] [--writes 30] [--database-url URL]

bench/load.py measures the gunicorn workers' CPU per request over the whole mix; this says which
page it goes to (issue 22). For each page of the mix (as the sponsor, the compliance officer or
the reviewer) it prints the median CPU of --requests requests after 5 warm-up ones, the CPU of
saving the sponsor's facts form (the mix's only write, without and with the trial page it
redirects to), and the least a signed-in request costs here: the portal's own app answering a
fixed page behind its signed-in policy (bench/signed_in_floor.py). CPU is this process's
(time.process_time), so it includes the database driver's and the test client's share, not
PostgreSQL's or Redis's own.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import CSRF, TRIAL_LINK, demo_database  # noqa: E402

WARM_UP = 5


def cpu_ms(client, path: str) -> float:
    started = time.process_time()
    get(client, path)
    return (time.process_time() - started) * 1000


def get(client, path: str, expected: int = 200) -> str:
    response = client.get(path)
    text = response.get_data(as_text=True)  # a streamed body (the CSV) is read here, in full
    response.close()
    if response.status_code != expected:
        raise SystemExit(f"GET {path} answered {response.status_code}, not {expected}")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()

    from portal.redis_embedded import EmbeddedRedis
    from tests.conftest import SECRET

    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"portal-page-cost-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    redis = None
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    if not redis_url:
        redis = EmbeddedRedis(workdir)
        redis_url = redis.start()
    settings = {
        "PORTAL_ENV": "test",
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(workdir),
        "LOGIN_RATE_LIMIT": "100000 per minute",
    }
    try:
        name = f"bench_pages_{os.getpid()}"
        with demo_database(args.database_url, name, {**os.environ, **settings}) as (env, _):
            os.environ.update(env)
            run(args)
    finally:
        if redis is not None:
            redis.stop()
    return 0


def run(args) -> None:
    from bench.signed_in_floor import PATH as FLOOR
    from bench.signed_in_floor import app

    def client(email: str):
        browser = app.test_client()
        token = CSRF.search(get(browser, "/login")).group(1)
        form = {"csrf_token": token, "email": email, "password": "demo-password"}
        if browser.post("/login", data=form).status_code != 302:
            raise SystemExit(f"{email} could not sign in")
        return browser

    sponsor = client("sponsor@demo-trust.example")
    officer = client("officer@demo-trust.example")
    reviewer = client("reviewer@hra.example")
    trial = TRIAL_LINK.search(get(sponsor, "/trials")).group(1)
    pages = [
        ("sponsor", sponsor, "/trials"),
        ("sponsor", sponsor, f"/trials/{trial}"),
        ("sponsor", sponsor, f"/trials/{trial}/facts"),
        ("sponsor", sponsor, "/trials/find?q=cancer"),
        ("sponsor", sponsor, "/trials/calendar"),
        ("sponsor", sponsor, "/trials?status=overdue&sort=due"),
        ("officer", officer, "/trials"),
        ("officer", officer, "/trials/export.csv"),
        ("officer", officer, "/audit"),
        ("officer", officer, "/reports"),
        ("reviewer", reviewer, "/review/queue"),
        ("reviewer", reviewer, "/review/claims"),
        ("reviewer", reviewer, "/trials?page=2"),
        ("reviewer", reviewer, f"/trials/{trial}"),
        ("reviewer", reviewer, "/audit"),
        ("signed-in floor", sponsor, FLOOR),
    ]
    print(f"CPU per request in one process, median of {args.requests} after {WARM_UP} warm-up")
    print(f"{'who':16s} {'page':40s} {'median ms':>9s} {'min ms':>7s}")
    for who, browser, path in pages:
        times = [cpu_ms(browser, path) for _ in range(WARM_UP + args.requests)]
        times = times[WARM_UP:]
        print(f"{who:16s} {path:40s} {statistics.median(times):9.2f} {min(times):7.2f}")

    rng = random.Random(22)
    alone, with_page = [], []
    for k in range(WARM_UP + args.writes):
        token = CSRF.search(get(sponsor, f"/trials/{trial}/facts")).group(1)
        form = {"csrf_token": token, "iras_id": str(rng.randint(10000, 99999))}
        started = time.process_time()
        response = sponsor.post(f"/trials/{trial}/facts", data=form)
        saved = time.process_time()
        if response.status_code != 302:
            raise SystemExit(f"saving the facts answered {response.status_code}, not 302")
        get(sponsor, response.headers["Location"])
        ended = time.process_time()
        if k >= WARM_UP:
            alone.append((saved - started) * 1000)
            with_page.append((ended - started) * 1000)
    print(
        f"{'sponsor':16s} {'POST facts (the write)':40s} {statistics.median(alone):9.2f} "
        f"{min(alone):7.2f}"
    )
    print(
        f"{'sponsor':16s} {'POST facts + the page it redirects to':40s} "
        f"{statistics.median(with_page):9.2f} {min(with_page):7.2f}"
    )


if __name__ == "__main__":
    sys.exit(main())
