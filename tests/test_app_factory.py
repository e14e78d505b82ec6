"""The app factory, configuration errors, security headers and /healthz."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis
from rq import Worker

from portal import create_app
from portal.config import ConfigError, load_config, normalise_database_url


def test_production_without_secret_key_refuses_to_start_with_a_clear_message(tmp_path: Path):
    env = {"PORTAL_ENV": "production", "DATABASE_URL": "sqlite://", "REDIS_URL": "redis://x"}
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app(env=env)


def test_production_without_database_url_refuses_to_start(tmp_path: Path):
    env = {"PORTAL_ENV": "production", "SECRET_KEY": "s" * 40, "REDIS_URL": "redis://x"}
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        load_config(env)


def test_unknown_environment_name_is_refused():
    with pytest.raises(ConfigError, match="PORTAL_ENV must be"):
        load_config({"PORTAL_ENV": "staging"})


def test_local_run_generates_its_secret_once_and_keeps_it(tmp_path: Path):
    env = {"INSTANCE_PATH": str(tmp_path)}
    first = load_config(env)["SECRET_KEY"]
    second = load_config(env)["SECRET_KEY"]
    assert first == second and len(first) >= 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_local_run_defaults_to_sqlite_in_instance(tmp_path: Path):
    config = load_config({"INSTANCE_PATH": str(tmp_path)})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'portal.db'}"
    assert config["SESSION_COOKIE_SECURE"] is False


def test_production_cookies_are_secure_and_hsts_is_sent():
    config = load_config(
        {
            "PORTAL_ENV": "production",
            "SECRET_KEY": "k" * 40,
            "DATABASE_URL": "sqlite://",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
    )
    assert config["SESSION_COOKIE_SECURE"] and config["HSTS"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_postgres_urls_use_the_psycopg3_driver():
    assert normalise_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"


def test_postgresql_connections_do_not_compile_queries_just_in_time(app):
    """Issue 22: JIT compilation cost the dashboard's queries more than running them."""
    pg = {"INSTANCE_PATH": "/nowhere", "SECRET_KEY": "k" * 40}
    for url in ("postgresql://u@h/d", "postgres://u@h/d", "postgresql+psycopg://u@h/d"):
        options = load_config({**pg, "DATABASE_URL": url})["SQLALCHEMY_ENGINE_OPTIONS"]
        assert options["connect_args"] == {"options": "-c jit=off"}, url
    on = load_config({**pg, "DATABASE_URL": "postgresql://u@h/d", "DATABASE_JIT": "on"})
    assert "connect_args" not in on["SQLALCHEMY_ENGINE_OPTIONS"]
    sqlite = load_config({**pg, "DATABASE_URL": "sqlite://"})
    assert "connect_args" not in sqlite["SQLALCHEMY_ENGINE_OPTIONS"]
    # And on the database the suite runs against, when it is PostgreSQL: the setting holds.
    from sqlalchemy import text

    from portal.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            assert db.session.execute(text("SHOW jit")).scalar_one() == "off"
    assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"


def test_pages_carry_security_headers_and_a_csp_without_unsafe_inline(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.get_data(as_text=True)


def test_home_page_shows_the_service_name_in_govuk_style(client):
    html = client.get("/").get_data(as_text=True)
    assert "Trial Transparency Portal" in html
    assert "govuk-frontend.min.css" in html
    assert "<title>Home – Trial Transparency Portal</title>" in html


def test_govuk_assets_are_served(client):
    for url in ("/static/govuk/govuk-frontend.min.css", "/assets/images/favicon.svg"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.get_data()) > 100
        response.close()


def test_unknown_page_is_a_styled_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_healthz_is_503_when_no_worker_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is False


def test_healthz_is_200_with_database_redis_and_a_live_worker(app, client, redis_url):
    worker = Worker(["default"], connection=Redis.from_url(redis_url))
    worker.register_birth()
    worker.heartbeat()
    try:
        response = client.get("/healthz")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["checks"]["worker"]["workers"] == 1
    finally:
        worker.register_death()


def test_healthz_reports_redis_down_as_503(migrated_database, tmp_path):
    from tests.conftest import make_env

    url = migrated_database if "://" in migrated_database else f"sqlite:///{migrated_database}"
    broken = create_app(env=make_env(url, "redis://127.0.0.1:1/0", tmp_path))
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"]["ok"] is False
    with broken.app_context():
        from portal.extensions import db

        db.engine.dispose()


def test_production_sends_hsts_and_secure_cookies(migrated_database, tmp_path):
    from tests.conftest import make_env

    url = migrated_database if "://" in migrated_database else f"sqlite:///{migrated_database}"
    env = make_env(url, "redis://127.0.0.1:1/0", tmp_path, PORTAL_ENV="production")
    app = create_app(env=env)
    response = app.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert (
        "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    )
    with app.app_context():
        from portal.extensions import db

        db.engine.dispose()


def test_local_runs_send_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/").headers
