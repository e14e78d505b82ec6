"""Running the portal's command-line tools from tests."""

from __future__ import annotations

from portal.extensions import db


def run_sweep(app) -> str:
    """``flask jobs sweep`` against the test database (what is pending is committed first);
    returns what it printed."""
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "sweep"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result.output
