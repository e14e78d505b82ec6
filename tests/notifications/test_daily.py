"""The daily notifications job: milestones on their days, one digest per person, exactly once,
catch-up, leavers, delivered by a real worker to a real SMTP server on loopback."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from portal.extensions import db
from portal.jobs import QUEUE_MAIL, enqueue
from portal.models import (
    Notification,
    NotificationDigest,
    NotificationRun,
    OutboxEmail,
)
from portal.services.accounts.invitations import remove_member
from portal.services.notifications import (
    london_today,
    notify_organisation,
    run_daily,
    should_run,
)
from tests.factories import OrganisationFactory, member, trial
from tests.notifications.conftest import duty


def _digest_days(user) -> list[date]:
    return list(
        db.session.execute(
            sa.select(NotificationDigest.day)
            .where(NotificationDigest.user_id == user.id)
            .order_by(NotificationDigest.day)
        ).scalars()
    )


def _emails_to(user) -> list[OutboxEmail]:
    address = user if isinstance(user, str) else user.email
    return list(
        db.session.execute(
            sa.select(OutboxEmail).where(OutboxEmail.to == address).order_by(OutboxEmail.id)
        ).scalars()
    )


def test_milestones_fall_on_their_days_when_the_job_runs_every_day(app):
    org = OrganisationFactory()
    sponsor = member("sponsor", org)
    due = date(2027, 4, 30)
    duty(trial(title="Asthma trial", owner=org), "UK-RES", due, title="Post the results")
    start = due - timedelta(days=100)
    for offset in range(122):  # 100 days before to 21 days after the due date
        run_daily(start + timedelta(days=offset), deliver=False)
    expected = [due - timedelta(days=n) for n in (90, 30, 7, 0)] + [
        due + timedelta(days=n) for n in (7, 14, 21)
    ]
    assert _digest_days(sponsor) == expected
    bodies = [e.body_text for e in _emails_to(sponsor)]
    assert "Post the results: due on 30 April 2027, in 90 days." in bodies[0]
    assert "Post the results: due on 30 April 2027, in 7 days." in bodies[2]
    assert "Post the results: due today, 30 April 2027." in bodies[3]
    assert "overdue since 30 April 2027 (14 days late)" in bodies[5]
    assert all("Asthma trial" in body for body in bodies)
    # One run per day, recorded.
    assert db.session.execute(sa.select(sa.func.count(NotificationRun.day))).scalar_one() == 122


def test_digest_groups_by_trial_most_urgent_first_and_arrives_by_smtp(app, smtp, run_jobs):
    org, elsewhere = OrganisationFactory(), OrganisationFactory()
    sponsor = member("sponsor", org, full_name="Sam Sponsor")
    outsider = member("sponsor", elsewhere)
    day = date(2026, 12, 4)
    later = trial(title="Later trial", owner=org)
    duty(later, "UK-RES", day + timedelta(days=7), title="Post the results")
    late = trial(title="Late trial", owner=org)
    duty(late, "UK-END", day - timedelta(days=14), "overdue", title="Notify the end of trial")
    duty(late, "UK-REG", day + timedelta(days=30), title="Register the trial")
    duty(late, "UK-PART", day + timedelta(days=12), title="Not a milestone today")
    other = trial(title="Someone else's trial", owner=elsewhere)
    duty(other, "UK-RES", day, title="Post the results")
    duty(trial(title="Unowned trial"), "UK-RES", day, title="Post the results")

    summary = run_daily(day)
    assert summary.digests == 2
    mine, theirs, late_id = sponsor.email, outsider.email, late.id
    run_jobs()

    received = {m["To"]: m for m in smtp.messages}
    assert set(received) == {mine, theirs}
    message = received[mine]
    assert message["Subject"] == "1 overdue: your trial transparency update for 4 December 2026"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(
        r"<http://localhost/notifications/unsubscribe/[\w.-]+>", message["List-Unsubscribe"]
    )
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.startswith("Hello Sam Sponsor,")
    assert "Today you have 3 deadline reminders." in text
    # Grouped by trial, the trial with the overdue duty first; inside it, most urgent first.
    assert text.index("Late trial") < text.index("Later trial")
    assert text.index("Notify the end of trial") < text.index("Register the trial")
    assert "Notify the end of trial: overdue since 20 November 2026 (14 days late)." in text
    assert "Register the trial: due on 3 January 2027, in 30 days." in text
    assert "Post the results: due on 11 December 2026, in 7 days." in text
    assert f"http://localhost/trials/{late_id}" in text
    assert f'href="http://localhost/trials/{late_id}"' in html
    for body in (text, html):
        assert "Someone else" not in body and "Unowned" not in body
        assert "Not a milestone today" not in body
        assert not re.search(r"\d{4}-\d{2}-\d{2}", body), "dates are written out"
        assert "None" not in body
    assert "<img" not in html, "no tracking pixels"
    assert "Someone else's trial" in received[theirs].get_body(("plain",)).get_content()
    statuses = db.session.execute(sa.select(OutboxEmail.status)).scalars().all()
    assert statuses == ["sent", "sent"]


def test_same_day_twice_adds_nothing_and_dry_run_writes_nothing(app):
    org = OrganisationFactory()
    member("sponsor", org)
    member("compliance_officer", org)
    day = date(2026, 12, 4)
    duty(trial(owner=org), "UK-END", day - timedelta(days=21), "overdue")
    runner = app.test_cli_runner()
    db.session.commit()

    dry = runner.invoke(args=["notifications", "send", "--as-of", "2026-12-04", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 digest emails would be sent to 2 people" in dry.output
    assert "Dry run: nothing was saved or sent." in dry.output
    for model in (OutboxEmail, Notification, NotificationDigest, NotificationRun):
        assert db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one() == 0

    first = runner.invoke(args=["notifications", "send", "--as-of", "2026-12-04"])
    assert first.exit_code == 0, first.output
    assert "2 digest emails queued to 2 people, carrying 2 deadline reminders" in first.output
    assert "weekly portfolio summary" in first.output  # a Monday fell in the first window
    again = runner.invoke(args=["notifications", "send", "--as-of", "2026-12-04"])
    assert "no emails to send" in again.output
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count(OutboxEmail.id))).scalar_one() == 2
    later = runner.invoke(args=["notifications", "send", "--as-of", "2027-02-02"])
    assert "2 digest emails queued" in later.output
    bad = runner.invoke(args=["notifications", "send", "--as-of", "4 December"])
    assert bad.exit_code != 0 and "year-month-day" in bad.output


def test_three_missed_days_give_one_catch_up_digest(app):
    org = OrganisationFactory()
    sponsor = member("sponsor", org)
    day0 = date(2026, 12, 1)
    duty(trial(title="Trial A", owner=org), "UK-RES", day0 + timedelta(days=2 + 7), title="A")
    duty(trial(title="Trial B", owner=org), "UK-END", day0 + timedelta(days=3), title="B")
    duty(trial(title="Trial C", owner=org), "UK-REG", day0 + timedelta(days=1 + 30), title="C")
    run_daily(day0, deliver=False)  # B's 7-day reminder (28 November) is caught up here
    assert _digest_days(sponsor) == [day0]
    summary = run_daily(day0 + timedelta(days=4), deliver=False)  # days 1, 2 and 3 missed
    assert summary.first_day == day0 + timedelta(days=1)
    assert "catching up" in summary.words()
    assert _digest_days(sponsor) == [day0, day0 + timedelta(days=4)]
    only = _emails_to(sponsor)[-1]
    assert "Today you have 3 deadline reminders." in only.body_text
    assert "B: was due on 4 December 2026." in only.body_text
    assert "A: due on 10 December 2026, in 5 days." in only.body_text


def test_a_person_removed_from_the_organisation_hears_nothing_more_about_it(app):
    org = OrganisationFactory()
    admin = member("sponsor_admin", org)
    leaver = member("sponsor", org)
    day = london_today()  # the day the event below is recorded
    held = trial(title="Held trial", owner=org)
    duty(held, "UK-END", day - timedelta(days=7), "overdue")
    notify_organisation(org.id, "decisions", "test-decision", "A decision", trial=held)
    db.session.commit()
    remove_member(admin, leaver.id)
    summary = run_daily(day, deliver=False)
    assert summary.digests == 1
    assert _emails_to(leaver) == []
    dropped = db.session.execute(
        sa.select(Notification.dropped).where(Notification.user_id == leaver.id)
    ).scalars()
    assert set(dropped) == {"left organisation"}
    run_daily(day + timedelta(days=7), deliver=False)
    assert _emails_to(leaver) == []
    assert len(_emails_to(admin)) == 2


def test_the_clock_change_and_the_scheduler_tick(app, run_jobs):
    # British Summer Time starts at 01:00 UTC on 28 March 2027: 06:30 UTC is 07:30 in London.
    assert should_run(datetime(2027, 3, 27, 6, 30, tzinfo=UTC)) is None  # 06:30 GMT
    assert should_run(datetime(2027, 3, 28, 6, 30, tzinfo=UTC)) == date(2027, 3, 28)
    # It ends at 01:00 UTC on 25 October 2026: 06:30 UTC is 06:30 in London again.
    assert should_run(datetime(2026, 10, 25, 6, 30, tzinfo=UTC)) is None
    assert should_run(datetime(2026, 10, 25, 7, 0, tzinfo=UTC)) == date(2026, 10, 25)
    # Just before midnight UTC on 27 March is still 27 March in London (GMT).
    assert should_run(datetime(2027, 3, 27, 23, 30, tzinfo=UTC)) == date(2027, 3, 27)

    from workers.notifications import daily_tick

    org = OrganisationFactory()
    sponsor = member("sponsor", org).email
    duty(trial(owner=org), "UK-RES", date(2027, 3, 28), title="Post the results")
    db.session.commit()
    enqueue(daily_tick, "2027-03-28T06:30:00+00:00")
    run_jobs()
    (email,) = _emails_to(sponsor)
    assert "Post the results: due today, 28 March 2027." in email.body_text
    assert should_run(datetime(2027, 3, 28, 9, 0, tzinfo=UTC)) is None  # done for the day
    enqueue(daily_tick, "2027-03-28T10:00:00+00:00")
    run_jobs()
    assert len(_emails_to(sponsor)) == 1


def test_a_failed_delivery_is_kept_with_the_smtp_error_for_the_admin(app, run_jobs, browser):
    from portal.services import transactional
    from portal.services.mail import queue_email
    from tests.factories import PASSWORD, staff
    from workers.mail import deliver_email

    app.config["MAIL_URL"] = "smtp://127.0.0.1:9"  # nothing listens on the discard port
    transactional(lambda: queue_email("a@example.org", "First", "Body"))()
    run_jobs()
    first = db.session.execute(sa.select(OutboxEmail)).scalar_one()
    assert first.status == "queued" and first.error  # RQ retries it later, with back-off
    enqueue(deliver_email, first.id, queue_name=QUEUE_MAIL, retry=None)  # the last attempt
    run_jobs()
    first = db.session.execute(sa.select(OutboxEmail)).scalar_one()
    assert first.status == "failed"
    assert "refused" in first.error.lower() or "connect" in first.error.lower()
    browser.login(staff("admin").email, PASSWORD)
    page = browser.get("/admin/outbox").get_data(as_text=True)
    assert "Gave up after retries" in page
