"""The registry stand-in (a real HTTP server in a thread) and an app pointed at it, with short
timeouts and backoff so the faults cost little time."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.registry_sync.standin import (
    StandIn,
    isrctn_full_trial,
    load_ctgov_samples,
    load_isrctn_samples,
)


@pytest.fixture
def standin(samples) -> Iterator[StandIn]:
    server = StandIn()
    server.set_studies(load_ctgov_samples(samples))
    server.isrctn = [
        (
            str(raw["isrctn"]),
            f"2024-0{1 + i % 9}-15",
            isrctn_full_trial(raw, f"2024-0{1 + i % 9}-15", "Example Sponsor NHS Trust"),
        )
        for i, raw in enumerate(load_isrctn_samples(samples))
    ]
    server.isrctn.sort(key=lambda t: t[1])
    yield server
    server.close()


@pytest.fixture
def sync_app(app, standin):
    app.config.update(
        CTGOV_API_URL=standin.url,
        ISRCTN_API_URL=standin.isrctn_url,
        REGISTRY_SYNC_BACKOFF=0.05,
        REGISTRY_SYNC_RATE=200,
        REGISTRY_SYNC_READ_TIMEOUT=0.5,
        REGISTRY_SYNC_CONNECT_TIMEOUT=0.5,
        REGISTRY_SYNC_PAGE_SIZE=4,
    )
    return app


def run_sync(app, tmp_path, *args: str):
    """``flask registries sync ARGS --report FILE``: (result, report or None)."""
    report = tmp_path / "report.json"
    if report.exists():
        report.unlink()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["registries", "sync", *args, "--report", str(report)])
    data = json.loads(report.read_text()) if report.exists() else None
    return result, data
