"""schemathesis, every check, against the generated OpenAPI document of a real running portal
(demo data, real tokens made with ``flask tokens create``), as the outside check does.

Bounded: a few examples per operation and a fixed seed, about 20 s in all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from portal.demo import load_demo, load_demo_trials
from portal.extensions import db

pytestmark = pytest.mark.slow


def _token(app, *extra: str) -> str:
    result = app.test_cli_runner().invoke(
        args=["tokens", "create", "officer@demo-trust.example", "--name", "schemathesis", *extra]
    )
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def _schemathesis() -> str:
    found = Path(sys.executable).with_name("schemathesis")
    return str(found) if found.exists() else (shutil.which("schemathesis") or "schemathesis")


@pytest.fixture
def server(app):
    app.config["API_RATE_LIMIT"] = "100000 per minute"
    load_demo()
    load_demo_trials()
    db.session.commit()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


@pytest.mark.parametrize("permission", ["read-only", "request-certificates"])
def test_schemathesis_finds_nothing_with_every_check(app, server, permission, tmp_path):
    token = _token(app, *(["--request-certificates"] if permission != "read-only" else []))
    run = subprocess.run(  # noqa: S603
        [
            _schemathesis(),
            "run",
            f"{server}/api/v1/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "5",
            "--seed",
            "21",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # its .schemathesis cache stays out of the work tree
        env={**__import__("os").environ, "NO_COLOR": "1"},
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    assert "13 selected / 13 total" in out
