"""Reads of the tracker's precomputed tables: every page is one or two indexed queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import (
    SponsorFact,
    TrackerChange,
    TrackerDisclosure,
    TrackerResponse,
    TrackerRun,
    TrackerSponsor,
    TrackerTrial,
    Trial,
)

PER_PAGE = 50
# Sort key in the address -> (column, words for the page). Anything else sorts by overdue.
SORTS = {
    "name": (TrackerSponsor.name, "sponsor name"),
    "trials": (TrackerSponsor.trials, "trials"),
    "due": (TrackerSponsor.due, "trials due"),
    "on_time": (TrackerSponsor.on_time, "reported on time"),
    "late": (TrackerSponsor.late, "reported late"),
    "overdue": (TrackerSponsor.overdue, "overdue"),
    "percent": (TrackerSponsor.percent, "percentage reported"),
}
DEFAULT_SORT = "overdue"
SPONSOR_COLUMNS = ("name", "trials", "due", "on_time", "late", "overdue", "percent")
STATE_WORDS = {
    "overdue": "Overdue",
    "late": "Reported late",
    "on_time": "Reported on time",
    "not_due": "Not due yet",
}


def whole(value: Any, default: int = 1) -> int:
    """A page number from the address: anything that is not a positive whole number is 1."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return default
    return number if 0 < number < 10**9 else default


def sort_key(value: Any) -> str:
    return value if value in SORTS else DEFAULT_SORT


def order_key(value: Any, sort: str) -> str:
    if value in ("asc", "desc"):
        return value
    return "asc" if sort == "name" else "desc"


def last_run() -> TrackerRun | None:
    return db.session.execute(
        sa.select(TrackerRun)
        .where(TrackerRun.finished_at.is_not(None))
        .order_by(TrackerRun.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def totals(run: TrackerRun | None) -> dict[str, int]:
    """The league table's totals, worked out with the figures (TrackerRun)."""
    names = ("sponsors", "sponsor_trials", "due", "on_time", "late", "overdue")
    return {name: getattr(run, name) if run else 0 for name in names}


def _ordered(query: sa.Select, sort: str, order: str) -> sa.Select:
    column = SORTS[sort][0]
    first = column.asc() if order == "asc" else column.desc()
    return query.order_by(sa.nulls_last(first), TrackerSponsor.name, TrackerSponsor.id)


def league(
    page: int, sort: str, order: str, run: TrackerRun | None
) -> tuple[list[TrackerSponsor], int, int]:
    """(sponsors on the page, the page shown, the number of pages)."""
    count = run.sponsors if run else 0
    pages = max(1, -(-count // PER_PAGE))
    page = min(page, pages)
    rows = db.session.execute(
        _ordered(sa.select(TrackerSponsor), sort, order)
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).scalars()
    return list(rows), page, pages


def all_sponsors(sort: str, order: str) -> Iterator[Any]:
    """Every sponsor's line, read in batches (the downloads stream them)."""
    columns = [getattr(TrackerSponsor, c) for c in ("slug", *SPONSOR_COLUMNS)]
    query = _ordered(sa.select(*columns), sort, order).execution_options(yield_per=5000)
    yield from db.session.execute(query)


def sponsor(slug: str) -> TrackerSponsor | None:
    return db.session.execute(
        sa.select(TrackerSponsor).where(TrackerSponsor.slug == slug)
    ).scalar_one_or_none()


def sponsor_trials(sponsor_id: int) -> list[TrackerTrial]:
    order = sa.case({"overdue": 0, "late": 1, "on_time": 2, "not_due": 3}, value=TrackerTrial.state)
    return list(
        db.session.execute(
            sa.select(TrackerTrial)
            .where(TrackerTrial.sponsor_id == sponsor_id)
            .order_by(order, TrackerTrial.trial_id)
        ).scalars()
    )


MAX_ID = 2**31 - 1  # an id in the address beyond the database's integers is simply unknown


def tracked_trial(trial_id: int) -> TrackerTrial | None:
    if not 0 < trial_id <= MAX_ID:
        return None
    return db.session.get(TrackerTrial, trial_id)


def owner_of(trial_id: int) -> int | None:
    return db.session.execute(
        sa.select(Trial.owner_organisation_id).where(Trial.id == trial_id)
    ).scalar()


def opted_in(organisation_id: int | None) -> bool:
    if organisation_id is None:
        return False
    row = db.session.get(TrackerDisclosure, organisation_id)
    return bool(row and row.opted_in)


def sponsor_facts(trial_id: int) -> list[SponsorFact]:
    """The sponsor's current facts of a trial (shown only when its organisation opted in)."""
    return list(
        db.session.execute(
            sa.select(SponsorFact)
            .where(
                SponsorFact.trial_id == trial_id,
                SponsorFact.current.is_(True),
                SponsorFact.value.is_not(None),
            )
            .order_by(SponsorFact.key)
        ).scalars()
    )


def published_responses(trial_id: int) -> dict[str, list[TrackerResponse]]:
    out: dict[str, list[TrackerResponse]] = {}
    for row in db.session.execute(
        sa.select(TrackerResponse)
        .where(TrackerResponse.trial_id == trial_id, TrackerResponse.status == "published")
        .order_by(TrackerResponse.reviewed_at)
    ).scalars():
        out.setdefault(row.duty, []).append(row)
    return out


def changes(as_of: Any, kind: str) -> list[tuple[TrackerChange, TrackerTrial | None]]:
    return [
        (change, trial)
        for change, trial in db.session.execute(
            sa.select(TrackerChange, TrackerTrial)
            .outerjoin(TrackerTrial, TrackerTrial.trial_id == TrackerChange.trial_id)
            .where(TrackerChange.as_of == as_of, TrackerChange.kind == kind)
            .order_by(TrackerTrial.sponsor_name, TrackerChange.trial_id, TrackerChange.duty)
        ).all()
    ]
