"""The Trial Transparency Portal: create_app() builds the Flask app from named steps."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, g, render_template
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader

from portal.config import ConfigError, load_config

__all__ = ["ConfigError", "create_app"]

SERVICE_NAME = "Trial Transparency Portal"


def create_app(config: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Flask:
    """Build the app: configuration from ``env`` (default os.environ), ``config`` on top."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(load_config(env, **(config or {})))
    register_logging(app)
    register_templating(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_commands(app)
    return app


def register_logging(app: Flask) -> None:
    if not app.debug and not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    for noisy in ("alembic.runtime.plugins", "weasyprint", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def register_templating(app: Flask) -> None:
    from portal.templating import PortalEnvironment, install_widget_cache

    app.jinja_environment = PortalEnvironment  # before app.jinja_env is first built
    install_widget_cache()
    app.jinja_loader = ChoiceLoader(
        [
            PackageLoader("portal"),
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    from portal.models.accounts import ROLE_LABELS
    from portal.navigation import extra_navigation

    app.add_template_global(extra_navigation)
    from portal.templating import CSRF_PLACEHOLDER, govuk_component

    app.add_template_global(govuk_component)
    app.add_template_global(CSRF_PLACEHOLDER, "csrf_placeholder")

    from portal import plain

    plain.register(app)

    @app.context_processor
    def globals_for_templates() -> dict[str, Any]:
        return {
            "service_name": SERVICE_NAME,
            # setdefault: a page rendered by an error handler for an error raised before the
            # nonce's before_request ran (a 413 while CSRFProtect reads the form) still has one.
            "cspNonce": g.setdefault("csp_nonce", secrets.token_urlsafe(16)),
            "role_labels": ROLE_LABELS,
        }


def _limiter_storage(redis_url: str) -> str:
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def register_extensions(app: Flask) -> None:
    from portal.extensions import csrf, db, limiter, login_manager, migrate, wtf_helpers

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True)
    csrf.init_app(app)
    wtf_helpers.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", _limiter_storage(app.config["REDIS_URL"]))
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)

    @app.after_request  # registered before the limiter's, so it runs after it (reverse order)
    def busy_retry_after(response):
        # A "busy, try again" answer keeps its own Retry-After, not the rate-limit window's.
        if g.get("busy_retry_after"):
            response.headers["Retry-After"] = str(g.busy_retry_after)
        return response

    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see this page."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(user_id: str):
        # Only a live server-side session signs anyone in: signing out, a password reset, an
        # email change, removal from an organisation and "sign out everywhere" end them.
        from flask import session

        from portal.services.accounts import SESSION_KEY, session_user

        return session_user(user_id, session.get(SESSION_KEY))

    if app.config["TRUSTED_PROXIES"] > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    import portal.models  # noqa: F401  (register every model with the metadata)


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def register_blueprints(app: Flask) -> None:
    import portal.trials.facts_views  # noqa: F401 (the facts pages, on the trials blueprint)
    from portal.admin import bp as admin_bp
    from portal.auth import bp as auth_bp
    from portal.main import bp as main_bp
    from portal.review import bp as review_bp
    from portal.trials.views import bp as trials_bp

    for blueprint in (main_bp, auth_bp, review_bp, admin_bp, trials_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(__import__("portal.obligations", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("portal.certificates", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("portal.summaries.views", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("portal.audit_log.views", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("portal.imports", fromlist=["bp"]).bp)
    app.register_blueprint(__import__("portal.notifications", fromlist=["bp"]).bp)
    __import__("portal.api", fromlist=["init_app"]).init_app(app)  # /api/v1 (issue 21)
    # The public transparency tracker (issue 21).
    app.register_blueprint(__import__("portal.tracker", fromlist=["bp"]).bp)


def register_errorhandlers(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    def render(status: int, title: str, message: str, error=None):
        from flask import request

        if request.path.startswith("/api/"):  # the API answers in problem+json (issue 21)
            from portal.api.problems import from_exception, problem

            return from_exception(error) if error is not None else problem(status)
        return render_template("errors/error.html", title=title, message=message), status

    @app.errorhandler(403)
    def forbidden(_error):
        return render(
            403,
            "You do not have access to this page",
            "Ask your organisation's administrator if you think you should.",
        )

    @app.errorhandler(404)
    def not_found(_error):
        return render(404, "Page not found", "If you typed the web address, check it is correct.")

    @app.errorhandler(405)
    def not_allowed(_error):
        return render(
            405,
            "That action is not available here",
            "Go back and try again from the page.",
            error=_error,
        )

    @app.errorhandler(413)
    def too_large(_error):
        return render(
            413, "The file is too large", "Upload a file smaller than 10 MB. Nothing was saved."
        )

    @app.errorhandler(429)
    def too_many(_error):
        return render(429, "Too many attempts", "Wait a minute, then try again.")

    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return render(
            400,
            "Your form has expired",
            "Go back, reload the page and submit the form again. Nothing was saved.",
        )

    @app.errorhandler(500)
    def server_error(_error):
        from portal.extensions import db

        db.session.rollback()
        return render(
            500,
            "Sorry, there is a problem with the service",
            "Try again later. Nothing you submitted was half-saved.",
        )


def register_security_headers(app: Flask) -> None:
    @app.before_request
    def make_nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def headers(response):
        nonce = g.setdefault("csp_nonce", secrets.token_urlsafe(16))
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config["HSTS"]:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response


def register_commands(app: Flask) -> None:
    from portal.cli import register

    register(app)
