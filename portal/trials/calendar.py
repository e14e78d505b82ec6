"""An iCalendar (RFC 5545) feed of deadlines, written by hand: it is a few fixed lines."""

from __future__ import annotations

from datetime import timedelta

from portal.plain import humanise
from portal.timeutil import utcnow


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded (RFC 5545 3.1)."""
    out, current = [], ""
    for char in line:
        if len((current + char).encode()) > 74:
            out.append(current)
            current = " " + char
        else:
            current += char
    out.append(current)
    return "\r\n".join(out)


def ical_feed(deadlines, dashboard_url: str) -> str:
    """Overdue duties come first (marked OVERDUE, on the day they were due), then the rest."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Trial Transparency Portal//Deadlines//EN",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:Trial transparency deadlines",
    ]
    for obligation, trial in deadlines:
        due = obligation.due
        title = (obligation.verdict or {}).get("title") or obligation.duty
        state = "OVERDUE: " if obligation.status == "overdue" else ""
        about = humanise((obligation.verdict or {}).get("explanation", ""))[:900]
        lines += [
            "BEGIN:VEVENT",
            f"UID:obligation-{obligation.id}-{obligation.duty}@trial-transparency-portal",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{due:%Y%m%d}",
            f"DTEND;VALUE=DATE:{(due + timedelta(days=1)):%Y%m%d}",
            f"SUMMARY:{_escape(state + title + ': ' + (trial.title or '')[:120])}",
            f"DESCRIPTION:{_escape(about)}",
            f"URL:{dashboard_url.rstrip('/')}/{trial.id}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
