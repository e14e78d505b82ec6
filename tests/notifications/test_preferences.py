"""Preferences page, weekly digests, one-click unsubscribe (RFC 8058) without signing in."""

from __future__ import annotations

import re
from datetime import date, timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, NotificationPreference, OutboxEmail
from portal.services.notifications import run_daily
from tests.factories import PASSWORD, OrganisationFactory, member, trial
from tests.notifications.conftest import duty

MONDAY = date(2026, 12, 7)


def _count_to(address: str) -> int:
    return db.session.execute(
        sa.select(sa.func.count(OutboxEmail.id)).where(OutboxEmail.to == address)
    ).scalar_one()


def test_weekly_and_off_from_the_preferences_page(app, browser):
    org = OrganisationFactory()
    user = member("sponsor", org)
    address = user.email
    held = trial(owner=org)
    duty(held, "UK-END", MONDAY - timedelta(days=5 + 14), "overdue")  # weekly on Wednesdays
    browser.login(address, PASSWORD)
    page = browser.get("/account/notifications").get_data(as_text=True)
    assert "How often should we email you?" in page
    assert "Weekly portfolio summary" not in page  # not a sponsor's kind
    response = browser.submit(
        "/account/notifications", {"frequency": "weekly", "kinds": ["deadlines"]}
    )
    assert response.status_code == 302
    pref = db.session.get(NotificationPreference, user.id)
    assert pref.frequency == "weekly" and "decisions" in pref.muted_kinds
    run_daily(MONDAY - timedelta(days=7), deliver=False)  # a Monday: sent
    assert _count_to(address) == 1
    run_daily(MONDAY - timedelta(days=5), deliver=False)  # Wednesday's reminder waits
    assert _count_to(address) == 1
    run_daily(MONDAY, deliver=False)
    assert _count_to(address) == 2
    bad = browser.submit("/account/notifications", {"frequency": "hourly"})
    assert bad.status_code == 200 and "Not a valid choice" in bad.get_data(as_text=True)
    browser.submit("/account/notifications", {"frequency": "off", "kinds": ["deadlines"]})
    run_daily(MONDAY + timedelta(days=9), deliver=False)
    run_daily(MONDAY + timedelta(days=14), deliver=False)
    assert _count_to(address) == 2
    actions = db.session.execute(
        sa.select(AuditEvent.action).where(AuditEvent.action.like("notifications.%"))
    ).scalars()
    assert list(actions).count("notifications.preferences_changed") == 2


def test_one_click_unsubscribe_without_signing_in(app, client):
    org = OrganisationFactory()
    user = member("compliance_officer", org)
    address = user.email
    duty(trial(owner=org), "UK-RES", MONDAY + timedelta(days=30))
    run_daily(MONDAY, deliver=False)
    email = db.session.execute(sa.select(OutboxEmail)).scalar_one()
    url = re.fullmatch(r"<http://localhost(/\S+)>", email.headers["List-Unsubscribe"]).group(1)
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in email.body_text and url in email.body_html

    # Opening the link shows a button and changes nothing (mail scanners follow links).
    page = client.get(url)
    assert page.status_code == 200 and "Stop these emails" in page.get_data(as_text=True)
    assert db.session.get(NotificationPreference, user.id) is None
    # Tampered links are refused.
    assert client.post(url[:-3] + "abc").status_code == 400
    assert client.get("/notifications/unsubscribe/nonsense").status_code == 400
    # What a mail client sends for RFC 8058: a POST with that body, no cookie, no CSRF token.
    done = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "You are unsubscribed" in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(NotificationPreference, user.id).frequency == "off"
    assert client.post(url).status_code == 200  # twice is harmless
    run_daily(MONDAY + timedelta(days=23), deliver=False)  # the 7-day reminder: not sent
    assert _count_to(address) == 1
    assert (
        db.session.execute(
            sa.select(sa.func.count(AuditEvent.id)).where(
                AuditEvent.action == "notifications.unsubscribed"
            )
        ).scalar_one()
        == 2
    )
