"""The one place the web app reads the clock (rules never do: they take ``as_of``)."""

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    """Timezone-aware now in UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date in UTC, used as the default ``as_of``."""
    return utcnow().date()


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; treat them as the UTC they were stored as."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
