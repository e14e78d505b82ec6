"""The sponsor's pages: dashboard, finding and claiming trials, the trial page, facts, calendar."""

from __future__ import annotations

import csv
import io
import secrets

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from portal import access, plain
from portal.domain.trials.facts import describe_value
from portal.extensions import db
from portal.forms_util import add_service_error
from portal.models import (
    Claim,
    ReviewComment,
    Submission,
    Trial,
    TrialIdentifier,
    User,
)
from portal.models.claims import RELATIONS
from portal.services import (
    ServiceError,
    accounts,
    claims,
    fact_checks,
    registry_sync,
    sponsor_facts,
    transactional,
)
from portal.services.audit import record
from portal.services.trial_access import scope_trials, trial_for
from portal.timeutil import today
from portal.trials import queries, urgency
from portal.trials.calendar import ical_feed
from portal.trials.forms import (
    AddTrialForm,
    ClaimForm,
    FindTrialForm,
    ReleaseForm,
    TransferForm,
)

bp = Blueprint("trials", __name__)

VIEWERS = access.EVERYONE_WITH_ROLE
EDITORS = ("sponsor", "sponsor_admin")


@bp.route("/trials")
@access.roles(*VIEWERS, org_needed=True)
def dashboard():
    as_of = today()
    filters = queries.Filters.from_args(request.args)
    rows, total = queries.page_of_trials(current_user, filters, as_of)
    pages = max(1, -(-total // queries.PAGE_SIZE))
    return render_template(
        "trials/dashboard.html",
        rows=rows,
        total=total,
        pages=pages,
        filters=filters,
        counts=queries.headline_counts(current_user),
        registries=queries.registries_in_use(current_user),
        as_of=as_of,
        labels=queries.STATUS_LABELS,
        sorts=queries.SORTS,
    )


@bp.route("/trials/export.csv")
@access.roles(*VIEWERS, org_needed=True)
def export_csv():
    as_of = today()
    filters = queries.Filters.from_args(request.args)
    user = current_user._get_current_object()

    @stream_with_context
    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(
            [
                "trial_id",
                "title",
                "sponsor",
                "registries",
                "next_duty",
                "next_status",
                "next_due",
                "days_overdue",
                "overdue",
                "due_soon",
                "upcoming",
                "data_needed",
                "met",
                "deferred",
            ]
        )
        for row in queries.all_rows(user, filters, as_of):
            nxt = row.next_obligation or {}
            writer.writerow(
                [
                    row.trial.id,
                    _csv_safe(row.trial.title),
                    _csv_safe(row.trial.sponsor_name or ""),
                    "; ".join(f"{e.registry_name} {e.registry_id}" for e in row.entries),
                    nxt.get("duty", ""),
                    nxt.get("status", ""),
                    nxt["due"].isoformat() if nxt.get("due") else "",
                    nxt.get("days_overdue", ""),
                    *[
                        row.counts.get(s, 0)
                        for s in ("overdue", "due_soon", "upcoming", "data_needed")
                    ],
                    row.counts.get("met", 0) + row.counts.get("met_late", 0),
                    row.counts.get("deferred", 0),
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    name = f"trials-{as_of.isoformat()}.csv"
    return Response(
        generate(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _csv_safe(value: str) -> str:
    """Stop spreadsheet formula injection from registry text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


FIND_PAGE_SIZE = 20


@bp.route("/trials/find")
@access.roles(*EDITORS, "compliance_officer", org_needed=True)
def find():
    form = FindTrialForm(request.args)
    results: list[Trial] = []
    total = 0
    page = request.args.get("page", "1")
    page = min(int(page), 10_000) if page.isdigit() and int(page) > 0 else 1
    searched = "q" in request.args
    if searched and form.validate():
        q = form.q.data.strip()
        found = claims.find_by_identifier(q)
        if found is not None:
            results, total, page = [found], 1, 1
        else:
            needle = f"%{q.lower()}%"
            matching = sa.select(Trial).where(
                sa.or_(
                    sa.func.lower(Trial.title).like(needle),
                    sa.func.lower(Trial.sponsor_name).like(needle),
                )
            )
            total = db.session.execute(
                sa.select(sa.func.count()).select_from(matching.subquery())
            ).scalar_one()
            results = list(
                db.session.execute(
                    matching.order_by(Trial.title, Trial.id)
                    .limit(FIND_PAGE_SIZE)
                    .offset((page - 1) * FIND_PAGE_SIZE)
                ).scalars()
            )
    ids = [t.id for t in results]
    identifiers: dict[int, list[str]] = {}
    my_claims: dict[int, Claim] = {}
    if ids:
        for ident in db.session.execute(
            sa.select(TrialIdentifier).where(TrialIdentifier.trial_id.in_(ids))
        ).scalars():
            identifiers.setdefault(ident.trial_id, []).append(ident.value)
        my_claims = _my_open_claims(ids)
    return render_template(
        "trials/find.html",
        form=form,
        results=results,
        total=total,
        page=page,
        pages=max(1, -(-total // FIND_PAGE_SIZE)),
        searched=searched,
        identifiers=identifiers,
        my_claims=my_claims,
        my_org=current_user.organisation,
        relations=RELATIONS,
    )


def _my_open_claims(ids: list[int]) -> dict[int, Claim]:
    return {
        claim.trial_id: claim
        for claim in db.session.execute(
            sa.select(Claim).where(
                Claim.trial_id.in_(ids),
                Claim.organisation_id == current_user.organisation.id,
                Claim.status.in_(("pending", "disputed")),
            )
        ).scalars()
    }


def _any_trial(trial_id: int) -> Trial:
    trial = db.session.get(Trial, trial_id)
    if trial is None:
        abort(404)
    return trial


@bp.route("/trials/<int:trial_id>/about")
@access.roles(*EDITORS, "compliance_officer", org_needed=True)
def about(trial_id: int):
    """What the registries say about a trial, before claiming it (public registry data only:
    no duties, facts entered by its owner, or the owner's name)."""
    trial = _any_trial(trial_id)
    if trial.owner_organisation_id not in (None, current_user.organisation.id):
        abort(404)  # another organisation's trial: its records are theirs (ids do not leak)
    return render_template(
        "trials/about.html",
        trial=trial,
        entries=list(trial.entries),
        identifiers=queries.identifiers_for(trial),
        my_claim=_my_open_claims([trial.id]).get(trial.id),
        mine=trial.owner_organisation_id == current_user.organisation.id,
        can_claim=current_user.role in EDITORS,
    )


@bp.route("/trials/<int:trial_id>/claim", methods=["GET", "POST"])
@access.roles(*EDITORS, org_needed=True)
def claim(trial_id: int):
    """Claim a trial: say what the organisation is to it, confirm, then send."""
    trial = _any_trial(trial_id)
    if trial.owner_organisation_id == current_user.organisation.id:
        flash("Your organisation already owns this trial.")
        return redirect(url_for("trials.trial", trial_id=trial.id))
    if request.method == "GET" and trial.owner_organisation_id is not None:
        # Another organisation's trial has no page here (ids do not leak): a dispute is sent
        # from the search results, where the form asks the same questions.
        return redirect(url_for("trials.find"))
    form = ClaimForm()
    if form.validate_on_submit():
        try:
            result = claims.claim_trial(
                current_user, trial_id, form.relation.data, form.relation_detail.data
            )
        except ServiceError as exc:
            if exc.field in ("relation", "relation_detail"):
                add_service_error(form, exc)
            else:
                flash(exc.message, "info")
                return redirect(url_for("trials.about", trial_id=trial_id))
        else:
            if result.status == "approved":
                flash("Trial claimed. It matched your organisation, so it is yours now.", "success")
                return redirect(url_for("trials.trial", trial_id=trial_id))
            if result.status == "disputed":
                flash(
                    "This trial already has an owner. A reviewer will decide; follow it under "
                    "Claims."
                )
            else:
                flash("Claim sent to a reviewer: " + result.match_reason)
            return redirect(url_for("trials.my_claims"))
    return render_template(
        "trials/claim.html",
        trial=trial,
        form=form,
        identifiers=queries.identifiers_for(trial),
        owned_by_other=trial.owner_organisation_id is not None,
    )


@bp.route("/trials/claims")
@access.roles(*VIEWERS, org_needed=True)
def my_claims():
    if current_user.sees_all_organisations:
        return redirect(url_for("review.claims"))
    org = current_user.organisation
    rows = (
        db.session.execute(
            sa.select(Claim)
            .where(
                sa.or_(
                    Claim.organisation_id == org.id,
                    Claim.trial_id.in_(
                        sa.select(Trial.id).where(Trial.owner_organisation_id == org.id)
                    ),
                )
            )
            .order_by(Claim.created_at.desc())
            .limit(200)
        )
        .scalars()
        .all()
    )
    return render_template("trials/claims.html", claims=rows, org=org)


@bp.route("/trials/new", methods=["GET", "POST"])
@access.roles(*EDITORS, org_needed=True)
def add():
    form = AddTrialForm()
    if form.validate_on_submit():
        try:
            trial = claims.add_unregistered_trial(
                current_user,
                form.identifier.data,
                form.title.data,
                form.sponsor_name.data or "",
                form.registered_on.data,
            )
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash("Trial added. Enter the facts below to see its duties.", "success")
            return redirect(url_for("trials.facts", trial_id=trial.id))
    return render_template("trials/add.html", form=form)


@bp.route("/trials/<int:trial_id>")
@access.roles(*VIEWERS, org_needed=True)
def trial(trial_id: int):
    trial = trial_for(current_user, trial_id)
    obligations = queries.obligations_for(trial)
    entries = list(trial.entries)
    history = sponsor_facts.fact_history(trial.id)  # one query for the history and what stands
    facts = {row.key: row for row in reversed(history) if row.current}
    from portal.services import results

    shown = results.views(trial, facts)  # results posted as the verdicts read them
    open_claims = (
        db.session.execute(
            sa.select(Claim).where(
                Claim.trial_id == trial.id, Claim.status.in_(("pending", "disputed"))
            )
        )
        .scalars()
        .all()
    )
    rows = urgency.ordered(obligations, _reviewer_requests(trial.id))
    return render_template(
        "trials/trial.html",
        trial=trial,
        obligations=obligations,
        rows=rows,
        first=urgency.first_action(rows),
        groups=urgency.GROUPS,
        entries=shown,
        identifiers=queries.identifiers_for(trial),
        facts=facts,
        history=history[:50],
        freshness=registry_sync.record_freshness(trial.id, entries),
        registry_changes=registry_sync.registry_changes(trial.id),
        data_needed=[o for o in obligations if o.status == "data_needed"],
        disagreements=queries.disagreements(entries),
        open_claims=open_claims,
        labels=queries.STATUS_LABELS,
        fact_labels=sponsor_facts.LABELS,
        facts_to_check=fact_checks.shown(
            fact_checks.for_trial(
                trial.id, trial=trial, entries=entries, sponsor=list(facts.values())
            )
        ),
        can_edit=current_user.role in EDITORS
        and trial.owner_organisation_id == getattr(current_user.organisation, "id", None),
        as_of=today(),
    )


def _reviewer_requests(trial_id: int) -> dict[str, list]:
    """Reviewers' change requests that still stand on this trial, by the duty they concern."""
    rows = db.session.execute(
        sa.select(ReviewComment, Submission)
        .join(Submission, Submission.id == ReviewComment.submission_id)
        .where(
            Submission.trial_id == trial_id,
            Submission.status == "changes_requested",
            ReviewComment.decision.in_(("request_changes", "question")),
        )
        .order_by(ReviewComment.created_at.desc())
    ).all()
    by_duty: dict[str, list] = {}
    for comment, submission in rows:
        by_duty.setdefault(submission.duty or "", []).append(comment)
    return by_duty


def _editable(trial_id: int) -> Trial:
    trial = trial_for(current_user, trial_id)
    if current_user.role not in EDITORS:
        abort(403)
    return trial


# The facts form's sections: (heading, field names), in page order.
@bp.route("/trials/<int:trial_id>/release", methods=["GET", "POST"])
@access.roles(*EDITORS, org_needed=True)
def release(trial_id: int):
    trial = _editable(trial_id)
    form = ReleaseForm()
    transfer = TransferForm(prefix="t", formdata=None)
    if form.validate_on_submit():
        try:
            claims.release_trial(current_user, trial.id, form.reason.data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash("Trial released. It no longer belongs to your organisation.", "success")
            return redirect(url_for("trials.dashboard"))
    return render_template("trials/release.html", trial=trial, form=form, transfer=transfer)


@bp.route("/trials/<int:trial_id>/transfer", methods=["POST"])
@access.roles(*EDITORS, org_needed=True)
def transfer(trial_id: int):
    trial = _editable(trial_id)
    form = ReleaseForm(formdata=None)
    transfer = TransferForm(prefix="t")
    found = None
    if transfer.validate_on_submit():
        if transfer.organisation.data:  # the second step: the organisation found was confirmed
            try:
                claims.transfer_trial(current_user, trial.id, transfer.organisation.data)
            except ServiceError as exc:
                add_service_error(transfer, ServiceError(exc.message, field="recipient"))
            else:
                flash("Trial transferred.", "success")
                return redirect(url_for("trials.dashboard"))
        else:  # the first step: find it by exact name or email domain, never from a list
            found = accounts.find_organisation(
                transfer.recipient.data, excluding_id=current_user.organisation.id
            )
            if found is None:
                add_service_error(
                    transfer,
                    ServiceError(
                        "No other approved organisation has that exact name or email domain. "
                        "Check it with them."
                    ),
                    default_field="recipient",
                )
    return render_template(
        "trials/release.html", trial=trial, form=form, transfer=transfer, found=found
    )


@bp.route("/trials/calendar")
@access.roles(*VIEWERS, org_needed=True)
def calendar():
    as_of = today()
    deadlines = queries.upcoming_deadlines(current_user, as_of)
    overdue = [(ob, t) for ob, t in deadlines if ob.status == "overdue"]
    months: dict[str, list] = {}
    for obligation, trial in deadlines:
        if obligation.status != "overdue":
            months.setdefault(obligation.due.strftime("%B %Y"), []).append((obligation, trial))
    feed_url = (
        url_for("trials.ical", token=current_user.calendar_token, _external=True)
        if current_user.calendar_token
        else None
    )
    from portal.auth.forms import EmptyForm

    return render_template(
        "trials/calendar.html",
        overdue=overdue,
        months=months,
        feed_url=feed_url,
        form=EmptyForm(),
        labels=queries.STATUS_LABELS,
        as_of=as_of,
    )


@transactional
def _new_calendar_token(user: User, revoke: bool) -> None:
    user.calendar_token = None if revoke else secrets.token_urlsafe(32)
    record(
        "user.calendar_token_" + ("revoked" if revoke else "issued"), "user", user.id, actor=user
    )


@bp.route("/trials/calendar/token", methods=["POST"])
@access.roles(*VIEWERS, org_needed=True)
def calendar_token():
    from portal.auth.forms import EmptyForm

    if EmptyForm().validate_on_submit():
        revoke = request.form.get("action") == "revoke"
        _new_calendar_token(current_user, revoke)
        flash(
            "Calendar link revoked."
            if revoke
            else "New private calendar link created. Any older link no longer works.",
            "success",
        )
    return redirect(url_for("trials.calendar"))


@bp.route("/calendar/<token>.ics")
@access.public
def ical(token: str):
    """The private iCal feed: the token in the URL is the credential (revocable)."""
    if len(token) < 20:
        abort(404)
    user = db.session.execute(
        sa.select(User).where(User.calendar_token == token)
    ).scalar_one_or_none()
    if user is None or not user.active:
        abort(404)
    deadlines = queries.upcoming_deadlines(user, today(), months=24)
    body = ical_feed(deadlines, url_for("trials.dashboard", _external=True))
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": 'inline; filename="trial-deadlines.ics"',
            "Cache-Control": "private, max-age=900",
        },
    )


@bp.app_template_filter("fact_value")
def format_fact_value(value) -> str:
    """A fact as a person reads it (see portal.domain.trials.facts.describe_value)."""
    return describe_value(value)


@bp.app_template_filter("day")
def format_day(value) -> str:
    """One date format everywhere: "4 December 2026" (portal.plain.day)."""
    return plain.day(value)


# Scoped trials for templates that need a count (kept here so every query is scoped the same way).
def visible_trial_count(user: User) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(scope_trials(sa.select(Trial.id), user).subquery())
    ).scalar_one()
