"""Changing the rule parameters: a new version, audited, and every trial's obligations recomputed.

What the parameters are and which version is in force is ``portal.domain.parameters``. A change
is recomputed in the same transaction for a small portfolio, otherwise by the
``workers.obligations.recompute_all`` job enqueued after commit.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.domain.parameters import (
    PARAMETERS,
    current_params,
    editable_values,
    latest_parameter_set,
    params_from_values,
)
from portal.extensions import db
from portal.models import ParameterSet, Trial
from portal.rules import DEFAULT_PARAMS, ParamsError
from portal.services import ServiceError, transactional
from portal.services.audit import record
from portal.services.obligations import recompute_for_trials, start_recompute_all

# Trials recomputed inside the request that changed the parameters; more go to a job.
INLINE_RECOMPUTE_LIMIT = 500


def _field_of(message: str) -> str | None:
    key = message.split(":", 1)[0].strip()
    return key if key in PARAMETERS else None


@transactional
def update_params(admin_user: Any, values: dict[str, Any], note: str) -> ParameterSet:
    """Store a new version of the parameters and recompute every trial's obligations with it."""
    if getattr(admin_user, "role", None) != "admin":
        raise ServiceError("Only an administrator can change the rule parameters.")
    note = (note or "").strip()
    if not note:
        raise ServiceError("Enter a note saying why the parameters change", field="note")
    for key in values:
        if key not in PARAMETERS:
            raise ServiceError(f"{key} is not a parameter that can be changed here", field=key)

    latest = latest_parameter_set(lock=True)
    old_version = latest.version if latest is not None else 0
    old_params = current_params()[1] if latest is not None else DEFAULT_PARAMS
    before = editable_values(old_params)
    after = {**before, **values}
    try:
        new_params = params_from_values(after)
    except (ParamsError, TypeError) as exc:
        key = _field_of(str(exc))
        message = str(exc)
        if key is not None:  # the parameter by its label, never its key
            message = PARAMETERS[key].label + ": " + message.split(":", 1)[1].strip()
        raise ServiceError(message, field=key) from None
    after = editable_values(new_params)
    if after == before:
        raise ServiceError("No value changed. Change a value, or leave the page.")

    row = ParameterSet(
        version=old_version + 1, values=after, note=note, created_by_id=admin_user.id
    )
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        raise ServiceError(
            "Another administrator changed the parameters at the same time. "
            "Reload the page and try again."
        ) from None
    record(
        "parameters.changed",
        "parameter_set",
        row.version,
        actor=admin_user,
        before={"version": old_version, "values": before},
        after={"version": row.version, "values": after, "note": note},
    )
    _recompute_everything(admin_user)
    return row


def _recompute_everything(admin_user: Any) -> None:
    count = db.session.execute(sa.select(sa.func.count(Trial.id))).scalar_one()
    if count <= INLINE_RECOMPUTE_LIMIT:
        ids = db.session.execute(sa.select(Trial.id)).scalars().all()
        recompute_for_trials(ids, reason="params")
    else:
        start_recompute_all(reason="params", requested_by=admin_user)
