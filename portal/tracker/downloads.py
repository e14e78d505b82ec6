"""CSV (streamed) and JSON downloads of every tracker table: the same rows as the pages."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from flask import Response, abort, request, stream_with_context

from portal import access
from portal.tracker import bp, queries

SPONSOR_HEADERS = (
    "sponsor",
    "trials",
    "trials_due",
    "reported_on_time",
    "reported_late",
    "overdue",
    "percentage_reported",
    "page",
)
TRIAL_HEADERS = ("trial", "title", "registry_ids", "sponsor", "state", "duty", "status", "due")
CHANGE_HEADERS = ("date", "list", "trial", "title", "sponsor", "duty", "status_now")


def _csv(headers: Iterable[str], rows: Iterable[Iterable[Any]], name: str) -> Response:
    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        for n, row in enumerate(rows, 1):
            writer.writerow([_cell(value) for value in row])
            if n % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _cell(value: Any) -> Any:
    """Registry text could start a spreadsheet formula: such a cell is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _json(items: Iterable[dict[str, Any]], name: str) -> Response:
    run = queries.last_run()
    head = orjson.dumps(
        {"worked_out_at": run.finished_at if run else None, "as_of": run.as_of if run else None}
    )[:-1]

    def generate() -> Iterator[bytes]:
        yield head + b', "rows": ['
        for n, item in enumerate(items):
            yield (b"," if n else b"") + orjson.dumps(item)
        yield b"]}"

    response = Response(stream_with_context(generate()), mimetype="application/json")
    response.headers["Content-Disposition"] = f'inline; filename="{name}.json"'
    return response


def _sponsor_rows() -> Iterator[Any]:
    sort = queries.sort_key(request.args.get("sort"))
    return queries.all_sponsors(sort, queries.order_key(request.args.get("order"), sort))


def _page(slug: str) -> str:
    return f"{request.host_url.rstrip('/')}/tracker/sponsors/{slug}"


@bp.route("/tracker/sponsors.csv")
@access.public
def sponsors_csv():
    rows = (
        (r.name, r.trials, r.due, r.on_time, r.late, r.overdue, r.percent, _page(r.slug))
        for r in _sponsor_rows()
    )
    return _csv(SPONSOR_HEADERS, rows, "sponsors")


@bp.route("/tracker/sponsors.json")
@access.public
def sponsors_json():
    items = (
        dict(zip(SPONSOR_HEADERS, (r.name, r.trials, r.due, r.on_time, r.late, r.overdue,
                                   r.percent, _page(r.slug)), strict=True))
        for r in _sponsor_rows()
    )  # fmt: skip
    return _json(items, "sponsors")


def _trial_rows(trials: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    for t in trials:
        state = queries.STATE_WORDS.get(t.state, t.state)
        for v in t.verdicts:
            yield (
                t.trial_id, t.title, t.registry_ids, t.sponsor_name, state,
                v["duty"], v["status"], v["due"],
            )  # fmt: skip


def _sponsor_or_404(slug: str):
    found = queries.sponsor(slug)
    if found is None:
        abort(404)
    return found


@bp.route("/tracker/sponsors/<slug>.csv")
@access.public
def sponsor_csv(slug: str):
    found = _sponsor_or_404(slug)
    return _csv(TRIAL_HEADERS, _trial_rows(queries.sponsor_trials(found.id)), found.slug)


@bp.route("/tracker/sponsors/<slug>.json")
@access.public
def sponsor_json(slug: str):
    found = _sponsor_or_404(slug)
    rows = _trial_rows(queries.sponsor_trials(found.id))
    return _json((dict(zip(TRIAL_HEADERS, r, strict=True)) for r in rows), found.slug)


@bp.route("/tracker/trials/<int:trial_id>.json")
@access.public
def trial_json(trial_id: int):
    row = queries.tracked_trial(trial_id)
    if row is None:
        abort(404)
    item = {
        "trial": row.trial_id,
        "title": row.title,
        "sponsor": row.sponsor_name,
        "state": row.state,
        "registries": row.registries,
        "verdicts": row.verdicts,
    }
    return _json([item], f"trial-{row.trial_id}")


@bp.route("/tracker/trials/<int:trial_id>.csv")
@access.public
def trial_csv(trial_id: int):
    row = queries.tracked_trial(trial_id)
    if row is None:
        abort(404)
    return _csv(TRIAL_HEADERS, _trial_rows([row]), f"trial-{row.trial_id}")


def _change_rows() -> Iterator[tuple[Any, ...]]:
    run = queries.last_run()
    if run is None:
        return
    for kind in ("newly_overdue", "no_longer_overdue"):
        for change, t in queries.changes(run.as_of, kind):
            yield (run.as_of.isoformat(), kind, change.trial_id, t.title if t else "",
                   t.sponsor_name if t else "", change.duty, change.status)  # fmt: skip


@bp.route("/tracker/changes.csv")
@access.public
def changes_csv():
    return _csv(CHANGE_HEADERS, _change_rows(), "changes")


@bp.route("/tracker/changes.json")
@access.public
def changes_json():
    rows = (dict(zip(CHANGE_HEADERS, r, strict=True)) for r in _change_rows())
    return _json(rows, "changes")
