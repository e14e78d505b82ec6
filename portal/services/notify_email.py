"""The digest email: plain text and HTML, grouped by trial, most urgent first, no tracking.

Every digest carries a one-click unsubscribe link (RFC 8058): the ``List-Unsubscribe`` header
names a signed URL and ``List-Unsubscribe-Post`` says a POST to it unsubscribes, without
signing in. The link is signed with the app's secret and the person's security stamp.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from html import escape
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from portal.models import Notification, User
from portal.models.notifications import KINDS
from portal.plain import day as day_text

UNSUBSCRIBE_SALT = "portal-notifications-unsubscribe"
# Sections of a digest, in order; trial items are grouped by trial inside "Your trials".
ROLE_KINDS = ("portfolio", "queue", "team")
KIND_WORDS = {
    "deadlines": ("deadline reminder", "deadline reminders"),
    "data_needed": ("duty needing facts", "duties needing facts"),
    "decisions": ("decision", "decisions"),
    "documents": ("document ready", "documents ready"),
    "team": ("team change", "team changes"),
    "registry": ("registry change", "registry changes"),
    "portfolio": ("weekly portfolio summary", "weekly portfolio summaries"),
    "queue": ("review queue summary", "review queue summaries"),
}


def public_url(path: str) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


def _serializer() -> URLSafeSerializer:
    key = current_app.config["SECRET_KEY"]
    if isinstance(key, str | bytes):
        return _serializer_for(key)
    return URLSafeSerializer(key, salt=UNSUBSCRIBE_SALT)  # a list of keys (rotation)


@lru_cache(maxsize=8)
def _serializer_for(secret_key: str | bytes) -> URLSafeSerializer:
    """One serializer per secret key (the daily job signs a link in every digest)."""
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(user: User, kind: str = "all") -> str:
    """A link that turns off ``kind`` (or every email: "all") for ``user``. It does not expire
    (RFC 8058 asks that it keep working) and stops working when the user's security stamp
    changes (a password reset or removal from an organisation)."""
    return _serializer().dumps({"u": user.id, "k": kind, "s": user.security_stamp[:12]})


def read_unsubscribe_token(token: str) -> tuple[int, str, str]:
    """(user id, kind, stamp prefix); raises ValueError for a link that was not ours."""
    try:
        data = _serializer().loads(token)
    except BadSignature as exc:
        raise ValueError("This unsubscribe link is not valid. Check you copied all of it.") from exc
    if not isinstance(data, dict) or data.get("k") not in (*KINDS, "all"):
        raise ValueError("This unsubscribe link is not valid. Check you copied all of it.")
    return int(data["u"]), str(data["k"]), str(data.get("s", ""))


def count_words(counts: dict[str, int]) -> str:
    """{"deadlines": 3, "decisions": 1} -> "3 deadline reminders and 1 decision"."""
    parts = []
    for kind in KIND_WORDS:
        n = counts.get(kind, 0)
        if n:
            one, many = KIND_WORDS[kind]
            parts.append(f"{n} {one if n == 1 else many}")
    if not parts:
        return "nothing"
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass
class Digest:
    subject: str
    text: str
    html: str
    headers: dict[str, str]


def _groups(items: Iterable[Notification]) -> tuple[list[tuple[str, str, list]], list]:
    """Trial items grouped by trial (most urgent trial first, most urgent item first inside),
    and the items that belong to no trial."""
    by_trial: dict[int, list[Notification]] = {}
    others: list[Notification] = []
    for item in items:
        if item.trial_id is None:
            others.append(item)
        else:
            by_trial.setdefault(item.trial_id, []).append(item)
    groups = []
    for trial_id, rows in by_trial.items():
        rows.sort(key=lambda r: (r.urgency, r.id))
        title = rows[0].payload.get("trial_title") or f"Trial {trial_id}"
        groups.append((rows[0].urgency, title, public_url(f"/trials/{trial_id}"), rows))
    groups.sort(key=lambda g: (g[0], g[1]))
    others.sort(key=lambda r: (r.urgency, r.id))
    return [(title, link, rows) for _, title, link, rows in groups], others


def build_digest(user: User, items: list[Notification], day: date) -> Digest:
    """One email for one person and one day, from their unsent notifications."""
    groups, others = _groups(items)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    overdue = sum(1 for i in items if i.kind == "deadlines" and i.urgency < 0)
    if overdue:
        subject = f"{overdue} overdue: your trial transparency update for {day_text(day)}"
    else:
        subject = f"Your trial transparency update for {day_text(day)}"
    token = unsubscribe_token(user)
    unsubscribe = public_url(f"/notifications/unsubscribe/{token}")
    preferences = public_url("/account/notifications")
    name = user.full_name or "there"

    text = [f"Hello {name},", "", f"Today you have {count_words(counts)}.", ""]
    html = [
        '<html><body style="font-family: Arial, sans-serif; font-size: 16px; color: #0b0c0c;">',
        f"<p>Hello {escape(name)},</p>",
        f"<p>Today you have {escape(count_words(counts))}.</p>",
    ]
    for title, link, rows in groups:
        text.append(title)
        text.append("-" * min(len(title), 70))
        html.append(
            f'<h2 style="font-size: 19px;"><a href="{escape(link)}">{escape(title)}</a></h2>'
        )
        html.append("<ul>")
        for row in rows:
            text.append(f"* {row.payload.get('text', '')}")
            html.append(f"<li>{escape(row.payload.get('text', ''))}</li>")
        html.append("</ul>")
        text.append(f"Open the trial: {link}")
        text.append("")
    for row in others:
        heading = row.payload.get("heading") or "For you"
        lines = row.payload.get("lines") or [row.payload.get("text", "")]
        text.append(heading)
        text.append("-" * min(len(heading), 70))
        html.append(f'<h2 style="font-size: 19px;">{escape(heading)}</h2><ul>')
        for line in lines:
            text.append(f"* {line}")
            html.append(f"<li>{escape(line)}</li>")
        html.append("</ul>")
        if row.payload.get("link"):
            text.append(f"Open: {public_url(row.payload['link'])}")
            html.append(f'<p><a href="{escape(public_url(row.payload["link"]))}">Open</a></p>')
        text.append("")
    text += [
        "Choose what we send you, or send it weekly instead: " + preferences,
        "Stop these emails with one click: " + unsubscribe,
    ]
    html += [
        f'<p><a href="{escape(preferences)}">Choose what we send you</a>, or get it weekly.</p>',
        f'<p><a href="{escape(unsubscribe)}">Stop these emails</a></p>',
        "</body></html>",
    ]
    headers = {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }
    return Digest(subject, "\n".join(text) + "\n", "\n".join(html) + "\n", headers)


def payload_text(payload: dict[str, Any]) -> str:
    return str(payload.get("text", ""))
