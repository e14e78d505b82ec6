"""Plain English for pages: a label for every fact, one date format, citations without file names.

The rules engine writes its explanations with fact keys ("Add: first_participant_on or
eu_events") and ISO dates, and cites the spec's sections; what a person reads names each fact by
its label, writes dates as "4 December 2026" (or "December 2026" for a month-only date) and cites
the regulation and guidance only. :func:`humanise` does that to any engine text at display time,
so verdicts stored before this module existed read the same way.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from portal.rules.labels import FACT_LABELS as RULE_FACT_LABELS

# Every fact the engine, the importer or a sponsor can record, by the label a person reads: the
# rules' facts from the one list in portal.rules.labels, and the keys only pages show.
FACT_LABELS: dict[str, str] = {
    "phases": "Phases",
    "iras_id": "IRAS id",
    "results_posted": "Results posted (entered with evidence)",
    "results_posted_on": "Results posted",
    "registered_on": "Registered",
    "title": "Title",
    "sponsor_name": "Sponsor",
    "overall_status": "Overall status",
    "age_groups": "Age groups",
    "registry": "Registry",
    "member_state": "Member state",
    "notified_on": "Notified on",
    "requested_on": "Requested on",
    "until": "Until",
    "reference": "Reference",
    "ground": "Ground",
    **RULE_FACT_LABELS,
}

# A verdict's status as a person reads it.
STATUS_LABELS = {
    "not_applicable": "Not applicable",
    "data_needed": "Data needed",
    "upcoming": "Upcoming",
    "due_soon": "Due soon",
    "overdue": "Overdue",
    "met": "Met",
    "met_late": "Met late",
    "deferred": "Deferred",
    "waived": "Waived",
}

RULESET_LABELS = {
    "uk-2026": "UK clinical trials regulations 2026",
    "eu-ctr": "EU Clinical Trials Regulation",
    "us-fdaaa": "US FDAAA 801",
}

_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_ISO_DAY = re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.+Z-]*)?\b")
_ISO_MONTH = re.compile(r"(?<![\w-])(\d{4})-(\d{2})\b(?!-\d)")
_CODE = re.compile(r"[a-z]+(?:_[a-z]+)+|[A-Z]+(?:_[A-Z]+)+")
_KEY = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
_PARAM_PREFIX = re.compile(r"(?:^|(?<=[.;] ))[a-z]+(?:_[a-z]+)+=[^:\s]+:\s*")
_PARAM = re.compile(r"\b([a-z]+(?:_[a-z]+)+)=(\S+)")
_SPEC_REF = re.compile(r"RULES\.md\s+[a-z0-9-]+(?:\s+[A-Z]+-[A-Z]+)?\s*[;,:]?\s*")


def label(key: str) -> str:
    """The label of a fact key; an unknown key is turned into words (never shown raw)."""
    found = FACT_LABELS.get(key)
    if found:
        return found
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def day(value: Any) -> str:
    """One date format: "4 December 2026"; a month-only text date as "December 2026"."""
    if value is None or value == "":
        return "Not known"
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"
    text = str(value)
    return humanise_dates(text)


def day_time(value: Any) -> str:
    """A moment as "4 December 2026 at 14:05"."""
    if value is None:
        return "Not known"
    return f"{day(value)} at {value.strftime('%H:%M')}"


def _day_match(m: re.Match[str]) -> str:
    year, month, dd = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= dd <= 31):
        return m.group(0)
    return f"{dd} {_MONTHS[month - 1]} {year}"


def _month_match(m: re.Match[str]) -> str:
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        return m.group(0)
    return f"{_MONTHS[month - 1]} {year}"


@lru_cache(maxsize=8192)
def date_text(text: str) -> str:
    """A text that starts with an ISO date (or month) spelt out; a coded value such as
    "active_not_recruiting" as words; any other text unchanged."""
    if _ISO_DAY.match(text) or _ISO_MONTH.match(text):
        return humanise_dates(text)
    if _CODE.fullmatch(text):
        words = text.replace("_", " ").lower()
        return words[:1].upper() + words[1:]
    return text


def humanise_dates(text: str) -> str:
    text = _ISO_DAY.sub(_day_match, text)
    return _ISO_MONTH.sub(_month_match, text)


def _key_match(m: re.Match[str]) -> str:
    key = m.group(0)
    found = FACT_LABELS.get(key)
    return f"“{found}”" if found else key.replace("_", " ")


def humanise(text: Any) -> str:
    """Engine text as a person reads it: fact keys become their labels, ISO dates become
    "4 December 2026", spec section references are dropped, "None" becomes "not known"."""
    if text is None:
        return ""
    return _humanise(str(text))


@lru_cache(maxsize=8192)
def _humanise(out: str) -> str:
    """``humanise`` of a text: a pure function of it, so memoised (the same verdict
    explanations are shown on every page that lists them; issue 22)."""
    out = _SPEC_REF.sub("", out).replace("RULES.md", "the rules")
    out = re.sub(r"\s*\[param[^\]]*\]", "", out)
    # A rule parameter's assumption text reads "due_soon_days=30: a duty is ...": keep the words.
    out = _PARAM_PREFIX.sub("", out)
    out = _PARAM.sub(lambda m: f"{label(m.group(1)).lower()}: {m.group(2)}", out)
    out = humanise_dates(out)
    out = _KEY.sub(_key_match, out)
    out = out[:1].upper() + out[1:]
    out = re.sub(r"\bNone\b", "not known", out)
    out = out.replace("Add: ", "Add ")
    return out


def citation(source: Any) -> str:
    """A verdict's source with the spec file reference removed: the regulation and guidance."""
    return _citation(str(source or ""))


@lru_cache(maxsize=1024)
def _citation(source: str) -> str:
    text = _SPEC_REF.sub("", source).strip(" ;,")
    return humanise_dates(text)


def missing_facts(missing: Any) -> str:
    """["first_participant_on or eu_events", "end_of_trial_on"] as words."""
    items = []
    for item in missing or ():
        parts = [label(p.strip()) for p in str(item).split(" or ")]
        items.append(" or ".join(parts))
    if not items:
        return "more facts"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def register(app) -> None:
    """Jinja filters: ``humanise``, ``fact_label``, ``citation``, ``missing_facts``, ``day``,
    ``day_time``."""
    app.add_template_filter(humanise, "humanise")
    app.add_template_filter(label, "fact_label")
    app.add_template_filter(citation, "citation")
    app.add_template_filter(missing_facts, "missing_facts")
    app.add_template_filter(day_time, "day_time")
    app.add_template_global(RULESET_LABELS, "ruleset_labels")
