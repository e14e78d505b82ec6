"""make test's second pass (on PostgreSQL) runs only the tests that reach the database."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def collected(*args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line for line in out.splitlines() if "::" in line}


# One module of each kind (collecting the whole suite twice would take half a minute).
MODULES = [
    "tests/test_migrations.py",
    "tests/imports/test_import_cli.py",
    "tests/trials/test_dashboard.py",
    "tests/rules/test_worked_examples.py",
    "tests/registries/test_registries_reading.py",
    "tests/test_run_local.py",
]


def test_the_database_pass_keeps_every_test_that_reaches_a_database_and_drops_pure_ones():
    every = collected(*MODULES)
    database = collected("--database-only", *MODULES)
    assert database < every
    dropped = every - database
    # Through the app fixture (the migrated database), through a module that makes its own
    # PostgreSQL database, and through one that reads TEST_DATABASE_URL itself: all kept.
    assert "tests/test_migrations.py::test_upgrade_from_empty_and_downgrade_to_empty" in database
    assert any(n.startswith("tests/imports/test_import_cli.py::") for n in database)
    assert any(n.startswith("tests/trials/test_dashboard.py::") for n in database)
    assert not any(n.startswith("tests/trials/test_dashboard.py::") for n in dropped)
    # Pure rule tests, registry parsing and the local runner (its own SQLite) run once.
    assert any(n.startswith("tests/rules/test_worked_examples.py::") for n in dropped)
    assert any(n.startswith("tests/registries/test_registries_reading.py::") for n in dropped)
    assert any(n.startswith("tests/test_run_local.py::") for n in dropped)
    assert not any(n.startswith("tests/rules/test_worked_examples.py::") for n in database)
