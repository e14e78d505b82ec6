"""The content a lay summary needs (after EU CTR Annex V), checked by its content.

A heuristic, not a judgement: for each item it says where the content was found, or that it was
not, so the sponsor and the reviewer know where to look. Content counts, headings alone do not
(issue 18): an item is "found" when a heading that matches it has text under it, or when every
keyword group of the item matches the body text (never a heading or the title). The main results
need text under a results heading: the word "results" in a title or elsewhere is not a result.
Annex V of Regulation (EU) No 536/2014 lists: trial identification, sponsor, general information
(where, when, why), population, medicines used, adverse reactions, overall results, comments on
the outcome, follow-up trials, and where to find more information.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    groups: tuple[str, ...]  # every group must match somewhere in the body text
    heading: str  # a heading matching this counts when it has text under it
    needs_heading: bool = False  # only text under a matching heading counts


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
        r"\bresults?\b|\bfindings?\b|\bwhat (?:did|was|we) .*\bfound\b|\bwhat we found\b",
        needs_heading=True,
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


MIN_SECTION_WORDS = 4  # a heading counts only with at least this many words of text under it
TITLE_MIN_WORDS = 4  # a first line this long that is not a question is the title
_WORD = re.compile(r"\w+")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(\S.*?)\s*#*\s*$")
# "What were the results? People who used the app went to hospital less often." on one line.
_INLINE_QUESTION = re.compile(r"^([^?.!]{3,120}\?)\s+(\S.*)$")


@dataclass
class Section:
    heading: str
    body: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.body)

    @property
    def words(self) -> int:
        return len(_WORD.findall(self.text))


@dataclass
class Parsed:
    title: str | None
    sections: list[Section]  # the first may have heading "" (text before any heading)

    @property
    def body(self) -> str:
        return "\n".join(section.text for section in self.sections)


def _bare(line: str) -> str:
    match = _MD_HEADING.match(line)
    return " ".join((match.group(1) if match else line).split())


def _is_question_heading(line: str) -> bool:
    return line.endswith("?") and len(line.split()) <= 12


def parse(text: str, headings: list[str] | tuple[str, ...] = ()) -> Parsed:
    """The summary as its title and sections (a heading and the lines of text under it).

    A line is a heading when extraction found it as one (``headings``), when it is a Markdown
    heading, or when it is a short question on its own line; a short question opening a line
    ("Who took part? 120 adults...") is a heading with the rest of the line under it."""
    known = {" ".join(h.split()).lower() for h in headings}
    lines = [line.strip() for line in text.splitlines()]
    title = None
    sections = [Section("", [])]
    first = True
    for raw in lines:
        if not raw:
            continue
        line = _bare(raw)
        is_heading = (
            line.lower() in known or bool(_MD_HEADING.match(raw)) or _is_question_heading(line)
        )
        if first:
            first = False
            words = len(line.split())
            if (is_heading or (words <= 12 and line[-1] not in ".,;:!")) and not line.endswith("?"):
                if words >= TITLE_MIN_WORDS:
                    title = line
                    continue
        if is_heading:
            sections.append(Section(line, []))
            continue
        inline = _INLINE_QUESTION.match(line)
        if inline and len(inline.group(1).split()) <= 12:
            sections.append(Section(inline.group(1), [inline.group(2)]))
            continue
        sections[-1].body.append(line)
    return Parsed(title, [s for s in sections if s.heading or s.body])


def check(text: str, headings: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per checklist item: key, label, found, and the evidence for it."""
    parsed = parse(text, headings)
    body = parsed.body
    rows = []
    for item in ITEMS:
        heading_re = re.compile(item.heading, re.IGNORECASE)
        matching = [s for s in parsed.sections if s.heading and heading_re.search(s.heading)]
        with_text = next((s for s in matching if s.words >= MIN_SECTION_WORDS), None)
        if with_text is not None:
            rows.append(_row(item, True, f"text under the heading “{_short(with_text.heading)}”"))
            continue
        if item.needs_heading:
            if matching:
                why = f"the heading “{_short(matching[0].heading)}” has no text under it"
            elif parsed.title and heading_re.search(parsed.title):
                why = "only the title mentions them; add them under a heading of their own"
            else:
                why = "no text under a heading such as “What were the results?”"
            rows.append(_row(item, False, why))
            continue
        matches = [re.search(group, body, re.IGNORECASE) for group in item.groups]
        if all(matches):
            words = ", ".join(f"“{_short(m.group(0))}”" for m in matches if m)
            rows.append(_row(item, True, f"mentions {words}"))
        elif matching:
            why = f"the heading “{_short(matching[0].heading)}” has no text under it"
            rows.append(_row(item, False, why))
        else:
            rows.append(_row(item, False, "no text about it found"))
    return rows


def _row(item: Item, found: bool, evidence: str) -> dict[str, Any]:
    return {"key": item.key, "label": item.label, "found": found, "evidence": evidence}


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
