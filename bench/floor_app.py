"""The bare-Flask floor for bench/load.py: one route answering a fixed 30 KB HTML page.

    gunicorn --workers 2 --threads 8 bench.floor_app:app

Served under the same gunicorn settings and hit by the same client as the portal, it shows what
the machine, gunicorn and the client cost on their own; the portal's figures are read against it.
"""

from __future__ import annotations

from flask import Flask

PAGE = (
    "<!DOCTYPE html><html lang='en'><head><title>Floor</title></head><body>"
    + "<p>A fixed paragraph of text for the floor page, about one hundred bytes long.</p>\n" * 375
    + "</body></html>"
)

app = Flask(__name__)


@app.get("/")
def page() -> str:
    return PAGE


@app.get("/healthz")
def healthz() -> str:
    return "ok"
