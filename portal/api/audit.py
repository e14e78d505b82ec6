"""/api/v1/audit-events: the audit trail, for compliance officers (their organisation's),
reviewers and administrators (every organisation's). The same query as the audit pages."""

from __future__ import annotations

from portal.api import auth, bp, errors
from portal.api.schemas import AuditListArgs, AuditPageSchema, cursor_id
from portal.audit_log import describe
from portal.audit_log.views import Filters, events_query
from portal.extensions import db
from portal.models import AuditEvent
from portal.services.trial_access import trial_for
from portal.timeutil import aware

AUDIT_ROLES = ("compliance_officer", "reviewer", "admin")


@bp.route("/audit-events")
@auth.token_required(*AUDIT_ROLES)
@bp.arguments(AuditListArgs, location="query", as_kwargs=True)
@bp.response(200, AuditPageSchema)
@errors(401, 403, 404, 422, 429)
def audit_events(
    cursor: str | None = None, limit: int = 25, action: str = "", trial_id: int | None = None
):
    """List audit events, newest first

    Who did what to which record, with the values before and after. A trial_id of a trial
    of another organisation is not found (404).
    """
    user = auth.current()
    if trial_id is not None:
        trial_for(user, trial_id)
    query = events_query(user, Filters(trial=trial_id, action=action))
    if cursor:
        query = query.where(AuditEvent.id < cursor_id(cursor))
    rows = list(db.session.execute(query.order_by(AuditEvent.id.desc()).limit(limit + 1)).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = str(rows[-1].id)
    return {
        "items": [
            {
                "id": e.id,
                "occurred_at": aware(e.occurred_at),
                "actor": e.actor_label,
                "organisation_id": e.organisation_id,
                "action": e.action,
                "description": describe.action(e.action),
                "object_type": e.object_type,
                "object_id": e.object_id,
                "before": e.before,
                "after": e.after,
                "hash": e.hash,
            }
            for e in rows
        ],
        "next_cursor": next_cursor,
    }
