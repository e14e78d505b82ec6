"""The versioned rule parameters: the RULES.md **[param]** values an administrator may change.

Each change is a new ``ParameterSet`` row (version + 1); the highest version is in force and
version 0 means the built-in ``DEFAULT_PARAMS``. A change is audited and every trial's
obligations are recomputed with it: in the same transaction for a small portfolio, otherwise by
the ``workers.obligations.recompute_all`` job enqueued after commit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import ParameterSet, Trial
from portal.rules import DEFAULT_PARAMS, Params, ParamsError
from portal.services import ServiceError, transactional
from portal.services.audit import record

log = logging.getLogger(__name__)

# Trials recomputed inside the request that changed the parameters; more go to a job.
INLINE_RECOMPUTE_LIMIT = 500


@dataclass(frozen=True)
class Meaning:
    label: str
    kind: str  # "days", "months", "years", "bool" or "date"
    meaning: str  # what RULES.md says the value does
    rules_text: str  # the RULES.md words it comes from


# The RULES.md values marked [param], in the order the page shows them.
PARAMETERS: dict[str, Meaning] = {
    "due_soon_days": Meaning(
        "Due soon window",
        "days",
        "A duty whose due date is within this many days is shown as due soon.",
        "Status words: due_soon (due within 30 days [param]).",
    ),
    "deferral_months": Meaning(
        "Length of a deferral",
        "months",
        "A deferral of UK-REG, UK-RES or UK-PART without its own end date runs this many months "
        "from the end of trial.",
        "Deferrals and waivers: for non-CTIMPs the HRA policy is 30 months from the end of "
        "trial; the same is assumed for CTIMPs [param: deferral_months=30].",
    ),
    "deferral_max_years": Meaning(
        "Longest deferral",
        "years",
        "Renewed deferrals cannot run beyond this many years after the end of trial.",
        "Deferrals and waivers: renewable in 30-month steps up to 10 years "
        "[param: deferral_max_years=10].",
    ),
    "lapse_warning_days": Meaning(
        "Approval lapse warning",
        "days",
        "UK-LAPSE starts warning this many days before the approval would lapse for want of a "
        "first UK participant.",
        "UK-LAPSE: otherwise warn from 90 days before [param] and report overdue after.",
    ),
    "old_rules_part_applies": Meaning(
        "UK-PART applies to old rules trials",
        "bool",
        "Whether the duty to offer participants a lay summary (UK-PART) is assumed to apply to "
        "old rules trials ending on or after 28 April 2026.",
        "Transitional arrangements: old rules trial ending on or after 28 April 2026: UK-PART is "
        "assumed to apply [param].",
    ),
    "eu_window_start": Meaning(
        "Start of the EU window",
        "date",
        "A trial that ended in all EU member states before this date has no EU duty (history "
        "only): EudraCT results posting became possible on it.",
        "Which EU law applies: EU window [param] (the date EudraCT "
        "results posting became possible).",
    ),
    "end_date_tolerance_days": Meaning(
        "End of trial dates that disagree",
        "days",
        "A registry's end of trial further than this many days from the sponsor's is listed as "
        "a fact to check (the sponsor's date is used).",
        "Facts that contradict each other: END-DATES-DISAGREE, a registry's end of trial and the "
        "sponsor's differ by more than [param: end_date_tolerance_days=90].",
    ),
}
EDITABLE = tuple(PARAMETERS)

_cache: dict[tuple[int, str], Params] = {}


def editable_values(params: Params) -> dict[str, Any]:
    """The changeable values of ``params``, as stored in a ParameterSet (JSON: a date as
    YYYY-MM-DD, which ``params_from_values`` reads back)."""
    out = {}
    for key in EDITABLE:
        value = getattr(params, key)
        out[key] = value.isoformat() if isinstance(value, date) else value
    return out


def params_from_values(values: dict[str, Any]) -> Params:
    """Params from stored values: unknown keys (a parameter since removed) are ignored."""
    known = {k: v for k, v in (values or {}).items() if k in EDITABLE}
    return Params.from_dict(known)


def latest_parameter_set(*, lock: bool = False) -> ParameterSet | None:
    query = sa.select(ParameterSet).order_by(ParameterSet.version.desc()).limit(1)
    if lock:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one_or_none()


def current_params() -> tuple[int, Params]:
    """(version, Params) in force: one small query; the Params object is cached per version."""
    row = db.session.execute(
        sa.select(ParameterSet.version, ParameterSet.values)
        .order_by(ParameterSet.version.desc())
        .limit(1)
    ).first()
    if row is None:
        return 0, DEFAULT_PARAMS
    key = (row.version, json.dumps(row.values, sort_keys=True, default=str))
    params = _cache.get(key)
    if params is None:
        try:
            params = params_from_values(row.values)
        except (ParamsError, TypeError) as exc:  # stored by an older release; keep working
            log.error("parameter set %s is not valid (%s); using the defaults", row.version, exc)
            params = DEFAULT_PARAMS
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = params
    return row.version, params


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
    from portal.services.obligations import recompute_for_trials, start_recompute_all

    count = db.session.execute(sa.select(sa.func.count(Trial.id))).scalar_one()
    if count <= INLINE_RECOMPUTE_LIMIT:
        ids = db.session.execute(sa.select(Trial.id)).scalars().all()
        recompute_for_trials(ids, reason="params")
    else:
        start_recompute_all(reason="params", requested_by=admin_user)
