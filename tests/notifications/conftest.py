"""A real SMTP server on loopback (aiosmtpd) and helpers for the notifications tests."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from datetime import date

import pytest
from aiosmtpd.controller import Controller

from portal.extensions import db
from portal.models import Obligation


class Collect:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(app) -> Iterator[Collect]:
    """An SMTP server on 127.0.0.1 (a free port); the app delivers to it."""
    handler = Collect()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"
    try:
        yield handler
    finally:
        controller.stop()


def duty(trial, name: str, due: date | None, status: str = "upcoming", title: str = "") -> None:
    """A stored verdict for one duty of a trial, as the rules engine leaves it."""
    db.session.add(
        Obligation(
            trial_id=trial.id,
            duty=name,
            ruleset="uk-2026",
            status=status,
            due=due,
            verdict={"title": title or f"Duty {name}", "status": status, "explanation": ""},
            as_of=date(2026, 1, 1),
        )
    )
    db.session.commit()
