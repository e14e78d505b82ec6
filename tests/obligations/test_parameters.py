"""/admin/parameters: reviewers read, an administrator changes the [param] values; each change
is a new version, audited, and every trial's verdicts are recomputed with it."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from portal.domain.parameters import current_params
from portal.extensions import db
from portal.models import AuditEvent, BackgroundJob, ParameterSet
from portal.services import ServiceError
from portal.services.obligations import recompute_for_trials
from portal.services.parameters import update_params
from portal.timeutil import today
from tests.factories import PASSWORD, member, staff
from tests.obligations.helpers import make_trial, obligations

URL = "/admin/parameters"
VALUES = {
    "due_soon_days": "30",
    "deferral_months": "30",
    "deferral_max_years": "10",
    "lapse_warning_days": "90",
    "end_date_tolerance_days": "90",
    "eu_window_start": ["21", "7", "2014"],  # day, month, year boxes
    "old_rules_part_applies": "yes",
}


def end_notice_trial():
    """UK-END falls due 60 days from today: upcoming with a 30-day window, due soon with 100."""
    end = today() - timedelta(days=30)
    trial = make_trial(
        {"study_type": "interventional", "countries": ["United Kingdom"]},
        [],
        {"application_submitted_on": "2026-05-01", "approved_on": "2026-06-01",
         "end_of_trial_on": end.isoformat()},
    )  # fmt: skip
    recompute_for_trials([trial.id], reason="import")
    db.session.commit()
    assert obligations(trial.id)["UK-END"].status == "upcoming"
    return trial


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def admin(browser):
    user = staff("admin")
    browser.login(user.email, PASSWORD)
    return user


def test_admin_changes_due_soon_days_new_version_audit_and_recomputed_verdicts(browser, admin):
    trial = end_notice_trial()
    page = page_text(browser.get(URL))
    assert "In force: version 0 (built-in defaults)" in page
    assert "due within 30 days" in page and "RULES.md" not in page  # the spec words, plainly

    response = browser.submit(URL, {**VALUES, "due_soon_days": "100", "note": "HRA guidance v2"})
    assert response.status_code == 302, page_text(response)[:3000]
    page = page_text(browser.client.get(URL))
    assert "Version 1 of the rule parameters is in force" in page
    assert "In force: version 1" in page and "HRA guidance v2" in page and admin.email in page

    row = db.session.execute(sa.select(ParameterSet)).scalar_one()
    assert (row.version, row.values["due_soon_days"], row.created_by_id) == (1, 100, admin.id)
    assert current_params()[1].due_soon_days == 100

    event = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "parameters.changed")
    ).scalar_one()
    assert event.actor_id == admin.id
    assert event.before["values"]["due_soon_days"] == 30
    assert (
        event.after["values"]["due_soon_days"] == 100 and event.after["note"] == "HRA guidance v2"
    )

    db.session.expire_all()
    end = obligations(trial.id)["UK-END"]
    assert (end.status, end.params_version, end.verdict["params_version"]) == ("due_soon", 1, 1)
    assert any(a.startswith("due_soon_days=100") for a in end.verdict["assumptions"])
    assert {o.params_version for o in obligations(trial.id).values()} == {1}


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        ({"due_soon_days": "thirty"}, "Due soon window must be a whole number", "due_soon_days"),
        ({"due_soon_days": ""}, "Enter the due soon window in days", "due_soon_days"),
        ({"lapse_warning_days": "-5"}, "must be between 0 and 36500", "lapse_warning_days"),
        (
            {"deferral_max_years": "1"},
            "Longest deferral: 1 years is shorter than one deferral of 30 months",
            "deferral_max_years",
        ),
        ({"note": "  "}, "Enter a note saying why the parameters change", "note"),
        ({"due_soon_days": "30"}, "No value changed", "note"),
    ],
)
def test_bad_values_show_a_clear_error_and_keep_the_old_version(browser, admin, change, message,
                                                                field):  # fmt: skip
    response = browser.submit(URL, {**VALUES, "note": "a reason", **change})
    assert response.status_code == 200
    page = page_text(response)
    assert "There is a problem" in page and message in page
    assert f'href="#{field}"' in page  # the error summary links to the field
    assert db.session.execute(sa.select(sa.func.count(ParameterSet.id))).scalar() == 0
    assert current_params()[0] == 0


def test_a_reviewer_may_view_but_not_change(browser):
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    page = page_text(browser.get(URL))
    assert "Only an administrator can change the parameters" in page
    assert 'name="note"' not in page
    response = browser.post(URL, {**VALUES, "due_soon_days": "45", "note": "x"}, token_from=URL)
    assert response.status_code == 403
    assert current_params()[0] == 0


def test_a_sponsor_gets_403_and_anonymous_users_are_sent_to_sign_in(browser, client):
    response = client.get(URL)
    assert response.status_code == 302 and "/login" in response.location
    user = member("sponsor")
    browser.login(user.email, PASSWORD)
    assert client.get(URL).status_code == 403


def test_the_admin_navigation_links_to_the_page(browser, admin):
    assert 'href="/admin/parameters"' in page_text(browser.get("/"))


def test_the_service_refuses_non_admins_and_unknown_parameters(app):
    sponsor = member("sponsor")
    with pytest.raises(ServiceError, match="Only an administrator"):
        update_params(sponsor, {"due_soon_days": 10}, "note")
    admin = staff("admin")
    with pytest.raises(ServiceError, match="uk_reg_days is not a parameter") as error:
        update_params(admin, {"uk_reg_days": 10}, "statutory: not a parameter")
    assert error.value.field == "uk_reg_days"
    update_params(admin, {"due_soon_days": 10}, "first")
    update_params(admin, {"lapse_warning_days": 60}, "second")
    version, params = current_params()
    assert (version, params.due_soon_days, params.lapse_warning_days) == (2, 10, 60)


def test_many_trials_are_recomputed_by_a_job_and_the_page_says_so(browser, admin, run_jobs,
                                                                   monkeypatch):  # fmt: skip
    import portal.services.parameters as parameters

    trial_id = end_notice_trial().id
    monkeypatch.setattr(parameters, "INLINE_RECOMPUTE_LIMIT", 0)
    response = browser.submit(URL, {**VALUES, "due_soon_days": "100", "note": "big portfolio"})
    assert response.status_code == 302
    job = db.session.execute(sa.select(BackgroundJob)).scalar_one()
    assert (job.kind, job.status, job.enqueued) == ("obligations.recompute", "queued", True)
    job_id = job.id
    assert "Recomputing every trial's obligations" in page_text(browser.client.get(URL))
    assert obligations(trial_id)["UK-END"].params_version == 0  # not yet

    run_jobs()
    g.pop("_login_user", None)  # the shared app context caches the (now detached) user
    job = db.session.get(BackgroundJob, job_id)
    assert (job.status, job.progress, job.result["trials"]) == ("finished", 100, 1)
    end = obligations(trial_id)["UK-END"]
    assert (end.status, end.params_version) == ("due_soon", 1)
    assert "Recomputing" not in page_text(browser.client.get(URL))
