"""The outside check, in-house: on the demo data, `flask notifications send --as-of` gives the
demo organisation's people their digests; the same day twice adds nothing; sixty days on adds
more."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from portal import demo
from portal.extensions import db
from portal.models import OutboxEmail
from portal.services.notifications import london_today

PEOPLE = {"sponsor@demo-trust.example", "admin@demo-trust.example", "officer@demo-trust.example"}


def _outbox() -> list[str]:
    db.session.expire_all()
    return list(db.session.execute(sa.select(OutboxEmail.to)).scalars())


def test_demo_people_get_digests_once_a_day_and_more_later(app, monkeypatch, tmp_path):
    monkeypatch.setenv("REGISTRY_SAMPLES", str(tmp_path / "nowhere"))
    monkeypatch.setattr(demo, "CORPUS", tmp_path / "nowhere-either")
    demo.load_demo()
    demo.load_demo_trials()
    db.session.commit()
    before = set(_outbox())  # sign-up style emails, if any
    runner = app.test_cli_runner()
    today = london_today()
    send = ["notifications", "send", "--as-of"]
    first = runner.invoke(args=[*send, today.isoformat()])
    assert first.exit_code == 0, first.output
    assert "3 digest emails queued to 3 people" in first.output
    after_first = _outbox()
    assert PEOPLE <= set(after_first) - before
    again = runner.invoke(args=[*send, today.isoformat()])
    assert "no emails to send" in again.output
    assert len(_outbox()) == len(after_first)
    later = runner.invoke(args=[*send, (today + timedelta(days=60)).isoformat()])
    assert later.exit_code == 0, later.output
    assert len(_outbox()) > len(after_first)
