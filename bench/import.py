"""Import benchmark: N synthetic ClinicalTrials.gov v2 records into PostgreSQL.

Generates N study files by perturbing the real shared samples (``bench/parse_floor.py``),
measures the parse floor (``iter_records`` alone over the same files), then imports them into a
fresh database ``bench_import`` on the TEST_DATABASE_URL server (migrated with
``flask_migrate.upgrade``, dropped afterwards) and prints records/s, the ratio to the parse floor
and the peak RSS. A second import of the same files measures the all-unchanged path::

    .venv/bin/python bench/import.py                 # N = 20,000
    .venv/bin/python bench/import.py --n 100000

Targets (issue 3): 100,000 records at >= 2,000 records/s, <= 3x the parse floor, peak RSS
<= 500 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def children_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def high_water_mb(pid: int) -> float:
    """A live process's peak RSS so far (Linux VmHWM), 0 where it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def current_rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 1e6
    except ImportError:  # pragma: no cover
        return float("nan")


def generate(folder: Path, n: int, seed: int) -> None:
    try:
        from bench.parse_floor import generate_ctgov_v2
    except ImportError:
        sys.path.insert(0, str(REPO / "bench"))
        from parse_floor import generate_ctgov_v2  # type: ignore[no-redef]
    generate_ctgov_v2(folder, n, seed)


def parse_floor(folder: Path) -> tuple[int, float, float]:
    """(records, wall seconds, CPU seconds) of iter_records alone over the folder."""
    from portal.registries import TrialRecord, iter_records

    count = 0
    start, cpu = time.perf_counter(), time.process_time()
    for item in iter_records([folder]):
        count += isinstance(item, TrialRecord)
    return count, time.perf_counter() - start, time.process_time() - cpu


def backend_cpu(database: str, server_engine) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to ``database``."""
    import psutil
    import sqlalchemy as sa

    with server_engine.connect() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d"), {"d": database}
        ).scalars()
        total = 0.0
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except (psutil.Error, OSError):
                continue
            total += times.user + times.system
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of records (files)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--database", default="bench_import", help="database created and dropped")
    parser.add_argument("--folder", type=Path, help="reuse (or keep) generated files here")
    parser.add_argument("--no-reimport", action="store_true", help="skip the second import")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--no-obligations",
        action="store_true",
        help="leave out the obligations recompute (to measure the importer alone)",
    )
    args = parser.parse_args(argv)

    import sqlalchemy as sa

    from portal import create_app
    from portal.config import normalise_database_url

    server = os.environ.get("TEST_DATABASE_URL") or DEFAULT_SERVER
    admin = sa.create_engine(normalise_database_url(server), isolation_level="AUTOCOMMIT")
    url = (
        sa.make_url(normalise_database_url(server))
        .set(database=args.database)
        .render_as_string(hide_password=False)
    )

    with tempfile.TemporaryDirectory(prefix="bench_import_") as tmp:
        folder = args.folder or Path(tmp) / "studies"
        if not (folder.exists() and any(folder.iterdir())):
            start = time.perf_counter()
            generate(folder, args.n, args.seed)
            print(f"generated {args.n:,} files in {time.perf_counter() - start:.1f} s")
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"input: {folder} ({size / 1e6:,.0f} MB)")

        parse_floor(folder)  # warms the page cache
        records, floor, floor_cpu = parse_floor(folder)
        print(
            f"parse floor: {records:,} records in {floor:.1f} s = {records / floor:,.0f} "
            f"records/s ({floor_cpu:.1f} s CPU)"
        )
        rss_before = current_rss_mb()

        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{args.database}"'))
        try:
            env = {
                "PORTAL_ENV": "test",
                "DATABASE_URL": url,
                "SECRET_KEY": "bench",
                "INSTANCE_PATH": str(Path(tmp) / "instance"),
            }
            app = create_app(env=env)
            with app.app_context():
                from flask_migrate import upgrade

                from portal.extensions import db
                from portal.services.imports import BATCH_SIZE, import_paths

                upgrade()
                if args.no_obligations:
                    import portal.services.imports.batches as batches

                    batches._recompute_obligations = lambda trial_ids, new_trials: None
                    print("obligations recompute left out (--no-obligations)")
                samples: list[float] = []

                reader_cpu: dict[int, float] = {}
                reader_peak: dict[int, float] = {}  # the reader's own peak (VmHWM), sampled

                def progress(p) -> None:
                    samples.append(current_rss_mb())
                    try:
                        import psutil

                        for child in psutil.Process().children():
                            times = child.cpu_times()
                            reader_cpu[child.pid] = times.user + times.system
                            reader_peak[child.pid] = max(
                                reader_peak.get(child.pid, 0.0), high_water_mb(child.pid)
                            )
                    except (ImportError, OSError, psutil.Error):
                        pass

                # how many new trials' verdicts the reader process worked out ahead
                import portal.services.imports.batches as batches

                worked_ahead = [0]
                recompute = batches.recompute_for_trials

                def counted(*args, **kwargs):
                    stats = recompute(*args, **kwargs)
                    worked_ahead[0] += stats.worked_ahead
                    return stats

                batches.recompute_for_trials = counted
                batch = args.batch_size or BATCH_SIZE
                db.session.execute(sa.text("SELECT 1"))  # connect, so the backend is counted
                db.session.commit()
                pg_before = backend_cpu(args.database, admin)
                start, cpu, child = time.perf_counter(), time.process_time(), children_cpu()
                run_id, report = import_paths([str(folder)], progress=progress, batch_size=batch)
                seconds = time.perf_counter() - start
                cpu = time.process_time() - cpu
                child = max(children_cpu() - child, sum(reader_cpu.values()))  # reader process
                pg_cpu = backend_cpu(args.database, admin) - pg_before
                rate = report["records_seen"] / seconds
                print(
                    f"import run {run_id}: {report['records_seen']:,} records in {seconds:.1f} s "
                    f"= {rate:,.0f} records/s (target >= 2,000); "
                    f"created {report['created']:,}, rejected {len(report['rejected'])}"
                )
                # This machine's speed drifts by up to 1.5x within minutes: parse again right
                # after the import and compare with the mean of the two floors as well.
                _, floor_after, _ = parse_floor(folder)
                mean = (floor + floor_after) / 2
                print(
                    f"ratio to parse floor: {seconds / floor:.2f}x (target <= 3x); the parse "
                    f"floor again after the import: {floor_after:.1f} s, ratio to the mean of "
                    f"both: {seconds / mean:.2f}x"
                )
                print(
                    f"verdicts of {worked_ahead[0]:,} of {report['created']:,} new trials worked "
                    "out ahead by the reader process (the rest by the importer)"
                )
                print(
                    f"CPU: importer {cpu:.1f} s + reader process {child:.1f} s + PostgreSQL "
                    f"backends {pg_cpu:.1f} s = {(cpu + child + pg_cpu) / floor_cpu:.2f}x the "
                    f"parse floor's {floor_cpu:.1f} s CPU; the importer process alone "
                    f"{cpu / floor_cpu:.2f}x (wall-clock figures depend on the machine's load)"
                )
                reader_mb = max([children_peak_rss_mb(), *reader_peak.values()])
                print(
                    f"RSS: {rss_before:.0f} MB before import, max {max(samples or [0]):.0f} MB "
                    f"during; process peak {peak_rss_mb():.0f} MB, reader process peak "
                    f"{reader_mb:.0f} MB (target <= 500 MB)"
                )
                counts = db.session.execute(
                    sa.text(
                        "SELECT (SELECT count(*) FROM trials), (SELECT count(*) FROM "
                        "registry_entries), (SELECT count(*) FROM trial_identifiers)"
                    )
                ).one()
                print(
                    f"rows: {counts[0]:,} trials, {counts[1]:,} entries, {counts[2]:,} identifiers"
                )

                if not args.no_reimport:
                    start = time.perf_counter()
                    run_id, report = import_paths([str(folder)], batch_size=batch)
                    seconds = time.perf_counter() - start
                    print(
                        f"re-import run {run_id}: {report['unchanged']:,} unchanged of "
                        f"{report['records_seen']:,} in {seconds:.1f} s = "
                        f"{report['records_seen'] / seconds:,.0f} records/s "
                        f"({seconds / floor:.2f}x the parse floor)"
                    )
                db.session.remove()
                db.engine.dispose()
        finally:
            if not args.keep:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'))
            admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
