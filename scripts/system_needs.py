"""`scripts/system_deps.sh runtime|test --report`: does `make run` install what the portal needs?

What the running portal needs from Debian is worked out from this machine, not from a list:

* the shared libraries WeasyPrint opens (the names in weasyprint/text/ffi.py) that a real render
  of a certificate page (workers/pdf_check.py) has loaded, and the font files it has opened
  (both read from /proc/self/maps);
* the tools `make run` calls: ``python3 -m venv`` in the Makefile (python3 and its ensurepip),
  node and npm in scripts/build_assets.sh.

Each file's Debian package comes from ``dpkg -S``. What `make run` installs is the runtime lines of
scripts/system-packages.txt (checked: `make -n run` calls ``system_deps.sh runtime``). The two
agree when every needed package is listed (or is a direct dependency of a listed one, as
python3.11-venv is of python3-venv) and every listed package is needed (or depends on, or is
provided by, a needed one). Exit 0 when they agree, 1 when not.
In test mode the test lines are checked too: each one's command is used by the tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess  # noqa: S404
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workers.pdf_check import (  # noqa: E402
    PACKAGES_FILE,
    SystemPackage,
    render_sample,
    system_packages,
)


def dpkg_owner(path: str) -> str | None:
    """The Debian package that installed ``path`` (trying its real path too)."""
    for candidate in dict.fromkeys([path, str(Path(path).resolve())]):
        result = subprocess.run(  # noqa: S603
            ["dpkg-query", "-S", candidate],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            # "libpango-1.0-0:amd64: /usr/lib/...": the first package, without its arch.
            return result.stdout.split(": ", 1)[0].split(",")[0].strip().split(":")[0]
    return None


def relations(package: str) -> tuple[set[str], set[str]]:
    """(direct dependencies, provided names) of an installed package; empty if not installed."""
    result = subprocess.run(  # noqa: S603
        ["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}|${Provides}", package],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return set(), set()
    depends, _, provides = result.stdout.partition("|")

    def names(text: str) -> set[str]:
        found = set()
        for item in re.split(r"[,|]", text):
            name = item.strip().split(" ", 1)[0].split(":", 1)[0]
            if name:
                found.add(name)
        return found

    return names(depends), names(provides)


def weasyprint_sonames() -> list[str]:
    """The shared libraries WeasyPrint dlopens, by soname (libpango-1.0.so.0, ...)."""
    import weasyprint.text.ffi as ffi

    source = Path(ffi.__file__).read_text()
    return sorted(set(re.findall(r"'(lib[\w.+-]+?\.so\.\d+)'", source)))


def mapped_files() -> set[str]:
    files = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/"):
            files.add(parts[5].strip())
    return files


@dataclass(frozen=True)
class Need:
    """A file the running portal uses, why, and the check of system-packages.txt that finds it."""

    path: str
    why: str
    check: str


def needed_files() -> list[Need]:
    render_sample()  # as the worker does: loads WeasyPrint's libraries and the PDF font
    needs: list[Need] = []
    sonames = weasyprint_sonames()
    for path in sorted(mapped_files()):
        name = Path(path).name
        soname = next((s for s in sonames if name == s or name.startswith(s + ".")), None)
        if soname:
            needs.append(Need(path, f"{soname}, loaded by WeasyPrint", f"lib:{soname}"))
        elif path.startswith("/usr/share/fonts/"):
            needs.append(Need(path, f"{name}, the font of the test certificate", f"file:{path}"))
    makefile = (ROOT / "Makefile").read_text()
    if "python3 -m venv" in makefile:
        python3 = shutil.which("python3")
        if python3:
            needs.append(Need(python3, "python3, creates .venv/ (Makefile)", "cmd:python3"))
            found = subprocess.run(  # noqa: S603
                [python3, "-c", "import ensurepip; print(ensurepip.__file__)"],
                capture_output=True,
                text=True,
                check=False,
            )
            if found.returncode == 0:
                needs.append(
                    Need(found.stdout.strip(), "ensurepip, for python3 -m venv", "pymod:ensurepip")
                )
    build_assets = (ROOT / "scripts" / "build_assets.sh").read_text()
    for tool in ("node", "npm"):
        if re.search(rf"(^|[\s$(]){tool}\s", build_assets, re.M):
            path = shutil.which(tool)
            if path:
                needs.append(
                    Need(path, f"{tool}, builds the GOV.UK Frontend assets", f"cmd:{tool}")
                )
    return needs


def make_run_installs_runtime() -> bool:
    """`make run` really runs `system_deps.sh runtime` (read from `make -n run`)."""
    if not shutil.which("make"):
        return "system_deps.sh runtime" in (ROOT / "Makefile").read_text()
    result = subprocess.run(  # noqa: S603
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), "run"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return "system_deps.sh runtime" in result.stdout


def compare(
    needed: dict[str, list[str]], listed: list[SystemPackage]
) -> tuple[list[str], list[str]]:
    """(needed packages `make run` misses, listed packages nothing needs)."""
    names = {row.name for row in listed}
    info = {name: relations(name) for name in set(needed) | names}

    def provides(listed_name: str, needed_name: str) -> bool:
        """The needed package is the listed one, is installed by it, or stands in for it."""
        depends, _provides = info[listed_name]
        return (
            listed_name == needed_name
            or needed_name in depends
            or listed_name in info[needed_name][1]
        )

    def justified(listed_name: str, needed_name: str) -> bool:
        """Listing it is how `make run` gets the needed package: as itself, as what the needed
        one provides (npm from nodejs) or as a package that pulls in one not listed itself
        (python3-venv for python3.11-venv), not as a big package that merely uses listed ones."""
        if needed_name in info[listed_name][0]:
            return needed_name not in names
        return provides(listed_name, needed_name)

    missing = [p for p in sorted(needed) if not any(provides(q, p) for q in names)]
    unneeded = [q for q in sorted(names) if not any(justified(q, p) for p in needed)]
    return missing, unneeded


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "runtime"
    path = Path(argv[2]) if len(argv) > 2 else PACKAGES_FILE
    if not shutil.which("dpkg-query"):
        print("The report needs Debian's dpkg-query to tell which package a file comes from.")
        return 2
    rows = system_packages(path)
    runtime = [row for row in rows if row.need == "runtime"]

    needed: dict[str, list[str]] = {}
    outside: list[tuple[Need, SystemPackage | None]] = []  # not from a Debian package here
    for need in needed_files():
        package = dpkg_owner(need.path)
        if package is None:
            outside.append((need, next((r for r in runtime if r.check == need.check), None)))
        else:
            needed.setdefault(package, []).append(need.why)

    print("What the running portal needs (a test render and the Makefile, on this machine):")
    for package, whys in sorted(needed.items()):
        print(f"  {package:<22} {'; '.join(whys)}")
    for need, row in outside:
        where = f"on Debian: {row.name}" if row else "no line of the list checks for it"
        print(f"  {need.why}: {need.path}, from no Debian package here ({where})")
    print(f"What `make run` installs (the runtime lines of {path.name}):")
    print("  " + " ".join(row.name for row in runtime))

    problems = []
    if not make_run_installs_runtime():
        problems.append("`make run` does not run `scripts/system_deps.sh runtime`.")
    # A line whose check finds a need met outside Debian here (pyenv's python3) is needed.
    covered_elsewhere = {row.name for _need, row in outside if row}
    missing, unneeded = compare(needed, [r for r in runtime if r.name not in covered_elsewhere])
    for need, row in outside:
        if row is None:
            problems.append(f"needed, and no line of the list checks for it: {need.why}")
    for package in missing:
        problems.append(
            f"needed but not installed by `make run`: {package} ({'; '.join(needed[package])})"
        )
    for package in unneeded:
        problems.append(f"installed by `make run` but not needed: {package}")
    if mode == "test":
        tests_text = "\n".join(
            p.read_text(errors="replace") for p in (ROOT / "tests").rglob("*.py")
        )
        for row in rows:
            if row.need == "test" and row.check.split(":", 1)[1] not in tests_text:
                problems.append(f"test package {row.name}: no test uses {row.check}")
    if problems:
        print("They differ:")
        for problem in problems:
            print(f"  {problem}")
        print(f"Make them agree: {path.name} (the list) or the Makefile (what runs it).")
        return 1
    print("They agree: `make run` installs what the portal needs, and nothing only tests use.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
