"""Fixtures: a migrated database (SQLite, or PostgreSQL when TEST_DATABASE_URL is set),
a real Redis (TEST_REDIS_URL, else an embedded redis-server), the app, a client and helpers."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from portal import create_app
from portal.redis_embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-not-for-production"
# The registry records the suite runs on: MIT-licensed public records carried by the project
# (tests/data/registry-samples/SOURCES.md says where each comes from).
SAMPLES = ROOT / "tests" / "data" / "registry-samples"
# Small exports written for the tests, in formats whose real samples the project cannot carry.
SYNTHETIC = ROOT / "tests" / "data" / "synthetic"


def corpus_root() -> Path:
    """The larger developer corpus outside the repository, read only by ``corpus`` tests:
    $REGISTRY_SAMPLES, else ``<repo>/../shared/data/registry-samples``."""
    configured = os.environ.get("REGISTRY_SAMPLES")
    return Path(configured) if configured else ROOT.parent / "shared/data/registry-samples"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database-only",
        action="store_true",
        help="run only the tests that reach the database: make test's second pass, on "
        "PostgreSQL, after a first pass of every test on SQLite",
    )


# How a test reaches the database: the migrated_database fixture (app, client and every fixture
# built on them), or a module of its own that reads TEST_DATABASE_URL or makes a database.
_DATABASE_WORDS = (
    "migrated_database",
    "TEST_DATABASE_URL",
    "_postgres_url",
    "private_postgres_database",
)


def _reaches_database(item: pytest.Item, sources: dict[Path, str]) -> bool:
    if "migrated_database" in getattr(item, "fixturenames", ()):
        return True
    path = Path(str(item.path))
    if path not in sources:
        sources[path] = path.read_text(encoding="utf-8")
    return any(word in sources[path] for word in _DATABASE_WORDS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``corpus`` tests run only when ``-m`` names them (``make test-corpus``). With
    ``--database-only``, tests that never reach the database are left out: they ran in the
    first pass, and their result does not depend on which database the suite uses."""
    deselected = []
    if "corpus" not in (config.option.markexpr or ""):
        deselected = [item for item in items if item.get_closest_marker("corpus")]
    if config.getoption("database_only"):
        sources: dict[Path, str] = {}
        deselected += [
            item
            for item in items
            if item not in deselected and not _reaches_database(item, sources)
        ]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        dropped = set(map(id, deselected))
        items[:] = [item for item in items if id(item) not in dropped]


@pytest.fixture(scope="session")
def samples() -> Path:
    """The project's own registry records (always present in a clone)."""
    assert (SAMPLES / "SOURCES.md").is_file(), f"the project's samples are missing: {SAMPLES}"
    return SAMPLES


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The developer corpus (``corpus`` tests only). Asked for but missing is a failure: a
    run that selects ``-m corpus`` means to read it."""
    root = corpus_root()
    if not (root / "SOURCES.md").is_file():
        pytest.fail(
            f"registry corpus not found at {root} (set REGISTRY_SAMPLES or put shared/ "
            "beside the repository)",
            pytrace=False,
        )
    return root


def _postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def make_env(database_url: str, redis_url: str, instance: Path, **extra: str) -> dict[str, str]:
    return {
        "PORTAL_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(instance),
        "PUBLIC_URL": "http://localhost",
        **extra,
    }


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: the CI one (its own database number) or one we start on a socket."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


@contextmanager
def private_postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A database of our own on the TEST_DATABASE_URL server, so that concurrent runs
    (a developer's and CI's, or several helpers') never share tables. Dropped afterwards.
    TEST_DATABASE_PREFIX, if set, goes before the name (a shared server may ask for one)."""
    name = os.environ.get("TEST_DATABASE_PREFIX", "") + name
    from portal.config import normalise_database_url

    admin = sa.create_engine(normalise_database_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.make_url(normalise_database_url(server_url)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def migrate_to_head(database_url: str, redis_url: str, instance: Path) -> None:
    """Build the schema by running the migrations, as production does."""
    from flask_migrate import upgrade

    app = create_app(env=make_env(database_url, redis_url, instance))
    with app.app_context():
        upgrade()
        from portal.extensions import db

        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[str]:
    """A database at the head migration: a SQLite template file, or a PostgreSQL database."""
    instance = tmp_path_factory.mktemp("instance-template")
    pg = _postgres_url()
    if pg:
        with private_postgres_database(pg, f"ttp_test_{os.getpid()}") as url:
            migrate_to_head(url, redis_url, instance)
            yield url
        return
    template = instance / "template.db"
    migrate_to_head(f"sqlite:///{template}", redis_url, instance)
    yield str(template)


def _truncate_all(app: Flask) -> None:
    from portal.extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
            conn.execute(
                sa.text("INSERT INTO audit_chain_head (id, last_hash) VALUES (1, :h)"),
                {"h": "0" * 64},
            )
        db.engine.dispose()


@pytest.fixture
def app(migrated_database: str, redis_url: str, tmp_path: Path) -> Iterator[Flask]:
    """A fresh app on a clean migrated database and an empty Redis database."""
    instance = tmp_path / "instance"
    instance.mkdir()
    if _postgres_url():
        database_url = migrated_database
    else:
        copy = tmp_path / "portal.db"
        shutil.copyfile(migrated_database, copy)
        database_url = f"sqlite:///{copy}"
    application = create_app(env=make_env(database_url, redis_url, instance))
    Redis.from_url(redis_url).flushdb()
    with application.app_context():
        yield application
        from portal.extensions import db

        db.session.remove()
        db.engine.dispose()
    if _postgres_url():
        _truncate_all(application)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


class Browser:
    """Drives the test client like a person: get a page, fill its form (with its CSRF token)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, url: str, status: int = 200):
        response = self.client.get(url)
        assert response.status_code == status, (url, response.status_code)
        return response

    def submit(self, url: str, data: dict[str, object], *, follow: bool = False, **kwargs):
        """GET ``url`` for its CSRF token, then POST ``data`` to it."""
        page = self.client.get(url)
        token = csrf_token_from(page.get_data(as_text=True))
        return self.client.post(
            url, data={"csrf_token": token, **data}, follow_redirects=follow, **kwargs
        )

    def post(self, url: str, data: dict[str, object] | None = None, *, token_from: str = "/", **kw):
        """POST to an action URL with a token read from another page."""
        token = csrf_token_from(self.client.get(token_from).get_data(as_text=True))
        return self.client.post(url, data={"csrf_token": token, **(data or {})}, **kw)

    def login(self, email: str, password: str):
        response = self.submit("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        return response

    def logout(self):
        return self.post("/logout")


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture
def run_jobs(app: Flask):
    """Run every queued job in a real RQ worker (burst mode) against the real Redis."""
    from rq import Worker

    from portal.extensions import db
    from portal.jobs import ALL_QUEUES, redis_connection

    def run() -> None:
        db.session.commit()
        db.session.close()
        worker = Worker(list(ALL_QUEUES), connection=redis_connection())
        worker.work(burst=True)
        db.session.expire_all()

    return run
