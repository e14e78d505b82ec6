"""The tracker's public pages: no sign-in, registry records only, every parameter checked."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask_login import current_user

from portal import access
from portal.plain import STATUS_LABELS, day_time
from portal.services.tracker import sponsor_slug
from portal.tracker import bp, queries
from portal.tracker.queries import STATE_WORDS

DUTY_WORDS = {
    "UK-REG": "Registration in a public registry",
    "UK-RES": "Summary of results in every registry",
}
NOT_JUDGED_WORDS = {
    "UK-PART": "Offer participants a summary of the results: only the sponsor's own records "
    "show the offer.",
    "UK-END": "Tell the regulator and the ethics committee the trial has ended: only the "
    "sponsor and the regulator hold that notice.",
    "UK-LAPSE": "Approval lapses when nobody is recruited in 2 years: registries do not give "
    "the UK approval date.",
}


@bp.app_context_processor
def tracker_globals() -> dict[str, Any]:
    return {"tracker_duty_words": DUTY_WORDS, "tracker_state_words": STATE_WORDS}


@bp.app_template_global()
def tracker_opted_in(organisation_id: int | None) -> bool:
    """For the organisation page: whether the organisation shows its own facts on the tracker."""
    return queries.opted_in(organisation_id)


def _last_worked_out(run: Any = False) -> str:
    if run is False:
        run = queries.last_run()
    if run is None:
        return "Figures have not been worked out yet."
    return f"Figures last worked out {day_time(run.finished_at)}."


def _render(template: str, run: Any = False, **context: Any):
    return render_template(
        template,
        last_worked_out=_last_worked_out(run),
        status_labels=STATUS_LABELS,
        **context,
    )


@bp.route("/tracker")
@access.public
def index():
    sort = queries.sort_key(request.args.get("sort"))
    order = queries.order_key(request.args.get("order"), sort)
    run = queries.last_run()
    page_asked = queries.whole(request.args.get("page"))
    sponsors, page, pages = queries.league(page_asked, sort, order, run)
    return _render(
        "tracker/index.html",
        run=run,
        sponsors=sponsors,
        page=page,
        pages=pages,
        sort=sort,
        order=order,
        sorts=queries.SORTS,
        totals=queries.totals(run),
    )


@bp.route("/tracker/sponsors/<slug>")
@access.public
def sponsor(slug: str):
    found = queries.sponsor(slug)
    if found is None:
        abort(404)
    return _render("tracker/sponsor.html", sponsor=found, trials=queries.sponsor_trials(found.id))


@bp.route("/tracker/trials/<int:trial_id>")
@access.public
def trial(trial_id: int):
    row = queries.tracked_trial(trial_id)
    if row is None:
        abort(404)
    owner = queries.owner_of(trial_id)
    disclosed = queries.opted_in(owner)
    may_respond = (
        current_user.is_authenticated
        and owner is not None
        and getattr(current_user.organisation, "id", None) == owner
        and current_user.role in access.SPONSOR_SIDE
    )
    return _render(
        "tracker/trial.html",
        trial=row,
        not_judged=NOT_JUDGED_WORDS,
        disclosed=disclosed,
        sponsor_facts=queries.sponsor_facts(trial_id) if disclosed else [],
        responses=queries.published_responses(trial_id),
        may_respond=may_respond,
        sponsor_slug=sponsor_slug(row.sponsor_name),
    )


@bp.route("/tracker/changes")
@access.public
def changes():
    run = queries.last_run()
    as_of = run.as_of if run else None
    return _render(
        "tracker/changes.html",
        run=run,
        as_of=as_of,
        newly=queries.changes(as_of, "newly_overdue") if as_of else [],
        no_longer=queries.changes(as_of, "no_longer_overdue") if as_of else [],
    )


@bp.route("/tracker/method")
@access.public
def method():
    return _render("tracker/method.html")
