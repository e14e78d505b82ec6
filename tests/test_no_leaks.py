"""Every route × every role × another organisation's ids: nothing leaks.

Organisation B owns a trial with a distinctive title (and claims, evidence, certificates...).
Users of every role in organisation A open every GET route with B's ids: the answer is a 404
(or a 403 where the role may not use the route at all, or a redirect), and B's title never
appears. Reviewers and admins see every organisation, so they are checked for a 200 instead.
"""

from __future__ import annotations

import re

import pytest

from portal.access import POLICY_ATTR
from portal.extensions import db
from tests.factories import PASSWORD, OrganisationFactory, member, trial

SECRET_TITLE = "Secret trial of organisation B"
ROLES = ("sponsor", "sponsor_admin", "compliance_officer")

# Routes whose ids are not organisation-scoped records (checked elsewhere).
NOT_SCOPED = {
    "auth.confirm_email",
    "auth.reset_password",
    "auth.accept_invitation",
    "auth.change_email",  # a signed link, like the three above
    "notifications.unsubscribe_page",  # a signed link in a digest (tests/notifications)
    "trials.ical",
    "main.assets",
    "static",
}


def foreign_ids() -> dict[str, object]:
    """Objects of organisation B, keyed by the URL argument names routes use for them."""
    from portal.models import Claim, Obligation, User

    org_b = OrganisationFactory(name="Organisation B")
    t = trial(title=SECRET_TITLE, owner=org_b)
    user_b = member("sponsor_admin", org_b)
    claim = Claim(trial_id=t.id, organisation_id=org_b.id, status="approved", match_reason="x")
    db.session.add(claim)
    db.session.add(
        Obligation(
            trial_id=t.id,
            duty="UK-RES",
            ruleset="uk-2026",
            status="overdue",
            verdict={"title": SECRET_TITLE},
            as_of=t.created_at.date(),
        )
    )
    db.session.commit()
    ids: dict[str, object] = {
        "trial_id": t.id,
        "claim_id": claim.id,
        "org_id": org_b.id,
        "organisation_id": org_b.id,
        "user_id": user_b.id,
    }
    for extra in _extra_objects(t, org_b, user_b):
        ids.update(extra)
    assert db.session.get(User, user_b.id) is not None
    return ids


def _extra_objects(t, org_b, user_b):
    """Rows of the evidence, certificate and job tables, where those areas exist."""
    from portal.models import (
        AuditSample,
        BackgroundJob,
        Certificate,
        ImportRun,
        OutboxEmail,
        ParticipantOffer,
        StoredFile,
        Submission,
        SummaryVersion,
        TrackerResponse,
    )

    stored = StoredFile(sha256="f" * 64, size=1, content_type="text/plain", original_name="b.txt")
    db.session.add(stored)
    db.session.flush()
    version = SummaryVersion(
        trial_id=t.id, version=1, file_id=stored.id, extracted_text=SECRET_TITLE, readability={}
    )
    db.session.add(version)
    db.session.flush()
    submission = Submission(
        kind="summary", trial_id=t.id, organisation_id=org_b.id, object_id=version.id, duty="UK-RES"
    )
    job = BackgroundJob(
        kind="portfolio_report",
        organisation_id=org_b.id,
        requested_by_id=user_b.id,
        params={"organisation_id": org_b.id},
    )
    db.session.add_all([submission, job])
    db.session.flush()
    cert = Certificate(
        serial="CERT-B-0001",
        trial_id=t.id,
        organisation_id=org_b.id,
        as_of=t.created_at.date(),
        statement={"title": SECRET_TITLE, "verdict": {"text": "not compliant: 1 outstanding"}},
    )
    sample = AuditSample(size=1, seed="s")
    offer = ParticipantOffer(
        trial_id=t.id,
        offered_on=t.created_at.date(),
        method="letter",
        audience=["participants"],
        file_id=stored.id,
        notes=SECRET_TITLE,
    )
    email = OutboxEmail(to=user_b.email, subject=SECRET_TITLE, body_text=SECRET_TITLE)
    run = ImportRun(source=SECRET_TITLE)
    response = TrackerResponse(
        trial_id=t.id, duty="UK-RES", organisation_id=org_b.id, body=SECRET_TITLE
    )
    db.session.add_all([cert, sample, email, offer, run, response])
    db.session.commit()
    yield {
        "version_id": version.id,
        "summary_id": version.id,
        "submission_id": submission.id,
        "job_id": job.id,
        "certificate_id": cert.id,
        "file_id": stored.id,
        "sample_id": sample.id,
        "fmt": "pdf",
        "run_id": run.id,
        "offer_id": offer.id,
        "entry_id": t.entries[0].id,
        "email_id": email.id,
        "serial": cert.serial,
        "response_id": response.id,
        "slug": "organisation-b",  # the public tracker's sponsor page (registry records only)
    }


def _get_rules(app):
    # api.* routes take bearer tokens, not this browser's session (a 401 here): the same
    # role x foreign-ids check runs with tokens in tests/api/test_api_access.py.
    return [
        r
        for r in app.url_map.iter_rules()
        if "GET" in r.methods and r.endpoint not in NOT_SCOPED and not r.endpoint.startswith("api.")
    ]


def _url(rule, ids: dict[str, object]) -> str:
    url = rule.rule
    for arg in rule.arguments:
        if arg not in ids:
            pytest.fail(f"{rule.endpoint}: teach this test which foreign object <{arg}> is")
        url = re.sub(rf"<(?:[a-z]+:)?{arg}>", str(ids[arg]), url)
    return url


@pytest.mark.parametrize("role", ROLES)
def test_no_route_shows_another_organisations_records(app, browser, role):
    ids = foreign_ids()
    user = member(role, OrganisationFactory(name="Organisation A"))
    browser.login(user.email, PASSWORD)
    checked = 0
    for rule in _get_rules(app):
        if (
            getattr(app.view_functions[rule.endpoint], POLICY_ATTR, None) == "public"
            and not rule.arguments
        ):
            continue
        url = _url(rule, ids)
        response = browser.client.get(url)
        body = response.get_data(as_text=True)
        assert SECRET_TITLE not in body, f"{role} sees B's trial at {url}"
        if rule.arguments and "verify" not in rule.endpoint:
            assert response.status_code in (404, 403, 302), (url, response.status_code)
            if response.status_code == 403:
                assert getattr(app.view_functions[rule.endpoint], POLICY_ATTR).startswith("roles:")
                assert role not in getattr(app.view_functions[rule.endpoint], POLICY_ATTR), (
                    f"{url}: {role} may use this route, so a foreign id must be a 404, not 403"
                )
        checked += 1
    assert checked >= 10


def test_reviewers_do_see_every_organisations_trial(app, browser):
    from tests.factories import staff

    ids = foreign_ids()
    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    assert SECRET_TITLE in browser.get(f"/trials/{ids['trial_id']}").get_data(as_text=True)
