"""Certificates and portfolio reports through the API: a read-only token may not request them;
a token with the permission enqueues the same RQ PDF job as the pages (a real worker runs it);
files download once issued (409 before). The audit trail is for officers and reviewers."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, BackgroundJob, Certificate
from portal.timeutil import today
from tests.api.helpers import bearer, token_for, verdict
from tests.factories import OrganisationFactory, member, trial


def _setup():
    org = OrganisationFactory()
    officer = member("compliance_officer", org)
    t = trial(title="Aspirin after stroke", owner=org)
    verdict(t, status="overdue", due=today() - timedelta(days=3))
    return officer, t


def test_a_read_only_token_cannot_request_and_nothing_is_made(app, client):
    officer, t = _setup()
    h = bearer(token_for(officer))
    response = client.post(f"/api/v1/trials/{t.id}/certificates", headers=h)
    assert response.status_code == 403
    assert "read-only" in response.json["detail"]
    assert client.post("/api/v1/reports", headers=h, json={}).status_code == 403
    assert db.session.execute(sa.select(sa.func.count(Certificate.id))).scalar_one() == 0
    assert db.session.execute(sa.select(sa.func.count(BackgroundJob.id))).scalar_one() == 0


def test_request_follow_and_download_a_certificate(app, client, run_jobs):
    officer, t = _setup()
    officer_id = officer.id
    h = bearer(token_for(officer, request_certificates=True))
    response = client.post(f"/api/v1/trials/{t.id}/certificates", headers=h)
    assert response.status_code == 202
    cert = response.json
    assert cert["status"] == "queued" and cert["compliant"] is False
    assert response.headers["Location"] == f"/api/v1/certificates/{cert['id']}"
    early = client.get(f"/api/v1/certificates/{cert['id']}/certificate.pdf", headers=h)
    assert early.status_code == 409 and early.content_type == "application/problem+json"
    # A second request while it is being made answers with the same certificate.
    again = client.post(f"/api/v1/trials/{t.id}/certificates", headers=h).json
    assert again["id"] == cert["id"]
    run_jobs()
    done = client.get(response.headers["Location"], headers=h).json
    assert done["status"] == "ready" and done["download_url"]
    pdf = client.get(done["download_url"], headers=h)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    listed = client.get("/api/v1/certificates", headers=h).json["items"]
    assert [c["serial"] for c in listed] == [cert["serial"]]
    event = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "certificate.requested")
    ).scalar_one()
    assert event.actor_id == officer_id


def test_request_and_download_a_portfolio_report(app, client, run_jobs):
    officer, _t = _setup()
    h = bearer(token_for(officer, request_certificates=True))
    response = client.post("/api/v1/reports", headers=h, json={})
    assert response.status_code == 202, response.json
    assert response.json["organisation_id"] == officer.organisation.id
    bad = client.post("/api/v1/reports", headers=h, json={"organisation_id": "x"})
    assert bad.status_code == 422 and "organisation_id" in bad.json["errors"]
    run_jobs()
    report = client.get(response.headers["Location"], headers=h).json
    assert report["status"] == "finished", report
    csv = client.get(report["csv_url"], headers=h)
    assert csv.status_code == 200 and b"Aspirin after stroke" in csv.data
    assert [r["id"] for r in client.get("/api/v1/reports", headers=h).json["items"]] == [
        report["id"]
    ]


def test_audit_events_are_the_organisations_own(app, client):
    officer, t = _setup()
    other = OrganisationFactory()
    token_for(member("compliance_officer", other))  # an event of another organisation
    h = bearer(token_for(officer))
    items = client.get("/api/v1/audit-events", headers=h).json["items"]
    assert items and {e["organisation_id"] for e in items} == {officer.organisation.id}
    assert items[0]["action"] == "api_token.created"
    assert items[0]["description"] == "API token created"
    filtered = client.get("/api/v1/audit-events?action=certificate.requested", headers=h)
    assert filtered.status_code == 200 and filtered.json["items"] == []
