"""Calendar arithmetic for the rules: parsing registry dates and adding days or months.

RULES.md "Dates": a month-only date ("2027-03") means the last day of that month and the verdict is
flagged "estimated from a month-only date"; a deadline that lands on a missing calendar day (31 Feb)
moves to the last day of that month.
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = [
    "MIN_YEAR",
    "MAX_YEAR",
    "add_days",
    "add_months",
    "add_years",
    "days_between",
    "format_date",
    "last_day_of_month",
    "parse_date",
]

# Registry dates outside this window are typing errors; the window also keeps every deadline
# arithmetic (at most a few decades) far from date.max.
MIN_YEAR = 1900
MAX_YEAR = 2199

_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DIGITS = frozenset("0123456789")


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def last_day_of_month(year: int, month: int) -> int:
    """Number of the last day of `month` in `year` (28..31)."""
    if month == 2 and _is_leap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def parse_date(text: str) -> tuple[date, bool]:
    """Parse "YYYY-MM-DD" or "YYYY-MM"; return (date, estimated).

    A month-only value is read as the last day of the month and reported as estimated.
    Raises ValueError for anything else (including impossible dates such as 2026-02-30).
    Answers are remembered (a recompute of many trials parses the same few thousand dates).
    """
    hit = _PARSED.get(text)
    if hit is not None:
        return hit
    result = _parse_date(text)
    if len(_PARSED) < _PARSED_MAX:
        _PARSED[text] = result
    return result


_PARSED: dict[str, tuple[date, bool]] = {}
_PARSED_MAX = 100_000  # ~270 years of days: enough for every date a recompute meets


def _parse_date(text: str) -> tuple[date, bool]:
    s = text.strip()
    n = len(s)
    if n == 10 and s[4] == "-" and s[7] == "-" and _DIGITS.issuperset(s[:4] + s[5:7] + s[8:]):
        d = date.fromisoformat(s)  # rejects month 13, day 0, 2026-02-30
        if MIN_YEAR <= d.year <= MAX_YEAR:
            return d, False
    elif n == 7 and s[4] == "-" and _DIGITS.issuperset(s[:4] + s[5:]):
        year, month = int(s[:4]), int(s[5:7])
        if MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12:
            return date(year, month, last_day_of_month(year, month)), True
    raise ValueError(s)


class _Deltas(dict):
    """n -> timedelta(days=n), memoised: building a timedelta costs more than the addition."""

    def __missing__(self, n: int) -> timedelta:
        delta = timedelta(days=n)
        if len(self) < 1000:  # in practice the keys are the rule periods, a handful of values
            self[n] = delta
        return delta


_DELTAS = _Deltas()


def add_days(d: date, days: int) -> date:
    """`d` plus `days` calendar days."""
    return d + _DELTAS[days]


def add_months(d: date, months: int) -> date:
    """`d` plus `months` calendar months; a missing day (31 Feb) becomes the month's last day."""
    key = (d, months)
    got = _MONTHS_CACHE.get(key)
    if got is None:
        got = _add_months(d, months)
        if len(_MONTHS_CACHE) < 100_000:  # bounded; trial dates and rule periods are few
            _MONTHS_CACHE[key] = got
    return got


_MONTHS_CACHE: dict[tuple[date, int], date] = {}


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + d.month - 1 + months
    year, month0 = divmod(total, 12)
    day = d.day
    if day > 28:
        day = min(day, last_day_of_month(year, month0 + 1))
    return date(year, month0 + 1, day)


def add_years(d: date, years: int) -> date:
    """`d` plus `years` years (29 Feb becomes 28 Feb in a common year)."""
    return add_months(d, 12 * years)


def days_between(start: date, end: date) -> int:
    """Whole days from `start` to `end` (negative when `end` is earlier)."""
    return (end - start).days


class _DateText(dict):
    """date -> "14 July 2026", memoised: verdict texts format the same few thousand dates."""

    def __missing__(self, d: date) -> str:
        text = f"{d.day} {_MONTH_NAMES[d.month - 1]} {d.year}"
        if len(self) < 100_000:  # bounded; trial dates span a few decades at most
            self[d] = text
        return text


# format_date(d) -> "14 July 2026": a date as a sponsor reads it. A bound dict lookup, because
# each trial's explanations format a dozen dates.
format_date = _DateText().__getitem__
