"""Personal access tokens: the CLI, the account page, hashing, expiry, revocation, the audit
entries, the rate limit, and that a browser's session cookie does not open the API."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import ApiToken, AuditEvent
from portal.timeutil import utcnow
from tests.api.helpers import bearer, token_for
from tests.conftest import csrf_token_from
from tests.factories import PASSWORD, member


def test_cli_prints_the_token_alone_on_its_last_line_and_stores_only_its_hash(app):
    officer = member("compliance_officer")
    result = app.test_cli_runner().invoke(
        args=["tokens", "create", officer.email.upper(), "--name", "BI dashboard"]
    )
    assert result.exit_code == 0, result.output
    raw = result.output.strip().splitlines()[-1]
    assert raw.startswith("ttp_") and " " not in raw and len(raw) >= 40
    row = db.session.execute(sa.select(ApiToken)).scalar_one()
    assert row.user_id == officer.id and row.name == "BI dashboard" and row.scopes == []
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    dump = str([tuple(r) for r in db.session.execute(sa.text("SELECT * FROM api_tokens"))])
    assert raw not in dump and raw[4:] not in dump
    event = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "api_token.created")
    ).scalar_one()
    assert event.actor_id == officer.id and raw not in str(event.after)
    assert app.test_client().get("/api/v1/trials", headers=bearer(raw)).status_code == 200


def test_cli_refuses_an_unknown_account(app):
    result = app.test_cli_runner().invoke(args=["tokens", "create", "nobody@x.example"])
    assert result.exit_code != 0
    assert "no account" in result.output
    assert db.session.execute(sa.select(sa.func.count(ApiToken.id))).scalar_one() == 0


def test_missing_malformed_unknown_expired_and_revoked_tokens_get_401_problems(app, client):
    officer = member("compliance_officer")
    raw = token_for(officer)
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        bearer("ttp_" + "x" * 43),
        bearer(raw + "x"),
    ):
        response = client.get("/api/v1/trials", headers=headers)
        assert response.status_code == 401, headers
        assert response.content_type == "application/problem+json"
        assert response.json["status"] == 401 and response.json["title"] == "Unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    row = db.session.execute(sa.select(ApiToken)).scalar_one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/api/v1/trials", headers=bearer(raw)).status_code == 401
    row.expires_at = utcnow() + timedelta(days=1)
    db.session.commit()
    assert client.get("/api/v1/trials", headers=bearer(raw)).status_code == 200
    from portal.services.api_tokens import revoke_token

    revoke_token(officer, row.id)
    assert client.get("/api/v1/trials", headers=bearer(raw)).status_code == 401


def test_a_signed_in_browser_session_does_not_open_the_api(app, browser):
    officer = member("compliance_officer")
    browser.login(officer.email, PASSWORD)
    assert browser.client.get("/").status_code == 200
    response = browser.client.get("/api/v1/trials")
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    token = csrf_token_from(browser.client.get("/account").get_data(as_text=True))
    trial_post = browser.client.post("/api/v1/reports", json={}, headers={"X-CSRFToken": token})
    assert trial_post.status_code == 401


def test_account_page_creates_shows_once_and_revokes_a_token(app, browser):
    officer = member("compliance_officer")
    browser.login(officer.email, PASSWORD)
    page = browser.get("/account").get_data(as_text=True)
    assert "Tokens for the API" in page and "You have no tokens yet" in page
    response = browser.submit(
        "/account/tokens",
        {"name": "Quarterly spreadsheet", "expires": "30", "request_certificates": "y"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    row = db.session.execute(sa.select(ApiToken)).scalar_one()
    import re

    raw = re.search(r"(ttp_[A-Za-z0-9_-]{40,})", html).group(1)
    assert hashlib.sha256(raw.encode()).hexdigest() == row.token_hash
    assert row.scopes == ["request_certificates"]
    assert (row.expires_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)).days in (29, 30)
    assert "Quarterly spreadsheet" in html and "Not used yet" in html
    # Shown once: the next visit lists it without the token.
    again = browser.get("/account").get_data(as_text=True)
    assert raw not in again and "Quarterly spreadsheet" in again
    assert browser.client.get("/api/v1/trials", headers=bearer(raw)).status_code == 200
    assert "Not used yet" not in browser.get("/account").get_data(as_text=True)

    response = browser.post(f"/account/tokens/{row.id}/revoke", token_from="/account")
    assert response.status_code == 302
    assert browser.client.get("/api/v1/trials", headers=bearer(raw)).status_code == 401
    actions = db.session.execute(
        sa.select(AuditEvent.action).where(AuditEvent.object_type == "api_token")
    ).scalars()
    assert sorted(actions) == ["api_token.created", "api_token.revoked"]
    after = browser.get("/account").get_data(as_text=True)
    assert "“Quarterly spreadsheet” no longer works" in after  # the flash message
    assert "You have no tokens yet" in after


def test_account_page_refuses_an_empty_name_and_saves_nothing(app, browser):
    officer = member("compliance_officer")
    browser.login(officer.email, PASSWORD)
    response = browser.submit("/account/tokens", {"name": "  ", "expires": "90"})
    assert response.status_code == 400
    assert "Enter a name for the token" in response.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count(ApiToken.id))).scalar_one() == 0


def test_nobody_revokes_another_users_token(app, browser):
    owner = member("compliance_officer")
    raw = token_for(owner)
    other = member("compliance_officer")
    browser.login(other.email, PASSWORD)
    row = db.session.execute(sa.select(ApiToken)).scalar_one()
    browser.post(f"/account/tokens/{row.id}/revoke", token_from="/account")
    assert browser.client.get("/api/v1/trials", headers=bearer(raw)).status_code == 200


def test_every_use_is_rate_limited_per_token(app, client):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    officer = member("compliance_officer")
    first, second = token_for(officer), token_for(officer, name="second")
    statuses = [client.get("/api/v1/trials", headers=bearer(first)).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    limited = client.get("/api/v1/obligations", headers=bearer(first))
    assert limited.status_code == 429
    assert limited.content_type == "application/problem+json"
    assert int(limited.headers["Retry-After"]) >= 1
    # Another token of the same user has its own allowance.
    assert client.get("/api/v1/trials", headers=bearer(second)).status_code == 200


def test_last_used_is_recorded(app, client):
    officer = member("compliance_officer")
    raw = token_for(officer)
    assert db.session.execute(sa.select(ApiToken.last_used_at)).scalar_one() is None
    client.get("/api/v1/trials", headers=bearer(raw))
    db.session.expire_all()
    assert db.session.execute(sa.select(ApiToken.last_used_at)).scalar_one() is not None
