"""The system packages (issue 23): `scripts/system_deps.sh runtime --report` compares what the
running portal needs on this machine (a real render's libraries and font, the tools `make run`
calls) with what `make run` installs, and fails when they differ; without root it prints the
exact command to run and stops."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "system_deps.sh"
LIST = ROOT / "scripts" / "system-packages.txt"


def system_deps(*args: str, packages: Path | None = None, **kwargs) -> tuple[int, str]:
    env = {**os.environ, **({"SYSTEM_PACKAGES_FILE": str(packages)} if packages else {})}
    result = subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )
    return result.returncode, result.stdout + result.stderr


def edited_list(tmp_path: Path, edit) -> Path:
    lines = [edit(line) for line in LIST.read_text().splitlines()]
    path = tmp_path / "system-packages.txt"
    path.write_text("\n".join(line for line in lines if line is not None) + "\n")
    return path


@pytest.fixture(autouse=True)
def debian():
    if not shutil.which("dpkg-query"):
        pytest.fail("the report needs Debian's dpkg-query: CI runs on Debian")


def test_the_report_finds_that_make_run_installs_what_the_portal_needs():
    code, out = system_deps("runtime", "--report")
    assert code == 0, out
    needed = out.split("What `make run` installs")[0]
    for package in ("libpango-1.0-0", "libharfbuzz-subset0", "fonts-dejavu-core"):
        assert package in needed
    assert "poppler-utils" not in out and "chromium" not in out  # test-only
    assert "They agree" in out


def test_the_report_fails_when_make_run_would_miss_a_library_the_render_loads(tmp_path):
    packages = edited_list(
        tmp_path, lambda line: None if line.startswith("libharfbuzz-subset0") else line
    )
    code, out = system_deps("runtime", "--report", packages=packages)
    assert code == 1
    assert "needed but not installed by `make run`: libharfbuzz-subset0" in out


def test_the_report_fails_when_make_run_would_install_a_test_only_package(tmp_path):
    packages = edited_list(tmp_path, lambda line: line.replace(" test ", " runtime ", 1))
    code, out = system_deps("runtime", "--report", packages=packages)
    assert code == 1
    assert "installed by `make run` but not needed: chromium" in out
    assert "installed by `make run` but not needed: poppler-utils" in out


def test_without_root_it_prints_the_exact_command_and_stops():
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.fail("this test drops root with setpriv (util-linux)")
        as_a_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    elif (
        shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], check=False).returncode == 0
    ):
        pytest.skip("this user has passwordless sudo: the script would install, not print")
    else:
        as_a_user = []
    folder = Path(tempfile.mkdtemp(prefix="ttp-system-deps-"))  # readable by nobody
    folder.chmod(0o755)
    packages = folder / "system-packages.txt"
    packages.write_text(
        "fonts-dejavu-core  runtime  file:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf  font\n"
        "ttp-missing-one    runtime  cmd:ttp-no-such-command   the first test need\n"
        "ttp-missing-two    runtime  lib:libttp-no-such.so.0   the second test need\n"
        "ttp-test-only      test     cmd:ttp-no-such-tool      not for make run\n"
    )
    packages.chmod(0o644)
    try:
        result = subprocess.run(
            [*as_a_user, str(SCRIPT), "runtime"],
            env={**os.environ, "SYSTEM_PACKAGES_FILE": str(packages), "HOME": str(folder)},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        shutil.rmtree(folder)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert (
        "Missing system packages for `make run` (the first test need, the second test need): "
        "ttp-missing-one ttp-missing-two."
    ) in out
    assert (
        "sudo apt-get update && sudo apt-get install -y --no-install-recommends "
        "ttp-missing-one ttp-missing-two"
    ) in out
    assert "ttp-test-only" not in out and "fonts-dejavu-core" not in out


def test_nothing_missing_is_one_line():
    from workers.pdf_check import system_packages

    runtime = [row for row in system_packages(LIST) if row.need == "runtime"]
    code, out = system_deps("runtime")
    assert code == 0, out
    assert out.strip().splitlines() == [
        f"System packages for `make run`: all {len(runtime)} present."
    ]


def test_the_pdf_check_renders_a_page_and_says_so_in_one_line():
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "workers.pdf_check"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("PDF rendering works: a test certificate page in ")
    assert "font DejaVu Sans" in line


def test_a_library_that_cannot_be_loaded_is_named_with_its_debian_package():
    from cffi import FFI

    from workers.pdf_check import missing_library_message

    with pytest.raises(OSError) as error:  # what WeasyPrint's import raises, for a missing name
        FFI().dlopen("libpango-1.0-0-ttp-missing")
    message = missing_library_message(str(error.value))
    assert message.startswith(
        "PDF rendering does not work: the library libpango-1.0-0-ttp-missing is missing "
        "(Debian package libpango-1.0-0;"
    )
    assert "sudo apt-get install libpango-1.0-0" in message
