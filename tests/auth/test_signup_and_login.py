"""Sign-up, confirmation, sign-in and sign-out, with the bad input people really type."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import g

from portal.extensions import db
from portal.models import AuditEvent, OutboxEmail, User
from tests.conftest import Browser
from tests.factories import PASSWORD, UserFactory

LINK_RE = re.compile(r"http://localhost(/\S+)")


def last_link(to: str) -> str:
    email = (
        db.session.execute(
            sa.select(OutboxEmail).where(OutboxEmail.to == to).order_by(OutboxEmail.id.desc())
        )
        .scalars()
        .first()
    )
    assert email is not None, f"no email to {to}"
    match = LINK_RE.search(email.body_text)
    assert match, email.body_text
    return match.group(1)


def fresh_browser(app) -> Browser:
    """Another person's browser (the tests share one app context, whose g caches the CSRF
    token and the signed-in user: forget them)."""
    g.pop("csrf_token", None)
    g.pop("_login_user", None)
    return Browser(app.test_client())


def register(browser, email="new.person@trust.example", **overrides):
    data = {
        "full_name": "New Person",
        "email": email,
        "password": "long enough pw",
        "confirm_password": "long enough pw",
        **overrides,
    }
    return browser.submit("/register", data)


def test_sign_up_confirm_sign_in_and_sign_out(browser, client):
    response = register(browser)
    assert response.status_code == 302 and response.location.endswith("/register/check-email")
    assert "We have sent an email to <strong>new.person@trust.example</strong>" in browser.get(
        "/register/check-email"
    ).get_data(as_text=True)
    user = db.session.execute(
        sa.select(User).where(User.email == "new.person@trust.example")
    ).scalar_one()
    assert user.email_confirmed_at is None and user.password_hash.startswith("scrypt:")

    response = client.get(last_link("new.person@trust.example"))
    assert response.status_code == 302 and response.location.endswith("/organisation/new")
    db.session.expire_all()
    assert db.session.get(User, user.id).email_confirmed_at is not None

    browser.logout()
    assert "Sign in" in client.get("/").get_data(as_text=True)
    browser.login("New.Person@trust.example ", "long enough pw")
    assert "Join or create your organisation" in client.get("/").get_data(as_text=True)
    actions = (
        db.session.execute(sa.select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
    )
    assert actions == [
        "user.registered",
        "user.email_confirmed",
        "user.signed_out",
        "user.signed_in",
    ]


def test_a_confirmation_link_works_only_once(browser, client):
    register(browser)
    link = last_link("new.person@trust.example")
    assert client.get(link).status_code == 302
    response = client.get(link)
    assert response.status_code == 400
    assert "This link has already been used" in response.get_data(as_text=True)


def test_an_expired_confirmation_link_is_refused_with_a_clear_message(app, browser, client):
    register(browser)
    link = last_link("new.person@trust.example")
    app.config["TOKEN_MAX_AGE_SECONDS"] = -1
    response = client.get(link)
    assert response.status_code == 400
    assert "This link has expired" in response.get_data(as_text=True)


def test_a_tampered_link_is_refused(client):
    response = client.get("/confirm/not-a-real-token")
    assert response.status_code == 400
    assert "This link is not valid" in response.get_data(as_text=True)


def test_duplicate_email_creates_nothing_and_answers_as_for_a_new_one(browser, client, app):
    """Issue 17 (section 3): sign-up must not tell who has an account. A known address gets
    the same answer as an unknown one; its owner is emailed instead, and nothing is saved."""
    owner = UserFactory(email="taken@trust.example")
    known = register(browser, email="TAKEN@trust.example")
    known_page = client.get("/register/check-email").get_data(as_text=True)
    other = fresh_browser(app)
    unknown = register(other, email="free@trust.example")
    unknown_page = other.client.get("/register/check-email").get_data(as_text=True)

    assert known.status_code == unknown.status_code == 302
    assert known.location == unknown.location
    assert "already exists" not in known_page

    def visible(page: str, email: str) -> str:
        main = page[page.index("<main") : page.index("</main>")]
        return re.sub(r'value="[^"]*"', "", main).replace(email, "EMAIL")

    assert visible(known_page, "taken@trust.example") == visible(unknown_page, "free@trust.example")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2  # owner + free
    db.session.refresh(owner)
    assert owner.full_name != "New Person" and owner.email_confirmed_at is not None
    warning = db.session.execute(
        sa.select(OutboxEmail).where(OutboxEmail.to == "taken@trust.example")
    ).scalar_one()
    assert warning.subject == "Someone tried to create an account with your email address"
    assert "/reset-password" in warning.body_text


def test_malformed_email_and_mismatched_passwords_are_explained(browser):
    response = register(browser, email="not-an-email", confirm_password="something else")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Enter an email address in the correct format" in html
    assert "Passwords must match" in html
    assert 'class="govuk-error-summary' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_wrong_password_and_unknown_email_get_the_same_clear_message(browser):
    UserFactory(email="known@trust.example")
    for email, password in [
        ("known@trust.example", "wrong password"),
        ("nobody@trust.example", PASSWORD),
    ]:
        response = browser.submit("/login", {"email": email, "password": password})
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "Enter a correct email address and password" in html
        assert "<title>Error: Sign in" in html


def test_empty_login_form_says_what_to_enter(browser):
    html = browser.submit("/login", {"email": "", "password": ""}).get_data(as_text=True)
    assert "Enter your email address" in html and "Enter your password" in html


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(browser, client):
    UserFactory(email="known@trust.example")
    page = client.get("/organisation/new")
    assert page.status_code == 302 and "/login?next=" in page.location
    response = browser.submit(
        "/login?next=/organisation/new", {"email": "known@trust.example", "password": PASSWORD}
    )
    assert response.location.endswith("/organisation/new")
    browser.logout()
    response = browser.submit(
        "/login?next=//evil.example/x", {"email": "known@trust.example", "password": PASSWORD}
    )
    assert response.location.endswith("/") and "evil" not in response.location


def test_deactivated_account_cannot_sign_in(browser):
    UserFactory(email="gone@trust.example", active=False)
    html = browser.submit("/login", {"email": "gone@trust.example", "password": PASSWORD}).get_data(
        as_text=True
    )
    assert "This account has been deactivated" in html


def test_registration_email_is_delivered_by_a_real_worker(browser, run_jobs):
    register(browser)
    email = db.session.execute(sa.select(OutboxEmail)).scalar_one()
    email_id, status = email.id, email.status
    assert status == "queued"
    run_jobs()
    assert db.session.get(OutboxEmail, email_id).status == "kept"


def test_a_sign_in_while_every_password_slot_is_busy_is_asked_to_wait(app, browser):
    """Issue 22: while this process is checking as many passwords as it may at once, another
    sign-in is answered at once with a 503 and Retry-After (its form and address kept), not
    queued behind the hashing; it is not counted as a failed attempt, and works afterwards."""
    from portal.services.accounts import hash_slots

    user = UserFactory(email="busy.person@trust.example")
    slots = hash_slots()
    taken = 0
    while slots.acquire(blocking=False):  # every slot busy, as during a burst of sign-ins
        taken += 1
    try:
        response = browser.submit("/login", {"email": user.email, "password": PASSWORD})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        text = response.get_data(as_text=True)
        assert "Many people are signing in right now" in text
        assert 'value="busy.person@trust.example"' in text
    finally:
        for _ in range(taken):
            slots.release()
    assert taken >= 1
    browser.login(user.email, PASSWORD)
    signed_in = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "user.signed_in")
    ).scalars()
    assert any(event.actor_id == user.id for event in signed_in)
