"""Which trials a user may see: their own organisation's, or all for reviewers and admins."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort

from portal.extensions import db
from portal.models import Trial, User


def scope_trials(query: sa.Select, user: User) -> sa.Select:
    """Restrict a select over Trial to what ``user`` may see."""
    if user.sees_all_organisations:
        return query
    org = user.organisation
    if org is None or not org.approved:
        return query.where(sa.false())
    return query.where(Trial.owner_organisation_id == org.id)


def trial_for(user: User, trial_id: int) -> Trial:
    """The trial if ``user`` may see it; 404 otherwise (never 403: ids do not leak)."""
    trial = db.session.execute(
        scope_trials(sa.select(Trial).where(Trial.id == trial_id), user)
    ).scalar_one_or_none()
    if trial is None:
        abort(404)
    return trial
