"""Issue 17: the attacks an outside tester ran against accounts, replayed. Each failed on the code
before the fix: account takeover through an invitation, sessions that outlived sign-out and
password reset, a reset link carrying part of the password hash, account enumeration through
sign-up, and sign-in limits that counted successes and trusted no proxy."""

from __future__ import annotations

import base64
import json
import re
import zlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, Invitation, Membership, OutboxEmail, User, UserSession
from portal.timeutil import utcnow
from tests.auth.test_signup_and_login import last_link
from tests.conftest import Browser, csrf_token_from, make_env
from tests.factories import PASSWORD, OrganisationFactory, UserFactory, member


class Person(Browser):
    """One person's browser. The tests share one app context whose ``g`` caches the CSRF token
    and the signed-in user, so each request starts by forgetting them."""

    def _forget(self) -> None:
        g.pop("csrf_token", None)
        g.pop("_login_user", None)

    def get(self, url: str, status: int = 200):
        self._forget()
        return super().get(url, status)

    def open(self, url: str):
        self._forget()
        return self.client.get(url)

    def submit(self, url, data, *, follow=False, **kwargs):
        self._forget()
        return super().submit(url, data, follow=follow, **kwargs)

    def post(self, url, data=None, *, token_from="/", **kw):
        self._forget()
        return super().post(url, data, token_from=token_from, **kw)

    def signed_in_as(self) -> str | None:
        """The email in the page header, or None when the page shows 'Sign in'."""
        html = self.open("/").get_data(as_text=True)
        match = re.search(r'app-signout__who"[^>]*>\s*([^<( ]+)', html)
        return match.group(1).strip() if match else None

    def cookie(self) -> str:
        return self.client.get_cookie("session").value


def person(app) -> Person:
    return Person(app.test_client())


def replay(app, cookie: str) -> Person:
    """A new browser holding a copy of a saved session cookie (what an attacker would keep)."""
    thief = person(app)
    thief.client.set_cookie("session", cookie)
    return thief


def sees_trials(someone: Person) -> bool:
    someone._forget()
    response = someone.client.get("/trials")
    return response.status_code == 200


def sign_up(someone: Person, email: str, password: str, name: str = "Some One"):
    return someone.submit(
        "/register",
        {"full_name": name, "email": email, "password": password, "confirm_password": password},
    )


def invite(app, org, email: str, role: str = "sponsor", **extra) -> str:
    admin = member("sponsor_admin", org)
    boss = person(app)
    boss.login(admin.email, PASSWORD)
    response = boss.submit("/organisation", {"email": email, "role": role, **extra})
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    return last_link(email)


# 1. Account takeover through an invitation


def test_an_attackers_unconfirmed_account_is_taken_over_by_the_invitee(app):
    org = OrganisationFactory(email_domains=["org.example"])
    attacker = person(app)
    assert sign_up(attacker, "new.hire@org.example", "attacker password").status_code == 302
    attacker_login = person(app)
    attacker_login.login("new.hire@org.example", "attacker password")  # a second session
    link = invite(app, org, "new.hire@org.example")

    real = person(app)
    response = real.submit(
        link,
        {
            "full_name": "Real Hire",
            "password": "real person pw",
            "confirm_password": "real person pw",
        },
    )
    assert response.status_code == 302
    assert real.signed_in_as() == "new.hire@org.example" and sees_trials(real)

    # The attacker's sessions and password open nothing of the organisation.
    assert attacker.signed_in_as() is None and not sees_trials(attacker)
    assert attacker_login.signed_in_as() is None and not sees_trials(attacker_login)
    again = person(app)
    html = again.submit(
        "/login", {"email": "new.hire@org.example", "password": "attacker password"}
    ).get_data(as_text=True)
    assert "Enter a correct email address and password" in html and not sees_trials(again)
    # The real person's password works.
    fresh = person(app)
    fresh.login("new.hire@org.example", "real person pw")
    assert sees_trials(fresh)

    user = db.session.execute(
        sa.select(User).where(User.email == "new.hire@org.example")
    ).scalar_one()
    db.session.refresh(user)
    assert user.full_name == "Real Hire" and user.email_confirmed and user.organisation.id == org.id
    actions = set(db.session.execute(sa.select(AuditEvent.action)).scalars())
    assert {"user.claimed_through_invitation", "invitation.accepted"} <= actions


def test_an_unconfirmed_account_cannot_use_the_portal_beyond_confirming(app):
    org = OrganisationFactory()
    user = UserFactory(email="half@org.example", email_confirmed_at=None)
    db.session.add(Membership(user_id=user.id, organisation_id=org.id, role="sponsor_admin"))
    db.session.commit()  # as the old code could leave it
    someone = person(app)
    response = someone.login("half@org.example", PASSWORD)
    assert response.location.endswith("/register/check-email")
    for url in ("/trials", "/organisation", "/audit", "/organisation/new", "/trials/find"):
        someone._forget()
        response = someone.client.get(url)
        assert response.status_code == 302, url
        assert response.location.endswith("/register/check-email"), url
    assert "Send the email again" in someone.open("/register/check-email").get_data(as_text=True)
    assert "Trials" not in someone.open("/").get_data(as_text=True)


def test_a_confirmed_account_joins_only_with_its_own_password_or_session(app):
    org = OrganisationFactory(email_domains=["org.example"])
    UserFactory(email="existing@org.example")
    link = invite(app, org, "existing@org.example")

    stranger = person(app)
    page = stranger.open(link).get_data(as_text=True)
    assert "You already have an account with this address" in page
    assert "confirm_password" not in page  # no new password may be chosen for it
    html = stranger.submit(link, {"password": "someone elses pw"}).get_data(as_text=True)
    assert "Enter your password correctly" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Membership)) == 1  # admin

    owner = person(app)
    response = owner.submit(link, {"password": PASSWORD})
    assert response.status_code == 302 and sees_trials(owner)


def test_a_confirmed_account_signed_in_as_itself_joins_with_one_button(app):
    org = OrganisationFactory(email_domains=["org.example"])
    UserFactory(email="existing@org.example")
    link = invite(app, org, "existing@org.example")
    owner = person(app)
    owner.login("existing@org.example", PASSWORD)
    assert "Join organisation" in owner.open(link).get_data(as_text=True)
    assert owner.submit(link, {}).status_code == 302
    assert sees_trials(owner)


def test_a_confirmation_link_opened_elsewhere_needs_the_accounts_password(app):
    """Someone signs up with another person's address; the owner opening the confirmation link
    must not confirm (and sign into) an account whose password the other one chose."""
    attacker = person(app)
    sign_up(attacker, "victim@org.example", "attacker password")
    link = last_link("victim@org.example")
    victim = person(app)
    response = victim.open(link)
    assert response.status_code == 200
    assert "enter the password you chose" in response.get_data(as_text=True)
    user = db.session.execute(
        sa.select(User).where(User.email == "victim@org.example")
    ).scalar_one()
    db.session.refresh(user)
    assert user.email_confirmed_at is None and victim.signed_in_as() is None
    # With the password (the person who signed up, on another device), it confirms.
    response = person(app).submit(link, {"password": "attacker password"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.email_confirmed_at is not None


# 2. Sessions end


def test_a_saved_cookie_stops_working_after_sign_out(app):
    user = member("sponsor")
    someone = person(app)
    someone.login(user.email, PASSWORD)
    saved = someone.cookie()
    assert sees_trials(replay(app, saved))
    someone.logout()
    assert not sees_trials(replay(app, saved))


def test_a_password_reset_ends_every_session(app):
    user = member("sponsor")
    laptop, phone = person(app), person(app)
    laptop.login(user.email, PASSWORD)
    phone.login(user.email, PASSWORD)
    saved = laptop.cookie()
    person(app).submit("/reset-password", {"email": user.email})
    link = last_link(user.email)
    person(app).submit(link, {"password": "a brand new pw", "confirm_password": "a brand new pw"})
    assert (
        not sees_trials(laptop) and not sees_trials(phone) and not sees_trials(replay(app, saved))
    )
    ended = db.session.execute(sa.select(UserSession.ended_reason)).scalars().all()
    assert ended == ["password_reset", "password_reset"]


def test_sign_out_everywhere_from_the_account_page(app):
    user = member("compliance_officer")
    laptop, phone = person(app), person(app)
    laptop.login(user.email, PASSWORD)
    phone.login(user.email, PASSWORD)
    page = phone.open("/account").get_data(as_text=True)
    assert "You are signed in on 2 browsers or devices" in page and "Sign out everywhere" in page
    response = phone.post("/account/sign-out-everywhere", token_from="/account")
    assert response.status_code == 302 and response.location.endswith("/login")
    assert not sees_trials(laptop) and not sees_trials(phone)
    assert db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "user.signed_out_everywhere")
    ).scalar_one()
    laptop.login(user.email, PASSWORD)  # the password still works
    assert sees_trials(laptop)


def test_removal_from_an_organisation_ends_every_session(app):
    org = OrganisationFactory()
    admin, leaver = member("sponsor_admin", org), member("sponsor", org)
    gone = person(app)
    gone.login(leaver.email, PASSWORD)
    assert sees_trials(gone)
    boss = person(app)
    boss.login(admin.email, PASSWORD)
    response = boss.post(f"/organisation/members/{leaver.id}/remove", token_from="/organisation")
    assert response.status_code == 302
    assert not sees_trials(gone) and gone.signed_in_as() is None
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Membership)
            .where(Membership.user_id == leaver.id)
        )
        == 0
    )
    event = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "membership.removed")
    ).scalar_one()
    assert event.actor_id == admin.id


def test_an_email_change_ends_every_session(app):
    user = member("sponsor")
    old_email = user.email
    other = person(app)
    other.login(user.email, PASSWORD)
    me = person(app)
    me.login(user.email, PASSWORD)
    response = me.post(
        "/account/email",
        {"email": "new.me@org.example", "password": PASSWORD},
        token_from="/account",
    )
    assert response.status_code == 302
    link = last_link("new.me@org.example")
    assert me.open(link).status_code == 302
    assert not sees_trials(other) and not sees_trials(me)
    me.login("new.me@org.example", PASSWORD)
    assert sees_trials(me)
    notice = db.session.execute(
        sa.select(OutboxEmail).where(OutboxEmail.to == old_email)
    ).scalar_one()
    assert "Your email address was changed" in notice.subject


def test_sessions_have_an_absolute_lifetime(app):
    assert app.config["SESSION_LIFETIME_HOURS"] == 12
    user = member("sponsor")
    someone = person(app)
    someone.login(user.email, PASSWORD)
    row = db.session.execute(sa.select(UserSession)).scalar_one()
    assert row.expires_at - row.created_at == timedelta(hours=12)
    assert sees_trials(someone)
    # Busy or not, the session ends when its lifetime is up.
    row.created_at -= timedelta(hours=13)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert not sees_trials(someone)


def _payload(token: str) -> str:
    """The readable part of an itsdangerous token (zlib-compressed when it starts with '.')."""
    compressed = token.startswith(".")
    body = token.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode()


def test_the_reset_link_carries_no_part_of_the_password_hash(app):
    user = member("sponsor")
    person(app).submit("/reset-password", {"email": user.email})
    token = last_link(user.email).rsplit("/", 1)[-1]
    payload = json.loads(_payload(token))
    assert set(payload) == {"user_id", "v", "nonce"}
    hash_ = db.session.get(User, user.id).password_hash
    for size in (6, 8, 12):
        pieces = {hash_[i : i + size] for i in range(len(hash_) - size + 1)}
        assert not any(piece in token or piece in json.dumps(payload) for piece in pieces)


def test_an_unused_reset_link_dies_when_every_session_is_ended(app):
    user = member("sponsor")
    person(app).submit("/reset-password", {"email": user.email})
    link = last_link(user.email)
    me = person(app)
    me.login(user.email, PASSWORD)
    me.post("/account/sign-out-everywhere", token_from="/account")
    response = person(app).open(link)
    assert response.status_code == 400


# 3. Enumeration and limits


def test_sign_up_and_resend_are_rate_limited(app):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    someone = person(app)
    statuses = [
        sign_up(someone, f"person{n}@org.example", "long enough pw").status_code for n in range(4)
    ]
    assert statuses == [302, 302, 302, 429]
    other = person(app)
    with other.client.session_transaction() as session:
        session["signup_email"] = "person0@org.example"
    statuses = [
        other.post("/register/resend", token_from="/register/check-email").status_code
        for _ in range(4)
    ]
    assert statuses[-1] == 429


def test_successful_sign_ins_do_not_count_against_the_limit(app):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    users = [member("sponsor") for _ in range(5)]
    office = person(app)
    for user in users:  # one shared address, five colleagues signing in
        office.login(user.email, PASSWORD)
        office.logout()


def test_failures_count_per_account_across_addresses(app):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    UserFactory(email="target@org.example")
    attacker = person(app)
    statuses = []
    for n in range(5):
        attacker._forget()
        page = attacker.client.get("/login", environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
        token = csrf_token_from(page.get_data(as_text=True))
        statuses.append(
            attacker.client.post(
                "/login",
                data={"csrf_token": token, "email": "target@org.example", "password": "guess"},
                environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
            ).status_code
        )
    assert statuses == [200, 200, 200, 429, 429]


def _proxy_app(app, hops: str):
    env = make_env(app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"], "/tmp")
    env["INSTANCE_PATH"] = app.config["INSTANCE_PATH"]
    return create_app(env={**env, "TRUSTED_PROXIES": hops, "LOGIN_RATE_LIMIT": "2 per minute"})


@pytest.mark.parametrize("hops", ["0", "1"])
def test_trusted_proxies_decides_whose_address_the_limiter_sees(app, hops):
    proxied = _proxy_app(app, hops)
    assert proxied.config["TRUSTED_PROXIES"] == int(hops)
    client = proxied.test_client()
    statuses = []
    for n in range(3):  # three clients behind one proxy, two wrong passwords each
        for _ in range(2):
            g.pop("csrf_token", None)
            client.delete_cookie("session")
            forwarded = {"HTTP_X_FORWARDED_FOR": f"203.0.113.{n}", "REMOTE_ADDR": "10.9.9.9"}
            page = client.get("/login", environ_base=forwarded)
            token = csrf_token_from(page.get_data(as_text=True))
            statuses.append(
                client.post(
                    "/login",
                    data={"csrf_token": token, "email": f"u{n}{_}@x.example", "password": "x"},
                    environ_base=forwarded,
                ).status_code
            )
    with proxied.app_context():  # its own engine: close its connections now
        db.session.remove()
        db.engine.dispose()
    if hops == "0":  # off by default: a forged header does not buy a new allowance
        assert statuses == [200, 200, 429, 429, 429, 429]
    else:  # behind one trusted proxy each client has its own allowance
        assert statuses == [200, 200, 200, 200, 200, 200]


def test_trusted_proxies_is_off_by_default(app):
    assert app.config["TRUSTED_PROXIES"] == 0


# Also found: invitations


def test_an_invitation_can_be_withdrawn_and_its_link_stops_working(app):
    org = OrganisationFactory(email_domains=["org.example"])
    link = invite(app, org, "maybe@org.example")
    admin = db.session.execute(
        sa.select(User).join(Membership).where(Membership.role == "sponsor_admin")
    ).scalar_one()
    boss = person(app)
    boss.login(admin.email, PASSWORD)
    page = boss.open("/organisation").get_data(as_text=True)
    invitation = db.session.execute(sa.select(Invitation)).scalar_one()
    expires = invitation.expires_at
    assert f"the link works until {expires.day} {expires:%B %Y}" in page
    assert "Withdraw" in page

    # Another organisation's admin cannot withdraw it.
    other = person(app)
    other.login(member("sponsor_admin").email, PASSWORD)
    other.post(f"/organisation/invitations/{invitation.id}/revoke", token_from="/organisation")
    db.session.refresh(invitation)
    assert invitation.revoked_at is None

    response = boss.post(
        f"/organisation/invitations/{invitation.id}/revoke", token_from="/organisation"
    )
    assert response.status_code == 302
    db.session.refresh(invitation)
    assert invitation.revoked_at is not None
    response = person(app).open(link)
    assert response.status_code == 400
    assert "This invitation has been withdrawn" in response.get_data(as_text=True)
    assert "the invitation to maybe@org.example</span>" not in boss.open("/organisation").get_data(
        as_text=True
    )
    event = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "invitation.revoked")
    ).scalar_one()
    assert event.actor_id == admin.id


def test_an_invitation_to_webmail_warns_the_admin_first(app):
    org = OrganisationFactory(email_domains=["org.example"])
    admin = member("sponsor_admin", org)
    boss = person(app)
    boss.login(admin.email, PASSWORD)
    html = boss.submit("/organisation", {"email": "someone@gmail.com", "role": "sponsor"}).get_data(
        as_text=True
    )
    assert "someone@gmail.com is a personal webmail address" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 0
    response = boss.submit(
        "/organisation", {"email": "someone@gmail.com", "role": "sponsor", "webmail_confirmed": "y"}
    )
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 1


# Also found: "Release or transfer" listed every organisation on the portal


def test_transfer_finds_one_organisation_by_exact_name_or_domain_and_lists_none(app):
    from tests.factories import trial

    mine = OrganisationFactory(email_domains=["mine.example"])
    OrganisationFactory(name="Secret Tenant Ltd", email_domains=["secret.example"])
    target = OrganisationFactory(name="Next Sponsor Ltd", email_domains=["next.example"])
    OrganisationFactory(name="Pending Org", email_domains=["pending.example"], status="pending")
    owner = member("sponsor_admin", mine)
    t = trial(owner=mine)
    me = person(app)
    me.login(owner.email, PASSWORD)
    page = me.open(f"/trials/{t.id}/release").get_data(as_text=True)
    assert "Secret Tenant" not in page and "Next Sponsor" not in page and "<select" not in page

    url = f"/trials/{t.id}/transfer"
    release = f"/trials/{t.id}/release"
    for wrong in ("Next Sponsor", "Pending Org", "pending.example", mine.name):
        html = me.post(url, {"t-recipient": wrong}, token_from=release).get_data(as_text=True)
        assert "No other approved organisation has that exact name or email domain" in html
        assert "Secret Tenant" not in html
    for right in ("next sponsor ltd", "next.example", "someone@NEXT.example"):
        html = me.post(url, {"t-recipient": right}, token_from=release).get_data(as_text=True)
        assert "Transfer to Next Sponsor Ltd" in html and "Secret Tenant" not in html
    response = me.post(
        url, {"t-recipient": "next.example", "t-organisation": str(target.id)}, token_from=release
    )
    assert response.status_code == 302
    db.session.expire_all()
    from portal.models import Trial

    assert db.session.get(Trial, t.id).owner_organisation_id == target.id
