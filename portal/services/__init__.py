"""Use cases that change state. Each owns its transaction and writes the audit entry.

Views call these functions and never commit themselves. A service may call another service:
only the outermost call commits (or rolls back), so one user action is one transaction.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from portal.extensions import db

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_depth: contextvars.ContextVar[int] = contextvars.ContextVar("service_depth", default=0)
_after_commit: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "after_commit", default=None
)


class ServiceError(Exception):
    """A refusal a person can act on; ``field`` names the form field it belongs to, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AlreadyDone(ServiceError):
    """A repeated decision (approving what is already approved...): nothing was changed,
    recorded or sent. Views show the message as information, not as an error."""


def transactional(fn: Callable[P, R]) -> Callable[P, R]:
    """Commit when the outermost service call returns; roll back everything if it raises."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        depth = _depth.get()
        token = _depth.set(depth + 1)
        callbacks_token = None
        if depth == 0:
            callbacks_token = _after_commit.set([])
        try:
            result = fn(*args, **kwargs)
            if depth == 0:
                db.session.commit()
                for callback in _after_commit.get() or []:
                    try:
                        callback()
                    except Exception:  # an after-commit side effect must not undo the commit
                        log.exception("after-commit callback failed")
            return result
        except BaseException:
            if depth == 0:
                db.session.rollback()
            raise
        finally:
            _depth.reset(token)
            if callbacks_token is not None:
                _after_commit.reset(callbacks_token)

    return wrapper


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current service transaction has committed."""
    callbacks = _after_commit.get()
    if callbacks is None:
        raise RuntimeError("after_commit() used outside a @transactional service")
    callbacks.append(callback)
