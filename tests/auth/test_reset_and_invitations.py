"""Password reset by email link, organisations and invitations."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db
from portal.models import Membership, Organisation, OutboxEmail, User
from tests.auth.test_signup_and_login import last_link
from tests.factories import PASSWORD, OrganisationFactory, UserFactory, member, staff


def test_password_reset_by_email_link(browser, client):
    UserFactory(email="forgetful@trust.example")
    response = browser.submit("/reset-password", {"email": "forgetful@trust.example"})
    assert "If <strong>forgetful@trust.example</strong> has an account" in response.get_data(
        as_text=True
    )
    link = last_link("forgetful@trust.example")
    response = browser.submit(
        link, {"password": "a brand new pw", "confirm_password": "a brand new pw"}
    )
    assert response.status_code == 302
    browser.login("forgetful@trust.example", "a brand new pw")
    browser.logout()
    # The link cannot be used a second time.
    response = client.get(link)
    assert response.status_code == 400
    assert "already been used" in response.get_data(as_text=True)


def test_reset_for_an_unknown_email_says_the_same_and_sends_nothing(browser):
    response = browser.submit("/reset-password", {"email": "nobody@trust.example"})
    assert "If <strong>nobody@trust.example</strong> has an account" in response.get_data(
        as_text=True
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)) == 0


def test_reset_with_a_short_password_keeps_the_old_one(browser):
    UserFactory(email="forgetful@trust.example")
    browser.submit("/reset-password", {"email": "forgetful@trust.example"})
    link = last_link("forgetful@trust.example")
    html = browser.submit(link, {"password": "short", "confirm_password": "short"}).get_data(
        as_text=True
    )
    assert "Password must be between 10 and 200 characters" in html
    browser.login("forgetful@trust.example", PASSWORD)


def test_new_organisation_waits_for_a_reviewer_who_approves_it(browser, client):
    user = UserFactory(email="founder@newtrust.example")
    browser.login(user.email, PASSWORD)
    response = browser.submit(
        "/organisation/new",
        {"name": "New Trust", "email_domains": "", "sponsor_names": "New Trust\nNew Trust NHS"},
    )
    assert response.status_code == 302
    org = db.session.execute(sa.select(Organisation)).scalar_one()
    assert org.status == "pending" and org.email_domains == ["newtrust.example"]
    assert org.sponsor_names == ["New Trust", "New Trust NHS"]
    assert "waiting for a reviewer" in client.get("/").get_data(as_text=True)
    browser.logout()

    reviewer = staff("reviewer")
    browser.login(reviewer.email, PASSWORD)
    assert "New Trust" in browser.get("/review/organisations").get_data(as_text=True)
    html = browser.submit(
        f"/review/organisations/{org.id}", {"decision": "reject", "reason": ""}
    ).get_data(as_text=True)
    assert "Enter the reason for rejecting this organisation" in html
    response = browser.submit(f"/review/organisations/{org.id}", {"decision": "approve"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Organisation, org.id).status == "approved"


def test_organisation_domain_must_include_the_founders_domain(browser):
    user = UserFactory(email="founder@newtrust.example")
    browser.login(user.email, PASSWORD)
    html = browser.submit(
        "/organisation/new",
        {"name": "New Trust", "email_domains": "other.example", "sponsor_names": ""},
    ).get_data(as_text=True)
    assert "Your email domain (newtrust.example) must be one of" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 0


def test_unconfirmed_user_cannot_create_an_organisation(browser, client):
    user = UserFactory(email="founder@newtrust.example", email_confirmed_at=None)
    browser.login(user.email, PASSWORD)
    # Until the address is confirmed, the page sends them to confirm it (issue 17)...
    page = client.get("/organisation/new")
    assert page.status_code == 302 and page.location.endswith("/register/check-email")
    response = browser.post(
        "/organisation/new",
        {"name": "New Trust", "email_domains": "", "sponsor_names": ""},
        token_from="/register/check-email",
    )
    assert response.status_code == 302 and response.location.endswith("/register/check-email")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 0
    # ...and the service refuses too, whoever calls it.
    import pytest

    from portal.services import ServiceError, accounts

    with pytest.raises(ServiceError, match="Confirm your email address before you create"):
        accounts.create_organisation(user, "New Trust", [], [])


def test_sponsor_admin_invites_a_colleague_who_joins(browser, client):
    org = OrganisationFactory(email_domains=["acme.example"])
    admin = member("sponsor_admin", org)
    browser.login(admin.email, PASSWORD)
    response = browser.submit(
        "/organisation", {"email": "colleague@acme.example", "role": "compliance_officer"}
    )
    assert response.status_code == 302
    browser.logout()

    link = last_link("colleague@acme.example")
    html = client.get(link).get_data(as_text=True)
    assert f"Join {org.name}" in html
    response = browser.submit(
        link,
        {
            "full_name": "Col League",
            "password": "colleague pw1",
            "confirm_password": "colleague pw1",
        },
    )
    assert response.status_code == 302
    user = db.session.execute(
        sa.select(User).where(User.email == "colleague@acme.example")
    ).scalar_one()
    assert (
        user.email_confirmed
        and user.role == "compliance_officer"
        and user.organisation.id == org.id
    )
    assert client.get(link).status_code == 400  # used


def test_only_a_sponsor_admin_can_invite(browser):
    org = OrganisationFactory()
    sponsor = member("sponsor", org)
    browser.login(sponsor.email, PASSWORD)
    page = browser.get("/organisation").get_data(as_text=True)
    assert "Invite someone" not in page
    browser.submit("/organisation", {"email": "x@org.example", "role": "sponsor"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Membership)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)) == 0


def test_invitation_with_a_malformed_email_is_explained(browser):
    admin = member("sponsor_admin")
    browser.login(admin.email, PASSWORD)
    html = browser.submit("/organisation", {"email": "bad@", "role": "sponsor"}).get_data(
        as_text=True
    )
    assert "Enter an email address in the correct format" in html
