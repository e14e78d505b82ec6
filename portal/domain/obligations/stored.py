"""Verdicts of "not applicable", stored once per trial, and every stored verdict of a trial.

Most duties of most trials do not apply: a trial with no UK approval, application or site has no
uk-2026 duty, one with no EU/EEA site no eu-ctr duty, and so on (RULES.md, "Which rule sets
apply"). In a typical import 9 verdicts in 10 are not applicable. Stored as one ``obligations``
row each they were most of the rows and most of the database's work, yet they hold almost
nothing: the duty and one reason, usually shared by every duty of the rule set.

So they are kept in one small document per trial, ``ObligationInputs.not_applicable``: a list of
groups, the duties that share one verdict and one "unchanged since" day::

    [{"duties": ["UK-REG", "UK-RES", "UK-LAY"], "as_of": "2026-11-22",
      "verdict": {"ruleset_version": 1, "status": "not_applicable", "due": null, ...,
                  "explanation": "The UK clinical trials regulations do not apply: ...",
                  "params_version": 1}}]

``verdict`` is the stored verdict (``encode.STORED_OMITS`` left out, as for a row) without what
the duty alone decides: its id, rule set, title and source (:data:`HIDDEN`, from
``rules.duties.DUTIES``). The column is NULL when no duty of the trial is not applicable. The
``obligations`` table holds the other verdicts; a row of status not applicable stored before
revision 0007 for a trial without stored inputs stays a row until the trial is recomputed.

:func:`verdicts_for` gives every verdict of some trials as :class:`~portal.models.Obligation`
objects in evaluation order, the not-applicable ones built from the document (transient: never
added to the session). Pages, certificates and reports read verdicts through it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from portal.domain.obligations.encode import KEYS, STORED_OMITS, dumps
from portal.extensions import db
from portal.models import Obligation, ObligationInputs, Trial
from portal.rules.duties import DUTIES, RULESET_DUTIES
from portal.rules.model import NOT_APPLICABLE

__all__ = [
    "HIDDEN",
    "NotApplicable",
    "document",
    "evaluation_order",
    "full_verdict",
    "parse",
    "verdicts_for",
]

log = logging.getLogger(__name__)

# What a duty alone decides (rules.duties.DUTIES): left out of the stored not-applicable verdict.
HIDDEN = ("id", "ruleset", "title", "source")

# duty -> (as_of, the verdict's stored text without HIDDEN): the document, read.
NotApplicable = dict[str, tuple[date, str]]

# The keys of a stored verdict, in order (encode.KEYS without encode.STORED_OMITS).
_KEYS = tuple(key for key in KEYS if key not in STORED_OMITS)
_RULESET_ORDER = {ruleset: i for i, ruleset in enumerate(RULESET_DUTIES)}
_DUTY_ORDER = {duty: i for i, duty in enumerate(d for ds in RULESET_DUTIES.values() for d in ds)}


def evaluation_order(ob: Obligation) -> tuple[int, int, str, int]:
    """Sort key: rule set, then the duty order of RULES.md (the order ``evaluate`` gives)."""
    return (
        _RULESET_ORDER.get(ob.ruleset, 9),
        _DUTY_ORDER.get(ob.duty, 999),
        ob.duty,
        ob.id or 0,
    )


def document(entries: Mapping[str, tuple[date, str]]) -> str | None:
    """The stored document (JSON text) of a trial's not-applicable verdicts, None if none.
    Deterministic: the same entries in the same order give the same text."""
    if not entries:
        return None
    groups: dict[tuple[str, date], list[str]] = {}
    for duty, (as_of, text) in entries.items():
        group = groups.get((text, as_of))
        if group is None:
            groups[(text, as_of)] = [duty]
        else:
            group.append(duty)
    return (
        "["
        + ",".join(
            '{"duties":' + dumps(duties) + ',"as_of":"' + as_of.isoformat() + '","verdict":'
            + text + "}"
            for (text, as_of), duties in groups.items()
        )
        + "]"
    )  # fmt: skip


_UNREADABLE = (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError)


def _groups(doc: Any) -> Iterator[tuple[date, dict[str, Any], list[str]]]:
    """(as_of, verdict without HIDDEN, duties) of each group of a stored document (JSON text,
    or as the driver parsed it); raises one of ``_UNREADABLE`` for a malformed one."""
    if isinstance(doc, str | bytes):
        doc = orjson.loads(doc)
    for group in doc or ():
        yield date.fromisoformat(group["as_of"]), group["verdict"], group["duties"]


def parse(doc: Any) -> NotApplicable:
    """A stored document read back (duty -> (as_of, verdict text)); {} for NULL. One that
    cannot be read is logged and read as empty: the next recompute of the trial from its
    records (an import, a fact entered, ``recompute-all --from-records``) writes it again."""
    try:
        return {
            duty: (as_of, text)
            for as_of, rest, duties in _groups(doc)
            for text in (dumps(rest),)  # the text it was written from (key order is kept)
            for duty in duties
        }
    except _UNREADABLE as exc:
        log.warning("stored not-applicable verdicts cannot be read (%s): ignored", exc)
        return {}


def full_verdict(duty: str, rest: Mapping[str, Any]) -> dict[str, Any]:
    """The stored verdict of a not-applicable duty, as a row's ``verdict`` would hold it (same
    keys in the same order)."""
    ruleset, title, source = DUTIES[duty][:3] if duty in DUTIES else ("", duty, "")
    known = {"id": duty, "ruleset": ruleset, "title": title, "source": source}
    out = {
        key: known[key] if key in known else rest[key]
        for key in _KEYS
        if key in known or key in rest
    }
    out.update((key, value) for key, value in rest.items() if key not in out)  # params_version...
    return out


def _not_applicable(row: ObligationInputs) -> list[Obligation]:
    """A trial's not-applicable verdicts as transient Obligation objects."""
    out = []
    try:
        for as_of, rest, duties in _groups(row.not_applicable):
            for duty in duties:
                verdict = full_verdict(duty, rest)
                ob = Obligation(
                    trial_id=row.trial_id,
                    duty=duty,
                    ruleset=verdict["ruleset"],
                    status=NOT_APPLICABLE,
                    due=None,
                    verdict=verdict,
                    params_version=rest.get("params_version"),
                    as_of=as_of,
                    computed_at=row.computed_at,
                )
                set_committed_value(ob, "inputs_row", row)  # the trial's facts, as loaded
                out.append(ob)
    except _UNREADABLE as exc:
        log.warning("stored not-applicable verdicts of trial %s unreadable: %s", row.trial_id, exc)
    return out


def verdicts_for(trial_ids: Iterable[int]) -> dict[int, list[Obligation]]:
    """Every stored verdict of these trials, in evaluation order: their ``obligations`` rows and
    their not-applicable verdicts (one query). A trial never computed has none."""
    ids = list(trial_ids)
    out: dict[int, list[Obligation]] = {trial_id: [] for trial_id in ids}
    if not ids:
        return out
    # One statement, so one snapshot: a duty that moves between a row and the document while
    # this reads is seen once, never missed.
    found = db.session.execute(
        sa.select(Trial.id, ObligationInputs, Obligation)
        .outerjoin(ObligationInputs, ObligationInputs.trial_id == Trial.id)
        .outerjoin(Obligation, Obligation.trial_id == Trial.id)
        .where(Trial.id.in_(ids))
    ).all()
    inputs: dict[int, ObligationInputs] = {}
    for trial_id, row, ob in found:
        if row is not None:
            inputs[trial_id] = row
        if ob is not None:
            out[trial_id].append(ob)
    for trial_id, obs in out.items():
        row = inputs.get(trial_id)
        for ob in obs:  # loaded already: no query per verdict for its inputs
            set_committed_value(ob, "inputs_row", row)
        if row is not None and row.not_applicable is not None:
            have = {ob.duty for ob in obs}
            obs.extend(ob for ob in _not_applicable(row) if ob.duty not in have)
        obs.sort(key=evaluation_order)
    return out


def trial_verdicts(trial_id: int) -> list[Obligation]:
    """Every stored verdict of one trial, in evaluation order."""
    return verdicts_for([trial_id])[trial_id]
