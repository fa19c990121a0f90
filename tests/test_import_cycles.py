"""No import cycles inside lakeconsole, counting every import the source contains.

The graph is read from the AST, so imports inside functions and type-only imports under
`if TYPE_CHECKING:` count too: a cycle hidden that way still couples the two modules and turns
into an ImportError as soon as someone moves the import to the top of the file.

Edges go only to the module an import names. Importing `lakeconsole.silver.layout` also runs the
package `lakeconsole.silver`'s `__init__`, but that implicit parent-package edge is left out:
every module would otherwise point at its own package, and a package whose `__init__` imports
one of its submodules would look like a cycle with all of them. An explicit
`from lakeconsole.silver import name` where `name` is not a submodule does depend on the
`__init__`, and is an edge to it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

Edge = tuple[str, str, int]  # importer, imported, line of the import statement


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under `root`, by dotted name (a package by its `__init__`)."""
    names: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _anchor(module: str, is_package: bool, level: int) -> str:
    """The package a relative import of `level` dots starts from."""
    # One dot is the module's own package: the module itself for an __init__, else its parent.
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > 0:
        parts = parts[: -(level - 1)]
    return ".".join(parts)


def _deepest_known(name: str, known: set[str]) -> str | None:
    """`name` or its longest prefix that is a module of the package (None if none is)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
             known: set[str]) -> list[str]:
    """The package modules one import statement depends on."""
    if isinstance(node, ast.Import):
        found = (_deepest_known(alias.name, known) for alias in node.names)
        return [t for t in found if t is not None]
    base = node.module or ""
    if node.level:
        anchor = _anchor(module, is_package, node.level)
        base = f"{anchor}.{base}" if base else anchor
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        # `from pkg import sub` names the submodule; `from pkg import name` needs pkg itself.
        target = sub if sub in known else _deepest_known(base, known)
        if target is not None:
            out.append(target)
    return out


def import_edges(root: Path, package: str) -> list[Edge]:
    """Every (importer, imported, line) between modules of the package, lazy ones included."""
    modules = module_names(root, package)
    known = set(modules)
    edges: list[Edge] = []
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges.extend((module, target, node.lineno)
                             for target in _targets(node, module, is_package, known))
    return sorted(set(edges))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    work: list[tuple[str, list[str]]] = []  # the DFS path, each node with successors to try

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        work.append((node, sorted(graph.get(node, ()))))

    for start in sorted(set(graph) | {t for ts in graph.values() for t in ts}):
        if start in index:
            continue
        visit(start)
        while work:
            node, pending = work[-1]
            if pending:
                succ = pending.pop()
                if succ not in index:
                    visit(succ)
                elif succ in on_stack:
                    low[node] = min(low[node], index[succ])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def find_cycles(edges: list[Edge]) -> list[list[str]]:
    """The import cycles: components of more than one module, or a module importing itself."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target, _ in edges:
        graph[source].add(target)
    return sorted(c for c in strongly_connected(graph)
                  if len(c) > 1 or c[0] in graph.get(c[0], set()))


def describe(cycles: list[list[str]], edges: list[Edge]) -> str:
    """Each cycle's modules, then the import lines that close it."""
    lines = []
    for cycle in cycles:
        members = set(cycle)
        lines.append("cycle: " + " <-> ".join(cycle))
        lines.extend(f"    {s}:{n} imports {t}" for s, t, n in edges
                     if s in members and t in members)
    return "\n".join(lines)


def test_lakeconsole_has_no_import_cycles() -> None:
    edges = import_edges(REPO, "lakeconsole")
    assert len(edges) > 50  # the walk really found the package's imports
    cycles = find_cycles(edges)
    assert cycles == [], "import cycles in lakeconsole:\n" + describe(cycles, edges)


SYNTHETIC = {
    "pkg/__init__.py": "",
    "pkg/a.py": "import os\n\ndef f():\n    from . import b\n    return b\n",
    "pkg/b.py": ("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                 "    from pkg.a import f\n"),
    "pkg/c.py": "import pkg.sub.d\n",
    "pkg/sub/__init__.py": "from . import d\nfrom .d import VALUE\n",
    "pkg/sub/d.py": "from .. import c as _c\nfrom ..a import f\nVALUE = 1\n",
    "pkg/sub/e.py": "from pkg.sub import VALUE\nfrom . import *\n",
}


def _write_package(root: Path) -> None:
    for rel, text in SYNTHETIC.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_detector_finds_lazy_type_only_and_relative_cycles(tmp_path: Path) -> None:
    """A lazy import one way and a TYPE_CHECKING import back is a cycle; so is c -> d -> c."""
    _write_package(tmp_path)
    edges = import_edges(tmp_path, "pkg")
    assert {(s, t) for s, t, _ in edges} == {
        ("pkg.a", "pkg.b"),            # inside a function, relative
        ("pkg.b", "pkg.a"),            # under TYPE_CHECKING
        ("pkg.c", "pkg.sub.d"),        # `import a.b.c` names the deepest module only
        ("pkg.sub", "pkg.sub.d"),      # `.` in an __init__ is the package itself
        ("pkg.sub.d", "pkg.c"),        # `from .. import c` is the submodule c
        ("pkg.sub.d", "pkg.a"),
        ("pkg.sub.e", "pkg.sub"),      # a name from the __init__, and `import *`
    }
    # No implicit edges to parent packages: pkg.sub imports d, yet d -> pkg.sub is not a cycle.
    cycles = find_cycles(edges)
    assert cycles == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub.d"]]
    message = describe(cycles, edges)
    assert "cycle: pkg.a <-> pkg.b" in message and "pkg.b:4 imports pkg.a" in message


def test_tarjan_on_a_small_graph() -> None:
    """Two cycles, a self-loop, and a chain that is no cycle."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"f"},
             "g": {"a"}}
    components = strongly_connected(graph)
    assert sorted(components) == [["a", "b", "c"], ["d", "e"], ["f"], ["g"]]
    edges = [(s, t, 1) for s, ts in graph.items() for t in ts]
    assert find_cycles(edges) == [["a", "b", "c"], ["d", "e"], ["f"]]
