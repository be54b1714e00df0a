"""The package's structure: imports point down the layers, no import cycles, and only the
command-line package imports the command-line package.

Every ``import`` statement counts, including the lazy ones inside functions, since a lazy
import that points up is still a dependency that points up. ``from package import name``
depends on the submodule ``package.name`` when it is one, else on the package itself.
"""

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "evoapproxnas"
FLOORS = ("multipliers", "cgp", "hardware", "approx", "nn", "search", "plots", "cli")
"""The domain floors, lowest first: a module may import its own floor and those below."""
ROOT_FLOORS = {"metrics": "hardware", "data": "nn", "config": "search", "__main__": "cli"}
"""Modules at the package root that belong to a floor; the others (errors, atomic,
overrides, the package itself) are below every floor. ``metrics`` lists the hardware cost
models' metrics with the campaign's own, so it stands on the hardware floor (the hardware
package imports nothing from it)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def owner(name: str) -> str:
    """The module that ``name`` (a module or an attribute path) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                parent = parent[: len(parent) - node.level + (1 if is_package else 0)]
                base = ".".join(parent + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "evoapproxnas":
                found.add(owner(target))
    found.discard(module)
    return found


def floor(module: str) -> int:
    parts = module.split(".")
    if len(parts) < 2:
        return -1
    name = ROOT_FLOORS.get(parts[1], parts[1])
    return FLOORS.index(name) if name in FLOORS else -1


GRAPH = nx.DiGraph()
GRAPH.add_nodes_from(MODULES)
GRAPH.add_edges_from((m, t) for m in MODULES for t in imports_of(m))


def test_the_checker_sees_lazy_and_relative_imports():
    assert "evoapproxnas.search.worker" in imports_of("evoapproxnas.search.campaign")
    assert "evoapproxnas.nn" in imports_of("evoapproxnas.search.study.rundir")  # lazy, in a function
    assert len(GRAPH.edges) > 100


def test_imports_point_down_the_layers():
    upward = [f"{a} -> {b}" for a, b in sorted(GRAPH.edges) if floor(b) > floor(a)]
    assert upward == []


def test_no_import_cycles():
    cycles = [c for c in nx.simple_cycles(GRAPH) if len(c) > 1]
    assert cycles == []


@pytest.mark.parametrize("floor_name", FLOORS[:-1])
def test_only_the_cli_package_imports_the_cli(floor_name):
    users = sorted(a for a, b in GRAPH.edges
                   if b.startswith("evoapproxnas.cli") and floor(a) < FLOORS.index("cli")
                   and a.split(".")[1:2] == [floor_name])
    assert users == []


def test_argparse_lives_in_the_cli_package():
    outside = sorted(m for m, p in MODULES.items() if not m.startswith("evoapproxnas.cli")
                     and m != "evoapproxnas.__main__" and "argparse" in p.read_text())
    assert outside == []
