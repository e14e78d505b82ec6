"""Registry sync benchmark: N ClinicalTrials.gov v2 studies from a local stand-in API (pages of
1,000) into PostgreSQL, against importing the same studies from files, in the same run.

Generates N study files (``bench/parse_floor.py``), builds the API pages from the same studies
(``{"studies": [...], "nextPageToken": ..., "totalCount": N}``) and serves them from a small
HTTP server in a process of its own. Then, each in a fresh process and a fresh database on the
TEST_DATABASE_URL server (migrated by another process, dropped afterwards):

* import: ``import_paths`` over the files (``flask trials import``, ``bench/import.py``'s path);
* sync: ``sync_source("ctgov")`` against the stand-in (``flask registries sync``), with the
  default client settings (3 requests a second, retries, timeouts);
* sync again: the second sync (the stand-in ignores the date filter): every study unchanged.

Prints records/s of each, the ratio sync / import, and each process's peak RSS::

    .venv/bin/python bench/sync.py               # N = 20,000
    .venv/bin/python bench/sync.py --n 5000

Targets (issue 19): the sync at >= 0.7x the import's records/s, peak RSS <= 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
PAGE = 1000


def peak_rss_mb() -> float:
    """This process's peak RSS since it started (VmHWM: ru_maxrss would carry the parent's
    size over fork and exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# --------------------------------------------------------------------------- the stand-in


def build_pages(files: Path, pages: Path, size: int) -> int:
    """The API's pages of the studies in ``files``, as page files ``<offset>.json``."""
    paths = sorted(files.glob("*.json"))
    pages.mkdir(parents=True, exist_ok=True)
    for offset in range(0, len(paths), size):
        chunk = paths[offset : offset + size]
        studies = b",".join(  # compact, as the API serves them
            json.dumps(json.loads(p.read_bytes()), separators=(",", ":")).encode() for p in chunk
        )
        tail = {"totalCount": len(paths)}
        if offset + size < len(paths):
            tail["nextPageToken"] = f"p{offset + size}"
        body = b'{"studies":[' + studies + b"]," + json.dumps(tail).encode()[1:]
        (pages / f"{offset}.json").write_bytes(body)
    return len(paths)


def serve(pages: str, port_file: str) -> None:
    """The stand-in API: GET /api/v2/studies?pageToken=p<offset> serves that page file (the
    filters are ignored, as a stand-in may)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            query = parse_qs(urlparse(self.path).query)
            offset = (query.get("pageToken") or ["p0"])[0][1:]
            path = Path(pages) / f"{int(offset)}.json"
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


# --------------------------------------------------------------------------- one phase


def phase(kind: str, database_url: str, folder: str, api: str, instance: str) -> dict:
    """Run one phase in this (fresh) process and return its figures."""
    import sqlalchemy as sa

    from portal import create_app

    env = {
        "PORTAL_ENV": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench",
        "INSTANCE_PATH": instance,
        "CTGOV_API_URL": api,
    }
    if os.environ.get("REGISTRY_SYNC_RATE"):
        env["REGISTRY_SYNC_RATE"] = os.environ["REGISTRY_SYNC_RATE"]
    app = create_app(env=env)
    with app.app_context():
        from portal.extensions import db

        db.session.execute(sa.text("SELECT 1"))
        db.session.commit()
        rss_before = peak_rss_mb()
        if kind == "import":
            from portal.services.imports import import_paths

            start = time.perf_counter()
            _run_id, report = import_paths([folder])
            seconds = time.perf_counter() - start
            reports = [(report, seconds)]
        else:
            from portal.services.registry_sync import SyncSettings, sync_source

            settings = SyncSettings.from_config(app.config)
            reports = []
            for _ in range(2):  # the sync, then the second sync (nothing new)
                start = time.perf_counter()
                _run_id, report = sync_source("ctgov", settings=settings)
                reports.append((report, time.perf_counter() - start))
        trials = db.session.scalar(sa.text("SELECT count(*) FROM trials"))
        db.session.remove()
        db.engine.dispose()
    return {
        "runs": [
            {
                "seconds": seconds,
                **{k: (len(v) if k == "rejected" else v) for k, v in report.items()},
            }
            for report, seconds in reports
        ],
        "trials": trials,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
        "children_peak_rss_mb": children_peak_rss_mb(),
    }


def run_phase(kind: str, database_url: str, folder: Path, api: str, tmp: str) -> dict:
    instance = Path(tmp) / f"instance-{kind}"
    instance.mkdir(exist_ok=True)
    migrate = subprocess.run(  # noqa: S603 - migrated in a process of its own, so that the
        # figures below are the work's alone
        [sys.executable, "-m", "flask", "--app", "portal", "db", "upgrade"],
        cwd=REPO,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "PORTAL_ENV": "test",
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": str(instance),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    if migrate.returncode != 0:
        raise SystemExit(f"migrating {database_url} failed:\n{migrate.stderr[-3000:]}")
    out = subprocess.run(  # noqa: S603
        [
            sys.executable,
            __file__,
            "--phase",
            kind,
            "--database-url",
            database_url,
            "--folder",
            str(folder),
            "--api",
            api,
            "--instance",
            str(instance),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} phase failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="requests a second (REGISTRY_SYNC_RATE); default: the portal's polite default (3), "
        "which with pages of 1,000 caps the sync at 3,000 records/s",
    )
    parser.add_argument("--phase", choices=["import", "sync"], help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        figures = phase(args.phase, args.database_url, args.folder, args.api, args.instance)
        print(json.dumps(figures))
        return 0

    import sqlalchemy as sa

    from portal.config import normalise_database_url

    server = os.environ.get("TEST_DATABASE_URL") or DEFAULT_SERVER
    admin = sa.create_engine(normalise_database_url(server), isolation_level="AUTOCOMMIT")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    if args.rate:
        os.environ["REGISTRY_SYNC_RATE"] = str(args.rate)
    rate = os.environ.get("REGISTRY_SYNC_RATE", "3 (the default)")
    print(f"request rate: at most {rate} a second")
    with tempfile.TemporaryDirectory(prefix="bench_sync_") as tmp:
        files = Path(tmp) / "studies"
        start = time.perf_counter()
        sys.path.insert(0, str(REPO / "bench"))
        from parse_floor import generate_ctgov_v2

        generate_ctgov_v2(files, args.n, args.seed)
        n = build_pages(files, Path(tmp) / "pages", PAGE)
        print(
            f"generated {n:,} studies as files and as {-(-n // PAGE)} API pages of {PAGE:,} "
            f"in {time.perf_counter() - start:.1f} s"
        )

        import multiprocessing

        port_file = Path(tmp) / "port"
        stand_in = multiprocessing.get_context("spawn").Process(
            target=serve, args=(str(Path(tmp) / "pages"), str(port_file)), daemon=True
        )
        stand_in.start()
        for _ in range(200):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.05)
        api = f"http://127.0.0.1:{port_file.read_text()}/api/v2"

        results = {}
        try:
            for kind in ("import", "sync"):
                name = f"bench_sync_{kind}"
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                url = (
                    sa.make_url(normalise_database_url(server))
                    .set(database=name)
                    .render_as_string(hide_password=False)
                )
                try:
                    results[kind] = run_phase(kind, url, files, api, tmp)
                finally:
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            stand_in.terminate()
            stand_in.join(5)
            admin.dispose()

    imp = results["import"]["runs"][0]
    syn, again = results["sync"]["runs"]
    import_rate = imp["records_seen"] / imp["seconds"]
    sync_rate = syn["records_seen"] / syn["seconds"]
    print(
        f"import from files: {imp['records_seen']:,} records in {imp['seconds']:.1f} s = "
        f"{import_rate:,.0f} records/s (created {imp['created']:,}, rejected {imp['rejected']})"
    )
    print(
        f"sync from the API: {syn['records_seen']:,} records in {syn['seconds']:.1f} s = "
        f"{sync_rate:,.0f} records/s (created {syn['created']:,}, rejected {syn['rejected']})"
    )
    print(f"ratio sync / import: {sync_rate / import_rate:.2f}x (target >= 0.7x)")
    print(
        f"second sync: {again['unchanged']:,} unchanged of {again['records_seen']:,}, "
        f"created {again['created']}, updated {again['updated']}, in {again['seconds']:.1f} s"
    )
    print(
        f"peak RSS: import process {results['import']['peak_rss_mb']:.0f} MB (its reader "
        f"process {results['import']['children_peak_rss_mb']:.0f} MB), sync process "
        f"{results['sync']['peak_rss_mb']:.0f} MB (target <= 500 MB); before the work "
        f"(the app): {results['import']['rss_before_mb']:.0f} MB and "
        f"{results['sync']['rss_before_mb']:.0f} MB"
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
