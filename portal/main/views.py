"""Home page per role, /healthz, and serving the built GOV.UK Frontend assets."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app, jsonify, render_template, send_from_directory
from flask_login import current_user
from rq import Worker

from portal import access
from portal.extensions import csrf, db
from portal.jobs import redis_connection
from portal.main import bp, worklists
from portal.main.worklists import worker_stale_after
from portal.plain import STATUS_LABELS
from portal.timeutil import today, utcnow


@bp.route("/")
@access.public
def home():
    """Each role's work list: what to do next, most urgent first (issue 18)."""
    work: dict[str, Any] | None = None
    kind = None
    if current_user.is_authenticated and current_user.email_confirmed and current_user.role:
        as_of = today()
        role = current_user.role
        if role == "admin":
            kind, work = "admin", worklists.admin(current_user)
        elif role == "reviewer":
            kind, work = "reviewer", worklists.reviewer(current_user)
        elif current_user.organisation is not None and current_user.organisation.approved:
            if role == "compliance_officer":
                kind, work = "officer", worklists.officer(current_user, as_of)
            else:
                kind, work = "sponsor", worklists.sponsor(current_user, as_of)
    offers = []
    if kind in ("sponsor", "officer"):  # new trials under a watched sponsor name (issue 19)
        from portal.services.registry_sync import offered_trials

        offers = offered_trials(current_user.organisation.id)
    return render_template(
        "main/home.html",
        offers=offers,
        user=current_user,
        kind=kind,
        work=work,
        labels=STATUS_LABELS,
        due_within=worklists.DUE_WITHIN_DAYS,
    )


@bp.route("/assets/<path:filename>")
@access.public
def assets(filename: str):
    """GOV.UK Frontend fonts and images, built into static/govuk by `make assets`."""
    folder = Path(current_app.static_folder or "") / "govuk" / "assets"
    return send_from_directory(folder, filename, max_age=7 * 24 * 3600)


@bp.route("/healthz")
@access.public
@csrf.exempt
def healthz():
    """Database, Redis and worker heartbeat as JSON: 200 when all are well, else 503."""
    checks: dict[str, dict[str, object]] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:
        db.session.rollback()
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        conn = redis_connection()
        conn.ping()
        checks["redis"] = {"ok": True}
        now = utcnow()
        beats = []
        # A worker killed outright (SIGKILL, the OOM killer) stays registered until its key
        # expires: only a recent heartbeat counts.
        for worker in Worker.all(connection=conn):
            beat = worker.last_heartbeat
            if beat is not None:
                if beat.tzinfo is None:
                    beat = beat.replace(tzinfo=UTC)
                beats.append((now - beat).total_seconds())
        stale_after = worker_stale_after()
        fresh = [age for age in beats if age <= stale_after]
        checks["worker"] = {
            "ok": bool(fresh),
            "workers": len(fresh),
            "last_heartbeat_seconds_ago": round(min(beats), 1) if beats else None,
            "dead_after_seconds": stale_after,
        }
    except Exception as exc:
        checks["redis"] = {"ok": False, "error": type(exc).__name__}
        checks["worker"] = {"ok": False, "error": "Redis unreachable"}
    healthy = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if healthy else "unhealthy", "checks": checks}
    return jsonify(body), 200 if healthy else 503
