"""Normalisation of registry values: dates, phases, countries, ages, statuses and trial ids.

Everything here is pure and cheap; the format readers call these helpers (``n.date_value``,
``n.countries``, ...) so that the same fact gets the same spelling whatever registry or export
it came from. Dates, statuses, ids and text are here; phases (``phases``) and countries and
ages (``places``) have modules of their own, and this module names them for the readers.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import date

from .model import BadValue, DateValue
from .phases import combined_phase, phases_from_text, phases_from_values, sort_phases
from .places import (
    COUNTRY_TO_ISO2,
    ISO2,
    NO_LIMIT,
    UK,
    US,
    age_groups,
    age_groups_from_limits,
    age_years,
    countries,
    country,
    country_from_code,
    paediatric_from_groups,
)

# The readers' vocabulary (``n.BadValue``, ``n.countries``, ...), defined in the modules above.
__all__ = [
    "BadValue",
    "COUNTRY_TO_ISO2",
    "ISO2",
    "NO_LIMIT",
    "UK",
    "US",
    "age_groups",
    "age_groups_from_limits",
    "age_years",
    "combined_phase",
    "countries",
    "country",
    "country_from_code",
    "paediatric_from_groups",
    "phases_from_text",
    "phases_from_values",
    "sort_phases",
]

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
