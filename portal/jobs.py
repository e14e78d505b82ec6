"""The one way to put work on a queue: explicit connection, named queues, timeout and retries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue, Retry
from rq.job import Job

log = logging.getLogger(__name__)

QUEUE_DEFAULT = "default"
QUEUE_MAIL = "mail"
QUEUE_IMPORT = "import"
QUEUE_PDF = "pdf"
ALL_QUEUES = (QUEUE_PDF, QUEUE_IMPORT, QUEUE_MAIL, QUEUE_DEFAULT)  # order = priority

DEFAULT_RETRY = Retry(max=3, interval=[10, 30, 60])


def redis_from_url(url: str) -> Redis:
    """A Redis client for ``redis://``, ``rediss://`` or ``unix://`` URLs."""
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)


def redis_connection() -> Redis:
    """The app's Redis client (one per process)."""
    client = current_app.extensions.get("portal_redis")
    if client is None:
        url = current_app.config["REDIS_URL"]
        if not url:
            raise RuntimeError("REDIS_URL is not set; start the portal with `make run`")
        client = redis_from_url(url)
        current_app.extensions["portal_redis"] = client
    return client


def queue(name: str) -> Queue:
    return Queue(name, connection=redis_connection())


def enqueue(
    func: Callable[..., Any],
    *args: Any,
    queue_name: str = QUEUE_DEFAULT,
    job_id: str | None = None,
    timeout: int | None = None,
    retry: Retry | None = DEFAULT_RETRY,
) -> Job:
    """Enqueue a job function object (never a string name) with ids as arguments."""
    return queue(queue_name).enqueue(
        func,
        *args,
        job_id=job_id,
        job_timeout=timeout or current_app.config["JOB_TIMEOUT_SECONDS"],
        retry=retry,
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
    )


def try_enqueue(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Job | None:
    """Enqueue, or log and return None when Redis is unreachable (a sweeper retries later)."""
    try:
        return enqueue(func, *args, **kwargs)
    except Exception as exc:  # redis.ConnectionError, TimeoutError, ...
        log.warning("could not enqueue %s: %s", getattr(func, "__name__", func), exc)
        return None
