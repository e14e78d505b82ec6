"""Dashboard benchmark (not a test): an organisation with 5,000 trials in PostgreSQL; server-side
latency of each role's home page (work list), the trial page, the deadlines page and the
dashboard (several filters and sorts, first and later pages).

    .venv/bin/python bench/dashboard.py [--trials 5000] [--requests 100]

Creates its own database on the TEST_DATABASE_URL server (default
postgresql://postgres@127.0.0.1:5432/test), migrates it, bulk-loads trials with registry entries
and ten verdicts each (those of not applicable kept once per trial, as the recompute keeps
them), then times requests through the Flask app in-process (the server side:
no network, no browser) and prints p50/p95 and SQL queries per page, over --requests timed
requests per page (issue 22: at least 100). Target: p95 <= 150 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DUTIES = [
    ("UK-REG", "uk-2026"),
    ("UK-RES", "uk-2026"),
    ("UK-PART", "uk-2026"),
    ("UK-END", "uk-2026"),
    ("UK-LAPSE", "uk-2026"),
    ("EU-START", "eu-ctr"),
    ("EU-END", "eu-ctr"),
    ("EU-RES", "eu-ctr"),
    ("US-REG", "us-fdaaa"),
    ("US-RES", "us-fdaaa"),
]
STATUSES = [
    "overdue",
    "due_soon",
    "upcoming",
    "met",
    "met_late",
    "deferred",
    "data_needed",
    "not_applicable",
]


def load(db, n: int, org_id: int, rng: random.Random) -> None:
    import sqlalchemy as sa

    from portal.domain.obligations.encode import dumps
    from portal.domain.obligations.stored import document
    from portal.models import Obligation, ObligationInputs, RegistryEntry, Trial, TrialIdentifier

    today = date.today()
    trials, entries, idents, obligations, inputs = [], [], [], [], []
    for i in range(1, n + 1):
        nct = f"NCT{70000000 + i:08d}"
        trials.append(
            {
                "id": i,
                "title": f"Benchmark trial {i} of a treatment",
                "sponsor_name": "Bench Org",
                "overall_status": "completed",
                "uk_site": True,
                "imported_facts": {},
                "sponsor_entered": False,
                "owner_organisation_id": org_id,
            }
        )
        entries.append(
            {
                "trial_id": i,
                "registry": "ClinicalTrials.gov",
                "registry_id": nct,
                "registered_on": today - timedelta(days=rng.randint(100, 2000)),
                "content_hash": "0" * 64,
                "record": {},
            }
        )
        idents.append({"trial_id": i, "kind": "nct", "value": nct})
        not_applicable = {}  # stored once per trial, as the recompute stores them
        for duty, ruleset in DUTIES:
            status = rng.choice(STATUSES)
            if status == "not_applicable":
                rest = {"ruleset_version": "2026.1", "status": status, "due": None,
                        "explanation": "x" * 100, "params_version": 0}  # fmt: skip
                not_applicable[duty] = (today, dumps(rest))
                continue
            due = today + timedelta(days=rng.randint(-400, 400))
            obligations.append(
                {
                    "trial_id": i,
                    "duty": duty,
                    "ruleset": ruleset,
                    "status": status,
                    "due": due,
                    "verdict": {
                        "id": duty,
                        "title": duty,
                        "status": status,
                        "due": due.isoformat(),
                        "explanation": "x" * 300,
                        "inputs": {"end_of_trial_on": {"value": "2026-01-01", "source": nct}},
                        "assumptions": [],
                        "source": "RULES.md",
                        "ruleset_version": "2026.1",
                    },
                    "params_version": 0,
                    "as_of": today,
                }
            )
        inputs.append(
            {
                "trial_id": i,
                "inputs": {"end_of_trial_on": {"value": "2026-01-01", "source": nct}},
                "not_applicable": sa.cast(document(not_applicable), sa.JSON)
                if not_applicable
                else None,
            }
        )
    conn = db.session.connection()
    conn.execute(sa.insert(Trial.__table__), trials)
    conn.execute(sa.insert(RegistryEntry.__table__), entries)
    conn.execute(sa.insert(TrialIdentifier.__table__), idents)
    for start in range(0, len(obligations), 10000):
        conn.execute(sa.insert(Obligation.__table__), obligations[start : start + 10000])
    for row in inputs:
        conn.execute(sa.insert(ObligationInputs.__table__).values(**row))
    conn.execute(sa.text("SELECT setval('trials_id_seq', (SELECT max(id) FROM trials))"))
    db.session.commit()
    conn = db.session.connection()
    conn.execute(sa.text("ANALYZE"))
    db.session.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument(
        "--requests", type=int, default=100, help="timed requests per page (after 3 warm-up ones)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db
    from tests.conftest import SECRET, csrf_token_from, private_postgres_database
    from tests.factories import PASSWORD, OrganisationFactory, member

    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"portal-dash-{os.getpid()}"
    with private_postgres_database(args.database_url, f"bench_dashboard_{os.getpid()}") as url:
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
            from flask import g

            from tests.factories import staff

            def signed_in(account):
                g.__dict__.clear()  # requests share this app context's g (user, CSRF token)
                c = app.test_client()
                page = c.get("/login")
                assert page.status_code == 200, page.get_data(as_text=True)[:500]
                token = csrf_token_from(page.get_data(as_text=True))
                c.post(
                    "/login",
                    data={"csrf_token": token, "email": account.email, "password": PASSWORD},
                )
                return c

            client = signed_in(user)
            clients = {
                "sponsor": signed_in(member("sponsor", org)),
                "officer": client,
                "reviewer": signed_in(staff("reviewer")),
                "admin": signed_in(staff("admin")),
            }
            queries: list[str] = []
            sa.event.listen(db.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
            rng = random.Random(1)
            pages = {
                "home (sponsor work list)": ("sponsor", lambda: "/"),
                "home (officer work list)": ("officer", lambda: "/"),
                "home (reviewer work list)": ("reviewer", lambda: "/"),
                "home (admin work list)": ("admin", lambda: "/"),
                "trial page (sponsor)": (
                    "sponsor",
                    lambda: f"/trials/{rng.randint(1, args.trials)}",
                ),
                "dashboard (first page)": lambda: "/trials",
                "dashboard (page 50, by due)": lambda: "/trials?sort=due&page=50",
                "dashboard (overdue filter)": lambda: "/trials?status=overdue",
                "dashboard (not applicable filter)": lambda: "/trials?status=not_applicable",
                "dashboard (due within 30, search)": lambda: "/trials?due_within=30&q=trial+1",
                "trial page": lambda: f"/trials/{rng.randint(1, args.trials)}",
            }
            print(f"\n{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'SQL/page':>9}")
            worst = 0.0
            for label, spec in pages.items():
                who, make = spec if isinstance(spec, tuple) else ("officer", spec)
                times, counts = [], []
                for _ in range(args.requests + 3):
                    path = make()
                    g.__dict__.clear()  # each client is its own user
                    queries.clear()
                    t0 = time.perf_counter()
                    response = clients[who].get(path)
                    times.append(time.perf_counter() - t0)
                    counts.append(len(queries))
                    assert response.status_code == 200, (path, response.status_code)
                times = sorted(times[3:])  # warm-up requests left out
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                worst = max(worst, p95)
                print(
                    f"{label:36} {statistics.median(times) * 1000:8.1f} {p95 * 1000:8.1f} "
                    f"{times[-1] * 1000:8.1f} {max(counts):9d}"
                )
            print(f"\nworst p95: {worst * 1000:.1f} ms (target <= 150 ms)")
            db.session.remove()
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
