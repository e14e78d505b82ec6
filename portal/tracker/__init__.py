"""The public UK transparency tracker (issue 21): league table, sponsor and trial pages, the
day's changes, downloads, the method page, and sponsors' responses with their review."""

from flask import Blueprint

bp = Blueprint("tracker", __name__)

from portal.tracker import downloads, responses, views  # noqa: E402,F401
