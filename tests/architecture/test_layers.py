"""The package's layers: every folder (and top-level module) of bench/ is one floor, and imports run
downward only. Every import is read, lazy ones inside functions and `if TYPE_CHECKING:` ones included,
and there is no exception list: a new arrow that runs up, or any import cycle between modules, fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bench"

# Bottom to top. A module may import from its own floor and any floor below it, never above.
LAYERS: list[tuple[str, ...]] = [
    ("errors",),  # the one error type users see (exit code 2)
    ("fs",),  # atomic writes, temp-file clean-up, file and config hashes
    ("registry",),  # name -> implementation tables (models, datasets, metrics, ...)
    ("config",),  # the strict configuration schema of one cell
    ("plots",),  # matplotlib on Agg, image grids, loss curves
    ("metrics",),  # pure tensor maths: FD, KID, k-NN, FD-infinity, PSNR/SSIM
    ("datasets",),  # readers of users' files, one uint8 tensor per split
    ("models",),  # one file per family: nets, phases, losses, sampling
    ("storage",),  # the cell folder: file names, typed result, locks, identity, status, checkpoints
    ("features",),  # feature extractors and their weights (Inception, VGG16, DINOv2, domain)
    ("eval",),  # protocol, metric registry and built-in metrics, reference statistics, sampling
    ("train",),  # the one training loop and its machinery
    ("cell",),  # one cell from lock to result: set-up, train, evaluate, record
    ("grid", "grids"),  # a grid file -> validated cells; the built-in grid files
    ("analysis",),  # figures from a trained cell (traversal, interpolation, ...)
    ("launch",),  # local scheduler and workers, SLURM arrays, packed tasks, estimates
    ("reporting",),  # statistics, stability, leaderboard, report
    ("commands",),  # one module per CLI command
    ("cli", "__main__", "__init__"),  # registers the commands; the package's face
]
FLOOR = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def floor_of(module: str) -> int:
    parts = module.split(".")
    return FLOOR[parts[1] if len(parts) > 1 else "__init__"]


def imports(path: Path, modules: set[str]) -> set[str]:
    """Every bench module `path` imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bench"):
            assert node.level == 0, f"{path}: relative import"
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in modules else node.module)
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: imports(p, set(files)) - {m} for m, p in files.items()}


def test_every_top_level_name_has_a_floor() -> None:
    names = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert names <= set(FLOOR), f"give these a floor in LAYERS: {sorted(names - set(FLOOR))}"


def test_imports_run_downward_only() -> None:
    upward = [
        f"{m} (floor {LAYERS[floor_of(m)][0]}) imports {d} (floor {LAYERS[floor_of(d)][0]})"
        for m, deps in graph().items()
        for d in deps
        if d != "bench" and floor_of(d) > floor_of(m)
    ]
    assert not upward, "imports that run up:\n" + "\n".join(sorted(upward))


def test_no_import_cycles() -> None:
    g = {m: {d for d in deps if d != "bench"} for m, deps in graph().items()}
    # Package __init__ files are faces: importing `bench.x.y` runs `bench.x`, but an edge to the
    # package itself is only taken when the code names it.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in list(g):
        if v not in index:
            connect(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The reader finds lazy and TYPE_CHECKING imports (so the two tests above can fail)."""
    f = tmp_path / "m.py"
    f.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bench.reporting import stats\n"
        "def f():\n    import bench.cli\n"
    )
    assert imports(f, {"bench.reporting.stats"}) == {"bench.reporting.stats", "bench.cli"}
