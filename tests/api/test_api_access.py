"""Every API route x every role x another organisation's ids (as tests/test_no_leaks.py does
for the pages): a 404, or a 403 where the role may not use the route at all; never a record
of organisation B. Reviewers and administrators see every organisation."""

from __future__ import annotations

import re

import pytest

from tests.api.helpers import bearer, token_for
from tests.factories import OrganisationFactory, member, staff, trial
from tests.test_no_leaks import SECRET_TITLE, foreign_ids

ROLES = ("sponsor", "sponsor_admin", "compliance_officer")


def _api_rules(app, method: str):
    return [
        r for r in app.url_map.iter_rules() if r.endpoint.startswith("api.") and method in r.methods
    ]


def _url(rule, ids) -> str:
    url = rule.rule
    for arg in rule.arguments:
        url = re.sub(rf"<(?:[^:>]+:)?{arg}>", str(ids[arg]), url)
    return url


def _policy_roles(app, rule) -> str:
    return app.view_functions[rule.endpoint].access_policy


@pytest.mark.parametrize("role", ROLES)
def test_no_api_route_shows_another_organisations_records(app, client, role):
    ids = foreign_ids()
    org_a = OrganisationFactory(name="Organisation A")
    trial(title="A's own trial", owner=org_a)
    user = member(role, org_a)
    h = bearer(token_for(user, request_certificates=True))
    checked = 0
    for rule in _api_rules(app, "GET"):
        url = _url(rule, ids)
        response = client.get(url, headers=h)
        body = response.get_data(as_text=True)
        assert SECRET_TITLE not in body and "CERT-B-0001" not in body, (role, url)
        assert response.status_code != 500, url
        allowed = role in _policy_roles(app, rule)
        if rule.arguments:
            expected = 404 if allowed else 403
            assert response.status_code == expected, (role, url, response.status_code)
            assert response.content_type == "application/problem+json"
        else:
            assert response.status_code == (200 if allowed else 403), (role, url)
        checked += 1
    assert checked >= 10
    # Requests naming B's records are refused the same way, and nothing is made.
    post = client.post(f"/api/v1/trials/{ids['trial_id']}/certificates", headers=h)
    assert post.status_code == 404
    report = client.post("/api/v1/reports", headers=h, json={"organisation_id": ids["org_id"]})
    assert report.status_code == (404 if role == "compliance_officer" else 403)
    listing = client.get(f"/api/v1/audit-events?trial_id={ids['trial_id']}", headers=h)
    assert listing.status_code == (404 if role == "compliance_officer" else 403)


@pytest.mark.parametrize("role", ("reviewer", "admin"))
def test_reviewers_and_admins_see_every_organisation(app, client, role):
    ids = foreign_ids()
    h = bearer(token_for(staff(role)))
    body = client.get(f"/api/v1/trials/{ids['trial_id']}", headers=h)
    assert body.status_code == 200 and body.json["title"] == SECRET_TITLE
    assert client.get(f"/api/v1/certificates/{ids['certificate_id']}", headers=h).status_code == 200
    assert client.get("/api/v1/audit-events", headers=h).status_code == 200


def test_a_sponsor_may_not_read_the_audit_trail_or_reports(app, client):
    h = bearer(token_for(member("sponsor")))
    for url in ("/api/v1/audit-events", "/api/v1/reports"):
        response = client.get(url, headers=h)
        assert response.status_code == 403
        assert response.json["detail"] == "Your role does not allow this."


def test_an_organisation_waiting_for_approval_sees_nothing(app, client):
    pending = OrganisationFactory(status="pending")
    trial(title="Pending trial", owner=pending)
    h = bearer(token_for(member("compliance_officer", pending)))
    response = client.get("/api/v1/trials", headers=h)
    assert response.status_code == 403
    assert "approval" in response.json["detail"]
