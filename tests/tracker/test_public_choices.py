"""What a sponsor may add to the public tracker: its own facts (opt-in, audited, withdrawable)
and short responses to verdicts, published only after a reviewer reads them (issue 21)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, TrackerResponse, Trial
from portal.services.sponsor_facts import set_facts
from portal.services.tracker import recompute
from tests.factories import PASSWORD, OrganisationFactory, member, staff
from tests.pages.crawl import read
from tests.tracker.helpers import uk_trial

AS_OF = date(2027, 8, 1)
SECRET = "2026-11-03"  # the sponsor's own end-of-trial notification date


def _owned_trial():
    org = OrganisationFactory()
    admin = member("sponsor_admin", org)
    row = uk_trial("Acme Pharma Ltd", end="2026-06-30", owner=org)
    set_facts(admin, db.session.get(Trial, row.id), {"end_of_trial_notified_on": SECRET})
    recompute(AS_OF)
    return org, admin, row


def _actions():
    return [
        a
        for a in db.session.execute(sa.select(AuditEvent.action).order_by(AuditEvent.id)).scalars()
        if a.startswith("tracker.")
    ]


def test_private_facts_show_only_while_the_organisation_opts_in(app, browser, client):
    org, admin, row = _owned_trial()
    page = f"/tracker/trials/{row.id}"
    assert "3 November 2026" not in client.get(page).get_data(as_text=True)

    browser.login(admin.email, PASSWORD)
    assert "registry records only" in browser.get("/organisation").get_data(as_text=True)
    response = browser.submit("/tracker/organisation", {"choice": "in"})
    assert response.status_code == 302
    shown = client.get(page).get_data(as_text=True)
    assert "What the sponsor has told the portal" in shown and "3 November 2026" in shown
    # The figures stay registry-only.
    assert "Overdue" in shown

    again = browser.submit("/tracker/organisation", {"choice": "in"}, follow=True)
    assert "already shows" in again.get_data(as_text=True)
    browser.submit("/tracker/organisation", {"choice": "out"})
    assert "3 November 2026" not in client.get(page).get_data(as_text=True)
    assert _actions() == ["tracker.opted_in", "tracker.opted_out"]


def test_a_plain_sponsor_cannot_change_the_choice(app, browser):
    org = OrganisationFactory()
    user = member("sponsor", org)
    browser.login(user.email, PASSWORD)
    assert browser.client.get("/tracker/organisation").status_code == 403


def test_a_response_appears_only_after_a_reviewer_publishes_it(app, browser, client):
    org, admin, row = _owned_trial()
    sponsor = member("sponsor", org)
    browser.login(sponsor.email, PASSWORD)
    trial_page = browser.get(f"/tracker/trials/{row.id}").get_data(as_text=True)
    assert f"/tracker/trials/{row.id}/respond" in trial_page
    too_long = browser.submit(
        f"/tracker/trials/{row.id}/respond", {"duty": "UK-RES", "body": "x" * 1001}
    )
    assert too_long.status_code == 200 and "1000 characters or fewer" in too_long.get_data(True)
    text = "Results were posted on our own website in May 2027; the registry update is pending."
    sent = browser.submit(f"/tracker/trials/{row.id}/respond", {"duty": "UK-RES", "body": text})
    assert sent.status_code == 302
    assert text not in client.get(f"/tracker/trials/{row.id}").get_data(as_text=True)

    browser.logout()
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    queue = browser.get("/review/tracker-responses").get_data(as_text=True)
    response = db.session.execute(sa.select(TrackerResponse)).scalar_one()
    assert f"/review/tracker-responses/{response.id}" in queue
    url = f"/review/tracker-responses/{response.id}"
    refused = browser.submit(url, {"decision": "reject", "note": ""})
    assert "Say why" in refused.get_data(as_text=True)
    assert browser.submit(url, {"decision": "publish"}).status_code == 302
    published = read(client.get(f"/tracker/trials/{row.id}").get_data(as_text=True)).text
    assert "The sponsor's response" in published and text in published
    assert "No responses are waiting" in browser.get("/review/tracker-responses").get_data(True)
    assert browser.client.get("/review/tracker-responses/99999999999999999999").status_code == 404
    assert _actions() == ["tracker.response_submitted", "tracker.response_published"]


def test_another_organisation_cannot_respond(app, browser):
    _org, _admin, row = _owned_trial()
    stranger = member("sponsor_admin", OrganisationFactory())
    browser.login(stranger.email, PASSWORD)
    assert f"/tracker/trials/{row.id}/respond" not in browser.get(
        f"/tracker/trials/{row.id}"
    ).get_data(as_text=True)
    assert browser.client.get(f"/tracker/trials/{row.id}/respond").status_code == 404
    assert browser.client.get("/review/tracker-responses").status_code == 403


def test_recompute_command_and_daily_schedule(app, monkeypatch):
    from rq.cron import CronScheduler

    uk_trial("Acme Pharma Ltd", end="2026-06-30")
    result = app.test_cli_runner().invoke(args=["tracker", "recompute", "--as-of", "2027-08-01"])
    assert result.exit_code == 0, result.output
    assert "as of 1 August 2027: 1 trial, 1 sponsor," in result.output
    bad = app.test_cli_runner().invoke(args=["tracker", "recompute", "--as-of", "someday"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
    # The cron command registers the tracker's daily job (start() would block: it returns).
    started = []
    monkeypatch.setattr(CronScheduler, "start", lambda self: started.append(self))
    result = app.test_cli_runner().invoke(args=["obligations", "cron"])
    assert result.exit_code == 0, result.output
    jobs = {job.name: job for job in started[0]._cron_jobs}
    assert jobs["tracker-daily-recompute"].cron == "45 3 * * *"
    assert jobs["tracker-daily-recompute"].func_name == "workers.tracker.recompute_tracker"


def test_the_daily_job_runs_in_a_real_worker(app, run_jobs):
    from portal.jobs import enqueue
    from portal.tracker.queries import last_run
    from workers.tracker import recompute_tracker

    uk_trial("Acme Pharma Ltd", end="2026-06-30")
    enqueue(recompute_tracker, "2027-08-01")
    run_jobs()
    run = last_run()
    assert run is not None and (run.as_of, run.trials, run.sponsors) == (date(2027, 8, 1), 1, 1)
