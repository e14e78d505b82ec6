"""The audit log: filters, pages and a streamed CSV. Reviewers and admins see every event;
everyone else sees only their own organisation's (another organisation's ids answer 404)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from portal import access
from portal.audit_log import describe
from portal.audit_log.forms import AuditFilterForm
from portal.extensions import db
from portal.models import AuditEvent, Organisation, User
from portal.services.trial_access import trial_for
from portal.timeutil import today

bp = Blueprint("audit_log", __name__, url_prefix="/audit")

PAGE_SIZE = 50
CSV_BATCH = 1000
CSV_COLUMNS = (
    "id",
    "occurred_at",
    "actor",
    "organisation_id",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "hash",
)


@dataclass(frozen=True)
class Filters:
    organisation: int | None = None
    trial: int | None = None
    user: str = ""
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def args(self) -> dict[str, Any]:
        """Query-string arguments that reproduce these filters (for paging and the CSV link)."""
        out: dict[str, Any] = {}
        if self.organisation:
            out["organisation"] = self.organisation
        if self.trial:
            out["trial"] = self.trial
        if self.user:
            out["user"] = self.user
        if self.action:
            out["action"] = self.action
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value:
                out[name] = [str(value.day), str(value.month), str(value.year)]
        return out


def _form(user: User) -> AuditFilterForm:
    form = AuditFilterForm(request.args)
    if user.sees_all_organisations:
        orgs = db.session.execute(
            sa.select(Organisation.id, Organisation.name).order_by(Organisation.name)
        ).all()
        form.organisation.choices = [(0, "All organisations"), *[(o.id, o.name) for o in orgs]]
    else:
        own = user.organisation
        form.organisation.choices = [(own.id, own.name)]
        form.organisation.data = own.id
    actions = db.session.execute(
        _scoped(sa.select(AuditEvent.action).distinct(), user).order_by(AuditEvent.action)
    ).scalars()
    form.action.choices = [("", "All actions"), *[(a, describe.action(a)) for a in actions]]
    if form.action.data and form.action.data not in {c[0] for c in form.action.choices}:
        form.action.choices.append(
            (form.action.data, describe.action(form.action.data))
        )  # no match, no error
    return form


def _guard(user: User) -> None:
    """404 when a sponsor asks for another organisation, or for a trial that is not theirs."""
    if user.sees_all_organisations:
        return
    organisation = request.args.get("organisation", "")
    if organisation not in ("", "0", str(user.organisation.id)):
        abort(404)
    trial = request.args.get("trial", "").strip()
    if trial.isdigit():
        trial_for(user, int(trial))


def _filters(form: AuditFilterForm, user: User) -> Filters:
    """The filters a valid form asks for (a sponsor's are always their organisation's)."""
    trial = (form.trial.data or "").strip()
    return Filters(
        organisation=(form.organisation.data or None) if user.sees_all_organisations else None,
        trial=int(trial) if trial.isdigit() else None,
        user=(form.user.data or "").strip().lower(),
        action=form.action.data or "",
        date_from=form.date_from.data,
        date_to=form.date_to.data,
    )


def _scoped(query: sa.Select, user: User) -> sa.Select:
    if user.sees_all_organisations:
        return query
    return query.where(AuditEvent.organisation_id == user.organisation.id)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def events_query(user: User, filters: Filters) -> sa.Select:
    """Events ``user`` may see that match ``filters`` (no order, no limit)."""
    query = _scoped(sa.select(AuditEvent), user)
    if filters.organisation:
        query = query.where(AuditEvent.organisation_id == filters.organisation)
    if filters.trial:
        query = query.where(
            AuditEvent.object_type == "trial", AuditEvent.object_id == str(filters.trial)
        )
    if filters.user:
        query = query.where(
            sa.func.lower(AuditEvent.actor_label).contains(filters.user, autoescape=True)
        )
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.date_from:
        query = query.where(AuditEvent.occurred_at >= _start_of(filters.date_from))
    if filters.date_to:
        query = query.where(AuditEvent.occurred_at < _start_of(filters.date_to + timedelta(days=1)))
    return query


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, min(int(raw), 100000)) if raw.isdigit() else 1


@bp.route("")
@access.roles(*access.EVERYONE_WITH_ROLE, org_needed=True)
def index():
    user = current_user._get_current_object()
    _guard(user)
    form = _form(user)
    valid = form.validate()
    events: list[AuditEvent] = []
    total = 0
    page = _page_number()
    filters = Filters()
    if valid:
        filters = _filters(form, user)
        query = events_query(user, filters)
        total = db.session.execute(
            sa.select(sa.func.count()).select_from(query.subquery())
        ).scalar_one()
        events = list(
            db.session.execute(
                query.order_by(AuditEvent.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
            ).scalars()
        )
    org_ids = {e.organisation_id for e in events if e.organisation_id}
    org_names: dict[int, str] = {}
    if org_ids:
        org_names = dict(
            db.session.execute(
                sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids))
            ).all()
        )
    return render_template(
        "audit_log/index.html",
        form=form,
        filter_form_valid=valid,
        events=events,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        filters=filters,
        org_names=org_names,
        sees_all=user.sees_all_organisations,
    )


@bp.route("/export.csv")
@access.roles(*access.EVERYONE_WITH_ROLE, org_needed=True)
def export_csv():
    user = current_user._get_current_object()
    _guard(user)
    form = _form(user)
    if not form.validate():  # the page shows what is wrong with the filters
        return redirect(url_for("audit_log.index", **request.args.to_dict(flat=False)))
    query = events_query(user, _filters(form, user))

    # Plain rows, not ORM objects: nothing accumulates in the session however long the log.
    columns = query.with_only_columns(
        AuditEvent.id,
        AuditEvent.occurred_at,
        AuditEvent.actor_label,
        AuditEvent.organisation_id,
        AuditEvent.action,
        AuditEvent.object_type,
        AuditEvent.object_id,
        AuditEvent.before,
        AuditEvent.after,
        AuditEvent.hash,
    )

    @stream_with_context
    def generate():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        yield _drain(buffer)
        last_id: int | None = None
        while True:
            batch = columns.order_by(AuditEvent.id.desc()).limit(CSV_BATCH)
            if last_id is not None:
                batch = batch.where(AuditEvent.id < last_id)
            rows = db.session.execute(batch).all()
            if not rows:
                return
            for row in rows:
                writer.writerow(
                    [
                        row.id,
                        row.occurred_at.isoformat(),
                        _csv_safe(row.actor_label),
                        row.organisation_id or "",
                        _csv_safe(row.action),
                        _csv_safe(row.object_type),
                        _csv_safe(row.object_id or ""),
                        _csv_safe(_json(row.before)),
                        _csv_safe(_json(row.after)),
                        row.hash,
                    ]
                )
            last_id = rows[-1].id
            yield _drain(buffer)

    return Response(
        generate(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="audit-log-{today().isoformat()}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return value


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _csv_safe(value: str) -> str:
    """Stop spreadsheet formula injection from text users typed."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@bp.app_template_filter("audit_json")
def audit_json(value: Any) -> str:
    return _json(value)


@bp.app_template_filter("audit_action")
def audit_action(code: str) -> str:
    return describe.action(code)


@bp.app_template_filter("audit_changes")
def audit_changes(event: Any) -> list[str]:
    return describe.changes(event.before, event.after)


@bp.app_template_filter("audit_record")
def audit_record(event: Any) -> str:
    return describe.record(event.object_type, event.object_id)
