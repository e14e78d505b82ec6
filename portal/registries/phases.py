"""Trial phases as registries write them ("Phase 1/Phase 2", "II-III", "N/A"): one spelling.

Pure; used by the readers (through ``normalise``) and by ``TrialRecord.to_facts``.
"""

from __future__ import annotations

import functools
import re

# --------------------------------------------------------------------------- phases

_PHASE_ORDER = {"1": 1, "1/2": 2, "2": 3, "2/3": 4, "3": 5, "4": 6, "n/a": 7}
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4"}
_NA_WORDS = (
    "n/a",
    "na",
    "not applicable",
    "not specified",
    "retrospective study",
    "new treatment measure clinical study",
    "other",
    "none",
)
_PHASE_TOKEN_RE = re.compile(r"(?<![a-z0-9])(iv|iii|ii|i|[0-4])(?![a-z0-9])")


def sort_phases(phases: set[str]) -> tuple[str, ...]:
    numeric = {p for p in phases if p != "n/a"}
    if numeric:
        phases = numeric  # "n/a" next to a real phase carries no information
    return tuple(sorted(phases, key=_PHASE_ORDER.__getitem__))


def phases_from_text(raw: object) -> frozenset[str]:
    if raw is None:
        return frozenset()
    return _phases_from_text(str(raw))


@functools.lru_cache(maxsize=1024)
def _phases_from_text(raw: str) -> frozenset[str]:
    """Phases named in one registry phase label.

    "PHASE2", "Phase 2", "Phase II", "2" -> {"2"}; "Phase 1/Phase 2", "Phase I/II", "1-2",
    "Phase I and Phase II (Integrated)" -> {"1", "2"}; "EARLY_PHASE1" -> {"1"};
    "NA", "N/A", "Not Applicable" -> {"n/a"}. Unknown text gives an empty set.
    """
    if raw is None:
        return set()
    text = str(raw).strip().lower()
    if not text:
        return set()
    if text in _NA_WORDS:
        return {"n/a"}
    text = text.replace("_", " ").replace("early phase", "phase ")
    text = re.sub(r"phase\s*(?=[0-9iv])", " ", text)
    found = set()
    for token in _PHASE_TOKEN_RE.findall(text):
        found.add(_ROMAN.get(token, token))
    if "0" in found:  # "Phase 0" / "Early Phase 1": exploratory, earliest human phase
        found.discard("0")
        found.add("1")
    return frozenset(found)


def phases_from_values(values) -> tuple[str, ...]:
    out: set[str] = set()
    for value in values:
        out |= phases_from_text(value)
    return sort_phases(out)


def combined_phase(phases: tuple[str, ...]) -> str | None:
    """One phase string for the rules engine: ("1","2") -> "1/2", ("2","3") -> "2/3",
    otherwise the highest phase; "n/a" only when no numbered phase is given."""
    numeric: set[str] = set()
    for p in phases:
        if p == "n/a":
            continue
        numeric.update(p.split("/"))
    if not numeric:
        return "n/a" if "n/a" in phases else None
    if numeric == {"1", "2"}:
        return "1/2"
    if numeric == {"2", "3"}:
        return "2/3"
    return max(numeric)
