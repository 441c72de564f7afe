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

from bench.config import CellConfig, EvalConfig, SlurmConfig, TrainConfig, validate
from bench.errors import BenchError
from bench.train.distributed import check_distributed

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


def read_grid_file(name_or_path: str) -> tuple[dict[str, Any], str]:
    """The raw mapping of a built-in grid name or a YAML file path, and where it came from."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise BenchError(f"--grid: file {name_or_path!r} does not exist")
        text, source = path.read_text(), str(path)
    else:
        builtin = resources.files("bench.grids") / f"{name_or_path}.yaml"
        if not builtin.is_file():
            raise BenchError(
                f"--grid: {name_or_path!r} is neither a built-in grid nor a file; "
                f"built-in: {', '.join(builtin_grids())}"
            )
        text, source = builtin.read_text(), f"grid {name_or_path}"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise BenchError(f"{source}:{where} is not valid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(raw, dict):
        raise BenchError(f"{source}: a grid must be a mapping of keys, got {type(raw).__name__}")
    return raw, source


def _check_keys(raw: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in raw:
        if key not in allowed:
            raise BenchError(f"{prefix}{key}: unknown key; allowed: {', '.join(allowed)}")


def _named_entries(value: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """`[a, {b: {arg: 1}}]` -> [(a, {}), (b, {arg: 1})]."""
    if not isinstance(value, list) or not value:
        raise BenchError(f"{where}: expected a non-empty list, got {value!r}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, dict) and len(item) == 1:
            ((name, args),) = item.items()
            if not isinstance(name, str) or not isinstance(args, dict | None):
                raise BenchError(f"{where}[{i}]: expected NAME or {{NAME: {{key: value}}}}, got {item!r}")
            out.append((name, args or {}))
        else:
            raise BenchError(f"{where}[{i}]: expected NAME or {{NAME: {{key: value}}}}, got {item!r}")
    return out


def _int_list(value: Any, where: str, positive: bool) -> list[int]:
    if not isinstance(value, list) or not value:
        raise BenchError(f"{where}: expected a non-empty list of integers, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int):
            raise BenchError(f"{where}: expected integers, got {v!r}")
        if positive and v <= 0:
            raise BenchError(f"{where}: latent size must be a positive integer, got {v!r}")
    return value


def _merged(base: Any, override: Any, where: str) -> dict[str, Any]:
    for name, part in (("", base), ("", override)):
        if part is not None and not isinstance(part, dict):
            raise BenchError(f"{where}{name}: expected a mapping of keys, got {part!r}")
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
        raise BenchError(f"{source}: blocks: expected a non-empty list of blocks, got {blocks!r}")
    overrides = overrides or {}

    cells: dict[str, CellConfig] = {}
    for b, block in enumerate(blocks):
        # Every message reads "<file>: <dotted key>: <problem>".
        p = f"{source}: blocks[{b}]." if "blocks" in raw else f"{source}: "
        if not isinstance(block, dict):
            raise BenchError(f"{p}: expected a mapping of keys, got {block!r}")
        _check_keys(block, BLOCK_KEYS, p)
        spec = {k: block.get(k, raw.get(k)) for k in AXES}
        for axis in ("models", "datasets"):
            if spec[axis] is None:
                raise BenchError(f"{p}{axis}: required key is missing")
        models = _named_entries(spec["models"], f"{p}models")
        datasets = _named_entries(spec["datasets"], f"{p}datasets")
        latents = _int_list(spec["latent_sizes"], f"{p}latent_sizes", True) if spec["latent_sizes"] else None
        seeds = _int_list(spec["seeds"] if spec["seeds"] is not None else [0], f"{p}seeds", False)
        train_raw = _merged(
            _merged(raw.get("train"), block.get("train"), f"{p}train"), overrides.get("train"), f"{p}train"
        )
        eval_raw = _merged(
            _merged(raw.get("eval"), block.get("eval"), f"{p}eval"), overrides.get("eval"), f"{p}eval"
        )
        train = validate(TrainConfig, train_raw, f"{p}train")
        evaluation = validate(EvalConfig, eval_raw, f"{p}eval")

        for (m, m_args), (d, d_args) in itertools.product(models, datasets):
            family = MODELS.get(m, f"{p}models")
            source_cls = DATASETS.get(d, f"{p}datasets")
            m_cfg = validate(family.Config, m_args, f"{p}models.{m}")
            d_cfg = validate(source_cls.Args, d_args, f"{p}datasets.{d}")
            info = source_cls(d_cfg).info()
            sizes = (latents or [family.default_latent_size]) if family.uses_latent else [None]
            for z, seed in itertools.product(sizes, seeds):
                _check_family_needs(family, info, f"{p}models.{m} on {d}")
                check_distributed(family, train, f"{p}models.{m}")
                family.check(m_cfg, info, z, where=f"{p}models.{m} on {d}")
                _check_eval(evaluation, info, f"{p}eval")
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
    if {"kid", "kid_inception"} & set(ev.metrics) and ev.kid_subset_size > min(ev.n_samples, n_real):
        raise BenchError(
            f"{where}.kid_subset_size: {ev.kid_subset_size} is larger than the {min(ev.n_samples, n_real)} "
            f"images available (n_samples={ev.n_samples}, real={n_real}); lower kid_subset_size or raise N"
        )
    domain_metrics = set(ev.metrics) & {"fd", "kid", "coverage", "prc_domain"}
    if ev.extractor == "auto" and info.num_classes == 0 and domain_metrics:
        raise BenchError(
            f"{where}.metrics: {', '.join(sorted(domain_metrics))} need a domain classifier and {info.name} "
            "has no labels to train one on; use the Inception metrics (fid, kid_inception, isc, prc)"
        )


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """`--set train.steps=10 --set eval.n_samples=200` -> nested overrides (values parsed as YAML)."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or section not in ("train", "eval") or not field:
            raise BenchError(f"--set: expected train.KEY=VALUE or eval.KEY=VALUE, got {pair!r}")
        try:
            out.setdefault(section, {})[field] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise BenchError(f"--set: cannot parse the value in {pair!r}") from None
    return out


def load_grid(name_or_path: str, sets: list[str] | None = None) -> Grid:
    raw, source = read_grid_file(name_or_path)
    return expand(raw, source, parse_sets(sets or []))
