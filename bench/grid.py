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
from pathlib import Path
from typing import Any

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
from bench.grids import parse_sets, read_grid_file
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


# A grid expands to at most this many cells (the `all` study has 159), latent sizes at most MAX_LATENT.
MAX_GRID_CELLS = 10_000
MAX_LATENT = 65_536


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


def load_grid(name_or_path: str, sets: list[str] | None = None) -> Grid:
    raw, source = read_grid_file(name_or_path)
    return expand(raw, source, parse_sets(sets or []))
