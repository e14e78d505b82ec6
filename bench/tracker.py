"""Benchmark: the public tracker over the 500,000-trial benchmark database (issue 21).

    .venv/bin/python bench/tracker.py [--n 500000] [--sponsors N] [--requests 200] [--keep]
                                      [--reuse [--skip-recompute]]

Builds the benchmark data exactly as bench/rules.py does (its ``load_trials``: N synthetic
trials, registry entries and sponsor facts COPYed into PostgreSQL, in a database of our own,
``bench_tracker``, on the TEST_DATABASE_URL server), optionally spreads the trials over
``--sponsors`` sponsor names (bench/rules.py gives 997), then times:

* the tracker's recompute (``flask tracker recompute``: every trial's registry-only verdicts
  and every sponsor's figures, one transaction);
* ``GET /tracker`` (the league table: every sort key, both orders, first, middle and last
  pages), server side through the WSGI app, p50 / p95 / max;
* ``GET /tracker/sponsors.csv`` (every sponsor, streamed) from request to last byte.

Targets (issue 21): league table p95 <= 200 ms, the CSV of all sponsors in <= 5 s. Prints the
figures and the load average; not a test. Drops the database unless --keep.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = date(2027, 8, 1)


def _rules_bench():
    spec = importlib.util.spec_from_file_location("bench_rules", ROOT / "bench" / "rules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.DB_NAME = "bench_tracker"  # never the database bench/rules.py uses
    return module


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _database_url(rules) -> str:
    import sqlalchemy as sa

    from portal.config import normalise_database_url

    url = sa.make_url(normalise_database_url(rules._server_url())).set(database=rules.DB_NAME)
    return url.render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--sponsors", type=int, default=None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="use the kept database as it is")
    parser.add_argument("--skip-recompute", action="store_true", help="with --reuse")
    args = parser.parse_args()
    rules = _rules_bench()
    instance = Path(tempfile.mkdtemp(prefix="bench-tracker-"))
    print(f"Tracker benchmark, {args.n:,} trials ({_load()})")
    if args.reuse:
        url = _database_url(rules)
    else:
        t0 = time.perf_counter()
        url = rules.create_database()
        rules.migrate(url, instance)
        rules.load_trials(url, args.n)
        print(f"  built the benchmark database in {time.perf_counter() - t0:.0f} s ({_load()})")

    from portal import create_app
    from portal.extensions import db

    app = create_app(env=rules._env(url, instance))
    with app.app_context():
        import sqlalchemy as sa

        if args.sponsors and not args.reuse:
            db.session.execute(
                sa.text("UPDATE trials SET sponsor_name = 'Sponsor ' || (id % :s)"),
                {"s": args.sponsors},
            )
            db.session.commit()
        if not (args.reuse and args.skip_recompute):
            from portal.services.tracker import recompute

            t0 = time.perf_counter()
            run = recompute(AS_OF)
            seconds = time.perf_counter() - t0
            print(
                f"  recompute (registry records only) as of {AS_OF}: {run.trials:,} trials, "
                f"{run.sponsors:,} sponsors in {seconds:.0f} s "
                f"({run.trials / seconds:,.0f} trials/s; {_load()})"
            )
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE tracker_trials, tracker_sponsors"))
        sponsors = db.session.execute(sa.text("SELECT count(*) FROM tracker_sponsors")).scalar()
        db.session.remove()

    client = app.test_client()
    pages = max(1, -(-sponsors // 50))
    urls = []
    for sort in ("overdue", "percent", "due", "name", "on_time", "late", "trials"):
        for order in ("asc", "desc"):
            for page in sorted({1, 2, pages // 2 or 1, pages}):
                urls.append(f"/tracker?sort={sort}&order={order}&page={page}")
    for url_ in urls[:5]:  # warm the app (templates, connections)
        assert client.get(url_).status_code == 200
    times = []
    for i in range(args.requests):
        t0 = time.perf_counter()
        response = client.get(urls[i % len(urls)])
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    print(
        f"  GET /tracker league table ({sponsors:,} sponsors, {len(urls)} sort/page "
        f"combinations, {len(times)} requests): p50 {statistics.median(times):.1f} ms, "
        f"p95 {p95:.1f} ms, max {times[-1]:.1f} ms (target p95 <= 200 ms: "
        f"{'met' if p95 <= 200 else 'NOT met'}; {_load()})"
    )
    t0 = time.perf_counter()
    response = client.get("/tracker/sponsors.csv", buffered=False)
    first = None
    size = lines = 0
    for chunk in response.response:
        if first is None:
            first = time.perf_counter() - t0
        size += len(chunk)
        lines += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
    response.close()
    total = time.perf_counter() - t0
    print(
        f"  GET /tracker/sponsors.csv: {lines - 1:,} sponsors, {size / 1e6:.1f} MB, first bytes "
        f"after {first * 1000:.0f} ms, all in {total:.2f} s (target <= 5 s: "
        f"{'met' if total <= 5 else 'NOT met'}; {_load()})"
    )
    if not args.keep:
        with app.app_context():
            db.engine.dispose()
        rules.drop_database()


if __name__ == "__main__":
    main()
