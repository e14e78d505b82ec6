"""People see the sync: the watch list on the organisation page, new trials offered on the home
page, the trial page's "Registry record as of", and "Sync now" with a real worker."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g

from portal.extensions import db
from portal.models import BackgroundJob, RegistryEntry, RegistryWatch, Trial
from tests import factories
from tests.registry_sync.conftest import run_sync


def test_a_sponsor_admin_watches_a_sponsor_and_its_new_trials_are_offered(
    sync_app, standin, tmp_path, browser
):
    admin = factories.member("sponsor_admin")
    browser.login(admin.email, factories.PASSWORD)
    page = browser.get("/organisation").get_data(as_text=True)
    assert "Watch list" in page and "You are not watching anything yet" in page

    bad = browser.post(
        "/organisation/watches",
        {"kind": "trial", "value": "not a number"},
        token_from="/organisation",
        follow_redirects=True,
    )
    assert "Enter a ClinicalTrials.gov number" in bad.get_data(as_text=True)
    added = browser.post(
        "/organisation/watches",
        {"kind": "sponsor", "value": "Example Sponsor NHS Trust"},
        token_from="/organisation",
        follow_redirects=True,
    )
    assert "Example Sponsor NHS Trust was added to your watch list" in added.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RegistryWatch)) == 1

    result, report = run_sync(sync_app, tmp_path, "--registry", "isrctn")
    assert result.exit_code == 0, result.output

    home = browser.get("/").get_data(as_text=True)
    count = len(standin.isrctn)
    assert f"{count} new trials under your sponsor name — " in home
    assert "review and claim" in home
    offered = browser.get("/organisation/new-trials").get_data(as_text=True)
    assert offered.count("Claim this trial") == count


def test_trial_page_says_how_fresh_its_registry_record_is(sync_app, standin, tmp_path, browser):
    result, _ = run_sync(sync_app, tmp_path, "--registry", "ctgov")
    assert result.exit_code == 0, result.output
    admin = factories.member("sponsor_admin")
    org = admin.membership.organisation
    entry = db.session.scalars(sa.select(RegistryEntry)).first()
    trial = db.session.get(Trial, entry.trial_id)
    trial.owner_organisation_id = org.id
    db.session.commit()
    browser.login(admin.email, factories.PASSWORD)

    page = browser.get(f"/trials/{trial.id}").get_data(as_text=True)

    assert "Registry record as of " in page
    assert "(checked " in page
    assert entry.last_updated.strftime("%B %Y") in page  # a worded date, never ISO


def test_sync_now_runs_as_a_job_with_progress(sync_app, standin, browser, run_jobs):
    admin = factories.staff("admin")
    browser.login(admin.email, factories.PASSWORD)
    index = browser.get("/imports/").get_data(as_text=True)
    assert "Registry sync" in index

    response = browser.post("/imports/sync", token_from="/imports/sync")
    assert response.status_code == 302
    waiting = browser.get("/imports/sync").get_data(as_text=True)
    assert "This page updates itself" in waiting
    run_jobs()
    g.pop("_login_user", None)  # the worker closed the session the signed-in user was in

    job = db.session.scalars(sa.select(BackgroundJob)).one()
    assert job.status == "finished", job.error
    assert job.result["records_seen"] == len(standin.studies) + len(standin.isrctn)
    done = browser.get("/imports/sync").get_data(as_text=True)
    assert "The last sync finished" in done
    assert "Last complete sync" in done


def test_a_reviewer_sees_the_sync_but_cannot_start_it(sync_app, browser):
    reviewer = factories.staff("reviewer")
    browser.login(reviewer.email, factories.PASSWORD)
    page = browser.get("/imports/sync").get_data(as_text=True)
    assert "Sync now" not in page
    response = browser.post("/imports/sync", token_from="/imports/sync")
    assert response.status_code in (302, 403, 404)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BackgroundJob)) == 0


def test_the_daily_job_syncs_every_registry(sync_app, standin, run_jobs):
    """What the scheduler's "registries-daily-sync" enqueues, run by a real worker."""
    from portal.jobs import QUEUE_DEFAULT, enqueue
    from portal.models import RegistrySyncState
    from portal.timeutil import today
    from workers.registry_sync import daily_sync

    enqueue(daily_sync, queue_name=QUEUE_DEFAULT)
    run_jobs()

    job = db.session.scalars(sa.select(BackgroundJob)).one()
    assert job.status == "finished", job.error
    assert job.params["reason"] == "daily"
    for source in ("ctgov", "isrctn"):
        assert db.session.get(RegistrySyncState, source).cursor_on == today()


def test_sponsor_names_of_approved_claims_are_watched_by_themselves(app, browser):
    from portal.models import Claim
    from portal.services.registry_sync import watch_list, watched_for_sync
    from portal.timeutil import utcnow

    admin = factories.member("sponsor_admin")
    org = admin.membership.organisation
    mine = factories.trial(sponsor_name="Verified Sponsor Ltd", owner=org)
    factories.trial(sponsor_name="Someone Else plc")
    db.session.add(
        Claim(
            trial_id=mine.id,
            organisation_id=org.id,
            status="approved",
            match_reason="sponsor name",
            decided_at=utcnow(),
        )
    )
    db.session.commit()

    [watch] = watch_list(org.id)
    assert (watch.kind, watch.value, watch.automatic) == ("sponsor", "Verified Sponsor Ltd", True)
    assert watched_for_sync()[1] == ["Verified Sponsor Ltd"]
    browser.login(admin.email, factories.PASSWORD)
    page = browser.get("/organisation").get_data(as_text=True)
    assert "Verified Sponsor Ltd" in page
    assert "added by the portal from a claim a reviewer approved" in page
