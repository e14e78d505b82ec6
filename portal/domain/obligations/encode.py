"""Verdicts as JSON text, fast: the stored ``Obligation.verdict`` and the CLI's output.

``json.dumps(obligation.to_json())`` costs ~30 us a verdict, mostly in copying the ``inputs``
dicts that ``to_json`` makes. A trial has ~10 verdicts whose inputs share the same fact entries
(``Facts.duty_inputs``), so :class:`VerdictEncoder` writes each fact entry once per trial and
assembles each verdict from cached pieces. The text is compact and deterministic (same verdict,
same text), so a recompute can tell an unchanged verdict from its stored text alone.

The result always equals ``to_json()`` (plus the extra keys given): a self-check on first use
compares the two, and falls back to ``json.dumps`` if the rules' JSON contract ever grows a key
this module does not know (a test compares both on thousands of varied trials).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import date
from operator import is_
from typing import Any

import orjson

from portal.rules import STATUSES, Obligation

__all__ = ["VerdictEncoder", "dumps", "encode_case"]

_string = json.encoder.encode_basestring  # the C version: '"text"' with JSON escapes
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _refuse(value: Any) -> Any:
    raise TypeError  # not a JSON type: json.dumps below says what it is


def dumps(value: Any) -> str:
    """Compact JSON text, the same text as ``json.dumps(value, ensure_ascii=False,
    separators=(",", ":"))`` for the values stored here, 5-7 times faster (orjson; the import
    writes ~5 kB of JSON a record). Values orjson does not take as json does (dict keys that are
    not strings, dates, objects) go through json, which writes or refuses them as always. Floats
    may be written in another valid form (1e16 for 1e+16), and NaN and infinities as null (json
    writes NaN, which PostgreSQL refuses); no stored document has a float."""
    try:
        return orjson.dumps(value, default=_refuse, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return _compact.encode(value)


# The keys of Obligation.to_json(), in order, that the fast path writes.
KEYS = (
    "id",
    "ruleset",
    "ruleset_version",
    "title",
    "status",
    "due",
    "trigger",
    "days_overdue",
    "days_remaining",
    "explanation",
    "inputs",
    "assumptions",
    "source",
    "estimated",
    "missing",
    "deferred_until",
    "met_on",
)

# What the stored form (``inputs=False``) leaves out: the inputs (stored once per trial) and the
# day counts, which change every day; ``portal.models.Obligation`` works them out when shown. What
# is left changes only when a status, a date or a fact does, so the daily recompute finds most
# stored verdicts unchanged and writes nothing for them.
STORED_OMITS = ("days_overdue", "days_remaining", "inputs")

_Q = '"'
_heads: dict[tuple[str, str, str, str], str] = {}
_statuses = {status: _string(status) for status in STATUSES}
_value_prefixes: dict[str, str] = {}  # fact name -> '"name":{"value":'
_sources: dict[str, str] = {}
_lists: dict[tuple[str, ...], str] = {}


def _strings(items: list[str]) -> str:
    if not items:
        return "[]"
    key = tuple(items)
    text = _lists.get(key)
    if text is None:
        text = "[" + ",".join(map(_string, key)) + "]"
        if len(_lists) < 10_000:
            _lists[key] = text
    return text


class VerdictEncoder:
    """Encode the verdicts of one trial (``evaluate`` output); make one per trial."""

    __slots__ = (
        "_alive",
        "_entries",
        "_extra",
        "_facts",
        "_inputs",
        "_sources",
        "_tail",
        "_texts",
        "_with_inputs",
    )

    def __init__(
        self, extra: Mapping[str, Any] | None = None, facts: Any = None, *, inputs: bool = True
    ) -> None:
        """``extra``: keys appended to every verdict. ``inputs=False`` gives the stored form: no
        ``inputs`` (stored once per trial, ObligationInputs) and no day counts (STORED_OMITS);
        such an encoder holds nothing per trial and can be reused for any number of trials."""
        self._with_inputs = inputs
        # (name, id(entry)) -> text; the entries stay referenced in _alive so no id is reused.
        self._entries: dict[tuple[str, int], str] = {}
        self._alive: list[Any] = []
        self._sources: dict[str, str] = {}  # source text -> ',"source":"..."}'
        self._inputs: dict[int, tuple[Any, str]] = {}
        self._extra = dict(extra or {})
        self._tail = "".join("," + _string(k) + ":" + dumps(v) for k, v in self._extra.items())
        # The verdicts' inputs are entries of Facts.inputs (fact name -> {"value", "source"}):
        # writing them all up front lets _encode_inputs assemble each verdict's inputs in C.
        self._facts: dict[str, Any] = (getattr(facts, "inputs", None) or {}) if inputs else {}
        self._texts = {
            name: self._entry((name, id(entry)), entry) for name, entry in self._facts.items()
        }

    def _encode_inputs(self, inputs: Mapping[str, Any]) -> str:
        hit = self._inputs.get(id(inputs))
        if hit is not None and hit[0] is inputs:
            return hit[1]
        try:  # the usual case: every entry is the Facts.inputs entry of that name
            shared = all(map(is_, inputs.values(), map(self._facts.__getitem__, inputs)))
        except KeyError:
            shared = False
        if shared:
            text = "{" + ",".join(map(self._texts.__getitem__, inputs)) + "}"
        else:  # look each entry up by (name, identity); write the ones not seen yet
            keys = list(zip(inputs.keys(), map(id, inputs.values()), strict=True))
            parts = list(map(self._entries.get, keys))
            if None in parts:
                values = list(inputs.values())
                parts = [
                    part if part is not None else self._entry(keys[i], values[i])
                    for i, part in enumerate(parts)
                ]
            text = "{" + ",".join(parts) + "}"
        self._inputs[id(inputs)] = (inputs, text)
        return text

    def _entry(self, key: tuple[str, int], entry: Any) -> str:
        """'"name":{"value":...,"source":...}', written by hand for the usual value types."""
        name = key[0]
        if type(entry) is dict and len(entry) == 2 and "value" in entry and "source" in entry:
            value, source = entry["value"], entry["source"]
            kind = type(value)
            if kind is str:
                value_text = _string(value)
            elif kind is bool:
                value_text = "true" if value else "false"
            elif kind is int:
                value_text = str(value)
            else:
                value_text = dumps(value)
            prefix = _value_prefixes.get(name)
            if prefix is None:
                prefix = _value_prefixes[name] = _string(name) + ':{"value":'
            suffix = self._sources.get(source) if type(source) is str else None
            if suffix is None:
                suffix = ',"source":' + (_string(source) if type(source) is str else dumps(source))
                suffix += "}"
                if type(source) is str:
                    self._sources[source] = suffix
            text = prefix + value_text + suffix
        else:
            text = _string(name) + ":" + dumps(entry)
        self._entries[key] = text
        self._alive.append(entry)
        return text

    def encode(self, o: Obligation) -> str:
        if not _FAST:
            data = {**o.to_json(), **self._extra}
            if not self._with_inputs:
                for key in STORED_OMITS:
                    del data[key]
            return dumps(data)
        head_key = (o.id, o.ruleset, o.ruleset_version, o.title)
        head = _heads.get(head_key)
        if head is None:
            head = (
                '{"id":'
                + _string(o.id)
                + ',"ruleset":'
                + _string(o.ruleset)
                + ',"ruleset_version":'
                + _string(o.ruleset_version)
                + ',"title":'
                + _string(o.title)
            )
            _heads[head_key] = head
        source = _sources.get(o.source)
        if source is None:
            source = _sources[o.source] = _string(o.source)
        status = _statuses.get(o.status) or _string(o.status)
        due, trigger, until, met = o.due, o.trigger, o.deferred_until, o.met_on
        if self._with_inputs:
            remaining = o.days_remaining
            dated = (
                f',"days_overdue":{int(o.days_overdue)}'
                f',"days_remaining":{"null" if remaining is None else int(remaining)}'
                f',"explanation":{_string(o.explanation)}'
                f',"inputs":{self._encode_inputs(o.inputs)}'
            )
        else:
            dated = f',"explanation":{_string(o.explanation)}'
        return (
            f'{head},"status":{status}'
            f',"due":{"null" if due is None else f"{_Q}{due}{_Q}"}'
            f',"trigger":{"null" if trigger is None else f"{_Q}{trigger}{_Q}"}'
            f"{dated}"
            f',"assumptions":{_strings(o.assumptions)}'
            f',"source":{source}'
            f',"estimated":{"true" if o.estimated else "false"}'
            f',"missing":{_strings(o.missing)}'
            f',"deferred_until":{"null" if until is None else f"{_Q}{until}{_Q}"}'
            f',"met_on":{"null" if met is None else f"{_Q}{met}{_Q}"}'
            f"{self._tail}}}"
        )


def encode_case(
    as_of: date, obligations: Iterable[Obligation], facts: Any = None, findings: Any = None
) -> str:
    """The CLI's JSON for one case: ``{"as_of": ..., "obligations": [...]}`` on one line, plus
    ``"conflicts"`` and ``"warnings"`` (RULES.md "Facts that contradict each other": each with
    check, kind, message, facts [{fact, label, value, source}] and duties) when ``findings`` (a
    list of ``portal.rules.Conflict``) is given."""
    enc = VerdictEncoder(facts=facts)
    text = (
        '{"as_of":"'
        + as_of.isoformat()
        + '","obligations":['
        + ",".join(enc.encode(o) for o in obligations)
        + "]"
    )
    if findings is not None:
        conflicts = [c.to_json() for c in findings if c.kind == "conflict"]
        warnings = [c.to_json() for c in findings if c.kind != "conflict"]
        text += ',"conflicts":' + dumps(conflicts) + ',"warnings":' + dumps(warnings)
    return text + "}"


def _self_check() -> bool:
    """True when the fast path reproduces to_json() exactly on a rich sample."""
    from portal.rules import Facts, evaluate

    facts = Facts.from_dict(
        {
            "application_submitted_on": "2026-05-01",
            "approved_on": "2026-06",
            "first_participant_on": "2026-07-15",
            "end_of_trial_on": "2027-01-31",
            "phase": "1",
            "healthy_volunteers": True,
            "countries": ["United Kingdom", "Germany", "United States"],
            "fda_regulated_drug": True,
            "registrations": [{"registry": "ISRCTN", "id": "ISRCTN1", "registered_on": "2026-07"}],
        },
        {"approved_on": 'entered by "Zoë" \u2028 on 2026-11-20'},
    )
    enc = VerdictEncoder({"params_version": 1}, facts)
    bare = VerdictEncoder({"params_version": 1}, inputs=False)
    for o in evaluate(facts, date(2027, 3, 1)):
        expected = o.to_json()
        if tuple(expected) != KEYS:
            return False
        if json.loads(enc.encode(o)) != {**expected, "params_version": 1}:
            return False
        for key in STORED_OMITS:
            del expected[key]
        if json.loads(bare.encode(o)) != {**expected, "params_version": 1}:
            return False
    return True


_FAST = True
try:
    _FAST = _self_check()
except Exception:  # a broken rules engine must not stop the app from starting
    logging.getLogger(__name__).exception("verdict encoder self-check failed; using json.dumps")
    _FAST = False
if not _FAST:
    logging.getLogger(__name__).warning("verdict JSON contract changed: using the slow encoder")
