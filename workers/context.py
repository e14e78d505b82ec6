"""Give each job an app context, created lazily once per worker process (never at import)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context

P = ParamSpec("P")
R = TypeVar("R")

_app: Flask | None = None


def _worker_app() -> Flask:
    global _app
    if _app is None:
        from portal import create_app

        _app = create_app()
    return _app


def _fresh_connections(app: Flask) -> None:
    """A forked work-horse must not reuse its parent's database connections."""
    from portal.extensions import db

    pid = os.getpid()
    if app.extensions.get("portal_pid") != pid:
        db.engine.dispose(close=False)
        app.extensions["portal_pid"] = pid


def job(fn: Callable[P, R]) -> Callable[P, R]:
    """Run the job function inside the worker's app context with its own DB connections."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if has_app_context():
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            _fresh_connections(app)
            return fn(*args, **kwargs)
        app = _worker_app()
        with app.app_context():
            _fresh_connections(app)
            return fn(*args, **kwargs)

    return wrapper
