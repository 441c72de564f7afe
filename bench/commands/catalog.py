"""What `bench list` shows: registered models, datasets, grids and metrics with their facts."""

from __future__ import annotations

from bench.errors import BenchError


def _arguments(defaults: dict) -> str:
    """A model's arguments with their defaults, one per line: what `{model: {arg: value}}` may set."""
    return "\n".join(f"{k}={v}" for k, v in defaults.items()) or "-"


def _models() -> tuple[str, list[str], list[list[str]]]:
    from bench.datasets import DATASETS
    from bench.models import MODELS

    info = DATASETS.get("digits")(DATASETS.get("digits").Args()).info()
    rows = []
    for name, family in MODELS.items():
        z = family.default_latent_size if family.uses_latent else None
        config = family.Config()
        model = family(config, info, z)
        rows.append(
            [
                name,
                family.family,
                f"{model.num_parameters():,}",
                str(z or "-"),
                _arguments(config.model_dump()),
                family.paper,
            ]
        )
    return (
        "models (parameters on digits 28x28x1 at the default latent size; "
        "arguments as a grid sets them: {dcgan: {g_width: 32}})",
        ["model", "family", "parameters", "default latent", "arguments (defaults)", "follows"],
        rows,
    )


def _datasets() -> tuple[str, list[str], list[list[str]]]:
    import yaml

    from bench.datasets import DATASETS

    rows = []
    for name, cls in DATASETS.items():
        i = cls(cls.Args(**cls.example_args)).published_info()
        # 0 = a size known only once the files are read (image folders, attribute selections).
        splits = ", ".join(f"{k} {v:,}" if v else f"{k} ?" for k, v in i.splits.items())
        labels = f"{i.num_classes} classes" if i.num_classes else "unlabeled"
        if len(i.factors) > 6 and set(i.factors.values()) == {2}:
            labels += f"; {len(i.factors)} binary attributes"
        elif i.factors:
            labels += "; factors " + ", ".join(i.factors)
        if i.pairing != "none":
            labels += f"; {i.pairing} A -> B"
        shown = name
        if cls.example_args:  # required arguments: show how a grid names it
            shown += "\n" + yaml.safe_dump({name: cls.example_args}, default_flow_style=True).strip()
        rows.append(
            [shown, f"{i.resolution}x{i.resolution}x{i.channels}", labels, splits, i.source, i.licence]
        )
    return (
        "datasets (files under the data root: bench data fetch NAME; ? = size known once loaded)",
        ["dataset", "resolution", "labels / attributes", "splits", "source", "licence"],
        rows,
    )


def _grids() -> tuple[str, list[str], list[list[str]]]:
    from bench.grid import load_grid
    from bench.grids import builtin_grids

    rows = []
    for name, desc in builtin_grids().items():
        try:
            n = str(len(load_grid(name).cells))
        except BenchError:
            n = "?"
        rows.append([name, n, desc])
    return "built-in grids (bench run --grid NAME)", ["grid", "cells", "description"], rows


def _metrics() -> list[list[str]]:
    """One row per registered metric (eval.metrics names) and per other registered result key."""
    from bench.eval import metric_registry as registry

    rows = []
    for m in registry.metrics():
        fixed = registry.EXTRACTORS[m.extractor]
        keys = m.output_names(fixed or "<extractor>")
        better = ", ".join(
            "lower"
            if (info := registry.output_info(k.replace("<extractor>", "x"))) and info.lower_is_better
            else "higher"
            for k in keys
        )
        rows.append([m.name, ", ".join(keys), m.extractor, m.description, better, m.computed_by])
    for info in sorted(registry.other_outputs(), key=lambda i: i.name):
        key = (
            info.name.replace("{key}", "<extractor>")
            .replace("{c}", "<c>")
            .replace("{direction}", "<ABA|BAB>")
        )
        rows.append(["-", key, "-", info.description, "lower" if info.lower_is_better else "higher", "bench"])
    rows.append(
        [
            "-",
            "curve_<key>_best, _final, _best_step",
            "-",
            "a key's best/final value during training (eval.curve_every)",
            "as <key>",
            "bench",
        ]
    )
    rows.append(["-", "<key>_ema", "-", "a key measured on the EMA weights", "as <key>", "bench"])
    return rows


def listing(what: str) -> tuple[str, list[str], list[list[str]]]:
    if what == "metrics":
        return (
            "metrics (eval.metrics names; <extractor> is the domain extractor's dataset, e.g. fd_digits; "
            "never called FID)",
            ["metric", "result keys", "extractor", "what", "better", "computed by"],
            _metrics(),
        )
    return {"models": _models, "datasets": _datasets, "grids": _grids, "analyses": _analyses}[what]()


def _analyses() -> tuple[str, list[str], list[list[str]]]:
    from bench.analysis import ANALYSES

    rows = [
        [n, ANALYSES.get(n).description, ", ".join(ANALYSES.get(n).needs) or "-"] for n in ANALYSES.names()
    ]
    return "analyses (bench analyze --what NAME)", ["analysis", "what it draws", "model hooks it needs"], rows
