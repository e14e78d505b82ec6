"""The content a lay summary needs (after EU CTR Annex V), checked by headings and keywords.

A heuristic, not a judgement: for each item it says whether a heading or the words that usually
carry that content were found, and which, so the sponsor and the reviewer know where to look.
An item is "found" when a heading matches, or when every keyword group of the item matches the
text somewhere. Annex V of Regulation (EU) No 536/2014 lists: trial identification, sponsor,
general information (where, when, why), population, medicines used, adverse reactions, overall
results, comments on the outcome, follow-up trials, and where to find more information.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    groups: tuple[str, ...]  # every group must match somewhere in the text
    heading: str  # a heading matching this counts on its own


_MONTHS = r"january|february|march|april|may|june|july|august|september|october|november|december"
ITEMS: tuple[Item, ...] = (
    Item(
        "title_sponsor",
        "The trial's title and sponsor",
        (r"\bsponsor(?:ed|s)?\b|\bfunded by\b|\bpaid for by\b|\borgani[sz]ed by\b|\brun by\b",),
        r"\b(?:sponsor|who (?:ran|organi[sz]ed|paid for|funded))\b",
    ),
    Item(
        "why",
        "Why the trial was done",
        (
            r"\bwhy\b|\baims?\b|\bpurpose\b|\bobjectives?\b|\bwanted to (?:find out|see|know|learn"
            r"|test|compare)\b|\bto find out\b",
        ),
        r"\bwhy\b|\baims?\b|\bpurpose\b",
    ),
    Item(
        "when_where",
        "When and where it took place",
        (
            rf"\b(?:19|20)\d\d\b|\b(?:{_MONTHS})\b|\bwhen\b",
            r"\bwhere\b|\bcountr(?:y|ies)\b|\bhospitals?\b|\bsites?\b|\bcent(?:re|er)s?\b"
            r"|\btook place\b|\bin the uk\b|\bunited kingdom\b|\bengland\b|\bscotland\b|\bwales\b",
        ),
        r"\bwhen\b.*\bwhere\b|\bwhere\b.*\bwhen\b|\bwhere (?:and when )?(?:was|did)\b",
    ),
    Item(
        "who",
        "Who took part",
        (
            r"\btook part\b|\bparticipants?\b|\bvolunteers?\b|\bpatients?\b|\bpeople\b"
            r"|\bchildren\b|\badults?\b",
        ),
        r"\bwho took part\b|\bparticipants?\b|\bwho (?:was|were) in\b",
    ),
    Item(
        "given",
        "What they were given (the medicines or treatments)",
        (
            r"\bmedicines?\b|\bdrugs?\b|\btreatments?\b|\bplacebo\b|\bdummy\b|\bvaccines?\b"
            r"|\bdoses?\b|\btablets?\b|\binjections?\b|\bwere given\b|\btherapy\b",
        ),
        r"\bmedicines?\b|\btreatments?\b|\bwhat (?:did|were) .*\bgiven\b|\bgiven\b",
    ),
    Item(
        "results",
        "The main results",
        (r"\bresults?\b|\bfound that\b|\bshowed\b|\bfindings?\b",),
        r"\bresults?\b|\bfindings?\b|\bwhat (?:did|was) .*\bfound\b",
    ),
    Item(
        "side_effects",
        "Side effects",
        (r"\bside[\s-]effects?\b|\badverse (?:events?|reactions?)\b|\bunwanted effects?\b",),
        r"\bside[\s-]effects?\b|\badverse\b|\bunwanted effects?\b",
    ),
    Item(
        "helped",
        "How the trial helped (what the results mean)",
        (
            r"\bhelp(?:ed|s)?\b|\bbenefits?\b|\bwhat (?:do|does) (?:the|these|this) results? "
            r"mean\b|\bnext steps?\b|\bfurther (?:trials?|studies|research)\b|\bfuture\b"
            r"|\bfollow-?up (?:trials?|studies)\b",
        ),
        r"\bhow (?:has |did )?(?:the|this) (?:trial|study)\b.*\bhelp|\bwhat (?:do|does) .*\bmean\b"
        r"|\bnext\b|\bfuture\b|\bhelped\b",
    ),
    Item(
        "more_info",
        "Where to find more information",
        (
            r"https?://|\bwww\.|\bmore information\b|\bfind out more\b|\bcontact\b"
            r"|\bNCT\d{8}\b|\bISRCTN\d{8}\b|\b\d{4}-\d{6}-\d{2}\b",
        ),
        r"\bmore information\b|\bfind out more\b|\bcontact\b|\bwhere can i\b",
    ),
)


def check(text: str, headings: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per checklist item: key, label, found, and the evidence for it."""
    rows = []
    for item in ITEMS:
        heading_re = re.compile(item.heading, re.IGNORECASE)
        heading = next((h for h in headings if heading_re.search(h)), None)
        if heading is not None:
            rows.append(_row(item, True, f"heading “{_short(heading)}”"))
            continue
        matches = [re.search(group, text, re.IGNORECASE) for group in item.groups]
        if all(matches):
            words = ", ".join(f"“{_short(m.group(0))}”" for m in matches if m)
            rows.append(_row(item, True, f"mentions {words}"))
        else:
            rows.append(_row(item, False, "no heading or keywords found"))
    return rows


def _row(item: Item, found: bool, evidence: str) -> dict[str, Any]:
    return {"key": item.key, "label": item.label, "found": found, "evidence": evidence}


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
