"""Fixtures for the registry-reader tests.

The real registry samples live outside the repository: $REGISTRY_SAMPLES, default
``<repo root>/../shared/data/registry-samples`` (CI clones the repo with shared/ beside
it). Missing samples FAIL the tests (they are not optional).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portal.registries import Rejected, TrialRecord, iter_records

REPO_ROOT = Path(__file__).resolve().parents[2]


def samples_root() -> Path:
    return Path(
        os.environ.get("REGISTRY_SAMPLES") or REPO_ROOT.parent / "shared/data/registry-samples"
    )


@pytest.fixture(scope="session")
def samples() -> Path:
    root = samples_root()
    if not (root / "SOURCES.md").is_file():
        pytest.fail(
            f"registry samples not found at {root} (set REGISTRY_SAMPLES or put shared/ "
            "beside the repository)",
            pytrace=False,
        )
    return root


class Read:
    """Everything read from one sample path, split into records and rejections."""

    def __init__(self, path: Path):
        self.path = path
        self.items = list(iter_records([path]))
        self.records = [r for r in self.items if isinstance(r, TrialRecord)]
        self.rejected = [r for r in self.items if isinstance(r, Rejected)]

    def by_id(self, registry_id: str) -> TrialRecord:
        found = [r for r in self.records if r.entry.registry_id == registry_id]
        assert found, f"{registry_id} not read from {self.path}"
        return found[0]

    def uk(self) -> int:
        return sum(1 for r in self.records if r.uk_site)


@pytest.fixture(scope="session")
def read(samples):
    """read("ctgov-v2-json") -> Read, cached for the session."""
    cache: dict[str, Read] = {}

    def _read(relative: str) -> Read:
        if relative not in cache:
            cache[relative] = Read(samples / relative)
        return cache[relative]

    return _read
