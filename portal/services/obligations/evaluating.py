"""Evaluating a trial's facts with the rules: the facts document, its verdicts and their stored
texts."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from portal.domain.obligations import stored as na_store
from portal.domain.obligations.encode import STORED_OMITS, VerdictEncoder, dumps
from portal.domain.trials.facts import build_facts
from portal.rules import Facts, FactsError, Params, evaluate, facts_to_check
from portal.rules.evidence import withhold_all
from portal.rules.facts import FACT_KEYS
from portal.rules.model import NOT_APPLICABLE

log = logging.getLogger(__name__)

_FACT_KEYS = frozenset(FACT_KEYS)
# --- the recompute ------------------------------------------------------------------------------

# The form of ObligationInputs.facts; a stored document of another form is not read (the trial's
# facts are rebuilt from its records instead). It changes by itself with the rules' vocabulary of
# facts (FACT_KEYS); raise FACTS_BUILD whenever portal.domain.trials.facts.build_facts changes how
# it reads records or sponsor entries.
# 2: the registry's end of trial kept beside the sponsor's (registry_end_of_trial_on), and the
# document lists the facts to check ("checks"). 3: the document also holds the duties whose
# evidence is withheld. 4: deferrals and waivers a reviewer sent back are left out of the facts,
# and the document holds why (``held_back``: duty -> sentence added to its verdict). 5: sources
# write their dates for people ("imported 4 December 2026", "entered by Ada on 4 December 2026
# at 10:30").
FACTS_BUILD = 5
FACTS_FORMAT = f"{FACTS_BUILD}:{zlib.crc32(' '.join(FACT_KEYS).encode()):08x}"


def facts_document(
    facts: Facts,
    problems: Sequence[str],
    checks: Sequence[Any] = (),
    withheld: Mapping[str, str] | None = None,
    held_back: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The validated facts, as stored with a trial's verdicts (ObligationInputs.facts), with
    the facts to check found in them (RULES.md "Facts that contradict each other": ``checks``,
    each {"check", "kind"}; the dashboard's "facts to check" filter reads them) and the duties
    whose evidence a reviewer has not accepted (``portal.services.evidence``)."""
    doc = {
        "format": FACTS_FORMAT,
        "facts": facts.to_dict(),
        "sources": dict(facts.sources),
        "problems": list(problems),
        "checks": [{"check": c.check, "kind": c.kind} for c in checks],
    }
    if withheld:
        doc["withheld"] = dict(withheld)
    if held_back:
        doc["held_back"] = dict(held_back)
    return doc


def verdicts_digest(texts: Iterable[str]) -> str:
    """A digest of a trial's stored verdict texts in evaluation order (ObligationInputs.digest).
    Not a security measure: it tells a recompute whether anything changed."""
    return hashlib.blake2b("\n".join(texts).encode(), digest_size=16).hexdigest()


def _entry_order(entry: dict[str, Any]) -> tuple[str, str]:
    return entry["registry"], entry["registry_id"]


# A verdict as stored: duty, ruleset, status, due date, verdict text.
VerdictRow = tuple[str, str, str, date | None, str]


class Worked(NamedTuple):
    """A trial's verdicts and the texts stored with them, and what they were worked out for:
    by a recompute, or ahead, away from the transaction that stores them (the importer's
    reader process: :class:`Ahead`)."""

    as_of: date
    version: int
    inputs_text: str
    facts_text: str
    digest: str
    rows: list[VerdictRow]
    problems: bool


def _work(
    evaluator: _Evaluator,
    facts: Facts,
    problems: Sequence[str],
    withheld: Mapping[str, str] | None = None,
    notes: Mapping[str, str] | None = None,
) -> Worked:
    verdicts = evaluator.encode(facts, problems, withheld, notes)
    checks = facts_to_check(facts, evaluator.as_of, evaluator.params)
    return Worked(
        evaluator.as_of,
        evaluator.version,
        dumps(facts.inputs),
        dumps(facts_document(facts, problems, checks, withheld, notes)),
        verdicts_digest(text for _, text in verdicts),
        _as_rows(verdicts),
        evaluator.problems,
    )


def _as_rows(verdicts: Sequence[tuple[Any, str]]) -> list[VerdictRow]:
    return [(o.id, o.ruleset, o.status, o.due, text) for o, text in verdicts]


class Ahead:
    """Works out the verdicts of trials before they are stored, for one as_of date and one
    parameter set (pure: no database). ``recompute_for_trials`` takes the result for a new
    trial only if its as_of and parameter version are still the current ones."""

    def __init__(self, as_of: date, version: int, params: Params) -> None:
        self.evaluator = _Evaluator(as_of, version, params)

    def __call__(self, imported_facts: dict[str, Any], entries: list[dict[str, Any]]) -> Worked:
        return _work(self.evaluator, *_facts(imported_facts, entries, ()))


class NewTrial(NamedTuple):
    """A trial inserted in the caller's transaction, as ``_recompute`` would read it back: its
    ``imported_facts`` and its registry entries (dicts with registry, registry_id,
    registered_on, results_posted_on), sorted by registry and id (code points, as ``_recompute``
    sorts them); and, when they were worked out ahead from exactly these, its verdicts."""

    imported_facts: dict[str, Any]
    entries: list[dict[str, Any]]
    worked: Worked | None = None


class _Evaluator:
    """evaluate() and the stored text of each verdict, for one recompute (one as_of, one
    parameter set). ``problems`` tells whether the last trial had facts that were ignored."""

    def __init__(self, as_of: date, version: int, params: Params) -> None:
        self.as_of, self.version, self.params = as_of, version, params
        self.extra = {"params_version": version}
        self.plain = VerdictEncoder(self.extra, inputs=False)  # holds no per-trial state
        self._na_texts: dict[tuple[Any, ...], str] = {}
        self.problems = False

    def encode(
        self,
        facts: Facts,
        problems: Sequence[str],
        withheld: Mapping[str, str] | None = None,
        notes: Mapping[str, str] | None = None,
    ) -> list[tuple[Any, str]]:
        """(verdict, stored text) pairs; with ``problems`` every verdict names the facts that
        were ignored; the duties in ``withheld`` (duty -> reason) are not met by the evidence a
        reviewer did not accept (``portal.rules.evidence``)."""
        self.problems = bool(problems)
        verdicts = evaluate(facts, self.as_of, self.params)
        if notes:  # duty -> why a deferral or waiver of it is not applied (services.evidence)
            verdicts = [
                o._replace(explanation=f"{o.explanation} {notes[o.id]}") if o.id in notes else o
                for o in verdicts
            ]
        opened: set[str] = set()
        if withheld:
            before = verdicts
            verdicts = withhold_all(verdicts, withheld, self.as_of, self.params)
            opened = {o.id for o, b in zip(verdicts, before, strict=True) if o is not b}
        if not problems:
            if opened:
                return self._withheld(verdicts, opened, withheld, self.extra)  # type: ignore[arg-type]
            encode, na = self.plain.encode, self._not_applicable
            return [(o, na(o) if o.status == NOT_APPLICABLE else encode(o)) for o in verdicts]
        extra = {**self.extra, "fact_problems": list(problems)}
        note = " Ignored stored facts that are not valid: " + "; ".join(problems) + "."
        noted = [o._replace(explanation=o.explanation + note) for o in verdicts]
        return self._withheld(noted, opened, withheld or {}, extra)

    @staticmethod
    def _withheld(
        verdicts: Sequence[Any], opened: set[str], withheld: Mapping[str, str], extra: dict
    ) -> list[tuple[Any, str]]:
        """Encode with ``extra``; a verdict its withheld evidence opened again also keeps the
        reason on its own (``evidence_withheld``: certificates and reports show it)."""
        encoder = VerdictEncoder(extra, inputs=False)
        out = []
        for o in verdicts:
            if o.status == NOT_APPLICABLE:
                out.append((o, _not_applicable_text(o, extra)))
            elif o.id in opened:
                reason = withheld[o.id]
                mine = VerdictEncoder({**extra, "evidence_withheld": reason}, inputs=False)
                out.append((o, mine.encode(o)))
            else:
                out.append((o, encoder.encode(o)))
        return out

    def _not_applicable(self, o: Any) -> str:
        """The stored text of a not-applicable verdict (``stored.HIDDEN`` left out): a few
        reasons are shared by most trials, so each text is made once."""
        key = (o.ruleset_version, o.due, o.trigger, o.explanation, tuple(o.assumptions),
               o.estimated, tuple(o.missing), o.deferred_until, o.met_on)  # fmt: skip
        text = self._na_texts.get(key)
        if text is None:
            text = _not_applicable_text(o, self.extra)
            if len(self._na_texts) < 10_000:
                self._na_texts[key] = text
        return text

    def from_document(self, doc: Any) -> list[tuple[Any, str]] | None:
        """As :meth:`encode`, from a stored facts document; None when it cannot be used."""
        if isinstance(doc, str):  # JSON that the driver did not parse
            doc = json.loads(doc)
        if not isinstance(doc, dict) or doc.get("format") != FACTS_FORMAT:
            return None
        try:
            facts = Facts.from_dict(doc["facts"], doc["sources"])
        except (FactsError, KeyError, TypeError):  # stored under older validation rules
            return None
        withheld = doc.get("withheld")
        held_back = doc.get("held_back")
        return self.encode(
            facts,
            doc.get("problems") or (),
            withheld if isinstance(withheld, dict) else None,
            held_back if isinstance(held_back, dict) else None,
        )


def _not_applicable_text(o: Any, extra: Mapping[str, Any]) -> str:
    """A not-applicable verdict as stored in ``ObligationInputs.not_applicable``: the stored form
    of the verdict (``encode.STORED_OMITS`` left out) without what its duty decides."""
    data = o.to_json()
    for key in STORED_OMITS + na_store.HIDDEN:
        del data[key]
    data.update(extra)
    return dumps(data)


_KEY_RE = re.compile(r"(?:sources[.:]\s*)?([A-Za-z_][A-Za-z0-9_]*)")


def _facts(
    imported: Any, entries: Sequence[dict[str, Any]], sponsor: Sequence[dict[str, Any]]
) -> tuple[Facts, list[str]]:
    """Facts.from_dict over the trial's stored facts, dropping any fact it refuses."""
    problems: list[str] = []
    if not isinstance(imported, dict):
        imported = {}
    # imported_facts holds the rules' vocabulary plus display fields: keep the former only.
    kept = {}
    for key, fact in imported.items():
        if key not in _FACT_KEYS:
            continue
        if isinstance(fact, dict):
            kept[key] = fact
        else:
            problems.append(f"{key}: stored in an unexpected form")
    facts, sources = build_facts(kept, entries, sponsor)
    while True:
        try:
            return Facts.from_dict(facts, sources), problems
        except FactsError as exc:
            message = str(exc)
            problems.append(message)
            match = _KEY_RE.match(message)
            key = match.group(1) if match else None
            if key is None or (key not in facts and key not in sources):
                log.warning("facts refused and no key to drop (%s): evaluating without facts", exc)
                return Facts.from_dict({}), problems
            facts = {k: v for k, v in facts.items() if k != key}
            sources = {k: v for k, v in sources.items() if k != key}
