"""Email: kept in the outbox table and delivered by a worker (SMTP when MAIL_URL is set)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from portal.extensions import db
from portal.models import OutboxEmail
from portal.services import after_commit


def queue_email(to: str, subject: str, body: str) -> OutboxEmail:
    """Store an email in the current transaction; a worker delivers it after commit."""
    from portal.jobs import QUEUE_MAIL, try_enqueue
    from workers.mail import deliver_email

    message = OutboxEmail(to=to, subject=subject, body_text=body)
    db.session.add(message)
    db.session.flush()
    message_id = message.id
    after_commit(lambda: try_enqueue(deliver_email, message_id, queue_name=QUEUE_MAIL))
    return message


def send_smtp(mail_url: str, sender: str, message: OutboxEmail) -> None:
    """Send through ``smtp://user:pass@host:port`` (``smtps://`` for TLS from the start)."""
    url = urlparse(mail_url)
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    for name, value in (message.headers or {}).items():
        email[name] = value
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    port = url.port or (465 if url.scheme == "smtps" else 25)
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_class(url.hostname or "localhost", port, timeout=30) as smtp:
        if url.scheme == "smtp+starttls":
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(email)
