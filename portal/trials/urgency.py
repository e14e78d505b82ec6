"""The trial page's order: most urgent first, and what to do about each duty.

Overdue → facts to check → due soon → upcoming → deferred → met → not applicable (collapsed on the
page). Within a group, the earliest due date first; no due date last; then rule order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from portal.plain import day, missing_facts

GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("overdue", "Overdue", ("overdue",)),
    ("facts", "Facts to check", ("data_needed",)),
    ("due_soon", "Due soon", ("due_soon",)),
    ("upcoming", "Upcoming", ("upcoming",)),
    ("deferred", "Deferred", ("deferred",)),
    ("met", "Met", ("met", "met_late", "waived")),
    ("not_applicable", "Not applicable", ("not_applicable",)),
)
_GROUP_OF = {
    status: (rank, key) for rank, (key, _, statuses) in enumerate(GROUPS) for status in statuses
}


@dataclass
class Row:
    """One duty on the trial page: the stored verdict, its group, and what to do."""

    ob: Any
    group: str
    rank: int
    action: str
    action_kind: str  # "facts", "evidence", "none"
    requests: list[Any] = field(default_factory=list)


def action_for(ob: Any) -> tuple[str, str]:
    """What the sponsor does next about this duty, in words, and where they do it."""
    v = ob.verdict or {}
    title = (v.get("title") or ob.duty).rstrip(".")
    lowered = title[:1].lower() + title[1:]
    status = ob.status
    if status == "overdue":
        return f"Do it now: {lowered}, then record the date", "evidence"
    if status == "data_needed":
        return f"Enter: {missing_facts(v.get('missing'))}", "facts"
    if status == "due_soon":
        return f"Prepare to {lowered} by {day(ob.due)}" if ob.due else f"Prepare to {lowered}", (
            "evidence"
        )
    if status == "upcoming":
        return (f"Nothing yet: due {day(ob.due)}" if ob.due else "Nothing yet"), "none"
    if status == "deferred":
        until = v.get("deferred_until")
        return (f"Nothing until {day(date.fromisoformat(until))}" if until else "Nothing yet"), (
            "none"
        )
    if status in ("met", "met_late", "waived"):
        return "Nothing to do", "none"
    return "Nothing to do: it does not apply", "none"


def ordered(obligations: list[Any], requests: dict[str, list[Any]] | None = None) -> list[Row]:
    """The trial's verdicts, most urgent first, each with its action and reviewer requests."""
    rows = []
    for position, ob in enumerate(obligations):
        rank, group = _GROUP_OF.get(ob.status, (len(GROUPS), "other"))
        text, kind = action_for(ob)
        rows.append(
            (
                (rank, ob.due is None, ob.due or date.max, position),
                Row(ob, group, rank, text, kind, list((requests or {}).get(ob.duty, []))),
            )
        )
    rows.sort(key=lambda pair: pair[0])
    return [row for _, row in rows]


def first_action(rows: list[Row]) -> Row | None:
    """The row whose action comes first: the most urgent duty that needs doing."""
    for row in rows:
        if row.action_kind != "none" or row.requests:
            return row
    return None
