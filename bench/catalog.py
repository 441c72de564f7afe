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
        i = cls(cls.Args(**cls.example_args)).info()
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
    from bench.grid import builtin_grids, load_grid

    rows = []
    for name, desc in builtin_grids().items():
        try:
            n = str(len(load_grid(name).cells))
        except BenchError:
            n = "?"
        rows.append([name, n, desc])
    return "built-in grids (bench run --grid NAME)", ["grid", "cells", "description"], rows


METRICS = [
    [
        "fd_<extractor>",
        "Frechet distance between feature Gaussians of generated and real test images",
        "lower",
        "torch-fidelity",
    ],
    [
        "kid_<extractor>",
        "kernel (MMD, cubic polynomial) distance of the same features, mean ± std over subsets",
        "lower",
        "torch-fidelity",
    ],
    [
        "coverage_<extractor>",
        "share of classes the dataset's classifier finds among samples (>= 10% of fair share)",
        "higher",
        "bench",
    ],
    ["class_kl_<extractor>", "KL(generated class histogram || real class histogram), nats", "lower", "bench"],
    [
        "precision_/recall_<extractor>",
        "improved precision and recall (k=3 nearest neighbours)",
        "higher",
        "torch-fidelity",
    ],
    [
        "fid, kid_inception",
        "FD and KID on TF-compatible InceptionV3 2048-d features (needs bench assets)",
        "lower",
        "torch-fidelity",
    ],
    ["isc", "Inception Score over isc_splits splits (needs bench assets)", "higher", "torch-fidelity"],
    [
        "cond_accuracy_<extractor>",
        "classifier accuracy on class-conditioned samples (conditional models)",
        "higher",
        "bench",
    ],
    [
        "fd_<extractor>_class_mean",
        "mean FD per class, conditioned samples vs real images of that class",
        "lower",
        "bench",
    ],
    [
        "curve_<metric>_best/_final",
        "best and final value of a metric during training (eval.curve_every)",
        "-",
        "bench",
    ],
]


def listing(what: str) -> tuple[str, list[str], list[list[str]]]:
    if what == "metrics":
        return (
            "metrics (<extractor> is the domain classifier's dataset, e.g. fd_digits; never called FID)",
            ["metric", "what", "better", "computed by"],
            METRICS,
        )
    return {"models": _models, "datasets": _datasets, "grids": _grids}[what]()
