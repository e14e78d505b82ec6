"""Benchmark: the rules engine alone, and the recompute of stored trials in PostgreSQL.

    .venv/bin/python bench/rules.py [--n 500000] [--pure-n 100000] [--processes 2]
                                    [--skip-db] [--keep] [--profile] [--workers N]

(a) Pure evaluation: N varied synthetic fact sets (seeded); prints trials/s for
    Facts.from_dict + evaluate, evaluate alone, and with the stored-verdict JSON encoding.
(b) Recompute: creates the database ``bench_rules`` on the TEST_DATABASE_URL server (default
    postgresql://postgres@127.0.0.1:5432/test), runs the migrations, COPYs N synthetic trials with
    registry entries and sponsor facts, then times ``recompute_everything`` (the daily job's body)
    in ``--processes`` processes over id ranges (SCENARIOS): the first computation (every verdict
    new), the next day (the daily job: every trial evaluated again from its stored facts, changed
    verdicts written), the same day again, and a recompute reading every trial's facts again from
    its records. Drops the database at the end.
(c) With ``--workers N``, instead of (b): the daily job exactly as the product runs it,
    ``recompute_all`` enqueued on an embedded Redis and shared between N real ``flask worker``
    processes (RECOMPUTE_PARTS = N), timed from enqueue to its BackgroundJob's "finished".

Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import multiprocessing
import os
import pstats
import random
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = date(2026, 11, 20)
DB_NAME = "bench_rules"
REGISTRIES = [
    ("ClinicalTrials.gov", "NCT"),
    ("ISRCTN", "ISRCTN"),
    ("CTIS", "2025-5"),
    ("DRKS", "DRKS"),
]
COUNTRY_SETS = [
    ["United Kingdom"],
    ["United Kingdom", "Germany"],
    ["United Kingdom", "United States"],
    ["United Kingdom", "France", "Spain", "United States"],
    ["United States"],
    ["Germany", "Netherlands"],
    ["Australia"],
]
IMPORTED_AT = "2026-11-01T09:00:00+00:00"


# --- synthetic trials -----------------------------------------------------------------------------


def _day(rng: random.Random, start: date, span: int) -> date:
    return start + timedelta(days=rng.randrange(span))


def _text(rng: random.Random, d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}" if rng.random() < 0.1 else d.isoformat()


def synthetic_trial(rng: random.Random, i: int) -> tuple[dict, list[dict], dict]:
    """(imported facts, registry entries, sponsor facts) of one trial, as stored."""
    applied = _day(rng, date(2024, 6, 1), 900)
    approved = applied + timedelta(days=rng.randrange(20, 120))
    first = approved + timedelta(days=rng.randrange(-10, 400))
    end = first + timedelta(days=rng.randrange(60, 1200))
    countries = rng.choice(COUNTRY_SETS)
    phase = rng.choice(["1", "1/2", "2", "2/3", "3", "4", "n/a"])
    imported = {
        "study_type": "interventional" if rng.random() < 0.95 else "observational",
        "phase": phase,
        "healthy_volunteers": phase == "1" and rng.random() < 0.6,
        "paediatric": rng.random() < 0.15,
        "countries": countries,
        "fda_regulated_drug": rng.random() < 0.5,
        "us_site": "United States" in countries,
        "start_on": _text(rng, first),
        "title": f"Synthetic trial {i}",
        "sponsor_name": f"Sponsor {i % 997}",
    }
    if rng.random() < 0.85:
        imported["end_of_trial_on"] = _text(rng, end)
    if rng.random() < 0.5:
        imported["primary_completion_on"] = _text(rng, end - timedelta(days=rng.randrange(90)))
    entries = []
    for registry, prefix in rng.sample(REGISTRIES, rng.choice([1, 1, 1, 2, 2, 3])):
        registered = first + timedelta(days=rng.randrange(-60, 60))
        posted = end + timedelta(days=rng.randrange(100, 500)) if rng.random() < 0.3 else None
        entries.append(
            {
                "registry": registry,
                "registry_id": f"{prefix}{i:08d}",
                "registered_on": registered,
                "results_posted_on": posted if posted and posted <= AS_OF else None,
            }
        )
    sponsor = {}
    if rng.random() < 0.6:
        sponsor["application_submitted_on"] = applied.isoformat()
        sponsor["approved_on"] = approved.isoformat()
    if rng.random() < 0.5:
        sponsor["first_participant_on"] = first.isoformat()
    if rng.random() < 0.2:
        sponsor["end_of_trial_notified_on"] = (end + timedelta(days=rng.randrange(120))).isoformat()
    if rng.random() < 0.05:
        sponsor["deferrals"] = [
            {"duty": "UK-RES", "requested_on": (end + timedelta(days=30)).isoformat()}
        ]
    stored = {
        key: {"value": value, "registry": entries[0]["registry"],
              "record": entries[0]["registry_id"], "imported_at": IMPORTED_AT}
        for key, value in imported.items()
    }  # fmt: skip
    return stored, entries, sponsor


# --- (a) pure evaluation ---------------------------------------------------------------------


def bench_pure(n: int, profile: bool) -> None:
    from portal.domain.obligations.encode import VerdictEncoder
    from portal.domain.trials.facts import build_facts
    from portal.rules import Facts, evaluate

    rng = random.Random(1)
    cases = []
    for i in range(n):
        stored, entries, sponsor = synthetic_trial(rng, i)
        rows = [
            {"key": k, "value": v, "entered_by_label": "sponsor@trust.example",
             "entered_at": datetime(2026, 11, 2, tzinfo=UTC)}
            for k, v in sponsor.items()
        ]  # fmt: skip
        cases.append(build_facts(stored, entries, rows))

    # Timed with the collector off: keeping 100,000 trials alive makes it rescan them all
    # (the recompute works chunk by chunk and does not pay that).
    gc.collect()
    gc.disable()
    t0 = time.process_time()
    facts = [Facts.from_dict(f, s) for f, s in cases]
    t_parse = time.process_time() - t0
    if profile:
        prof = cProfile.Profile()
        prof.enable()
    t0 = time.process_time()
    for f in facts:
        evaluate(f, AS_OF)
    t_eval = time.process_time() - t0
    # As stored: each verdict without its inputs, plus the trial's inputs once.
    from portal.domain.obligations.encode import dumps

    t0 = time.process_time()
    enc = VerdictEncoder({"params_version": 0}, inputs=False)
    for f in facts:
        dumps(f.inputs)
        for o in evaluate(f, AS_OF):
            enc.encode(o)
    t_enc = time.process_time() - t0 - t_eval
    if profile:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    gc.enable()
    statuses: Counter[str] = Counter(o.status for f in facts for o in evaluate(f, AS_OF))

    verdict_count = sum(statuses.values())
    print(f"(a) pure evaluation of {n:,} varied trials ({verdict_count:,} verdicts), CPU time:")
    print(f"    evaluate():                       {n / t_eval:>10,.0f} trials/s")
    print(f"    Facts.from_dict + evaluate():     {n / (t_parse + t_eval):>10,.0f} trials/s")
    print(
        f"    from_dict + evaluate + JSON:      {n / (t_parse + t_eval + t_enc):>10,.0f} trials/s"
        f"   (per trial: from_dict {t_parse / n * 1e6:.0f} us, evaluate {t_eval / n * 1e6:.0f} us,"
        f" JSON {t_enc / n * 1e6:.0f} us)"
    )
    print("    statuses:", dict(sorted(statuses.items())))


# --- (b) recompute in PostgreSQL -----------------------------------------------------------------


def _server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"


def _env(database_url: str, instance: Path) -> dict[str, str]:
    return {
        "PORTAL_ENV": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench",
        "INSTANCE_PATH": str(instance),
        "REDIS_URL": "",
    }


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_database() -> str:
    import sqlalchemy as sa

    from portal.config import normalise_database_url

    admin = sa.create_engine(normalise_database_url(_server_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    url = sa.make_url(normalise_database_url(_server_url())).set(database=DB_NAME)
    return url.render_as_string(hide_password=False)


def vacuum(url: str) -> None:
    """What autovacuum does in the hours between two daily runs, done now and timed: after the
    first computation's millions of new rows, the next reader would otherwise pay for marking
    them all visible (hint bits)."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        conn.execute(
            "VACUUM (ANALYZE) trials, obligations, obligation_inputs, obligation_status_changes"
        )
    print(
        f"    (between runs: VACUUM ANALYZE, autovacuum's work, {time.perf_counter() - t0:.1f} s)"
    )


def drop_database() -> None:
    import sqlalchemy as sa

    from portal.config import normalise_database_url

    admin = sa.create_engine(normalise_database_url(_server_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    admin.dispose()


def migrate(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db

    app = create_app(env=_env(url, instance))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def load_trials(url: str, n: int) -> None:
    """COPY n synthetic trials, their registry entries and sponsor facts."""
    import psycopg

    now = datetime.now(UTC)
    entered = datetime(2026, 11, 2, 10, 30, tzinfo=UTC)
    rng = random.Random(2)
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    with psycopg.connect(_psycopg_url(url)) as conn, conn.cursor() as cur:
        with (
            cur.copy(
                "COPY trials (id, title, sponsor_name, uk_site, imported_facts, sponsor_entered, "
                "created_at, updated_at) FROM STDIN"
            ) as trials,
        ):
            entries_rows = []
            sponsor_rows = []
            for i in range(1, n + 1):
                stored, entries, sponsor = synthetic_trial(rng, i)
                trials.write_row(
                    (i, f"Synthetic trial {i}", f"Sponsor {i % 997}",
                     "United Kingdom" in stored["countries"]["value"], dumps(stored), False, now,
                     now)
                )  # fmt: skip
                for e in entries:
                    entries_rows.append(
                        (i, e["registry"], e["registry_id"], e["registered_on"],
                         e["results_posted_on"], "0" * 64, "{}", now, now)
                    )  # fmt: skip
                for key, value in sponsor.items():
                    sponsor_rows.append(
                        (i, key, dumps(value), "sponsor@trust.example", entered, True)
                    )
        with cur.copy(
            "COPY registry_entries (trial_id, registry, registry_id, registered_on, "
            "results_posted_on, content_hash, record, first_imported_at, last_imported_at) "
            "FROM STDIN"
        ) as copy:
            for row in entries_rows:
                copy.write_row(row)
        with cur.copy(
            "COPY sponsor_facts (trial_id, key, value, entered_by_label, entered_at, current) "
            "FROM STDIN"
        ) as copy:
            for row in sponsor_rows:
                copy.write_row(row)
        cur.execute("SELECT setval(pg_get_serial_sequence('trials', 'id'), %s)", (n,))
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE trials, registry_entries, sponsor_facts")
    print(f"    loaded {n:,} trials, {len(entries_rows):,} registry entries, "
          f"{len(sponsor_rows):,} sponsor facts")  # fmt: skip


def _worker(args: tuple[str, str, str, int, int | None, bool, bool]) -> dict:
    url, instance, as_of, after_id, last_id, profile, from_records = args
    import sqlalchemy as sa

    from portal import create_app
    from portal.extensions import db
    from workers.obligations import recompute_everything

    app = create_app(env=_env(url, Path(instance)))
    with app.app_context():
        backend = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        db.session.commit()  # the pool hands this same connection to every chunk
        server0, client0 = _cpu_seconds(backend), time.process_time()
        if profile:
            prof = cProfile.Profile()
            prof.enable()
        result = recompute_everything(
            as_of, reason="daily", after_id=after_id, last_id=last_id, from_records=from_records
        )
        if profile:
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
            result["profile"] = out.getvalue()
        result["client_cpu"] = time.process_time() - client0
        result["server_cpu"] = _cpu_seconds(backend) - server0
        db.engine.dispose()
    return result


def _cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process on this machine (a PostgreSQL backend)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float:
    """CPU seconds of PostgreSQL's own background processes (WAL writer, checkpointer...)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"postgres: " in cmdline and (
                b"writer" in cmdline or b"checkpointer" in cmdline or b"autovacuum" in cmdline
            ):
                total += _cpu_seconds(int(entry.name))
        except OSError:
            continue
    return total


def timed_recompute(
    url: str,
    instance: Path,
    n: int,
    processes: int,
    as_of: date,
    profile: bool,
    from_records: bool = False,
):
    bounds = [round(n * k / processes) for k in range(processes + 1)]
    jobs = [
        (url, str(instance), as_of.isoformat(), bounds[k], bounds[k + 1], profile, from_records)
        for k in range(processes)
    ]
    background0 = _postgres_cpu()
    t0 = time.perf_counter()
    if processes == 1:
        results = [_worker(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.map(_worker, jobs)
    seconds = time.perf_counter() - t0
    totals: Counter[str] = Counter()
    totals["background_cpu"] = _postgres_cpu() - background0
    for r in results:
        for key in ("trials", "inserted", "updated", "unchanged", "status_changes", "client_cpu",
                    "server_cpu"):  # fmt: skip
            totals[key] += r[key]
        if profile and "profile" in r:
            print(r["profile"])
    totals["busiest"] = max(r["client_cpu"] + r["server_cpu"] for r in results)
    return seconds, totals


def timed_job(
    url: str, instance: Path, n: int, workers: int, as_of: date, from_records: bool = False
):
    """The daily job as the product runs it: ``recompute_all`` enqueued on an embedded Redis and
    run by ``workers`` real ``flask worker`` processes (it splits itself into RECOMPUTE_PARTS =
    ``workers`` id-range jobs); timed from enqueue to the BackgroundJob's "finished"."""
    import signal
    import subprocess

    from portal import create_app
    from portal.extensions import db
    from portal.models import BackgroundJob
    from portal.redis_embedded import EmbeddedRedis

    redis = EmbeddedRedis(instance / f"redis-{as_of}")
    redis_url = redis.start()
    env = {**os.environ, **_env(url, instance), "REDIS_URL": redis_url,
           "RECOMPUTE_PARTS": str(workers)}  # fmt: skip
    procs = [
        subprocess.Popen(  # noqa: S603
            [
                str(ROOT / ".venv/bin/flask"),
                "--app",
                "portal",
                "worker",
                "--queue",
                "default",
                "--name",
                f"bench-{as_of}-{k}",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for k in range(workers)
    ]
    try:
        app = create_app(env=env)
        with app.app_context():
            from rq import Worker

            from portal.jobs import redis_connection
            from portal.services.obligations import enqueue_recompute_all

            deadline = time.monotonic() + 60
            while len(Worker.all(connection=redis_connection())) < workers:
                if time.monotonic() > deadline:
                    raise SystemExit("the workers did not start")
                time.sleep(0.2)
            t0 = time.perf_counter()
            job_id = enqueue_recompute_all(reason="daily", as_of=as_of, from_records=from_records)
            while True:
                time.sleep(0.2)
                db.session.expire_all()
                job = db.session.get(BackgroundJob, job_id)
                if job.status in ("finished", "failed"):
                    break
            seconds = time.perf_counter() - t0
            result, status, error = job.result or {}, job.status, job.error
            db.session.remove()
            db.engine.dispose()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis.stop()
    if status != "finished":
        raise SystemExit(f"the recompute job {status}: {error}")
    return seconds, result


# (label, as_of, from_records): what each timed recompute of (b) and (c) is.
SCENARIOS = (
    ("first computation (every verdict new; facts read from the records)", AS_OF, False),
    (
        "next day, the daily job (every trial evaluated from its stored facts; only verdicts "
        "whose status moved are written)",
        AS_OF + timedelta(1),
        False,
    ),
    ("same day again (nothing changed)", AS_OF + timedelta(1), False),
    (
        "the day after, every trial's facts read again from its records "
        "(recompute-all --from-records)",
        AS_OF + timedelta(2),
        True,
    ),
)


def bench_db_workers(n: int, workers: int, keep: bool, no_vacuum: bool = False) -> None:
    import tempfile

    instance = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    print(f"(c) the daily job through {workers} real RQ workers, {n:,} stored trials ({DB_NAME})")
    url = create_database()
    try:
        migrate(url, instance)
        load_trials(url, n)
        for i, (label, as_of, from_records) in enumerate(SCENARIOS):
            if i and not no_vacuum:
                vacuum(url)
            seconds, result = timed_job(url, instance, n, workers, as_of, from_records)
            print(
                f"    {label}:\n      {seconds:.1f} s from enqueue to finished, "
                f"{result.get('trials', 0) / seconds:,.0f} trials/s in {result.get('parts', 1)} "
                f"parts ({result.get('inserted', 0):,} inserted, {result.get('updated', 0):,} "
                f"updated, {result.get('unchanged', 0):,} unchanged, "
                f"{result.get('status_changes', 0):,} status changes)"
            )
    finally:
        if not keep:
            drop_database()


def bench_db(n: int, processes: int, keep: bool, profile: bool, no_vacuum: bool = False) -> None:
    import tempfile

    instance = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    print(f"(b) recompute of {n:,} stored trials in PostgreSQL ({DB_NAME}), {processes} processes")
    url = create_database()
    try:
        t0 = time.perf_counter()
        migrate(url, instance)
        load_trials(url, n)
        print(f"    set-up (migrations + COPY): {time.perf_counter() - t0:.1f} s")
        for i, (label, as_of, from_records) in enumerate(SCENARIOS):
            if i and not no_vacuum:
                vacuum(url)
            seconds, totals = timed_recompute(
                url, instance, n, processes, as_of, profile, from_records
            )
            cpu = totals["client_cpu"] + totals["server_cpu"] + totals["background_cpu"]
            # On an otherwise idle machine the run is CPU-bound: all the CPU it used, spread over
            # the cores, and never less than its busiest process (client + its backend).
            idle = max(cpu / os.cpu_count(), totals["busiest"])
            print(
                f"    {label}:\n"
                f"      {seconds:.1f} s wall, {totals['trials'] / seconds:,.0f} trials/s "
                f"({totals['inserted']:,} verdicts inserted, {totals['updated']:,} updated, "
                f"{totals['unchanged']:,} unchanged, {totals['status_changes']:,} status changes)\n"
                f"      CPU: Python {totals['client_cpu']:.1f} s, PostgreSQL backends "
                f"{totals['server_cpu']:.1f} s, PostgreSQL background "
                f"{totals['background_cpu']:.1f} s => ~{idle:.1f} s "
                f"({totals['trials'] / idle:,.0f} trials/s) on "
                f"{os.cpu_count()} idle cores; load average now {os.getloadavg()[0]:.1f}"
            )
    finally:
        if not keep:
            drop_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500_000, help="stored trials for (b)")
    parser.add_argument("--pure-n", type=int, default=100_000, help="fact sets for (a)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--skip-db", action="store_true", help="only run (a)")
    parser.add_argument("--skip-pure", action="store_true", help="only run (b)")
    parser.add_argument("--keep", action="store_true", help="keep the bench_rules database")
    parser.add_argument("--profile", action="store_true", help="print cProfile summaries")
    parser.add_argument(
        "--no-vacuum", action="store_true", help="run the scenarios back to back, no VACUUM"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="instead of (b), time the daily job itself through this many real RQ workers",
    )
    args = parser.parse_args()
    if not args.skip_pure:
        bench_pure(args.pure_n, args.profile)
    if args.workers:
        bench_db_workers(args.n, args.workers, args.keep, args.no_vacuum)
    elif not args.skip_db:
        bench_db(args.n, args.processes, args.keep, args.profile, args.no_vacuum)


if __name__ == "__main__":
    main()
