"""No two bench modules import each other, directly or round a loop, counting imports inside functions
too (a lazy import hides a circle until someone moves it to the top)."""

from __future__ import annotations

import ast
from pathlib import Path

import bench

ROOT = Path(bench.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        parts = ("bench", *p.relative_to(ROOT).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def _graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> bench modules it imports anywhere in its body. A submodule importing its own package
    (`from bench.datasets import base` inside bench.datasets.x) is not counted: that is how packages
    are built, and the package is being initialised already. Imports under `if TYPE_CHECKING:` are
    not counted either: they never run, so they form no cycle at import time."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[m] |= {n for n in names if n in mods and n != m and not m.startswith(n + ".")}
    return graph


def _runtime_nodes(tree: ast.AST):
    """Every node of `tree` except those inside `if TYPE_CHECKING:` blocks."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            test = child.test if isinstance(child, ast.If) else None
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_import_cycles_between_bench_modules() -> None:
    mods = _modules()
    assert {"bench.grid", "bench.launch.slurm", "bench.launch.cells", "bench.config"} <= set(mods)
    assert _cycles(_graph(mods)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_grid_validates_slurm_settings_without_the_launcher() -> None:
    graph = _graph(_modules())
    assert "bench.launch.slurm" not in graph["bench.grid"]
    assert "bench.config" in graph["bench.launch.slurm"]
