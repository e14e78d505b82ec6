"""Normalisation of registry values: dates, phases, countries, ages, statuses and trial ids.

Everything here is pure and cheap; the format readers call these helpers so that the
same fact gets the same spelling whatever registry or export it came from.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import date

from .model import BadValue, DateValue

__all__ = ["BadValue"]  # re-exported: readers catch n.BadValue

# --------------------------------------------------------------------------- dates

_MONTHS = {
    name.lower(): number
    for number, name in enumerate(calendar.month_name)
    if name  # index 0 is ""
}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9

_ISO_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_ISO_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")
_SLASH_YMD_RE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$")
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DMY_RE = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?:\s.*)?$")
_MDY_TEXT_RE = re.compile(r"^([A-Za-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})$")
_DMY_TEXT_RE = re.compile(r"^(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})$")
_MY_TEXT_RE = re.compile(r"^([A-Za-z]+)\.?,?\s+(\d{4})$")
_ACTUAL_WORDS = {"actual": True, "anticipated": False, "estimated": False, "estimate": False}


def _month_number(word: str) -> int | None:
    return _MONTHS.get(word.lower().rstrip("."))


def _day(y: int, m: int, d: int, raw: str, field: str) -> date:
    try:
        return date(y, m, d)
    except ValueError:
        raise BadValue(f"impossible date {raw} in {field}") from None


def _month_end(y: int, m: int, raw: str, field: str) -> date:
    if not 1 <= m <= 12 or y < 1:
        raise BadValue(f"impossible date {raw} in {field}")
    return date(y, m, calendar.monthrange(y, m)[1])


def parse_date(raw: object, field: str) -> tuple[date, str] | None:
    """Parse a registry date string into (date, precision).

    Accepts "2021-03-15", "2021-03-15T00:00:00(.000Z|+02:00)", "2021-03", "2021/03/15",
    "20210315", "15/03/2021" (day first, as ISRCTN and WHO exports write it), "March 15, 2021",
    "15 March 2021" and "March 2021". Month-only dates become the last day of the month.
    Returns None for empty values; raises BadValue naming ``field`` for impossible or
    unreadable dates.
    """
    if raw is None:
        return None
    return _parse_date(raw if isinstance(raw, str) else str(raw), field)


@functools.lru_cache(maxsize=16384)  # registry dates repeat a lot; BadValue is not cached
def _parse_date(raw: str, field: str) -> tuple[date, str] | None:
    text = raw.strip()
    if not text:
        return None
    if len(text) == 10 and text[4] == "-":
        try:  # the common case, parsed in C
            return date.fromisoformat(text), "day"
        except ValueError:
            pass  # impossible or odd: the slow path names the problem
    m = _ISO_RE.match(text)
    if m:
        return _day(int(m[1]), int(m[2]), int(m[3]), text, field), "day"
    m = _ISO_MONTH_RE.match(text)
    if m:
        return _month_end(int(m[1]), int(m[2]), text, field), "month"
    m = _DMY_RE.match(text)
    if m:
        return _day(int(m[3]), int(m[2]), int(m[1]), text, field), "day"
    m = _SLASH_YMD_RE.match(text) or _COMPACT_RE.match(text)
    if m:
        return _day(int(m[1]), int(m[2]), int(m[3]), text, field), "day"
    m = _MDY_TEXT_RE.match(text)
    if m and _month_number(m[1]):
        return _day(int(m[3]), _month_number(m[1]), int(m[2]), text, field), "day"
    m = _DMY_TEXT_RE.match(text)
    if m and _month_number(m[2]):
        return _day(int(m[3]), _month_number(m[2]), int(m[1]), text, field), "day"
    m = _MY_TEXT_RE.match(text)
    if m and _month_number(m[1]):
        return _month_end(int(m[2]), _month_number(m[1]), text, field), "month"
    raise BadValue(f"unreadable date {text!r} in {field}")


def to_date(raw: object, field: str) -> date | None:
    """A plain date (precision dropped) or None."""
    parsed = parse_date(raw, field)
    return parsed[0] if parsed else None


def actual_flag(raw: object) -> bool | None:
    """ACTUAL -> True, ANTICIPATED/ESTIMATED -> False, anything else -> None."""
    if raw is None:
        return None
    return _ACTUAL_WORDS.get(str(raw).strip().lower())


def date_value(raw: object, field: str, actual: bool | None = None) -> DateValue | None:
    if raw is None:
        return None
    return _date_value(raw if isinstance(raw, str) else str(raw), field, actual)


@functools.lru_cache(maxsize=16384)
def _date_value(raw: str, field: str, actual: bool | None) -> DateValue | None:
    parsed = _parse_date(raw, field)
    if parsed is None:
        return None
    return DateValue(parsed[0], parsed[1], actual)


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


# --------------------------------------------------------------------------- study type


def study_type(raw: object) -> str | None:
    if raw is None:
        return None
    return _study_type(str(raw))


@functools.lru_cache(maxsize=1024)
def _study_type(raw: str) -> str | None:
    text = raw.strip().lower().replace("_", " ")
    if not text:
        return None
    if text.startswith("interventional"):
        return "interventional"
    if text.startswith("observational"):
        return "observational"
    if text.startswith("expanded access"):
        return "expanded access"
    return re.sub(r"\s+", " ", text)


def status(raw: object) -> str | None:
    """ "Active, not recruiting" / "ACTIVE_NOT_RECRUITING" -> "active_not_recruiting"."""
    if raw is None:
        return None
    return _status(str(raw))


@functools.lru_cache(maxsize=1024)
def _status(raw: str) -> str | None:
    text = re.sub(r"[^a-z0-9]+", "_", raw.strip().lower()).strip("_")
    return text or None


# --------------------------------------------------------------------------- yes / no


def yes_no(raw: object) -> bool | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("yes", "y", "true", "1", "accepts healthy volunteers"):
        return True
    if text in ("no", "n", "false", "0"):
        return False
    return None


# --------------------------------------------------------------------------- countries

UK = "United Kingdom"
_SPACES_RE = re.compile(r"\s+")
US = "United States"

_COUNTRY_ALIASES = {
    "uk": UK,
    "u.k.": UK,
    "gb": UK,
    "great britain": UK,
    "britain": UK,
    "england": UK,
    "scotland": UK,
    "wales": UK,
    "northern ireland": UK,
    "united kingdom of great britain and northern ireland": UK,
    "usa": US,
    "u.s.a.": US,
    "us": US,
    "u.s.": US,
    "united states of america": US,
    "america": US,
    "czech republic": "Czechia",
    "korea, republic of": "South Korea",
    "republic of korea": "South Korea",
    "korea, south": "South Korea",
    "korea (south)": "South Korea",
    "russian federation": "Russia",
    "turkey (türkiye)": "Turkey",
    "türkiye": "Turkey",
    "turkiye": "Turkey",
    "iran (islamic republic of)": "Iran",
    "iran, islamic republic of": "Iran",
    "the netherlands": "Netherlands",
    "holland": "Netherlands",
    "viet nam": "Vietnam",
    "taiwan, province of china": "Taiwan",
    "macedonia, the former yugoslav republic of": "North Macedonia",
    "former yugoslav republic of macedonia": "North Macedonia",
    "macedonia": "North Macedonia",
    "congo, democratic republic": "Congo, The Democratic Republic of the",
    "democratic republic of the congo": "Congo, The Democratic Republic of the",
    "moldova, republic of": "Moldova",
    "republic of moldova": "Moldova",
    "tanzania, united republic of": "Tanzania",
    "united republic of tanzania": "Tanzania",
    "syrian arab republic": "Syria",
    "lao people's democratic republic": "Laos",
    "hong kong sar": "Hong Kong",
    "china (hong kong)": "Hong Kong",
    "peoples republic of china": "China",
    "people's republic of china": "China",
}

# ISO 3166-1 alpha-2 codes as used by EUCTR / CTIS member-state lists ("EL" is the EU code
# for Greece). Only used where a field is known to hold codes.
ISO2 = {
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "HR": "Croatia",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DK": "Denmark",
    "EE": "Estonia",
    "FI": "Finland",
    "FR": "France",
    "DE": "Germany",
    "GR": "Greece",
    "EL": "Greece",
    "HU": "Hungary",
    "IS": "Iceland",
    "IE": "Ireland",
    "IT": "Italy",
    "LV": "Latvia",
    "LI": "Liechtenstein",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "MT": "Malta",
    "NL": "Netherlands",
    "NO": "Norway",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SK": "Slovakia",
    "SI": "Slovenia",
    "ES": "Spain",
    "SE": "Sweden",
    "GB": UK,
    "UK": UK,
    "CH": "Switzerland",
    "US": US,
    "CA": "Canada",
}
COUNTRY_TO_ISO2 = {name: code for code, name in ISO2.items() if code not in ("EL", "UK")}


def country(raw: object) -> str | None:
    """Normalise one country name; UK nations and spellings become "United Kingdom"."""
    if raw is None:
        return None
    return _country(str(raw))


@functools.lru_cache(maxsize=4096)
def _country(raw: str) -> str | None:
    text = _SPACES_RE.sub(" ", raw).strip().strip(".,;")
    if not text:
        return None
    alias = _COUNTRY_ALIASES.get(text.lower())
    if alias:
        return alias
    if text.islower() or text.isupper() and len(text) > 3:
        text = text.title()
    return text


def countries(values) -> tuple[str, ...]:
    out = set()
    for value in {v for v in values if v}:  # registries repeat a country per site
        name = country(value)
        if name:
            out.add(name)
    return tuple(sorted(out))


def country_from_code(code: object) -> str | None:
    if code is None:
        return None
    return ISO2.get(str(code).strip().upper())


# --------------------------------------------------------------------------- ages

_AGE_RE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(years?|yrs?|y|months?|mo|weeks?|wks?|days?|d|hours?|h|minutes?|age)?",
    re.IGNORECASE,
)
_NO_LIMIT_WORDS = {
    "n/a",
    "na",
    "no limit",
    "not applicable",
    "none",
    "no maximum age",
    "no minimum age",
    "no age limit",
}
_UNIT_YEARS = {
    "y": 1.0,
    "year": 1.0,
    "years": 1.0,
    "yr": 1.0,
    "yrs": 1.0,
    "age": 1.0,
    "month": 1 / 12,
    "months": 1 / 12,
    "mo": 1 / 12,
    "week": 7 / 365.25,
    "weeks": 7 / 365.25,
    "wk": 7 / 365.25,
    "wks": 7 / 365.25,
    "day": 1 / 365.25,
    "days": 1 / 365.25,
    "d": 1 / 365.25,
    "hour": 1 / 8766,
    "hours": 1 / 8766,
    "h": 1 / 8766,
    "minute": 1 / 525960,
    "minutes": 1 / 525960,
}
NO_LIMIT = "no limit"


def age_years(raw: object) -> float | str | None:
    """ "18 Years" -> 18.0, "3 Months" -> 0.25, "N/A"/"No limit" -> NO_LIMIT, junk -> None.

    A bare number counts as years.
    """
    if raw is None:
        return None
    text = str(raw).strip().lower()
    if not text:
        return None
    if text in _NO_LIMIT_WORDS:
        return NO_LIMIT
    m = _AGE_RE.search(text)
    if not m:
        return None
    unit = (m[2] or "years").lower()
    return float(m[1]) * _UNIT_YEARS.get(unit, 1.0)


def age_groups_from_limits(minimum: object, maximum: object) -> tuple[str, ...]:
    """CT.gov age groups (child <18, adult 18-64, older adult 65+) from an age range.

    "No limit" / "N/A" bounds are open; a missing bound next to a given one is taken as
    open too (registries leave the field blank for "no limit"); with neither bound given
    nothing is claimed.
    """
    lo = age_years(minimum)
    hi = age_years(maximum)
    if lo is None and hi is None:
        return ()
    lo_v = 0.0 if lo in (None, NO_LIMIT) else float(lo)
    hi_v = float("inf") if hi in (None, NO_LIMIT) else float(hi)
    groups = []
    if lo_v < 18:
        groups.append("child")
    if lo_v < 65 and hi_v >= 18:
        groups.append("adult")
    if hi_v >= 65:
        groups.append("older_adult")
    return tuple(groups)


_AGE_GROUP_ALIASES = {
    "child": "child",
    "children": "child",
    "neonate": "child",
    "newborn": "child",
    "infant": "child",
    "adolescent": "child",
    "adult": "adult",
    "adults": "adult",
    "older adult": "older_adult",
    "older_adult": "older_adult",
    "senior": "older_adult",
    "elderly": "older_adult",
}
_GROUP_ORDER = {"child": 0, "adult": 1, "older_adult": 2}


def age_groups(values) -> tuple[str, ...]:
    out = set()
    for value in values:
        if value is None:
            continue
        key = str(value).strip().lower().replace("_", " ")
        group = _AGE_GROUP_ALIASES.get(key) or _AGE_GROUP_ALIASES.get(key.replace(" ", "_"))
        if group:
            out.add(group)
    return tuple(sorted(out, key=_GROUP_ORDER.__getitem__))


def paediatric_from_groups(groups: tuple[str, ...]) -> bool | None:
    if not groups:
        return None
    return "child" in groups


# --------------------------------------------------------------------------- ids

NCT_RE = re.compile(r"\bNCT\s*0*(\d{8})\b", re.IGNORECASE)
ISRCTN_RE = re.compile(r"\bISRCTN\s*(\d{8})\b", re.IGNORECASE)
EUDRACT_RE = re.compile(r"(?<![\d-])(\d{4})\s*-\s*(\d{6})\s*-\s*(\d{2})(?![\d])")
EUCT_RE = re.compile(r"(?<![\d-])(\d{4})-(5\d{5})-(\d{2})-(\d{2})(?![\d])")
_IRAS_RE = re.compile(r"^\s*(?:IRAS\s*(?:ID|number|no\.?)?\s*:?\s*)?(\d{5,7})\s*$", re.IGNORECASE)


def nct_id(raw: object) -> str | None:
    if raw is None:
        return None
    m = NCT_RE.search(str(raw))
    return f"NCT{m[1]}" if m else None


def isrctn_id(raw: object, bare_digits: bool = False) -> str | None:
    """ "ISRCTN12345678" -> itself; with bare_digits also "12345678"."""
    if raw is None:
        return None
    text = str(raw).strip()
    m = ISRCTN_RE.search(text)
    if m:
        return f"ISRCTN{m[1]}"
    if bare_digits and re.fullmatch(r"\d{8}", text):
        return f"ISRCTN{text}"
    return None


def eudract_id(raw: object) -> str | None:
    """EudraCT number in canonical form, else None.

    "2012-003632-23", "EUCTR2012-003632-23-GB", "2012- 003632-23" -> "2012-003632-23".
    EU CT numbers (CTIS, "2022-500676-59-00") are not EudraCT numbers, nor is an EU CT
    number cut short ("2022-503007-22": a sequence starting with 5, which EudraCT
    sequences never reached), so those give None.
    """
    if raw is None:
        return None
    text = str(raw).replace("\xa0", " ")
    if EUCT_RE.search(text):
        return None
    m = EUDRACT_RE.search(text)
    if not m or m[2].startswith("5"):
        return None
    return f"{m[1]}-{m[2]}-{m[3]}"


def euct_id(raw: object) -> str | None:
    if raw is None:
        return None
    m = EUCT_RE.search(str(raw))
    return f"{m[1]}-{m[2]}-{m[3]}-{m[4]}" if m else None


def iras_id(raw: object) -> str | None:
    if raw is None:
        return None
    m = _IRAS_RE.match(str(raw))
    return m[1] if m else None


def refs_from_free_text(raw: object, refs: dict[str, str]) -> None:
    """Add any NCT / ISRCTN / EudraCT / EU CT number found in ``raw`` to ``refs``
    (first one of each kind wins)."""
    if not raw:
        return
    text = str(raw)
    for key, fn in (("nct", nct_id), ("isrctn", isrctn_id), ("euct", euct_id)):
        if key not in refs:
            value = fn(text)
            if value:
                refs[key] = value
    if "eudract" not in refs:
        value = eudract_id(text)
        if value:
            refs["eudract"] = value


# --------------------------------------------------------------------------- text


def text(raw: object) -> str | None:
    """Strip; collapse empty to None. Dicts from XML conversions give their text part."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        raw = raw.get("#text")
        if raw is None:
            return None
    if isinstance(raw, list):
        return None
    value = str(raw).strip()
    return value or None


def as_list(raw: object) -> list:
    """ctrdata and XML conversions collapse one-element lists to scalars and empty
    lists to {} or "": undo that."""
    if raw is None or raw == "" or raw == {}:
        return []
    if isinstance(raw, list):
        return raw
    return [raw]
