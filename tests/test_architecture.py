"""The code's shape (issue 15 section 2; README "Code map"): layers, no cycles, small modules.

The import-linter contracts live in pyproject.toml ([tool.importlinter]); this runs them, so a
new import that goes up a layer or closes a cycle fails the suite, and checks the two things
import-linter does not: every package of ``portal`` is in a layer, and no module is too long.
"""

from __future__ import annotations

import pkgutil
import re
import tomllib
from pathlib import Path

import grimp
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

import portal

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]


def _layer_contract() -> dict:
    return next(c for c in _config()["contracts"] if c["type"] == "layers")


def test_the_import_contracts_are_kept(capsys):
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == EXIT_STATUS_SUCCESS, report
    kept = re.search(r"Contracts: (\d+) kept, (\d+) broken", report)
    assert kept, report
    assert (int(kept[1]), int(kept[2])) == (len(_config()["contracts"]), 0), report


def test_no_cycle_between_the_packages_of_portal():
    """The same promise counted directly with grimp: the graph of ``portal``'s packages (what
    imports what, ignoring imports inside a package) has no cycle."""
    graph = grimp.build_graph("portal")
    packages = {m.split(".")[1] for m in graph.modules if m.count(".") >= 1}
    edges = {p: set() for p in packages}
    for module in graph.modules:
        if module == "portal":
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if imported == "portal":
                continue
            a, b = module.split(".")[1], imported.split(".")[1]
            if a != b:
                edges[a].add(b)
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        for nxt in sorted(edges[node]):
            visit(nxt, [*path, node])
        done.add(node)

    for package in sorted(packages):
        visit(package, [])


def test_every_package_of_portal_is_in_a_layer():
    layered = {
        name
        for layer in _layer_contract()["layers"]
        for name in re.split(r"[|:]", layer)
        if name.strip()
    }
    layered = {name.strip() for name in layered}
    children = {m.name for m in pkgutil.iter_modules(portal.__path__)}
    assert children, "no modules found under portal/"
    assert sorted(children - layered) == [], "add these to a layer in pyproject.toml"
    assert sorted(layered - children) == [], "these layers name no module"


def test_no_module_is_over_600_lines():
    too_long = {
        str(path.relative_to(ROOT)): count
        for path in sorted((ROOT / "portal").rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these by concern (at most {MAX_LINES} lines each)"
