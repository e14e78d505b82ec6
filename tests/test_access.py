"""Every route declares who may use it; anonymous users are sent to sign in; CSRF; rate limits."""

from __future__ import annotations

import re

import pytest

from portal import create_app
from portal.access import POLICY_ATTR
from tests.factories import PASSWORD, UserFactory

_app = create_app(env={"PORTAL_ENV": "test", "SECRET_KEY": "x", "DATABASE_URL": "sqlite://"})
RULES = [r for r in _app.url_map.iter_rules() if r.endpoint != "static"]


def _policy(endpoint: str) -> str | None:
    return getattr(_app.view_functions[endpoint], POLICY_ATTR, None)


def _example_url(rule) -> str:
    url = rule.rule
    for arg in rule.arguments:
        url = re.sub(rf"<(?:[a-z]+:)?{arg}>", "1" if "int:" in rule.rule else "x", url)
    return url


def test_every_route_declares_an_access_policy():
    missing = [r.endpoint for r in RULES if _policy(r.endpoint) is None]
    assert missing == [], f"routes without an access policy: {missing}"


# The API (issue 21) answers a request without a bearer token with a 401 problem, not a
# redirect to sign in: tests/api/test_api_access.py checks every API route for that.
PROTECTED = [
    r
    for r in RULES
    if _policy(r.endpoint) != "public" and not _policy(r.endpoint).startswith("api_token:")
]


@pytest.mark.parametrize("rule", PROTECTED, ids=[r.rule for r in PROTECTED])
def test_protected_route_sends_anonymous_users_to_sign_in(client, rule):
    if "GET" in rule.methods:
        response = client.get(_example_url(rule))
    else:  # a valid CSRF token, so that it is the access policy that answers
        from tests.conftest import csrf_token_from

        token = csrf_token_from(client.get("/login").get_data(as_text=True))
        response = client.post(_example_url(rule), data={"csrf_token": token})
    assert response.status_code == 302
    assert "/login" in response.location


def test_there_are_protected_routes_to_check():
    assert len(PROTECTED) >= 8


def test_a_form_posted_without_its_csrf_token_is_rejected_and_saves_nothing(client):
    response = client.post(
        "/register",
        data={
            "full_name": "X",
            "email": "x@y.example",
            "password": "long enough pw",
            "confirm_password": "long enough pw",
        },
    )
    assert response.status_code == 400
    assert "Your form has expired" in response.get_data(as_text=True)
    from portal.extensions import db
    from portal.models import User

    assert db.session.query(User).count() == 0


def test_login_is_rate_limited(app, browser):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    UserFactory(email="target@trust.example")
    statuses = [
        browser.submit("/login", {"email": "target@trust.example", "password": "guess"}).status_code
        for _ in range(5)
    ]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]
    response = browser.submit("/login", {"email": "target@trust.example", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_a_sponsor_cannot_open_reviewer_pages(browser):
    from tests.factories import member

    user = member("sponsor")
    browser.login(user.email, PASSWORD)
    assert browser.client.get("/review/organisations").status_code == 403
    assert browser.client.get("/admin/outbox").status_code == 403


# RFC 8058 one-click unsubscribe: a mail client POSTs without a CSRF token; the signed token in
# the URL is the protection (tested below and in tests/notifications/test_preferences.py).
CSRF_EXEMPT_SIGNED = {"notifications.unsubscribe"}


def test_one_click_unsubscribe_needs_a_signed_token(client):
    for token in ("1", "eyJ1IjoxLCJrIjoiYWxsIiwicyI6IiJ9.forged"):
        response = client.post(f"/notifications/unsubscribe/{token}")
        assert response.status_code == 400
        assert "not valid" in response.get_data(as_text=True)


# api.* POSTs are left out: they take a bearer token and never read the session cookie, so a
# forged cross-site request carries no credentials and there is nothing for CSRF to protect
# (tests/api/test_api_access.py checks a signed-in browser's cookie gets a 401 there).
POSTS = [
    r
    for r in RULES
    if "POST" in r.methods
    and r.endpoint not in CSRF_EXEMPT_SIGNED
    and not r.endpoint.startswith("api.")
]


@pytest.mark.parametrize("rule", POSTS, ids=[r.rule for r in POSTS])
def test_every_state_changing_route_rejects_a_request_without_its_csrf_token(browser, rule):
    """Signed in as an admin (past every role check), a POST without a token is refused."""
    from tests.factories import staff

    admin = staff("admin")
    browser.login(admin.email, PASSWORD)
    url = rule.rule
    for arg in rule.arguments:
        url = re.sub(rf"<(?:[a-z]+:)?{arg}>", "1", url)
    response = browser.client.post(url, data={"anything": "x"})
    assert response.status_code == 400, (url, response.status_code)
    assert "Your form has expired" in response.get_data(as_text=True)


def test_there_are_state_changing_routes_to_check():
    assert len(POSTS) >= 20
