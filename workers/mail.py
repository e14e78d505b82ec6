"""Deliver queued email."""

from __future__ import annotations

from flask import current_app
from rq import get_current_job

from portal.extensions import db
from portal.models import OutboxEmail
from portal.services.mail import send_smtp
from portal.timeutil import utcnow
from workers.context import job


@job
def deliver_email(outbox_id: int) -> str:
    """Send one outbox email by SMTP, or keep it in the outbox when no MAIL_URL is set."""
    message = db.session.get(OutboxEmail, outbox_id)
    if message is None or message.status in {"sent", "kept"}:
        return "nothing to do"
    mail_url = current_app.config["MAIL_URL"]
    if mail_url:
        try:
            send_smtp(mail_url, current_app.config["MAIL_FROM"], message)
        except Exception as exc:
            message.error = str(exc)[:500]
            current = get_current_job()
            if current is None or not current.retries_left:
                # The last attempt: the admin's outbox and home page show it with the error.
                message.status = "failed"
            db.session.commit()
            raise  # RQ retries with its back-off (portal.jobs.DEFAULT_RETRY)
        message.status = "sent"
    else:
        message.status = "kept"
    message.delivered_at = utcnow()
    message.error = None
    db.session.commit()
    return message.status
