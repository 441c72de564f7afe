"""Grid files: load YAML, validate every key, expand to cells with stable ids.

A grid is a product of models x datasets x latent sizes x seeds. Real studies are unions of such
products with different budgets, so a grid may list `blocks`; top-level keys are defaults that every
block inherits and may override (train and eval settings merge key by key).

    name: quick
    train: {steps: 1500, batch_size: 64}
    eval: {n_samples: 1000}
    blocks:
      - models: [mlp_vae, {dcgan: {ngf: 32}}]
        datasets: [digits]
        latent_sizes: [8, 32]
        seeds: [0, 1]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bench.config import (
    MAX_SEED,
    MAX_STEPS,
    CellConfig,
    EvalConfig,
    SlurmConfig,
    TrainConfig,
    key_text,
    short_repr,
    validate,
)
from bench.errors import BenchError
from bench.fs import canonical_json
from bench.train.cuda_graphs import check_cuda_graphs
from bench.train.distributed import batch_plan, check_distributed

AXES = ("models", "datasets", "latent_sizes", "seeds")
BLOCK_KEYS = (*AXES, "train", "eval")
# `data` (root, download) is grid-wide and kept out of the cells, so moving data changes no cell id.
# `slurm` (resources of each array task) is grid-wide and kept out of the cells for the same reason.
GRID_KEYS = ("name", "description", "blocks", "data", "slurm", *BLOCK_KEYS)


@dataclass(frozen=True)
class Grid:
    name: str
    description: str
    cells: list[CellConfig]
    source: str
    data: Any = None  # bench.datasets.source.DataSettings: the grid's `data:` key, root resolved
    slurm: Any = None  # the grid's `slurm:` mapping, validated (bench.config.SlurmConfig)


def builtin_grids() -> dict[str, str]:
    """Built-in grid name -> its one-line description."""
    out = {}
    for entry in sorted(resources.files("bench.grids").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            raw = yaml.safe_load(entry.read_text())
            out[entry.name[: -len(".yaml")]] = str(raw.get("description", ""))
    return out


# Limits on a grid file, checked before any value is converted to a string: a YAML alias bomb (a few
# lines whose aliases expand to billions of nodes) or a deeply nested value would otherwise hang or
# exhaust memory when a message or a description prints it. Real grids are a few kilobytes.
MAX_GRID_BYTES = 1 << 20  # 1 MiB
MAX_GRID_NODES = 100_000  # YAML nodes once every alias is expanded
MAX_GRID_DEPTH = 64  # nested mappings / lists
MAX_GRID_CELLS = 10_000  # cells a grid expands to (the `all` study has 159)
MAX_LATENT = 65_536


# libyaml when present: the pure-Python parser takes tens of seconds on a 1 MiB file of small values.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _GridLimit(Exception):
    pass


def _check_limits(text: str) -> None:
    """Refuse nesting deeper than MAX_GRID_DEPTH and documents that hold more than MAX_GRID_NODES values
    once every alias is expanded, from the parser's events alone: nothing is composed or expanded, so
    a billion-laughs file costs what its few lines cost. (An anchor's expanded size is known when its
    node ends; an alias to an anchor still open is recursive.)"""
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node
    stack: list[list[Any]] = [[None, 0]]  # open collections: [anchor, expanded size so far]
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) > MAX_GRID_DEPTH:
                raise _GridLimit(f"nested deeper than {MAX_GRID_DEPTH} levels")
            stack.append([event.anchor, 1])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, n = stack.pop()
            if anchor is not None:
                sizes[anchor] = n
        elif isinstance(event, yaml.ScalarEvent):
            n = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            if any(entry[0] == event.anchor for entry in stack):
                raise _GridLimit("holds a recursive YAML alias")
            n = sizes.get(event.anchor, 1)  # an undefined alias: the loader names it below
        else:
            continue
        stack[-1][1] += n
        if stack[-1][1] > MAX_GRID_NODES:
            raise _GridLimit(f"expands to more than {MAX_GRID_NODES} values (YAML aliases?)")


def _load_limited(text: str) -> Any:
    _check_limits(text)
    return yaml.load(text, Loader=_LOADER)  # a safe loader: plain data only


def _read_bytes(path: Path, source: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_GRID_BYTES:
            raise BenchError(f"{source}: {size} bytes; a grid file may hold at most {MAX_GRID_BYTES} bytes")
        with path.open("rb") as f:
            data = f.read(MAX_GRID_BYTES + 1)
    except OSError as err:
        raise BenchError(f"{source}: cannot be read ({err.strerror or err})") from None
    if len(data) > MAX_GRID_BYTES:  # grew while read, or a file whose size stat does not know
        raise BenchError(f"{source}: a grid file may hold at most {MAX_GRID_BYTES} bytes")
    return data


def parse_grid_text(data: bytes, source: str) -> Any:
    """The YAML document in `data`, within the limits above; every problem is one BenchError line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BenchError(
            f"{source}: not UTF-8 text: byte 0x{data[err.start]:02x} at offset {err.start}"
        ) from None
    try:
        return _load_limited(text)
    except _GridLimit as err:
        raise BenchError(f"{source}: refused: the YAML {err}") from None
    except yaml.reader.ReaderError as err:
        raise BenchError(
            f"{source}: is not valid YAML (character #x{err.character:04x} at position {err.position} "
            "is not allowed)"
        ) from None
    except ValueError as err:  # a scalar Python cannot hold: a 5,000-digit int, the date 2026-13-45
        problem = " ".join(str(err).split())[:120]
        raise BenchError(f"{source}: is not valid YAML (a value cannot be read: {problem})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        said = [getattr(err, "context", None), getattr(err, "problem", None)]  # "expected ..., but found ..."
        problem = " ".join(", ".join(str(x) for x in said if x).split()) or " ".join(str(err).split())
        raise BenchError(f"{source}:{where} is not valid YAML ({problem})") from None


def read_grid_file(name_or_path: str) -> tuple[dict[str, Any], str]:
    """The raw mapping of a built-in grid name or a YAML file path, and where it came from."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            problem = "is not a regular file" if path.exists() else "does not exist"
            raise BenchError(f"--grid: file {short_repr(name_or_path)} {problem}")
        data, source = _read_bytes(path, str(path)), str(path)
    else:
        builtin = resources.files("bench.grids") / f"{name_or_path}.yaml"
        if not builtin.is_file():
            raise BenchError(
                f"--grid: {short_repr(name_or_path)} is neither a built-in grid nor a file; "
                f"built-in: {', '.join(builtin_grids())}"
            )
        data, source = builtin.read_bytes(), f"grid {name_or_path}"
    raw = parse_grid_text(data, source)
    if not isinstance(raw, dict):
        raise BenchError(f"{source}: a grid must be a mapping of keys, got {type(raw).__name__}")
    return raw, source


def _check_keys(raw: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            raise BenchError(f"{prefix}{key_text(key)}: unknown key; allowed: {', '.join(allowed)}")


def _named_entries(value: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """`[a, {b: {arg: 1}}]` -> [(a, {}), (b, {arg: 1})]."""
    if not isinstance(value, list) or not value:
        raise BenchError(f"{where}: expected a non-empty list, got {short_repr(value)}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, dict) and len(item) == 1:
            ((name, args),) = item.items()
            if not isinstance(name, str) or not isinstance(args, dict | None):
                raise BenchError(
                    f"{where}[{i}]: expected NAME or {{NAME: {{key: value}}}}, got {short_repr(item)}"
                )
            out.append((name, args or {}))
        else:
            raise BenchError(
                f"{where}[{i}]: expected NAME or {{NAME: {{key: value}}}}, got {short_repr(item)}"
            )
    return out


def _int_list(value: Any, where: str, low: int, high: int, what: str) -> list[int]:
    """A non-empty list of distinct integers in low..high."""
    if not isinstance(value, list) or not value:
        raise BenchError(f"{where}: expected a non-empty list of integers, got {short_repr(value)}")
    seen: set[int] = set()
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int):
            raise BenchError(f"{where}: expected integers, got {short_repr(v)}")
        if not low <= v <= high:
            if what == "latent size" and v <= 0:
                raise BenchError(f"{where}: latent size must be a positive integer, got {v!r}")
            raise BenchError(f"{where}: a {what} must be in {low}..{high}, got {short_repr(v)}")
        if v in seen:
            raise BenchError(f"{where}: {v} is listed twice")
        seen.add(v)
    return value


def _validated_entries(
    entries: list[tuple[str, dict[str, Any]]], registry: Any, attr: str, where: str
) -> list[tuple[str, Any, Any]]:
    """(name, registered class, validated args) for each entry; an entry listed twice is refused."""
    out, seen = [], set()
    for name, args in entries:
        if len(name) > 80:
            raise BenchError(
                f"{where}: unknown name {short_repr(name)}; allowed: {', '.join(registry.names())}"
            )
        cls = registry.get(name, where)
        cfg = validate(getattr(cls, attr), args, f"{where}.{name}")
        key = (name, canonical_json(cfg.model_dump(mode="json")))
        if key in seen:
            raise BenchError(f"{where}: {name} is listed twice with the same settings")
        seen.add(key)
        out.append((name, cls, cfg))
    return out


def _merged(base: Any, override: Any, where: str) -> dict[str, Any]:
    for name, part in (("", base), ("", override)):
        if part is not None and not isinstance(part, dict):
            raise BenchError(f"{where}{name}: expected a mapping of keys, got {short_repr(part)}")
    return {**(base or {}), **(override or {})}


def expand(raw: dict[str, Any], source: str, overrides: dict[str, Any] | None = None) -> Grid:
    """Validate a raw grid mapping and expand it to cells; raises BenchError on the first problem."""
    from bench.datasets import DATASETS
    from bench.models import MODELS

    _check_keys(raw, GRID_KEYS, f"{source}: ")
    blocks = raw.get("blocks")
    if blocks is None:
        blocks = [{}]
    elif not isinstance(blocks, list) or not blocks:
        raise BenchError(f"{source}: blocks: expected a non-empty list of blocks, got {short_repr(blocks)}")
    overrides = overrides or {}

    cells: dict[str, CellConfig] = {}
    for b, block in enumerate(blocks):
        # Every message reads "<file>: <dotted key>: <problem>".
        p = f"{source}: blocks[{b}]." if "blocks" in raw else f"{source}: "
        if not isinstance(block, dict):
            raise BenchError(f"{p}: expected a mapping of keys, got {short_repr(block)}")
        _check_keys(block, BLOCK_KEYS, p)
        spec = {k: block.get(k, raw.get(k)) for k in AXES}
        for axis in ("models", "datasets"):
            if spec[axis] is None:
                raise BenchError(f"{p}{axis}: required key is missing")
        models = _validated_entries(
            _named_entries(spec["models"], f"{p}models"), MODELS, "Config", f"{p}models"
        )
        datasets = _validated_entries(
            _named_entries(spec["datasets"], f"{p}datasets"), DATASETS, "Args", f"{p}datasets"
        )
        latents = None  # absent or null: each family's default; an empty list is refused
        if spec["latent_sizes"] is not None:
            latents = _int_list(spec["latent_sizes"], f"{p}latent_sizes", 1, MAX_LATENT, "latent size")
        seeds = [0] if spec["seeds"] is None else _int_list(spec["seeds"], f"{p}seeds", 0, MAX_SEED, "seed")
        n_cells = len(cells) + len(models) * len(datasets) * len(latents or [None]) * len(seeds)
        if n_cells > MAX_GRID_CELLS:
            raise BenchError(
                f"{p}: the grid expands to up to {n_cells} cells; at most {MAX_GRID_CELLS} are allowed"
            )
        train_raw = _merged(
            _merged(raw.get("train"), block.get("train"), f"{p}train"), overrides.get("train"), f"{p}train"
        )
        eval_raw = _merged(
            _merged(raw.get("eval"), block.get("eval"), f"{p}eval"), overrides.get("eval"), f"{p}eval"
        )
        train = validate(TrainConfig, train_raw, f"{p}train")
        evaluation = validate(EvalConfig, eval_raw, f"{p}eval")

        for (m, family, m_cfg), (d, source_cls, d_cfg) in itertools.product(models, datasets):
            info = source_cls(d_cfg).info()
            _check_budget(train, info, f"{p}train")
            sizes = (latents or [family.default_latent_size]) if family.uses_latent else [None]
            for z, seed in itertools.product(sizes, seeds):
                _check_family_needs(family, info, f"{p}models.{m} on {d}")
                check_distributed(family, train, f"{p}models.{m}")
                check_cuda_graphs(family, m_cfg, train, f"{p}models.{m}")
                family.check(m_cfg, info, z, where=f"{p}models.{m} on {d}")
                _check_eval(evaluation, info, f"{p}eval")
                _check_some_metric(family, evaluation, f"{p}eval.metrics")
                cell = CellConfig(
                    model=m,
                    model_args=m_cfg.model_dump(mode="json"),
                    dataset=d,
                    dataset_args=d_cfg.model_dump(mode="json"),
                    latent_size=z,
                    seed=seed,
                    train=train,
                    eval=evaluation,
                )
                cells.setdefault(cell.cell_id, cell)
    name = raw.get("name", Path(source).stem)
    return Grid(
        name=str(name),
        description=str(raw.get("description", "")),
        cells=list(cells.values()),
        source=source,
        data=_data_settings(raw.get("data"), source),
        slurm=_slurm_settings(raw.get("slurm"), source),
    )


def _slurm_settings(value: Any, source: str) -> dict[str, Any]:
    """The `slurm:` mapping as written, after checking it; `bench run` flags are laid over it later."""
    validate(SlurmConfig, value if value is not None else {}, f"{source}: slurm")
    return dict(value or {})


def _data_settings(value: Any, source: str) -> Any:
    """The validated `data:` key; a relative root is taken from the grid file's folder."""
    from bench.datasets.source import DataSettings

    settings = validate(DataSettings, value if value is not None else {}, f"{source}: data")
    if settings.root is not None:
        root = Path(settings.root).expanduser()
        if not root.is_absolute() and Path(source).is_file():
            root = Path(source).parent / root
        settings = settings.model_copy(update={"root": str(root)})
    return settings


def _check_family_needs(family: Any, info: Any, where: str) -> None:
    if family.needs_labels and info.num_classes == 0:
        raise BenchError(f"{where}: {family.__name__} is class-conditional and {info.name} has no labels")
    if family.needs_pairing != "none" and info.pairing != family.needs_pairing:
        raise BenchError(
            f"{where}: needs a dataset with {family.needs_pairing} targets; {info.name} is "
            f"{'plain images' if info.pairing == 'none' else info.pairing}"
        )


def _check_budget(train: TrainConfig, info: Any, where: str) -> None:
    """A batch that fits the training split, and an epoch budget within the step bound."""
    n = info.splits.get("train", 0)  # 0: known only once the files are read
    if not n:
        return
    batch = batch_plan(train).global_batch
    if batch > n:
        raise BenchError(
            f"{where}.batch_size: a batch of {batch} images is larger than the {n} training images of "
            f"{info.name}"
        )
    if train.epochs is not None and train.epochs * (n // batch) > MAX_STEPS:
        raise BenchError(
            f"{where}.epochs: {train.epochs:g} epochs of {n // batch} steps on {info.name} exceed the bound "
            f"of {MAX_STEPS} steps"
        )


def _check_some_metric(family: Any, ev: EvalConfig, where: str) -> None:
    """`metrics: []` keeps only a family's own test metrics (a VAE's ELBO, CycleGAN's cycle error); a
    family without any would finish with no score at all."""
    from bench.models.base import GenerativeModel

    if not ev.metrics and family.test_metrics is GenerativeModel.test_metrics:
        raise BenchError(
            f"{where}: an empty list leaves {family.__name__} with no metric at all; name at least one"
        )


def _check_eval(ev: EvalConfig, info: Any, where: str) -> None:
    if ev.split not in info.splits:
        raise BenchError(
            f"{where}.split: {ev.split!r} is not a split of {info.name}; allowed: {', '.join(info.splits)}"
        )
    available = info.splits[ev.split]
    # 0: the split's size is known only once loaded (image folders, attribute-selected CelebA).
    n_real = ev.n_real or available or ev.n_samples
    if available and n_real > available:
        raise BenchError(f"{where}.n_real: {n_real} exceeds the {available} images of {info.name}/{ev.split}")
    from bench.eval.metric_registry import check_sizes

    # Every dataset has a domain extractor (classes, attributes or rotation: features/domain/), so
    # the domain metrics need no check here.
    check_sizes(ev, list(ev.metrics), ev.n_samples, min(n_real, ev.n_real or n_real), where)


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """`--set train.steps=10 --set eval.n_samples=200` -> nested overrides (values parsed as YAML)."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or section not in ("train", "eval") or not field:
            raise BenchError(f"--set: expected train.KEY=VALUE or eval.KEY=VALUE, got {pair!r}")
        try:
            out.setdefault(section, {})[field] = _load_limited(value)  # the limits of a file
        except (yaml.YAMLError, _GridLimit, ValueError):
            raise BenchError(f"--set: cannot parse the value in {short_repr(pair)}") from None
    return out


def load_grid(name_or_path: str, sets: list[str] | None = None) -> Grid:
    raw, source = read_grid_file(name_or_path)
    return expand(raw, source, parse_sets(sets or []))
