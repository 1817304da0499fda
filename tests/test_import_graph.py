"""The module graph of src/qbench, built from the source (ast), has no cycles and keeps its layers.

Every ``import`` and ``from ... import`` counts, at module level or inside a function (a lazy import still
ties two modules together), except those under ``if TYPE_CHECKING:`` (annotations only, never run).
``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``; a package's
``__init__`` is not implied by importing one of its submodules (it is run first, but it is not a choice the
importing module made).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# (layer, modules it must never import): a lower layer does not reach up.
LAYERS = {
    "qbench.data": ("qbench.tasks", "qbench.cache", "qbench.report", "qbench.models", "qbench.runner"),
    "qbench.protocol": ("qbench",),
    # adapters know requests, not tasks (the A3 prefix and words come from qbench.protocol)
    "qbench.models": ("qbench.tasks", "qbench.report", "qbench.runner", "qbench.cli"),
    # reports find a task's report spec through the task registry, by name
    "qbench.report": ("qbench.tasks", "qbench.runner", "qbench.cli"),
    # formulas (the official A3 score, levels, fits) serve tasks, importers and reports alike
    "qbench.scoring": ("qbench.tasks", "qbench.report", "qbench.runner", "qbench.cli"),
}

# Cycles being taken apart in this round of work, each with who removes it; every other cycle fails the test.
# Delete an entry when its cycle is gone (an entry that matches nothing is ignored, so landing order is free).
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def module_files(src: Path = SRC) -> dict[str, Path]:
    """``qbench.data.dataset`` -> its file, for every module and package under ``src``."""
    modules = {}
    for file in sorted(src.rglob("*.py")):
        parts = list(file.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = file
    return modules


def _type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import node, skipping ``if TYPE_CHECKING:`` bodies (their ``else`` still counts)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if _type_checking_block(node):
            assert isinstance(node, ast.If)
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the qbench modules it imports."""
    files = module_files(src)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, file in files.items():
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        is_package = file.name == "__init__.py"
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _absolute(node, name, is_package)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                # "import qbench.data.dataset" names the module itself; walk up to the nearest known module
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0

    def visit(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return "; ".join(edges)


def test_the_graph_is_built_from_real_imports():
    graph = import_graph()
    assert "qbench.cli" in graph and "qbench.data.dataset" in graph
    assert "qbench.errors" in graph["qbench.data.dataset"]
    assert "qbench.data.base" in graph["qbench.data.dataset"]
    # a lazy import inside a function counts
    assert "qbench.data.hf_layout" in graph["qbench.data.dataset"]


def test_the_checker_finds_a_cycle_and_ignores_type_checking_imports(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from . import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (pkg / "e.py").write_text("from pkg.d import x\n")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert graph["pkg.d"] == set() and graph["pkg.e"] == {"pkg.d"}


def test_no_import_cycles():
    graph = import_graph()
    found = [c for c in cycles(graph) if frozenset(c) not in KNOWN_CYCLES]
    assert not found, "import cycles:\n" + "\n".join(_describe(c, graph) for c in found)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_lower_layers_do_not_import_upper_ones(layer):
    bad = layer_violations(import_graph(), layer, LAYERS[layer])
    assert not bad, "\n".join(bad)


def layer_violations(graph: dict[str, set[str]], layer: str, forbidden: tuple[str, ...]) -> list[str]:
    """``module imports target`` for every module in ``layer`` (the package or its submodules) that imports
    one of ``forbidden`` (a module or package, with its submodules)."""

    def within(name: str, package: str) -> bool:
        return name == package or name.startswith(package + ".")

    return [
        f"{module} imports {target}"
        for module, targets in sorted(graph.items())
        if within(module, layer)
        for target in sorted(targets)
        if any(within(target, f) for f in forbidden)
    ]


def test_the_layer_check_finds_an_upward_import():
    graph = {
        "q.data": set(),
        "q.data.a": {"q.tasks.x", "q.errors"},
        "q.database": {"q.tasks"},  # a sibling whose name starts like the layer is not in it
        "q.tasks": set(),
        "q.tasks.x": set(),
        "q.errors": set(),
    }
    assert layer_violations(graph, "q.data", ("q.tasks",)) == ["q.data.a imports q.tasks.x"]
    assert layer_violations(graph, "q.data", ("q.task",)) == []  # "q.task" is not "q.tasks"
