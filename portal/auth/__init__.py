"""Sign-up, confirmation, sign-in, password reset, organisations and invitations."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import api_tokens, views, watch_views  # noqa: E402,F401
