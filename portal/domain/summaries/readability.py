"""Readability of a lay summary: scores, reading age, long sentences and jargon. Pure functions.

Scores are textstat's (0.7.13): Flesch reading ease, Flesch-Kincaid grade and SMOG, with textstat's
word and sentence counts and its English constants. One part is replaced: textstat counts syllables
by looking each word up in NLTK's CMU dictionary first, which is not installed here and which it
would try to *download* from GitHub inside a web request (blocking, and impossible offline). So
syllables come from Pyphen's bundled en_US hyphenation dictionary, which is exactly textstat's own
fallback for words the CMU dictionary lacks. A test checks that the results equal textstat's when
its CMU dictionary is empty. The scores therefore never depend on the network or on the machine.

Text is split into sentences by lines as well as full stops, so headings and bullet points count
as short sentences instead of running into the next one (which would make every list one long
"sentence").
"""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Mapping
from importlib import resources
from typing import Any

# Issue 6: the target reading age is a parameter, default 11-12 years. The rule parameters
# (portal.rules.params.Params) have no such key and refuse unknown keys, so it is a constant.
TARGET_READING_AGE = (11, 12)
# A US school grade is read at about age grade + 5 to grade + 6: grade 6 is ages 11-12.
TARGET_MAX_GRADE = TARGET_READING_AGE[1] - 5  # grade scores below 7 meet the target
# Flesch's own table: 80-90 is "easy", 6th grade (ages 11-12).
TARGET_MIN_FLESCH = 80.0
# Readability formulas mean nothing for a few words (a 7-word text scores grade -1.1): below this
# many words the report says the summary is too short to score, and nothing "meets the target".
MIN_SCORED_WORDS = 100
LONG_SENTENCE_WORDS = 25  # plain English guidance: average 15-20 words, flag over 25
LONG_SENTENCES_KEPT = 20  # how many long sentences the report lists
JARGON_FILE = "jargon.txt"

# textstat's English constants (textstat.backend.utils.constants.LANG_CONFIGS["en"]).
FRE_BASE, FRE_SENTENCE, FRE_SYLLABLE = 206.835, 1.015, 84.6
ANALYSER = "textstat 0.7.13 formulas and counts, Pyphen en_US syllables"

_BULLET = re.compile(r"^\s*(?:[-*+\u2022\u25aa\u2013]|\d{1,3}[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+")
_WORD = re.compile(r"[^\W\d_](?:[\w'\u2019-]*\w)?")


@functools.cache
def _pyphen():
    from pyphen import Pyphen

    return Pyphen(lang="en_US")


def sentences(text: str) -> list[str]:
    """Sentences, with each heading, bullet and paragraph ending one."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        segments: list[str] = []
        for line in paragraph.splitlines():
            line = line.strip()
            if not line:
                continue
            bullet = bool(_BULLET.match(line))
            heading = line.startswith("#") or (line.endswith("?") and len(line.split()) <= 12)
            line = _BULLET.sub("", line).lstrip("#").strip()
            if not segments or bullet or heading or _ends_sentence(segments[-1]):
                segments.append(line)
            else:
                segments[-1] += " " + line
            if heading:
                segments.append("")  # what follows a heading starts a new sentence
        for segment in segments:
            out.extend(part.strip() for part in _SENTENCE_END.split(segment) if part.strip())
    return out


def _ends_sentence(segment: str) -> bool:
    return segment == "" or segment.rstrip("\"'\u201d\u2019)").endswith((".", "!", "?", ":"))


def normalised(text: str) -> str:
    """The text as one sentence per line, each ending with a full stop, for textstat."""
    return "\n".join(s if s[-1] in ".!?" else s + "." for s in sentences(text))


def _forget() -> None:
    """textstat memoises whole texts (lru_cache, 128 entries per function): drop them, or a
    long-running web process would keep the last 128 uploads in memory."""
    for name, module in list(sys.modules.items()):
        if name.startswith("textstat.backend."):
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()


def syllables(word: str) -> int:
    """Syllables in one lower-case word, as textstat's Pyphen fallback counts them."""
    return len(_pyphen().positions(word)) + 1


def scores(text: str) -> dict[str, Any]:
    """Word, sentence and syllable counts, and the three scores with their reading ages."""
    import textstat
    from textstat.backend import selections

    prepared = normalised(text)
    try:
        words = textstat.lexicon_count(prepared)
        sentence_count = textstat.sentence_count(prepared)
        tokens = selections.list_words(prepared, lowercase=True)
    finally:
        _forget()
    per_word: dict[str, int] = {}
    total = 0
    poly = 0
    for token in tokens:
        count = per_word.get(token)
        if count is None:
            count = per_word[token] = syllables(token)
        total += count
        poly += count >= 3
    if not words or not sentence_count:
        fre = fkg = smog = 0.0
    else:
        words_per_sentence = words / sentence_count
        syllables_per_word = total / words
        fre = FRE_BASE - FRE_SENTENCE * words_per_sentence - FRE_SYLLABLE * syllables_per_word
        fkg = 0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59
        smog = 1.043 * math.sqrt(30 * poly / sentence_count) + 3.1291
    too_short = words < MIN_SCORED_WORDS
    return {
        "words": words,
        "sentences": sentence_count,
        "syllables": total,
        "polysyllables": poly,
        "flesch_reading_ease": round(fre, 1),
        "flesch_kincaid_grade": round(fkg, 1),
        "smog_index": round(smog, 1),
        "reading_age": {
            "flesch_reading_ease": flesch_reading_age(fre),
            "flesch_kincaid_grade": grade_reading_age(fkg),
            "smog_index": grade_reading_age(smog),
        },
        "too_short": too_short,
        "min_scored_words": MIN_SCORED_WORDS,
        "meets_target": {
            "flesch_reading_ease": not too_short and fre >= TARGET_MIN_FLESCH,
            "flesch_kincaid_grade": not too_short and fkg < TARGET_MAX_GRADE,
            "smog_index": not too_short and smog < TARGET_MAX_GRADE,
        },
    }


def grade_reading_age(grade: float) -> str:
    """A US school grade as the reading age in years it corresponds to."""
    low = max(5, math.floor(grade) + 5)
    return f"{low}-{low + 1}" if low < 18 else "18 or over (university)"


def flesch_reading_age(score: float) -> str:
    """Flesch's table from reading ease to school grade, as a reading age in years."""
    for floor, age in ((90, "10-11"), (80, "11-12"), (70, "12-13"), (60, "13-15"), (50, "15-18")):
        if score >= floor:
            return age
    return "18 or over (university)"


def long_sentences(text: str, limit: int = LONG_SENTENCE_WORDS) -> list[dict[str, Any]]:
    """Sentences longer than ``limit`` words, with their word counts."""
    found = []
    for sentence in sentences(text):
        count = len(_WORD.findall(sentence))
        if count > limit:
            shown = sentence if len(sentence) <= 400 else sentence[:400].rsplit(" ", 1)[0] + " …"
            found.append({"words": count, "text": shown})
    return found


# --- jargon -------------------------------------------------------------------------------------


def jargon_key(term: str) -> str:
    """How terms are compared: lower case, hyphens and runs of spaces as one space."""
    return " ".join(re.sub(r"[\s\-\u2010\u2011]+", " ", term.lower()).split())


@functools.cache
def starter_jargon() -> dict[str, str]:
    """The maintained starter list (portal/data/jargon.txt): term -> plainer words."""
    text = resources.files("portal").joinpath("data", JARGON_FILE).read_text(encoding="utf-8")
    terms: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        term, _, plain = line.partition("|")
        if jargon_key(term):
            terms[jargon_key(term)] = plain.strip()
    return terms


@functools.lru_cache(maxsize=8)
def _jargon_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    parts = [r"[\s\-\u2010\u2011]+".join(map(re.escape, key.split())) for key in keys]
    return re.compile(r"(?<!\w)(" + "|".join(parts) + r")(?:e?s)?(?!\w)", re.IGNORECASE)


def find_jargon(text: str, terms: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each listed term the text uses: term, plainer words, how often; most frequent first."""
    if not terms or not text:
        return []
    # Longest first, so "serious adverse event" wins over "adverse event".
    keys = tuple(sorted(terms, key=lambda k: (-len(k), k)))
    counts: dict[str, int] = {}
    for match in _jargon_pattern(keys).finditer(text):
        key = jargon_key(match.group(1))
        counts[key] = counts.get(key, 0) + 1
    return [
        {"term": key, "plain": terms.get(key, ""), "count": count}
        for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def analyse(text: str, headings: list[str] | tuple[str, ...], terms: Mapping[str, str]) -> dict:
    """The full report stored with a summary version (JSON-ready)."""
    from portal.domain.summaries.checklist import check

    long = long_sentences(text)
    return {
        "analyser": ANALYSER,
        "target_reading_age": list(TARGET_READING_AGE),
        "scores": scores(text),
        "long_sentence_words": LONG_SENTENCE_WORDS,
        "long_sentence_count": len(long),
        "long_sentences": long[:LONG_SENTENCES_KEPT],
        "jargon": find_jargon(text, terms),
        "checklist": check(text, headings),
    }
