"""The portal's WSGI app with every request profiled (cProfile), for bench/load.py --profile.

Times are CPU time of the request's thread (time.thread_time), so waiting for the database,
the GIL or a lock does not count. Each gunicorn worker adds each request's profile to its own
running total and writes it to $BENCH_PROFILE_DIR/worker-<pid>.prof every 100 requests;
bench/load.py merges and prints them. Only requests after the warm-up are profiled (the bench
creates $BENCH_PROFILE_DIR/on when its steady phase starts).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import threading
import time

from wsgi import app as portal_app

OUT = os.environ["BENCH_PROFILE_DIR"]
_lock = threading.Lock()
_total: pstats.Stats | None = None
_count = 0


def app(environ, start_response):
    global _total, _count
    if not os.path.exists(os.path.join(OUT, "on")):  # warm-up (first compiles) left out
        return portal_app(environ, start_response)
    profile = cProfile.Profile(time.thread_time)  # CPU time of this thread, not waits
    profile.enable()
    try:
        # The body is read inside the profile: Flask renders before returning an iterable.
        return list(portal_app(environ, start_response))
    finally:
        profile.disable()
        with _lock:
            if _total is None:
                _total = pstats.Stats(profile)
            else:
                _total.add(profile)
            _count += 1
            if _count % 100 == 0:
                _total.dump_stats(os.path.join(OUT, f"worker-{os.getpid()}.prof"))
