"""Tiny seeded training cells of every registered family, for the recipe regression test.

Each cell trains through the one loop (`bench.train.loop.fit`) on fabricated uint8 images (28x28x1,
labels, and paired / unpaired targets where the family needs them), then records what a cell's
metrics.jsonl and result.json would hold at this size: every logged row, the family's test metrics,
and summaries of a fixed draw of samples (the input of every sample-based score). Evaluation against
the domain classifier is left out on purpose: it is a deterministic function of the samples, which are
compared instead, and it would cost most of the test's time budget.

Record the baseline with `python tests/helpers/recipe_cells.py tests/train/data/recipe_baseline.json`
(every cell at seeds 0, 1, 2, plus the CPU model and torch build it ran on); the test is
tests/train/test_recipe_regression.py.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

# name -> (pairing, model args, latent size or None for the family default)
CELLS: dict[str, tuple[str, dict[str, Any]]] = {
    "mlp_vae": ("none", {"hidden": [32]}),
    "mlp_vae_mse": ("none", {"hidden": [32]}),
    "fc_vae": ("none", {"hidden": 32}),
    "cvae": ("none", {"hidden": 32}),
    "conv_vae": ("none", {"widths": [4, 8]}),
    "vq_vae": (
        "none",
        {
            "codebook_size": 8,
            "code_dim": 4,
            "hidden": 8,
            "prior_fit_n": 24,
            "pca_dim": 4,
            "gmm_components": 2,
        },
    ),
    "ddpm": ("none", {"base_channels": 4, "channel_mults": [1, 2], "timesteps": 20, "sample_steps": 4}),
    "mlp_gan": ("none", {}),
    "fc_gan": ("none", {}),
    "lsgan": ("none", {}),
    "dcgan": ("none", {"g_width": 4, "d_width": 4}),
    "cond_dcgan": ("none", {"g_width": 4, "d_width": 4}),
    "wgan_gp": ("none", {"g_width": 4, "d_width": 4, "critic_steps": 2}),
    "cond_wgan_gp": ("none", {"g_width": 4, "d_width": 4, "critic_steps": 2}),
    "dcgan_encoder": ("none", {"g_width": 4, "d_width": 4}),
    "siamese_gan": ("none", {"g_width": 4, "d_width": 4, "embed_dim": 8}),
    "pix2pix": ("paired", {"g_width": 4, "d_width": 4, "sample_pool": 8}),
    "cyclegan": ("unpaired", {"g_width": 4, "d_width": 4, "d_hidden": 16, "sample_pool": 8}),
}
LATENT = 4
STEPS, BATCH, LOG_EVERY, N_TRAIN, N_TEST, N_SAMPLES = 8, 8, 4, 24, 16, 8


def _split(n: int, pairing: str, seed: int):
    from bench.datasets.base import ImageSplit

    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    targets = None if pairing == "none" else 255 - imgs[: n if pairing == "paired" else (2 * n) // 3]
    return ImageSplit(imgs, torch.arange(n) % 10, targets=targets)


def _info(pairing: str):
    from bench.datasets.base import DatasetInfo

    return DatasetInfo(
        name="fake",
        resolution=28,
        channels=1,
        num_classes=10,
        splits={"train": N_TRAIN, "test": N_TEST},
        source="test",
        licence="test",
        pairing=pairing,
    )


def run_cell(name: str, seed: int = 0, extra_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train `name` for STEPS steps with `seed`; its rows, test metrics and sample summaries."""
    from accelerate import Accelerator

    from bench.datasets.batches import BatchStream
    from bench.models import MODELS
    from bench.train.loop import fit
    from bench.train.steplog import StepLog

    pairing, args = CELLS[name]
    family = MODELS.get(name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the recorded floats depend on the reduction order
    try:
        torch.manual_seed(seed)
        latent = LATENT if family.uses_latent else None
        model = family(family.Config(**{**args, **(extra_args or {})}), _info(pairing), latent)
        train, test = _split(N_TRAIN, pairing, seed), _split(N_TEST, pairing, 1000 + seed)
        stream = BatchStream(train, BATCH, torch.device("cpu"), seed=seed, paired=pairing == "paired")
        with tempfile.TemporaryDirectory() as tmp:
            log = StepLog(Path(tmp) / "metrics.jsonl")
            torch.manual_seed(seed * 1_000_003 + 1)
            model.begin(STEPS)
            fit(model, model.optimizers(), stream, Accelerator(cpu=True), log, 0, STEPS, LOG_EVERY)
            rows = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
        model.finalize(train, torch.Generator().manual_seed(seed))
        model.train(False)
        x = model.sample(N_SAMPLES, torch.Generator().manual_seed(7)).float()
        metrics = model.test_metrics(test, 8, torch.Generator().manual_seed(7))
        samples = {
            "mean": float(x.mean()),
            "std": float(x.std()),
            "sha256": hashlib.sha256(x.contiguous().numpy().tobytes()).hexdigest(),
        }
        return {"rows": rows, "metrics": metrics, "samples": samples, "batches_drawn": _drawn(stream)}
    finally:
        torch.set_num_threads(threads)


def _drawn(stream) -> int:
    return stream.epoch * stream.batches_per_epoch + stream.position


def machine() -> dict[str, str]:
    """What the recorded floats depend on besides the code: the CPU (its model name alone is not enough:
    "AMD EPYC" covers several generations, so family, model, stepping and a hash of the feature flags
    too), the kernels torch dispatches to on it, and the torch build."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass  # not Linux: the platform's own names are the best there is
    name = fields.get("model name") or platform.processor() or platform.machine()
    flags = hashlib.sha256(fields.get("flags", "").encode()).hexdigest()[:8]
    where = f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')} stepping "
    where += f"{fields.get('stepping', '?')}, flags {flags}"
    kernels = torch.backends.cpu.get_cpu_capability()
    return {
        "cpu": f"{name} ({where}; torch kernels {kernels})",
        "torch": f"{torch.__version__} ({torch.version.git_version})",
    }


def record(path: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    from bench.models import MODELS

    missing = sorted(n for n in MODELS.names() if n not in CELLS and not n.startswith("example_"))
    if missing:
        raise SystemExit(f"no cell for {missing}")
    cells = {name: {str(s): run_cell(name, s) for s in seeds} for name in CELLS}
    out = {"recorded_on": machine(), "seeds": list(seeds), "cells": cells}
    path.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    record(Path(sys.argv[1]))
