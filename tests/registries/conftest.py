"""Fixtures for the registry-reader tests.

``samples`` (tests/conftest.py) is the project's own copy of real registry records,
tests/data/registry-samples; ``corpus`` is the larger developer set beside the repository,
read only by tests marked ``corpus`` (``make test-corpus``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.registries import Rejected, TrialRecord, iter_records


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


def _reader(root: Path):
    cache: dict[str, Read] = {}

    def _read(relative: str) -> Read:
        if relative not in cache:
            cache[relative] = Read(root / relative)
        return cache[relative]

    return _read


@pytest.fixture(scope="session")
def read(samples):
    """read("ctgov-v2-json") -> Read over the project's samples, cached for the session."""
    return _reader(samples)


@pytest.fixture(scope="session")
def corpus_read(corpus):
    """The same over the developer corpus (``corpus`` tests)."""
    return _reader(corpus)
