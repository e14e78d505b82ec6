"""A portfolio's compliance over the last 24 months, worked out from the verdicts themselves.

The status history (ObligationStatusChange) only starts when the portal first works a trial's
duties out, so a fresh import has none. But each stored verdict says when its duty was due and
when it was met, which is enough to tell what its status was on any earlier day (issue 18):

* met (or met late) from the day it was met; before that, by its due date as below;
* overdue from the day after its due date, until it was met;
* due soon within the due-soon window (30 days) before its due date, upcoming before that;
* a duty that needs data counts as data needed throughout, and a deferred or
  waived duty as deferred or waived throughout: the verdict does not say since when;
* duties that do not apply are left out (they are not stored as rows).

One grouped query per call (counts by status and dates, not one row per duty), so the cost is the
same for the officer's home page and the portfolio report. Pure date arithmetic after that.

The points are cached per organisation in the database (so every web process and worker shares
them) for the day and number of months, with the token of the verdicts they were worked out from
(portal.domain.obligations.cache): the officer's home page reads one row until a verdict
changes, and the first request after a change works the trend out again.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from typing import Any

import sqlalchemy as sa

from portal.domain.obligations import cache
from portal.extensions import db
from portal.models import Obligation, Trial

MONTHS = 24
DUE_SOON_DAYS = 30  # RULES.md "Status words": due soon within 30 days [param], the default
MET = ("met", "met_late")
HELD = ("deferred", "waived")
# The series every point counts, in the order the chart and its table show them.
SERIES = (
    ("overdue", "Overdue"),
    ("data_needed", "Data needed"),
    ("due_soon", "Due soon"),
    ("upcoming", "Upcoming"),
    ("met", "Met"),
    ("deferred", "Deferred or waived"),
)


@dataclass(frozen=True)
class MonthPoint:
    """The portfolio's duties by status at the end of one month (the last point: ``as_of``)."""

    month: date  # the first day of the month
    on: date  # the day counted: the month's last day, or as_of for the current month
    overdue: int = 0
    data_needed: int = 0
    due_soon: int = 0
    upcoming: int = 0
    met: int = 0
    deferred: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, key) for key, _label in SERIES)

    @property
    def label(self) -> str:
        """``December 2026`` (month-only dates are written this way everywhere)."""
        return f"{self.month:%B %Y}"

    @property
    def short(self) -> str:
        """``Dec 26``, for the chart's axis."""
        return f"{self.month:%b %y}"

    def counts(self) -> list[int]:
        return [getattr(self, key) for key, _label in SERIES]


def month_ends(as_of: date, months: int = MONTHS) -> list[tuple[date, date]]:
    """(first day, day counted) of each of the ``months`` months up to ``as_of``'s, oldest first."""
    out = []
    year, month = as_of.year, as_of.month
    for _ in range(months):
        last = date(year, month, calendar.monthrange(year, month)[1])
        out.append((date(year, month, 1), min(last, as_of)))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    out.reverse()
    return out


def status_on(
    day: date,
    status: str,
    due: date | None,
    met_on: date | None,
    due_soon_days: int = DUE_SOON_DAYS,
) -> str | None:
    """What a duty's status was on ``day``, from its verdict now (see the module docstring)."""
    if status == "not_applicable":
        return None
    if status in HELD:
        return "deferred"
    if status == "data_needed":
        return "data_needed"
    if status in MET and met_on is None:
        return "met"
    if met_on is not None and met_on <= day:
        return "met"
    if due is None:
        return "data_needed"
    if due < day:
        return "overdue"
    if (due - day).days <= due_soon_days:
        return "due_soon"
    return "upcoming"


def _day(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def verdict_groups(organisation_id: int) -> list[tuple[str, date | None, date | None, int]]:
    """(status, due, met on, how many duties) for the organisation's stored verdicts."""
    # Only a met duty's verdict is read for its date (the JSON is parsed for those rows alone);
    # an open duty's verdict has no met date (a reopened one has it cleared: rules.evidence).
    met_on = sa.case(
        (Obligation.status.in_(MET), Obligation.verdict["met_on"].as_string()), else_=None
    )
    rows = db.session.execute(
        sa.select(Obligation.status, Obligation.due, met_on, sa.func.count())
        .join(Trial, Trial.id == Obligation.trial_id)
        .where(Trial.owner_organisation_id == organisation_id)
        .group_by(Obligation.status, Obligation.due, met_on)
    ).all()
    return [(status, due, _day(met), count) for status, due, met, count in rows]


def points_from(
    groups: list[tuple[str, date | None, date | None, int]],
    as_of: date,
    months: int = MONTHS,
    due_soon_days: int = DUE_SOON_DAYS,
) -> list[MonthPoint]:
    """The month points for verdict groups (pure: the tests and the query share it).

    The same answer as asking :func:`status_on` for every group on every month end, but each
    group's status changes at most three times (due soon, overdue, met), so each is placed by a
    binary search of the month ends and counted with running sums: one pass over the groups, not
    one per month (the officer's home page draws it for 25,000 duties)."""
    ends = month_ends(as_of, months)
    days = [day for _first, day in ends]
    n = len(days)
    # per series, +count where a run of months starts and -count where it ends
    runs: dict[str, list[int]] = {key: [0] * (n + 1) for key, _label in SERIES}

    def run(key: str, start: int, stop: int, count: int) -> None:
        if start < stop:
            runs[key][start] += count
            runs[key][stop] -= count

    for status, due, met_on, count in groups:
        if status == "not_applicable":
            continue
        if status in HELD:
            run("deferred", 0, n, count)
        elif status == "data_needed":
            run("data_needed", 0, n, count)
        elif status in MET and met_on is None:
            run("met", 0, n, count)
        else:
            met_from = bisect_left(days, met_on) if met_on is not None else n
            run("met", met_from, n, count)
            if due is None:
                run("data_needed", 0, met_from, count)
                continue
            soon_from = min(bisect_left(days, due - timedelta(days=due_soon_days)), met_from)
            late_from = min(bisect_right(days, due), met_from)
            run("upcoming", 0, soon_from, count)
            run("due_soon", soon_from, late_from, count)
            run("overdue", late_from, met_from, count)
    totals = {key: list(accumulate(values[:n])) for key, values in runs.items()}
    return [
        MonthPoint(first, day, **{key: totals[key][i] for key, _label in SERIES})
        for i, (first, day) in enumerate(ends)
    ]


def monthly_trend(org_id: int, as_of: date, months: int = MONTHS) -> list[MonthPoint]:
    """The organisation's duties by status at the end of each of the last ``months`` months
    (kept with the organisation's verdicts: portal.domain.obligations.cache)."""
    rows = cache.cached(
        org_id,
        f"trend of {months} months",
        as_of,
        lambda: [_encode(p) for p in points_from(verdict_groups(org_id), as_of, months)],
    )
    return [_decode(row) for row in rows]


def _encode(point: MonthPoint) -> list[Any]:
    return [point.month.isoformat(), point.on.isoformat(), *point.counts()]


def _decode(row: list[Any]) -> MonthPoint:
    month, on, *counts = row
    keys = [key for key, _label in SERIES]
    return MonthPoint(
        date.fromisoformat(month), date.fromisoformat(on), **dict(zip(keys, counts, strict=True))
    )


def as_counters(points: list[MonthPoint]) -> list[tuple[date, Counter]]:
    """The points as (day, Counter by status), the shape the report's chart reads."""
    return [
        (p.on, Counter({k: v for k, v in zip(dict(SERIES), p.counts(), strict=True) if v}))
        for p in points
    ]


def chart(points: list[MonthPoint], width: int = 720, height: int = 220) -> dict[str, Any]:
    """Geometry of the stacked bar chart drawn by templates/components/_trend.html."""
    left, right, top, bottom = 40, 8, 8, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([p.total for p in points] + [1])
    step = next(
        (s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000)
         if peak / s <= 5),
        10 ** len(str(peak // 5)),
    )  # fmt: skip
    top_value = step * -(-peak // step)
    slot = plot_w / max(1, len(points))
    bar = max(2.0, slot * 0.7)
    bars = []
    for i, p in enumerate(points):
        x = round(left + i * slot + (slot - bar) / 2, 1)
        y = float(top + plot_h)
        parts = []
        for (key, label), value in zip(SERIES, p.counts(), strict=True):
            if not value:
                continue
            h = plot_h * value / top_value
            y -= h
            parts.append({"key": key, "label": label, "y": round(y, 1), "h": round(h, 1)})
        bars.append({"x": x, "w": round(bar, 1), "parts": parts, "point": p})
    every = max(1, -(-len(points) // 8))
    return {
        "width": width,
        "height": height,
        "left": left,
        "bottom_y": top + plot_h,
        "right_x": width - right,
        "bars": bars,
        "ticks": [
            (round(top + plot_h * (1 - v / top_value), 1), v) for v in range(0, top_value + 1, step)
        ],
        "x_labels": [
            (round(left + i * slot + slot / 2, 1), p.short)
            for i, p in enumerate(points)
            if i % every == 0 or i == len(points) - 1
        ],
        "series": SERIES,
    }


def describe(points: list[MonthPoint]) -> str:
    """One sentence for screen readers and the chart's text alternative."""
    if not points:
        return "No duties yet."
    first, last = points[0], points[-1]
    return (
        f"From {first.label} to {last.label}, overdue duties went from {first.overdue} to "
        f"{last.overdue}, and met duties from {first.met} to {last.met}."
    )
