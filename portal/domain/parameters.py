"""The versioned rule parameters: the RULES.md **[param]** values an administrator may change.

Each change is a new ``ParameterSet`` row (version + 1); the highest version is in force and
version 0 means the built-in ``DEFAULT_PARAMS``. This module reads them (``current_params``) and
says what each means; changing them is ``portal.services.parameters.update_params``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import ParameterSet
from portal.rules import DEFAULT_PARAMS, Params, ParamsError

log = logging.getLogger(__name__)


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
