"""Browser journeys: the real app under gunicorn on loopback, a real RQ worker and Redis,
driven by Playwright in Debian's chromium. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, SECRET, _postgres_url, _truncate_all

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.env = env

    def python(self, code: str) -> str:
        """Run Python in an app context against the live server's database (test set-up)."""
        script = "from portal import create_app\napp = create_app()\nwith app.app_context():\n"
        script += "\n".join("    " + line for line in code.strip().splitlines())
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", script],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def flask(self, *args: str) -> str:
        """Run a `flask` command against the live server's database."""
        result = subprocess.run(  # noqa: S603
            [str(ROOT / ".venv" / "bin" / "flask"), "--app", "portal", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return result.stdout


@pytest.fixture
def live_server(migrated_database: str, redis_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """gunicorn (2 workers) and one RQ worker on a fresh database; stopped afterwards."""
    if _postgres_url():
        database_url = migrated_database
    else:
        copy = tmp_path / "live.db"
        shutil.copyfile(migrated_database, copy)
        database_url = f"sqlite:///{copy}"
    from redis import Redis

    Redis.from_url(redis_url).flushdb()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PORTAL_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "PUBLIC_URL": url,
        "LOGIN_RATE_LIMIT": "100 per minute",
    }
    bin_dir = ROOT / ".venv" / "bin"
    log = (tmp_path / "live-server.log").open("wb")
    web = subprocess.Popen(  # noqa: S603
        [
            str(bin_dir / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "60",
            "wsgi:app",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(  # noqa: S603
        [str(bin_dir / "flask"), "--app", "portal", "worker"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                    if json.load(response)["status"] == "ok":
                        break
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError("the live server did not become healthy") from None
                time.sleep(0.2)
        yield LiveServer(url, env)
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
        if _postgres_url():
            from portal import create_app
            from tests.conftest import make_env

            _truncate_all(create_app(env=make_env(database_url, redis_url, tmp_path)))


@pytest.fixture(scope="session")
def chromium_browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


NARROW = {"width": 390, "height": 844}
# The elements that stick out to the right at 390 px, to say what to fix.
WIDEST_ELEMENT = """(limit) => {
  const clipped = (e) => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return true;
    }
    return false;
  };
  return Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > limit && !clipped(e))
    .slice(-4)
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
}"""


class Journey:
    """A page in the browser plus helpers: screenshots and an axe-core check of every page."""

    def __init__(self, page, server: LiveServer, name: str) -> None:
        self.page = page
        self.server = server
        self.name = name
        self.step = 0
        self.violations: list[dict] = []
        self.checked: set[str] = set()
        self.too_wide: list[dict] = []

    def go(self, path: str) -> None:
        self.page.goto(self.server.url + path)
        self.check()

    def check(self, shot: str | None = None) -> None:
        """Accessibility check (axe-core, WCAG 2.2 AA) of the page, once per path; screenshot."""
        self.page.wait_for_load_state("load")
        path = self.page.url.split("?")[0].replace(self.server.url, "")
        if path not in self.checked:
            self.checked.add(path)
            self.page.evaluate(AXE.read_text())
            result = self.page.evaluate(
                "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
                "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"
            )
            for violation in result["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    self.violations.append(
                        {
                            "page": path,
                            "id": violation["id"],
                            "help": violation["help"],
                            "nodes": [n["html"][:200] for n in violation["nodes"][:3]],
                        }
                    )
            self.check_narrow(path)
        if shot:
            self.screenshot(shot)

    def check_narrow(self, path: str) -> None:
        """At 390×844 (a phone) the page must not scroll sideways; a screenshot of it is kept."""
        size = self.page.viewport_size
        self.page.set_viewport_size(NARROW)
        try:
            width = self.page.evaluate(
                "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            )
            if width > NARROW["width"]:
                widest = self.page.evaluate(WIDEST_ELEMENT, NARROW["width"])
                self.too_wide.append({"page": path, "width": width, "widest": widest})
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = path.strip("/").replace("/", "_") or "home"
            self.page.screenshot(
                path=str(ARTIFACTS / f"{self.name}-390-{name}.png"), full_page=True
            )
        finally:
            self.page.set_viewport_size(size)

    def screenshot(self, label: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.step += 1
        self.page.screenshot(
            path=str(ARTIFACTS / f"{self.name}-{self.step:02d}-{label}.png"), full_page=True
        )

    def fill(self, label: str, value: str) -> None:
        self.page.get_by_label(label, exact=True).fill(value)

    def click(self, name: str) -> None:
        self.page.get_by_role("button", name=name).first.click()
        self.check()

    def link(self, name: str) -> None:
        self.page.get_by_role("link", name=name).first.click()
        self.check()

    def login(self, email: str, password: str) -> None:
        self.go("/login")
        self.fill("Email address", email)
        self.fill("Password", password)
        self.click("Sign in")

    def logout(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()

    def text(self) -> str:
        return self.page.inner_text("main")


@pytest.fixture
def journey(request, chromium_browser, live_server) -> Iterator[Journey]:
    context = chromium_browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    j = Journey(page, live_server, request.node.name.removeprefix("test_"))
    yield j
    context.close()
    assert j.violations == [], json.dumps(j.violations, indent=2)
    assert j.too_wide == [], json.dumps(j.too_wide, indent=2)  # sideways scroll at 390 px
    csp = [e for e in errors if "Content Security Policy" in e]
    assert csp == [], csp


def outbox_link(server: LiveServer, to: str) -> str:
    """The path of the newest link emailed to ``to`` (read from the outbox table)."""
    out = server.python(
        f"""
import re
import sqlalchemy as sa
from portal.extensions import db
from portal.models import OutboxEmail
query = sa.select(OutboxEmail).where(OutboxEmail.to == {to!r}).order_by(OutboxEmail.id.desc())
message = db.session.execute(query).scalars().first()
print(re.search(r"(http\\S+)", message.body_text).group(1))
"""
    )
    return out.strip().replace(server.url, "")
