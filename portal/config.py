"""Configuration read from the environment.

Local runs get safe embedded defaults (SQLite and a generated secret under ``instance/``);
production refuses to start without the secrets it needs.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration cannot work."""


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs given in their usual form."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _local_secret(instance: Path) -> str:
    """Return the secret kept in instance/, creating it once for local runs."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _engine_options(database_url: str, env: dict[str, str]) -> dict[str, object]:
    """SQLAlchemy engine options. On PostgreSQL, the server's just-in-time compilation of queries
    is off unless DATABASE_JIT=on: the portal's queries take milliseconds, and PostgreSQL
    compiles any whose estimated cost passes jit_above_cost, which on the dashboard of a
    5,000-trial organisation cost 20-30 ms a query, more than running it (issue 22)."""
    options: dict[str, object] = {"pool_pre_ping": True}
    if database_url.startswith(("postgres://", "postgresql")) and not _bool(
        env.get("DATABASE_JIT")
    ):
        options["connect_args"] = {"options": "-c jit=off"}
    return options


def load_config(env: dict[str, str] | None = None, **overrides: object) -> dict[str, object]:
    """Build the Flask config mapping from environment variables plus explicit overrides."""
    env = dict(os.environ if env is None else env)
    portal_env = env.get("PORTAL_ENV", "local").lower()
    if portal_env not in {"local", "test", "production"}:
        raise ConfigError(f"PORTAL_ENV must be local, test or production, not {portal_env!r}")
    production = portal_env == "production"
    instance = Path(env.get("INSTANCE_PATH", DEFAULT_INSTANCE))

    secret = env.get("SECRET_KEY", "")
    if not secret:
        if production:
            raise ConfigError(
                "SECRET_KEY is not set. In production set SECRET_KEY to a long random value "
                "(for example: python -c 'import secrets; print(secrets.token_hex(32))')."
            )
        secret = _local_secret(instance)

    database_url = env.get("DATABASE_URL", "")
    if not database_url:
        if production:
            raise ConfigError("DATABASE_URL is not set. Production needs a PostgreSQL URL.")
        instance.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{instance / 'portal.db'}"

    redis_url = env.get("REDIS_URL", "")
    if not redis_url and production:
        raise ConfigError("REDIS_URL is not set. Production needs a Redis URL.")

    config: dict[str, object] = {
        "PORTAL_ENV": portal_env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(database_url, env),
        "REDIS_URL": redis_url,  # empty: the local runner starts an embedded Redis and sets it
        "MAIL_URL": env.get("MAIL_URL", ""),
        "MAIL_FROM": env.get("MAIL_FROM", "Trial Transparency Portal <no-reply@localhost>"),
        "PUBLIC_URL": env.get("PUBLIC_URL", "http://127.0.0.1:5000"),
        "INSTANCE_PATH": str(instance),
        "UPLOAD_FOLDER": env.get("UPLOAD_FOLDER", str(instance / "files")),
        "MAX_CONTENT_LENGTH": 11 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": production,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # A session ends this many hours after sign-in, however busy (an absolute lifetime).
        "SESSION_LIFETIME_HOURS": int(env.get("SESSION_LIFETIME_HOURS", "12")),
        # How many reverse proxies in front of the app set X-Forwarded-For/-Proto (werkzeug
        # ProxyFix). 0 (the default) trusts no header: the client is the connection's address.
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0") or "0"),
        "TOKEN_MAX_AGE_SECONDS": int(env.get("TOKEN_MAX_AGE_SECONDS", str(3 * 24 * 3600))),
        "HSTS": production,
        "JOB_TIMEOUT_SECONDS": int(env.get("JOB_TIMEOUT_SECONDS", "600")),
        # How often an RQ worker tells Redis it is alive, idle or busy; /healthz calls a worker
        # dead after two missed beats (3 intervals without one).
        "WORKER_HEARTBEAT_SECONDS": max(1, int(env.get("WORKER_HEARTBEAT_SECONDS", "30"))),
        # A full recompute of many trials is split into this many jobs (one per worker).
        "RECOMPUTE_PARTS": int(env.get("RECOMPUTE_PARTS", "4")),
        # Notifications (issue 20): reminder days before a due date (0 = on the day), how many
        # missed days one run catches up, and the London hour the daily digests go.
        "NOTIFY_MILESTONES": env.get("NOTIFY_MILESTONES", "90,30,7,0"),
        "NOTIFY_CATCH_UP_DAYS": int(env.get("NOTIFY_CATCH_UP_DAYS", "7") or "7"),
        "NOTIFY_HOUR": int(env.get("NOTIFY_HOUR", "7") or "7"),
        # The digests are built by this many processes (on PostgreSQL) once at least
        # NOTIFY_SPLIT_FROM people have something to be sent; each takes a range of people.
        "NOTIFY_PROCESSES": max(1, int(env.get("NOTIFY_PROCESSES", "2") or "2")),
        "NOTIFY_SPLIT_FROM": int(env.get("NOTIFY_SPLIT_FROM", "5000") or "5000"),
        # Registry sync (issue 19): the registries' APIs, and how politely they are asked.
        "CTGOV_API_URL": env.get("CTGOV_API_URL") or "https://clinicaltrials.gov/api/v2",
        "ISRCTN_API_URL": env.get("ISRCTN_API_URL") or "https://www.isrctn.com/api",
        "REGISTRY_SYNC_RATE": float(env.get("REGISTRY_SYNC_RATE", "3")),  # requests a second
        "REGISTRY_SYNC_RETRIES": int(env.get("REGISTRY_SYNC_RETRIES", "5")),
        "REGISTRY_SYNC_BACKOFF": float(env.get("REGISTRY_SYNC_BACKOFF", "1")),  # seconds
        "REGISTRY_SYNC_CONNECT_TIMEOUT": float(env.get("REGISTRY_SYNC_CONNECT_TIMEOUT", "10")),
        "REGISTRY_SYNC_READ_TIMEOUT": float(env.get("REGISTRY_SYNC_READ_TIMEOUT", "60")),
        "REGISTRY_SYNC_PAGE_SIZE": int(env.get("REGISTRY_SYNC_PAGE_SIZE", "1000")),
        "REGISTRY_SYNC_LOCATION": env.get("REGISTRY_SYNC_LOCATION") or "United Kingdom",
        "REGISTRY_SYNC_USER_AGENT": env.get("REGISTRY_SYNC_USER_AGENT")
        or "TrialTransparencyPortal/0.1 (registry sync of the UK trial transparency portal)",
        # Requests one API token may make (Flask-Limiter notation), issue 21.
        "API_RATE_LIMIT": env.get("API_RATE_LIMIT", "120 per minute"),
        # Passwords each server process checks at once (scrypt); more sign-ins at that moment
        # are answered "busy, try again" (503, Retry-After) rather than stalling other pages.
        "LOGIN_HASH_SLOTS": int(env.get("LOGIN_HASH_SLOTS", "1") or "1"),
    }
    config.update(overrides)
    return config
