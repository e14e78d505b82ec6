"""Migrations: one head, sequential names, upgrade from empty and downgrade to empty."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from portal import create_app
from tests.conftest import ROOT, make_env, private_postgres_database

VERSIONS = ROOT / "migrations" / "versions"


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config)


def test_there_is_a_single_head():
    assert len(_scripts().get_heads()) == 1


def test_migrations_are_named_in_sequence():
    names = sorted(p.name for p in VERSIONS.glob("*.py"))
    for number, name in enumerate(names, start=1):
        assert re.match(rf"^{number:04d}_[a-z0-9_]+\.py$", name), name
    for script in _scripts().walk_revisions():
        assert re.fullmatch(r"\d{4}", script.revision)


@contextmanager
def scratch_database(tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend under test (a throwaway one on PostgreSQL)."""
    pg = os.environ.get("TEST_DATABASE_URL")
    if not pg:
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    with private_postgres_database(pg, f"ttp_scratch_{os.getpid()}") as url:
        yield url


def test_upgrade_from_empty_and_downgrade_to_empty(tmp_path: Path, redis_url: str):
    with scratch_database(tmp_path) as url:
        app = create_app(env=make_env(url, redis_url, tmp_path))
        with app.app_context():
            from portal.extensions import db

            upgrade()
            tables = set(sa.inspect(db.engine).get_table_names())
            assert {"users", "organisations", "audit_events", "outbox_emails"} <= tables
            downgrade(revision="base")
            assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()  # and up again: the downgrade left nothing behind that blocks it
            db.session.remove()
            db.engine.dispose()
