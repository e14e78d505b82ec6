"""``flask trials import``: summary, --report JSON, --resume, and a run with only DATABASE_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import ImportRun, RegistryEntry, Trial
from portal.services.imports import runs
from tests.conftest import ROOT, private_postgres_database
from tests.imports.conftest import CTGOV_FILE, ISRCTN_FILE, copy_sample

REPORT_KEYS = {"records_seen", "created", "updated", "unchanged", "merged", "rejected"}


def test_import_prints_a_summary_and_writes_the_report(app, samples, tmp_path):
    folder = tmp_path / "in"
    copy_sample(samples, CTGOV_FILE, folder)
    (folder / "broken.xml").write_text("<clinical_study><id_info>")
    report_file = tmp_path / "report.json"

    result = app.test_cli_runner().invoke(
        args=["trials", "import", str(folder), "--report", str(report_file)]
    )

    assert result.exit_code == 0, result.output
    for line in ("created", "updated", "unchanged", "merged", "rejected"):
        assert line in result.output
    assert "broken.xml" in result.output
    report = json.loads(report_file.read_text())
    assert set(report) == REPORT_KEYS
    assert (report["records_seen"], report["created"], report["updated"]) == (2, 1, 0)
    assert (report["unchanged"], report["merged"]) == (0, 0)
    [rejected] = report["rejected"]
    assert set(rejected) == {"file", "record", "reason"}
    assert rejected["file"].endswith("broken.xml") and "XML" in rejected["reason"]


def test_files_folders_and_zips_are_recognised_by_content(app, samples, tmp_path):
    # no extensions that say what they are: a zip called .dat, JSON called .txt
    archive = tmp_path / "export.dat"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(samples / ISRCTN_FILE, "inner/record")
    plain = tmp_path / "study.txt"
    plain.write_bytes((samples / CTGOV_FILE).read_bytes())

    result = app.test_cli_runner().invoke(args=["trials", "import", str(archive), str(plain)])

    assert result.exit_code == 0, result.output
    assert "created            2" in result.output
    registries = db.session.execute(sa.select(RegistryEntry.registry_name)).scalars()
    assert sorted(registries) == ["ClinicalTrials.gov", "ISRCTN"]


def test_resume_option_continues_an_interrupted_run(app, samples, monkeypatch):
    folder = samples / "ctgov-v2-json" / "aact-fixtures"
    real = runs._commit_batch
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(runs, "_commit_batch", interrupted)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["trials", "import", str(folder), "--batch-size", "3"])
    assert first.exit_code == 130
    assert "interrupted after 3 records" in first.output
    assert "flask trials import --resume" in first.output
    run = db.session.execute(sa.select(ImportRun)).scalar_one()
    assert run.status == "failed" and run.records_seen == 3

    second = runner.invoke(args=["trials", "import", "--resume", str(run.id), str(folder)])

    assert second.exit_code == 0, second.output
    assert f"Import run {run.id} finished" in second.output
    db.session.expire_all()
    assert db.session.get(ImportRun, run.id).status == "finished"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Trial)) == 8


def test_import_without_paths_is_a_usage_error(app):
    result = app.test_cli_runner().invoke(args=["trials", "import"])
    assert result.exit_code == 2
    assert "Give at least one file" in result.output


@pytest.fixture
def empty_database(app, tmp_path):
    """A database with no tables: a SQLite file, or a private PostgreSQL database."""
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        with private_postgres_database(server, f"ttp_cli_{os.getpid()}") as url:
            yield url
        return
    yield f"sqlite:///{tmp_path / 'cli.db'}"


def test_the_command_works_on_an_empty_database_with_only_database_url(
    samples, tmp_path, empty_database
):
    # the project's 7 ISRCTN records (tests/data/registry-samples/SOURCES.md)
    report = check_import_on_an_empty_database(samples / "isrctn", tmp_path, empty_database)
    assert report["created"] == 7


@pytest.mark.corpus
def test_the_command_imports_thousands_on_an_empty_database(corpus, tmp_path, empty_database):
    # the corpus's ISRCTN folder: 7 records and the 5167-row search export
    report = check_import_on_an_empty_database(corpus / "isrctn", tmp_path, empty_database)
    assert report["created"] > 5000


def check_import_on_an_empty_database(folder, tmp_path, empty_database) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": empty_database}
    flask = [sys.executable, "-m", "flask", "--app", "portal"]

    upgrade = subprocess.run(
        [*flask, "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    report_file = tmp_path / "report.json"
    result = subprocess.run(
        [*flask, "trials", "import", str(folder), "--report", str(report_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "Import run 1 finished" in result.stdout
    report = json.loads(report_file.read_text())
    assert set(report) == REPORT_KEYS
    engine = sa.create_engine(_driver_url(empty_database))
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM trials")) == report["created"]
    engine.dispose()
    return report


def _driver_url(url: str) -> str:
    from portal.config import normalise_database_url

    return normalise_database_url(url)
