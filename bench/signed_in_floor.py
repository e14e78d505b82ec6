"""The signed-in floor for bench/load.py: the portal itself, with one extra route that answers
bench/floor_app.py's fixed 30 KB page behind the portal's own signed-in policy.

    gunicorn --workers 2 --threads 8 bench.signed_in_floor:app

Every request to it does what every signed-in portal page does before its own work (the session
cookie, the live-session and user query, the CSRF and rate-limit hooks, the security headers)
and nothing else, so its CPU per request is the least any signed-in page could cost on this
stack, even one served whole from a cache. The route exists in this process only: the portal's
own app has no such page.
"""

from __future__ import annotations

from flask import Response

from bench.floor_app import PAGE
from portal import access
from wsgi import app

PATH = "/bench/signed-in-floor"


@access.signed_in
def signed_in_floor() -> Response:
    return Response(PAGE, mimetype="text/html")


app.add_url_rule(PATH, "bench_signed_in_floor", signed_in_floor)
