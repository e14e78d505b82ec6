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

from portal import access
from portal.extensions import db
from portal.forms_util import add_service_error
from portal.models import Claim, Trial, TrialIdentifier, User
from portal.rules.labels import fact_label, plain_missing
from portal.services import (
    ServiceError,
    accounts,
    claims,
    fact_checks,
    sponsor_facts,
    transactional,
)
from portal.services.audit import record
from portal.services.trial_access import scope_trials, trial_for
from portal.timeutil import today
from portal.trials import queries
from portal.trials.calendar import ical_feed
from portal.trials.facts import describe_value, imported_source
from portal.trials.forms import (
    EU_EVENT_CHOICES,
    FACTS_FORM_KINDS,
    AddTrialForm,
    DeferralForm,
    EuEventForm,
    FactsForm,
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


@bp.route("/trials/find")
@access.roles(*EDITORS, "compliance_officer", org_needed=True)
def find():
    form = FindTrialForm(request.args)
    results = []
    searched = "q" in request.args
    if searched and form.validate():
        q = form.q.data.strip()
        found = claims.find_by_identifier(q)
        if found is not None:
            results = [found]
        else:
            needle = f"%{q.lower()}%"
            results = (
                db.session.execute(
                    sa.select(Trial)
                    .where(
                        sa.or_(
                            sa.func.lower(Trial.title).like(needle),
                            sa.func.lower(Trial.sponsor_name).like(needle),
                        )
                    )
                    .order_by(Trial.title)
                    .limit(50)
                )
                .scalars()
                .all()
            )
    ids = [t.id for t in results]
    identifiers: dict[int, list[str]] = {}
    my_claims: dict[int, Claim] = {}
    if ids:
        for ident in db.session.execute(
            sa.select(TrialIdentifier).where(TrialIdentifier.trial_id.in_(ids))
        ).scalars():
            identifiers.setdefault(ident.trial_id, []).append(ident.value)
        for claim in db.session.execute(
            sa.select(Claim).where(
                Claim.trial_id.in_(ids),
                Claim.organisation_id == current_user.organisation.id,
                Claim.status.in_(("pending", "disputed")),
            )
        ).scalars():
            my_claims[claim.trial_id] = claim
    return render_template(
        "trials/find.html",
        form=form,
        results=results,
        searched=searched,
        identifiers=identifiers,
        my_claims=my_claims,
        my_org=current_user.organisation,
    )


@bp.route("/trials/<int:trial_id>/claim", methods=["POST"])
@access.roles(*EDITORS, org_needed=True)
def claim(trial_id: int):
    from portal.auth.forms import EmptyForm

    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        result = claims.claim_trial(current_user, trial_id)
    except ServiceError as exc:
        flash(exc.message, "info")
        return redirect(request.referrer or url_for("trials.find"))
    if result.status == "approved":
        flash("Trial claimed. It matched your organisation, so it is yours now.", "success")
        return redirect(url_for("trials.trial", trial_id=trial_id))
    if result.status == "disputed":
        flash("This trial already has an owner. A reviewer will decide; follow it under Claims.")
    else:
        flash("Claim sent to a reviewer: " + result.match_reason)
    return redirect(url_for("trials.my_claims"))


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
    facts = sponsor_facts.current_facts(trial.id)
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
    return render_template(
        "trials/trial.html",
        trial=trial,
        obligations=obligations,
        entries=shown,
        identifiers=queries.identifiers_for(trial),
        facts=facts,
        history=sponsor_facts.fact_history(trial.id)[:50],
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


def _editable(trial_id: int) -> Trial:
    trial = trial_for(current_user, trial_id)
    if current_user.role not in EDITORS:
        abort(403)
    return trial


# The facts form's sections: (heading, field names), in page order.
FACT_SECTIONS = (
    ("UK approval and end of trial", (
        "application_submitted_on", "approved_on", "iras_id", "first_participant_on",
        "end_of_trial_on", "early_termination", "end_of_trial_notified_on",
    )),
    ("About the trial", (
        "study_type", "phase", "start_on", "healthy_volunteers", "paediatric", "countries",
    )),
    ("EU numbers", ("eudract_number", "eu_ct_number", "eu_transition_on")),
    ("United States (FDAAA)", (
        "primary_completion_on", "completion_on", "fda_regulated_drug", "fda_regulated_device",
        "device_feasibility", "us_site", "ind_or_ide", "delay_certification_on",
        "good_cause_extension_until", "results_submitted_on",
    )),
)  # fmt: skip


def _load_fact(form, key: str, kind: str, value) -> None:
    field = form[key]
    if value is None:
        return
    if kind == "date":
        from datetime import date

        try:
            field.data = date.fromisoformat(str(value))
        except ValueError:  # a month-only value entered elsewhere: shown beside, not here
            field.data = None
    elif kind == "checkbox":
        field.data = bool(value)
    elif kind == "yes_no":
        field.data = "yes" if value is True else "no" if value is False else ""
    elif kind == "lines":
        field.data = "\n".join(value) if isinstance(value, list) else str(value)
    else:
        field.data = str(value)


def _read_fact(form, key: str, kind: str, current: dict):
    data = form[key].data
    if kind == "date":
        return data
    if kind == "checkbox":
        if data or key in current:
            return bool(data)
        return None
    if kind == "yes_no":
        return {"yes": True, "no": False}.get(data or "")
    if kind == "lines":
        items = [c.strip() for c in (data or "").replace(",", "\n").splitlines()]
        return [c for c in items if c] or None
    return (data or "").strip() or None


def _registry_values(trial: Trial) -> dict[str, str]:
    """The registry's value of each fact, with its source, to show beside the sponsor's."""
    out = {}
    for key, fact in (trial.imported_facts or {}).items():
        if isinstance(fact, dict) and fact.get("value") is not None:
            out[key] = f"{describe_value(fact['value'])} ({imported_source(fact)})"
    return out


def _loaded_facts_form(current: dict) -> FactsForm:
    """The facts form showing the sponsor's current values (not the request's)."""
    form = FactsForm(formdata=None)
    for key, kind in FACTS_FORM_KINDS.items():
        _load_fact(form, key, kind, current.get(key))
    form.iras_id.data = current.get("iras_id") or ""
    return form


def _facts_page(trial: Trial, form, current: dict, **extra):
    return render_template(
        "trials/facts.html",
        trial=trial,
        form=form,
        deferral_form=extra.pop("deferral_form", None) or DeferralForm(prefix="d", formdata=None),
        event_form=extra.pop("event_form", None) or EuEventForm(prefix="e", formdata=None),
        current=current,
        sections=FACT_SECTIONS,
        registry=_registry_values(trial),
        event_labels=dict(EU_EVENT_CHOICES),
        **extra,
    )


@bp.route("/trials/<int:trial_id>/facts", methods=["GET", "POST"])
@access.roles(*EDITORS, org_needed=True)
def facts(trial_id: int):
    trial = _editable(trial_id)
    current = {key: row.value for key, row in sponsor_facts.current_facts(trial.id).items()}
    form = FactsForm()
    if request.method == "GET":
        form = _loaded_facts_form(current)
    if form.validate_on_submit():
        changes = {
            key: _read_fact(form, key, kind, current) for key, kind in FACTS_FORM_KINDS.items()
        }
        changes["iras_id"] = (form.iras_id.data or "").strip() or None
        changes = {k: v for k, v in changes.items() if v is not None or k in current}
        try:
            changed = sponsor_facts.set_facts(current_user, trial, changes)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            flash(
                f"Saved {len(changed)} change(s); the duties below are up to date."
                if changed
                else "Nothing changed.",
                "success",
            )
            return redirect(url_for("trials.trial", trial_id=trial.id))
    return _facts_page(trial, form, current)


@bp.route("/trials/<int:trial_id>/eu-events", methods=["POST"])
@access.roles(*EDITORS, org_needed=True)
def add_eu_event(trial_id: int):
    """Add one EU notification (event, member state, date, notification date)."""
    trial = _editable(trial_id)
    current = {key: row.value for key, row in sponsor_facts.current_facts(trial.id).items()}
    event_form = EuEventForm(prefix="e")
    if event_form.validate_on_submit():
        entry = {"event": event_form.event.data, "on": event_form.on.data}
        if event_form.notified_on.data:
            entry["notified_on"] = event_form.notified_on.data
        if (event_form.member_state.data or "").strip():
            entry["member_state"] = event_form.member_state.data.strip()
        if entry["on"] is None:
            add_service_error(event_form, ServiceError("Enter the date of the event.", field="on"))
        else:
            try:
                sponsor_facts.set_facts(
                    current_user, trial, {"eu_events": [*(current.get("eu_events") or []), entry]}
                )
            except ServiceError as exc:
                add_service_error(event_form, exc, default_field="event")
            else:
                flash("EU notification saved; the duties are up to date.", "success")
                return redirect(url_for("trials.trial", trial_id=trial.id))
    return _facts_page(trial, _loaded_facts_form(current), current, event_form=event_form)


@bp.route("/trials/<int:trial_id>/eu-events/<int:index>/remove", methods=["POST"])
@access.roles(*EDITORS, org_needed=True)
def remove_eu_event(trial_id: int, index: int):
    trial = _editable(trial_id)  # CSRF: CSRFProtect checks every POST
    current = {key: row.value for key, row in sponsor_facts.current_facts(trial.id).items()}
    events = list(current.get("eu_events") or [])
    if not 0 <= index < len(events):
        abort(404)
    del events[index]
    sponsor_facts.set_facts(current_user, trial, {"eu_events": events or None})
    flash("EU notification removed; the duties are up to date.", "success")
    return redirect(url_for("trials.facts", trial_id=trial.id))


@bp.route("/trials/<int:trial_id>/deferrals", methods=["POST"])
@access.roles(*EDITORS, org_needed=True)
def add_deferral(trial_id: int):
    trial = _editable(trial_id)
    current = {key: row.value for key, row in sponsor_facts.current_facts(trial.id).items()}
    form = _loaded_facts_form(current)
    deferral_form = DeferralForm(prefix="d")
    if deferral_form.validate_on_submit():
        entry = {"duty": deferral_form.duty.data, "reference": deferral_form.reference.data.strip()}
        key = "waivers" if deferral_form.kind.data == "waiver" else "deferrals"
        if key == "deferrals":
            entry["requested_on"] = deferral_form.requested_on.data
            entry["until"] = deferral_form.until.data
        try:
            sponsor_facts.set_facts(current_user, trial, {key: [*(current.get(key) or []), entry]})
        except ServiceError as exc:
            field = {
                "deferral_duty": "duty",
                "deferral_requested_on": "requested_on",
                "deferral_until": "until",
                "deferral_reference": "reference",
            }.get(exc.field or "", "duty")
            add_service_error(deferral_form, ServiceError(exc.message, field=field))
        else:
            flash(
                f"{'Waiver' if key == 'waivers' else 'Deferral'} recorded for review.",
                "success",
            )
            return redirect(url_for("trials.trial", trial_id=trial.id))
    return _facts_page(trial, form, current, deferral_form=deferral_form, deferral_errors=True)


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
    months: dict[str, list] = {}
    for obligation, trial in deadlines:
        months.setdefault(obligation.due.strftime("%B %Y"), []).append((obligation, trial))
    feed_url = (
        url_for("trials.ical", token=current_user.calendar_token, _external=True)
        if current_user.calendar_token
        else None
    )
    from portal.auth.forms import EmptyForm

    return render_template(
        "trials/calendar.html",
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
    """A fact as a person reads it (see portal.trials.facts.describe_value)."""
    return describe_value(value)


@bp.app_template_filter("fact_label")
def format_fact_label(key) -> str:
    """A fact key as its label (portal.rules.labels: the one list; never the key itself)."""
    return fact_label(str(key))


@bp.app_template_filter("missing_facts")
def format_missing_facts(missing) -> str:
    """A verdict's ``missing`` list as words: "first UK participant recruited or EU
    notifications (...)" for ["first_participant_on or eu_events"]."""
    return plain_missing([str(item) for item in missing or ()]) or "more facts"


@bp.app_template_filter("day")
def format_day(value) -> str:
    return value.strftime("%-d %B %Y") if value else "Not known"


# Scoped trials for templates that need a count (kept here so every query is scoped the same way).
def visible_trial_count(user: User) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(scope_trials(sa.select(Trial.id), user).subquery())
    ).scalar_one()
