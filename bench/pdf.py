"""PDF speed: certificate render vs the WeasyPrint floor, request-to-download with one real
worker, and a 5,000-trial portfolio report (time and peak RSS). Prints figures; not a test.

    .venv/bin/python bench/pdf.py                    # 5,000 trials, 10 certificate requests
    .venv/bin/python bench/pdf.py --trials 500 --requests 5

Everything is local and temporary: a SQLite database built by the migrations, an embedded
redis-server on a unix socket, and one ``flask --app portal worker`` subprocess (pdf queue).

Targets: certificate render <= 1.5x its own text rendered as plain paragraphs, same run (issue 18;
issue 7 asked for <= 2x the floor, a minimal one-page document rendered by WeasyPrint with the
same options); request -> downloadable p50 <= 1 s with one worker (issue 18); portfolio report of
5,000 trials <= 60 s with peak RSS <= 1 GB (issue 7).

The certificate render is what a worker does: the template (with the QR code) and the PDF, with
the certificate's stylesheet (parsed once per process, as in a worker; nothing else is kept
between renders). The floor goes through the same ``html_to_pdf`` with the same WeasyPrint
options (PDF/UA-1 tags, a PDF identifier, subset fonts), no stylesheet of its own. The references
are the certificate's text alone (its HTML's text and the page footers its stylesheet prints),
in the certificate's font and size, same options: as plain paragraphs, one for each block of the
certificate (each heading, paragraph, table row and page footer: the issue 18 target), and as one
single paragraph (the least any layout of that text can cost).
"""

from __future__ import annotations

import argparse
import gc
import html as html_lib
import io
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402
from pypdf import PdfReader  # noqa: E402

FLOOR_HTML = (
    "<!DOCTYPE html><html lang='en-GB'><head><meta charset='utf-8'><title>Floor</title></head>"
    "<body><h1>Floor</h1><p>A minimal one-page document.</p></body></html>"
)
DUTIES = (
    ("UK-REG", "uk-2026", "Register the trial"),
    ("UK-RES", "uk-2026", "Post a summary of results"),
    ("UK-END", "uk-2026", "Notify the end of the trial"),
    ("UK-PART", "uk-2026", "Offer participants a lay summary"),
    ("US-RES", "us-fdaaa", "Submit results to ClinicalTrials.gov"),
)
STATUSES = ("met", "met_late", "upcoming", "due_soon", "overdue", "data_needed", "deferred")


def text_only(html: str, footers: list[str] = ()) -> tuple[str, int]:
    """The visible text of ``html`` (its body, then ``footers``: the page footers the stylesheet
    prints) as one plain paragraph of a minimal document, in the certificate's font and size,
    and its length in characters."""
    body = html.split("<body>", 1)[1]
    text = re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", body))).strip()
    text = " ".join([text, *footers])
    paragraph = f"<p style='font: 8.5pt \"DejaVu Sans\"'>{html_lib.escape(text)}</p>"
    document = FLOOR_HTML.replace("<h1>Floor</h1><p>A minimal one-page document.</p>", paragraph)
    return document, len(text)


def text_paragraphs(html: str, footers: list[str] = ()) -> tuple[str, int]:
    """The visible text of ``html`` as plain paragraphs, one for each block of the certificate
    (heading, paragraph, table row, box, page footer), in the certificate's font and size; and
    their count."""
    body = html.split("<body>", 1)[1]
    blocks = re.split(r"</(?:p|h1|h2|h3|tr|div|caption)>", body)
    texts = [
        re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", block))).strip()
        for block in blocks
    ] + list(footers)
    paragraphs = "".join(
        f"<p style='font: 8.5pt \"DejaVu Sans\"'>{html_lib.escape(text)}</p>"
        for text in texts
        if text
    )
    document = FLOOR_HTML.replace("<h1>Floor</h1><p>A minimal one-page document.</p>", paragraphs)
    return document, sum(1 for text in texts if text)


def env_for(folder: Path, redis_url: str) -> dict[str, str]:
    return {
        "PORTAL_ENV": "test",
        "DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret",
        "INSTANCE_PATH": str(folder / "instance"),
        "PUBLIC_URL": "https://portal.example.org",
        "RATELIMIT_ENABLED": "false",
    }


def verdict(duty: str, title: str, status: str, due: date | None) -> dict:
    return {
        "id": duty,
        "title": title,
        "status": status,
        "due": due.isoformat() if due else None,
        "explanation": f"{title}: due 12 months after the end of the trial (RULES.md).",
        "inputs": {
            "end_of_trial_on": {"value": "2025-06-30", "source": "ISRCTN ISRCTN12345678, imported"},
            "registered_on": {"value": "2024-01-10", "source": "ClinicalTrials.gov NCT01234567"},
        },
        "assumptions": ["deferral_months=30"],
        "source": "RULES.md uk-2026, S.I. 2025/538 reg. 43",
        "ruleset_version": "uk-2026.1",
        "missing": ["end_of_trial_on"] if status == "data_needed" else [],
        "met_on": "2025-12-01" if status.startswith("met") else None,
        "deferred_until": "2028-12-31" if status == "deferred" else None,
        "estimated": False,
    }


def populate(db, org_id: int, n: int, as_of: date, seed: int = 7) -> list[int]:
    """``n`` trials of ``org_id``, each with a registry entry, 5 duties and a year of history."""
    from portal.models import Obligation, ObligationStatusChange, RegistryEntry, Trial

    rnd = random.Random(seed)
    conn = db.session.connection()
    first = (conn.execute(sa.select(sa.func.max(Trial.id))).scalar() or 0) + 1
    conn.execute(
        sa.insert(Trial.__table__),
        [
            {
                "id": first + i,
                "title": f"A randomised controlled trial of intervention {i} versus usual care "
                f"in adults with condition {i % 97} (BENCH-{i})",
                "sponsor_name": "Bench Sponsor NHS Trust",
                "owner_organisation_id": org_id,
                "imported_facts": {},
            }
            for i in range(n)
        ],
    )
    ids = list(range(first, first + n))
    conn.execute(
        sa.insert(RegistryEntry.__table__),
        [
            {
                "trial_id": tid,
                "registry": "ClinicalTrials.gov",
                "registry_id": f"NCT{80000000 + tid:08d}",
                "registered_on": date(2024, 1, 10),
                "content_hash": "0" * 64,
                "record": {},
            }
            for tid in ids
        ],
    )
    obligations, history = [], []
    for tid in ids:
        for duty, ruleset, title in DUTIES:
            status = rnd.choices(STATUSES, weights=(30, 5, 25, 8, 12, 10, 10))[0]
            # Due dates that fit the status (a past due date on an open duty would be overdue).
            days = {
                "met": (-700, -1),
                "met_late": (-700, -30),
                "overdue": (-300, -1),
                "due_soon": (0, 29),
                "upcoming": (30, 700),
                "deferred": (30, 900),
            }.get(status)
            due = as_of + timedelta(days=rnd.randint(*days)) if days else None
            obligations.append(
                {
                    "trial_id": tid,
                    "duty": duty,
                    "ruleset": ruleset,
                    "status": status,
                    "due": due,
                    "verdict": verdict(duty, title, status, due),
                    "params_version": 0,
                    "as_of": as_of,
                }
            )
            day, old = as_of - timedelta(days=365), None
            for new in ("upcoming", status):
                history.append(
                    {
                        "trial_id": tid,
                        "duty": duty,
                        "old_status": old,
                        "new_status": new,
                        "changed_on": day,
                        "reason": "daily",
                    }
                )
                old, day = new, day + timedelta(days=rnd.randint(30, 330))
    conn.execute(sa.insert(Obligation.__table__), obligations)
    conn.execute(sa.insert(ObligationStatusChange.__table__), history)
    db.session.commit()
    return ids


def median_times(fn, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn`` (CPU time is steadier on a busy machine)."""
    [times] = interleaved_median_times([fn], runs)
    return times


def interleaved_median_times(fns, runs: int) -> list[tuple[float, float]]:
    """Median wall and CPU seconds of each of ``fns``, run in turn ``runs`` times, so that a
    change in the machine's load weighs on all of them alike (their ratios are what count)."""
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            # Each render starts as in a fresh work-horse (RQ forks one per job, and it exits
            # after the job): with no garbage left by the render before it, which would
            # otherwise be collected in the middle of this one (and of another document).
            gc.collect()
            started, started_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[i].append(time.perf_counter() - started)
            cpu[i].append(time.process_time() - started_cpu)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu, strict=True)]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--runs", type=int, default=31, help="renders per median (floor, cert)")
    args = parser.parse_args()

    from flask import g
    from flask_migrate import upgrade
    from werkzeug.security import generate_password_hash

    from portal import create_app
    from portal.extensions import db
    from portal.models import BackgroundJob, Certificate, Membership, Organisation, Trial, User
    from portal.redis_embedded import EmbeddedRedis
    from portal.services import accounts, pdf_jobs
    from portal.timeutil import today, utcnow
    from workers.pdf import certificate_html, certificate_pdf
    from workers.pdf_render import html_to_pdf

    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as tmp:
        folder = Path(tmp)
        redis = EmbeddedRedis(folder / "redis")
        redis_url = redis.start()
        env = env_for(folder, redis_url)
        worker = None
        try:
            app = create_app(env=env, config={"WTF_CSRF_ENABLED": False})
            with app.app_context():
                upgrade()
            with app.app_context():
                as_of = today()
                org = Organisation(name="Bench Sponsor NHS Trust", status="approved")
                db.session.add(org)
                db.session.flush()
                users = {}
                for role in ("sponsor", "compliance_officer"):
                    user = User(
                        email=f"{role}@bench.example",
                        full_name=f"Bench {role}",
                        password_hash=generate_password_hash("x"),
                        email_confirmed_at=utcnow(),
                    )
                    db.session.add(user)
                    db.session.flush()
                    db.session.add(Membership(user_id=user.id, organisation_id=org.id, role=role))
                    users[role] = user.id
                db.session.commit()
                org_id = org.id
                [cert_trial] = populate(db, org_id, 1, as_of, seed=1)

                print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
                print(f"CPUs: {os.cpu_count()}")

                # 1. Certificate render vs the floor, in this process, warm.
                client = app.test_client()
                with client.session_transaction() as session:
                    session["_user_id"] = str(users["sponsor"])
                    session["_fresh"] = True
                    session[accounts.SESSION_KEY] = accounts.start_session(
                        db.session.get(User, users["sponsor"])
                    )
                app.config["REDIS_URL"] = f"unix://{folder}/nothing.sock"  # save, don't enqueue
                client.post(f"/trials/{cert_trial}/certificates")
                app.config["REDIS_URL"] = redis_url
                app.extensions.pop("portal_redis", None)
                cert = db.session.execute(sa.select(Certificate)).scalar_one()

                def floor_pdf():
                    return html_to_pdf(FLOOR_HTML, identifier="floor")

                def cert_pdf():
                    return certificate_pdf(certificate_html(cert), cert.serial)

                # The page footers are text the certificate prints too (from its stylesheet, so
                # not in its HTML): read back from the PDF, as they are printed.
                footers = [
                    line.strip()
                    for page in PdfReader(io.BytesIO(cert_pdf())).pages
                    for line in (page.extract_text() or "").splitlines()
                    if line.strip().startswith(f"Certificate {cert.serial}, page ")
                ]
                plain, characters = text_only(certificate_html(cert), footers)
                blocks_html, blocks = text_paragraphs(certificate_html(cert), footers)

                def text_pdf():
                    return html_to_pdf(plain, identifier=cert.serial)

                def paragraphs_pdf():
                    return html_to_pdf(blocks_html, identifier=cert.serial)

                # As in a worker: `flask worker` collects and freezes everything it has loaded
                # before it forks a work-horse per job (portal/cli.py), so the collector's full
                # passes during a render do not walk the application's objects. Without it, this
                # process (an app, a test client, a database session) makes every render pay for
                # objects a work-horse does not look at.
                gc.collect()
                gc.freeze()
                for _ in range(3):
                    floor_pdf(), cert_pdf(), text_pdf(), paragraphs_pdf()
                (floor, floor_cpu), (render, render_cpu), (text, text_cpu), (par, par_cpu) = (
                    interleaved_median_times(
                        [floor_pdf, cert_pdf, text_pdf, paragraphs_pdf], args.runs
                    )
                )
                template, _ = median_times(lambda: certificate_html(cert), args.runs)
                pdf = cert_pdf()
                pages = len(PdfReader(io.BytesIO(pdf)).pages)
                print(
                    f"certificate render ({len(cert.statement['obligations'])} duties, "
                    f"{pages} page(s), {len(pdf) / 1e3:.0f} kB): "
                    f"{render * 1000:.1f} ms wall / {render_cpu * 1000:.1f} ms CPU median "
                    f"(of which the template and QR code {template * 1000:.1f} ms); floor "
                    f"(minimal one-page document, same options) {floor * 1000:.1f} ms wall / "
                    f"{floor_cpu * 1000:.1f} ms CPU; ratio {render / floor:.2f}x wall, "
                    f"{render_cpu / floor_cpu:.2f}x CPU of the floor"
                )
                print(
                    f"  its text alone ({characters:,} characters) as {blocks} plain paragraphs, "
                    f"same options: {par * 1000:.1f} ms wall / {par_cpu * 1000:.1f} ms CPU; "
                    f"certificate / paragraphs {render / par:.2f}x wall, "
                    f"{render_cpu / par_cpu:.2f}x CPU (target <= 1.5x)"
                )
                print(
                    f"  its text alone as one single paragraph, same options: "
                    f"{text * 1000:.1f} ms wall / {text_cpu * 1000:.1f} ms CPU; certificate / "
                    f"one paragraph {render / text:.2f}x wall, {render_cpu / text_cpu:.2f}x CPU"
                )
                # the saved request is failed so it does not wait in the queue
                pdf_jobs.fail(cert.job_id, "benchmark: not rendered by a worker")

                # 2. Request -> downloadable, one real worker.
                worker_log = (folder / "worker.log").open("wb")
                worker = subprocess.Popen(  # noqa: S603
                    [str(REPO / ".venv/bin/flask"), "--app", "portal", "worker", "--queue", "pdf"],
                    cwd=REPO,
                    env={**os.environ, **env},
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                from rq import Worker

                from portal.jobs import redis_connection

                deadline = time.monotonic() + 60
                while not Worker.all(connection=redis_connection()):
                    if time.monotonic() > deadline:
                        raise SystemExit("the worker did not start")
                    time.sleep(0.1)
                time.sleep(1.0)  # let it finish starting up (scheduler, registries)

                durations = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.post(f"/trials/{cert_trial}/certificates")
                    cert_id = int(response.location.rsplit("/", 1)[-1])
                    while True:
                        db.session.rollback()
                        status = db.session.get(Certificate, cert_id).status
                        if status == "ready":
                            break
                        if status == "failed":
                            raise SystemExit("a certificate failed: see the worker log")
                        time.sleep(0.01)
                    download = client.get(f"/certificates/{cert_id}/certificate.pdf")
                    assert download.status_code == 200
                    durations.append(time.perf_counter() - started)
                durations.sort()
                p50 = statistics.median(durations)
                p90 = durations[min(len(durations) - 1, int(len(durations) * 0.9))]
                print(
                    f"request -> downloadable, one worker: p50 {p50:.2f} s, p90 {p90:.2f} s, "
                    f"max {durations[-1]:.2f} s over {len(durations)} requests "
                    "(target p50 <= 1 s)"
                )

                # 3. The portfolio report.
                t0 = time.perf_counter()
                populate(db, org_id, args.trials - 1, as_of, seed=2)
                trials = db.session.execute(sa.select(sa.func.count(Trial.id))).scalar_one()
                print(f"generated {trials:,} trials in {time.perf_counter() - t0:.1f} s")
                with client.session_transaction() as session:
                    session["_user_id"] = str(users["compliance_officer"])
                    session[accounts.SESSION_KEY] = accounts.start_session(
                        db.session.get(User, users["compliance_officer"])
                    )
                g.pop("_login_user", None)  # the shared app context caches the signed-in user
                started = time.perf_counter()
                response = client.post("/reports", data={"organisation": str(org_id)})
                job_id = response.location.rsplit("/", 1)[-1]
                peak, horse, cpu = 0.0, None, 0.0
                while True:
                    db.session.rollback()
                    job = db.session.get(BackgroundJob, job_id)
                    if job.status in ("finished", "failed"):
                        break
                    holder = pdf_jobs.lease_holder(job_id)
                    if holder:
                        horse = int(holder.rsplit(":", 1)[1])
                        peak = max(peak, peak_rss_mb(horse) or 0.0)
                        cpu = max(cpu, cpu_seconds(horse) or 0.0)
                    time.sleep(0.1)
                elapsed = time.perf_counter() - started
                if job.status != "finished":
                    raise SystemExit(f"the report failed: {job.error}")
                pdf = client.get(f"/reports/{job_id}/report.pdf").get_data()
                csv_bytes = client.get(f"/reports/{job_id}/report.csv").get_data()
                print(
                    f"portfolio report, {job.result['trials']:,} trials / "
                    f"{job.result['obligations']:,} duties: {elapsed:.1f} s request -> ready "
                    f"(target <= 60 s; work-horse CPU {cpu:.1f} s), "
                    f"work-horse peak RSS {peak:.0f} MB (target <= 1024 MB); "
                    f"PDF {len(pdf) / 1e6:.1f} MB, {len(PdfReader(io.BytesIO(pdf)).pages)} "
                    f"pages; CSV {len(csv_bytes) / 1e6:.1f} MB"
                )
                print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        finally:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(20)
                except subprocess.TimeoutExpired:
                    worker.kill()
            redis.stop()


if __name__ == "__main__":
    main()
