"""API benchmark (not a test): GET /api/v1/trials, the first page and a later cursor page, for an
organisation of 5,000 trials; server-side latency (in-process, no network) and SQL queries.

    .venv/bin/python bench/api.py [--trials 5000] [--requests 200] [--database-url URL]

Creates its own database on the TEST_DATABASE_URL server (default
postgresql://postgres@127.0.0.1:5432/test), migrates it, bulk-loads the trials as
bench/dashboard.py does (registry entries and ten verdicts each), makes a token with the
service ``flask tokens create`` uses, then times requests with ``Authorization: Bearer``.
Target: p95 <= 100 ms; the SQL count must not grow with the organisation's size
(tests/api/test_api_queries.py asserts that).
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from bench.dashboard import DUTIES, load
    from portal import create_app
    from portal.extensions import db
    from portal.services import api_tokens
    from tests.conftest import SECRET, private_postgres_database
    from tests.factories import OrganisationFactory, member

    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"portal-api-{os.getpid()}"
    with private_postgres_database(args.database_url, f"bench_api_{os.getpid()}") as url:
        app = create_app(
            env={
                "PORTAL_ENV": "test",
                "DATABASE_URL": url,
                "REDIS_URL": "",
                "SECRET_KEY": SECRET,
                "INSTANCE_PATH": str(workdir),
                "RATELIMIT_ENABLED": "false",
            }
        )
        with app.app_context():
            upgrade()
            org = OrganisationFactory(name="Bench Org")
            user = member("compliance_officer", org)
            started = time.perf_counter()
            load(db, args.trials, org.id, random.Random(7))
            print(
                f"loaded {args.trials} trials with {len(DUTIES)} verdicts each "
                f"in {time.perf_counter() - started:.1f} s"
            )
            _row, raw = api_tokens.create_token(user, "bench")
            headers = {"Authorization": f"Bearer {raw}"}
            client = app.test_client()
            first = client.get("/api/v1/trials?limit=25", headers=headers).json
            # A later page: follow the cursors about half way through the portfolio.
            cursor = first["next_cursor"]
            for _ in range(args.trials // 50):
                cursor = client.get(
                    f"/api/v1/trials?limit=25&cursor={cursor}", headers=headers
                ).json["next_cursor"]
            queries: list[str] = []
            sa.event.listen(db.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
            pages = {
                "trials, first page": "/api/v1/trials?limit=25",
                f"trials, cursor page (after id {cursor})": (
                    f"/api/v1/trials?limit=25&cursor={cursor}"
                ),
                "trials, overdue filter": "/api/v1/trials?status=overdue&limit=25",
            }
            print(f"\n{'request':44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'SQL':>5}")
            worst = 0.0
            for label, path in pages.items():
                times, counts = [], []
                for _ in range(args.requests // len(pages) + 5):
                    queries.clear()
                    t0 = time.perf_counter()
                    response = client.get(path, headers=headers)
                    times.append(time.perf_counter() - t0)
                    counts.append(len(queries))
                    assert response.status_code == 200, (path, response.status_code)
                    assert len(response.json["items"]) == 25
                times = sorted(times[3:])  # warm-up requests left out
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                worst = max(worst, p95)
                print(
                    f"{label:44} {statistics.median(times) * 1000:8.1f} {p95 * 1000:8.1f} "
                    f"{times[-1] * 1000:8.1f} {max(counts):5d}"
                )
            load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"\nworst p95: {worst * 1000:.1f} ms (target <= 100 ms); load average {load_avg}")
            db.session.remove()
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
