"""Benchmark: the daily notifications job over bench/rules.py's synthetic trials.

    .venv/bin/python bench/notifications.py [--n 500000] [--users 50000] [--orgs 10000]
                                            [--processes 2] [--keep] [--reuse]

Builds the database ``bench_notify`` on the TEST_DATABASE_URL server (default
postgresql://postgres@127.0.0.1:5432/test) exactly as bench/rules.py builds its data (migrations,
COPY of N synthetic trials, the first computation of every verdict), then adds ``--orgs``
approved organisations with ``--users`` people between them (sponsors, administrators and one
compliance officer each) and gives every trial to an organisation. Then it times the daily job
(``run_daily``, without enqueueing deliveries: building every digest into the outbox):

1. the first run (a 7-day catch-up window: every weekly overdue reminder falls in it),
2. the next day (the ordinary daily run: only that day's milestones),
3. the same day again (everything already sent: nothing to do),
4. the next day with only the first 100,000 trials owned: at 500,000 trials this has the
   items of a 100,000-trial database, so its time against (2) at --n 100000 shows whether the
   cost follows the items due or the number of trials.

Prints figures; not a test. Drops the database at the end unless --keep or --reuse;
``--reuse --reset`` runs again on a kept database (forgetting the notifications of earlier runs).

Measured 5 December 2026 before issue 20's bulk writes (2 shared cores, load average 12-16),
50,000 people in 10,000 organisations: 500,000 trials, ordinary day, all owned: 101 s, 46,810
digests, 141,225 items (the 60 s target NOT met); the same code at load 2.6 (``--reuse --reset
--ordinary-only``): 47.6 s, and 23.3 s for 4.

Measured 6 December 2026 after them (set-based writes, rows as one JSON document or array on
PostgreSQL, plain rows instead of ORM objects, the digests built by 2 processes), full run, load
average 4.6-5.0: 500,000 trials, ordinary day, all owned: 21.4 s, 46,810 digests (emails
rendered and written to the outbox), 141,225 items (target met); 4, 100,000 trials owned:
12.7 s, 27,164 digests, 38,670 items. The 100,000-trial database (load 2.0): ordinary day
3.6 s (20,915 digests, 27,855 items); 4, the same 27,164 digests and 38,670 items as 4 at
500,000: 5.4 s. The first run's 7-day catch-up at 500,000 (994,025 items): 132.5 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench.rules as rules  # noqa: E402

rules.DB_NAME = "bench_notify"  # never the database a bench/rules.py run is using
ROLES = ("sponsor_admin", "compliance_officer", "sponsor", "sponsor", "sponsor")


def add_people(url: str, orgs: int, users: int) -> None:
    """COPY organisations, users and memberships; every trial to organisation (id % orgs) + 1."""
    import psycopg

    now = datetime.now(UTC)
    with psycopg.connect(rules._psycopg_url(url)) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY organisations (id, name, email_domains, sponsor_names, status, created_at) "
            "FROM STDIN"
        ) as copy:
            for i in range(1, orgs + 1):
                copy.write_row((i, f"Sponsor {i}", f'["org{i}.example"]', "[]", "approved", now))
        with cur.copy(
            "COPY users (id, email, full_name, password_hash, active, email_confirmed_at, "
            "created_at, security_stamp) FROM STDIN"
        ) as copy:
            for i in range(1, users + 1):
                org = (i - 1) % orgs + 1
                copy.write_row(
                    (i, f"person{i}@org{org}.example", f"Person {i}", "x", True, now, now,
                     f"{i:032x}")
                )  # fmt: skip
        with cur.copy(
            "COPY memberships (user_id, organisation_id, role, created_at) FROM STDIN"
        ) as copy:
            for i in range(1, users + 1):
                org = (i - 1) % orgs + 1
                copy.write_row((i, org, ROLES[((i - 1) // orgs) % len(ROLES)], now))
        cur.execute(f"UPDATE trials SET owner_organisation_id = (id % {orgs}) + 1")
        for table in ("organisations", "users", "memberships"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE trials, organisations, users, memberships, obligations")
    print(f"    added {orgs:,} organisations and {users:,} people; every trial owned")


def disown_after(url: str, last_owned: int) -> None:
    import psycopg

    with psycopg.connect(rules._psycopg_url(url), autocommit=True) as conn:
        conn.execute("UPDATE trials SET owner_organisation_id = NULL WHERE id > %s", (last_owned,))
        conn.execute("VACUUM ANALYZE trials")


def reset(url: str, orgs: int) -> None:
    import psycopg

    with psycopg.connect(rules._psycopg_url(url), autocommit=True) as conn:
        conn.execute(
            "TRUNCATE notifications, notification_digests, outbox_emails, notification_runs"
        )
        conn.execute(
            f"UPDATE trials SET owner_organisation_id = (id % {orgs}) + 1 "
            f"WHERE owner_organisation_id IS DISTINCT FROM (id % {orgs}) + 1"
        )
        conn.execute("VACUUM ANALYZE trials, notifications, notification_digests, outbox_emails")
    print("    reset: no notifications, digests, outbox emails or runs; every trial owned")


PROFILE = False


def timed_run(url: str, instance: Path, day, label: str) -> None:
    import sqlalchemy as sa

    from portal import create_app
    from portal.extensions import db
    from portal.services.notifications import run_daily

    app = create_app(env=rules._env(url, instance))
    with app.app_context():
        before = db.session.execute(sa.text("SELECT count(*) FROM outbox_emails")).scalar_one()
        profiler = None
        if PROFILE:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t0 = time.perf_counter()
        summary = run_daily(day, deliver=False)
        seconds = time.perf_counter() - t0
        if profiler is not None:
            import io
            import pstats

            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            print(out.getvalue())
        after = db.session.execute(sa.text("SELECT count(*) FROM outbox_emails")).scalar_one()
        items = sum(summary.sent.values())
        db.engine.dispose()
    rate = f", {items / seconds:,.0f} items/s" if items else ""
    print(
        f"    {label} ({day.isoformat()}, window from {summary.first_day.isoformat()}):\n"
        f"      {seconds:.1f} s wall: {summary.digests:,} digests built ({after - before:,} "
        f"outbox emails), {items:,} items in them{rate}; load average "
        f"{os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2, help="for the first computation")
    parser.add_argument("--keep", action="store_true", help="keep the bench_notify database")
    parser.add_argument("--reuse", action="store_true", help="use a kept bench_notify as is")
    parser.add_argument(
        "--reset",
        action="store_true",
        help="with --reuse: forget every notification, digest, outbox email and run first, and "
        "give every trial back to its organisation (a kept database's state after a run)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each timed run")
    parser.add_argument(
        "--ordinary-only",
        action="store_true",
        help="record a run the day before, and time only the ordinary daily runs (2 and 4)",
    )
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile

    instance = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    print(
        f"Notifications daily job over {args.n:,} trials, {args.users:,} people in "
        f"{args.orgs:,} organisations ({rules.DB_NAME}); load average {os.getloadavg()[0]:.1f}"
    )
    import sqlalchemy as sa

    from portal.config import normalise_database_url

    url = (
        sa.make_url(normalise_database_url(rules._server_url()))
        .set(database=rules.DB_NAME)
        .render_as_string(hide_password=False)
    )
    try:
        if not args.reuse:
            url = rules.create_database()
            t0 = time.perf_counter()
            rules.migrate(url, instance)
            rules.load_trials(url, args.n)
            seconds, totals = rules.timed_recompute(
                url, instance, args.n, args.processes, rules.AS_OF, False
            )
            print(
                f"    first computation of the verdicts: {seconds:.1f} s "
                f"({totals['inserted']:,} verdicts)"
            )
            add_people(url, args.orgs, args.users)
            print(f"    set-up: {time.perf_counter() - t0:.1f} s")
        elif args.reset:
            reset(url, args.orgs)
        day = rules.AS_OF + timedelta(days=1)
        if args.ordinary_only:
            import psycopg

            with psycopg.connect(rules._psycopg_url(url), autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO notification_runs (day, started_at, finished_at) "
                    "VALUES (%s, now(), now()) ON CONFLICT DO NOTHING",
                    (day,),
                )
        else:
            timed_run(url, instance, day, "1. first run (7-day catch-up window)")
        timed_run(url, instance, day + timedelta(days=1), "2. next day (the ordinary run)")
        if not args.ordinary_only:
            timed_run(url, instance, day + timedelta(days=1), "3. same day again")
        if args.n > 100_000:
            disown_after(url, 100_000)
        timed_run(
            url,
            instance,
            day + timedelta(days=2),
            "4. the day after, only trials 1-100,000 owned"
            if args.n > 100_000
            else "4. the day after (the same trials owned as in 4 at 500,000)",
        )
    finally:
        if not (args.keep or args.reuse):  # a reused database stays
            rules.drop_database()


if __name__ == "__main__":
    main()
