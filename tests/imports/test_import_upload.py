"""The upload page: a reviewer uploads a registry export, a real RQ worker imports it, the page
shows progress and then the summary with the rejections. Bad uploads store nothing."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, BackgroundJob, ImportRun, RegistryEntry
from tests.cli import run_sweep
from tests.factories import PASSWORD, member, staff
from tests.imports.conftest import CTGOV_FILE, ISRCTN_FILE

REFRESH = 'data-poll-ms="2000"'


def export_zip(samples: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.write(samples / CTGOV_FILE, "studies/NCT00763412.json")
        zf.write(samples / ISRCTN_FILE, "studies/isrctn.json")
        zf.writestr("studies/zz-broken.json", '{"protocolSection": {')
    return buffer.getvalue()


def upload_folder(app) -> Path:
    return Path(app.config["UPLOAD_FOLDER"]) / "imports"


def stored_files(app) -> list[Path]:
    folder = upload_folder(app)
    return sorted(folder.iterdir()) if folder.exists() else []


def upload(browser, data: bytes, filename: str = "export.zip"):
    return browser.submit(
        "/imports/", {"export": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )


@pytest.fixture
def work(run_jobs):
    """Run the queued jobs in a real RQ worker, then forget the signed-in user the shared app
    context cached (run_jobs closes the session it belonged to)."""
    from flask import g

    def run() -> None:
        run_jobs()
        g.pop("_login_user", None)

    return run


@pytest.fixture
def reviewer(browser):
    user = staff("reviewer")
    browser.login(user.email, PASSWORD)
    return user


def test_an_uploaded_export_is_imported_by_a_worker_with_live_progress(
    app, browser, work, samples, reviewer
):
    reviewer_id = reviewer.id
    data = export_zip(samples)
    response = upload(browser, data)

    assert response.status_code == 302
    run = db.session.execute(sa.select(ImportRun)).scalar_one()
    run_id, job_id = run.id, run.job_id
    assert response.location.endswith(f"/imports/runs/{run_id}")
    job = db.session.get(BackgroundJob, job_id)
    assert (job.kind, job.status, job.enqueued) == ("import", "queued", True)
    assert job.params["run_id"] == run_id
    sha = hashlib.sha256(data).hexdigest()
    assert stored_files(app) == [upload_folder(app) / sha]
    assert (upload_folder(app) / sha).read_bytes() == data
    assert not str(upload_folder(app)).startswith(str(Path(app.static_folder)))

    waiting = browser.get(f"/imports/runs/{run_id}").get_data(as_text=True)
    assert REFRESH in waiting
    assert "<progress" in waiting and "export.zip" in waiting

    work()

    page = browser.get(f"/imports/runs/{run_id}").get_data(as_text=True)
    assert REFRESH not in page and "<progress" not in page
    assert "Finished" in page
    for key, value in {
        "records_seen": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "merged": 0,
        "rejected": 1,
    }.items():
        assert f'data-count="{key}"><span class="app-counts__number">{value}</span>' in page
    assert "export.zip!studies/zz-broken.json" in page  # the upload's name, not its hash
    assert "broken JSON" in page
    db.session.expire_all()
    job = db.session.get(BackgroundJob, job_id)
    assert (job.status, job.progress) == ("finished", 100)
    assert job.result["created"] == 2 and job.result["rejected"] == 1
    entries = db.session.execute(sa.select(RegistryEntry)).scalars().all()
    assert {e.registry_id for e in entries} == {"NCT00763412", "ISRCTN17473621"}
    actions = db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.actor_id).where(
            AuditEvent.object_type == "import_run"
        )
    ).all()
    assert [a for a, _ in actions] == ["import.started", "import.uploaded", "import.finished"]
    assert {actor for _, actor in actions} == {reviewer_id}

    listing = browser.get("/imports/").get_data(as_text=True)
    assert f"/imports/runs/{run_id}" in listing


def test_the_same_file_uploaded_again_is_stored_once_and_changes_nothing(
    app, browser, work, samples, reviewer
):
    data = export_zip(samples)
    upload(browser, data)
    work()
    assert upload(browser, data).status_code == 302
    work()
    assert len(stored_files(app)) == 1
    second = db.session.execute(sa.select(ImportRun).order_by(ImportRun.id.desc())).scalars()
    latest = next(iter(second))
    assert (latest.status, latest.unchanged, latest.created) == ("finished", 2, 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The selected file is empty"),
        (b"   \n", "The selected file is empty"),
        (b"Dear reviewer,\nplease find the trials attached.\n", "not a registry export"),
        (b"<html><body>hello</body></html>", "not a registry export"),
    ],
    ids=["empty", "blank", "text", "html"],
)
def test_a_bad_upload_is_refused_on_the_form_and_nothing_is_stored(
    app, browser, reviewer, data, message
):
    response = upload(browser, data, "trials.json")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and message in page
    assert db.session.execute(sa.select(ImportRun)).first() is None
    assert db.session.execute(sa.select(BackgroundJob)).first() is None
    assert stored_files(app) == []


def test_no_file_selected_is_refused(app, browser, reviewer):
    response = browser.submit("/imports/", {}, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Select a registry export to upload" in response.get_data(as_text=True)


def test_a_file_over_the_size_limit_is_refused_on_the_form(app, browser, reviewer, samples):
    # (kept under 500 KB, above which the test client spools the body to a temporary file)
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    data = (samples / CTGOV_FILE).read_bytes() * 10  # about 400 KB

    response = upload(browser, data, "big.json")

    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and "must be smaller than 256 KB" in page
    assert 'name="csrf_token"' in page  # the form, ready to try again
    assert db.session.execute(sa.select(ImportRun)).first() is None
    assert stored_files(app) == []


def test_sponsors_cannot_see_or_use_the_upload_page(app, browser, samples):
    user = member("sponsor")
    browser.login(user.email, PASSWORD)
    assert browser.client.get("/imports/").status_code == 403
    token_page = browser.client.get("/").get_data(as_text=True)
    from tests.conftest import csrf_token_from

    response = browser.client.post(
        "/imports/",
        data={"csrf_token": csrf_token_from(token_page), "export": (io.BytesIO(b"{}"), "x.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert browser.client.get("/imports/runs/1").status_code == 403
    assert stored_files(app) == []


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in ("/imports/", "/imports/runs/1"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location


def test_the_form_needs_its_csrf_token(app, browser, reviewer, samples):
    response = browser.client.post(
        "/imports/",
        data={"export": (io.BytesIO(export_zip(samples)), "export.zip")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert stored_files(app) == []


def test_an_unknown_run_is_not_found(browser, reviewer):
    assert browser.client.get("/imports/runs/999").status_code == 404


def test_reviewers_see_imports_in_the_navigation(browser, reviewer):
    page = browser.get("/").get_data(as_text=True)
    assert 'href="/imports/"' in page


def test_an_upload_made_while_redis_is_down_is_saved_and_imported_when_it_is_back(
    app, browser, work, samples, reviewer, tmp_path
):
    real_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = f"unix://{tmp_path}/no-redis-here.sock"
    app.extensions.pop("portal_redis", None)
    try:
        response = upload(browser, export_zip(samples))
        assert response.status_code == 302
        page = browser.get(response.location).get_data(as_text=True)
        assert "The job queue cannot be reached at the moment" in page
        assert "Your upload is saved" in page
        run = db.session.execute(sa.select(ImportRun)).scalar_one()
        run_id, job_id = run.id, run.job_id
        assert db.session.get(BackgroundJob, job_id).enqueued is False
        assert "0 enqueued, 1 still waiting (Redis is still unreachable)" in run_sweep(app)
    finally:
        app.config["REDIS_URL"] = real_url
        app.extensions.pop("portal_redis", None)

    assert "Uploaded imports: 1 enqueued, 0 still waiting." in run_sweep(app)
    assert db.session.get(BackgroundJob, job_id).enqueued is True
    assert "0 enqueued, 0 still waiting" in run_sweep(app)  # never enqueued twice
    work()
    page = browser.get(f"/imports/runs/{run_id}").get_data(as_text=True)
    assert "cannot be reached" not in page
    assert 'data-count="created"><span class="app-counts__number">2</span>' in page
    [event] = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "import.enqueued")
    ).scalars()
    assert event.object_id == job_id
    assert event.after["reason"] == "the job queue is reachable again"
