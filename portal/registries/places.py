"""Countries and ages as registries write them: one spelling for each country and age group.

Pure; the readers call these through ``normalise``.
"""

from __future__ import annotations

import functools
import re

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
