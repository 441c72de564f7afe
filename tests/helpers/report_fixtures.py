"""A fabricated results folder for the report tests: real cell configs (so cell ids and reproduce
grids are the real ones), hand-written result.json / metrics.jsonl / curve.jsonl / samples.png.

Rows (digits; fd_digits lower is better):
  mlp_vae z4        seeds 0-2 done, fd 40, 42, 41, curves
  mlp_vae z8        seed 0 done (one seed), seed 1 running, seed 2 pending
  dcgan z4          seeds 0-1 done, fd 41.8, 40.6 (not separable from mlp_vae z4), seed 2 failed
  dcgan z8          seeds 0-2 done, fd 80, 85, 82; seed 1's D gradient vanishes; evaluation repeats
  wgan_gp z8        scored at N=200 (another protocol): seeds 0, 2 done, seed 1 diverged
  cond_dcgan z4     seeds 0-1 done, with conditional accuracy and FD per class
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
from PIL import Image

from bench.config import CellConfig
from bench.fs import atomic_write_json
from bench.grid import expand
from bench.storage.identity import cell_identity

GRID = {
    "name": "fab",
    "train": {"steps": 40, "batch_size": 16},
    "eval": {"n_samples": 120, "kid_subset_size": 50, "kid_subsets": 5},
    "datasets": ["digits"],
    "seeds": [0, 1, 2],
    "blocks": [
        {"models": ["mlp_vae", {"dcgan": {"g_width": 8, "d_width": 8}}], "latent_sizes": [4, 8]},
        {"models": ["wgan_gp"], "latent_sizes": [8], "eval": {"n_samples": 200}},
        {"models": [{"cond_dcgan": {"g_width": 8, "d_width": 8}}], "latent_sizes": [4], "seeds": [0, 1]},
    ],
}
FD = {
    ("mlp_vae", 4): [40.0, 42.0, 41.0],
    ("mlp_vae", 8): [30.0, None, None],
    ("dcgan", 4): [41.8, 40.6, "failed"],
    ("dcgan", 8): [80.0, 85.0, 82.0],
    ("wgan_gp", 8): [60.0, "diverged", 62.0],
    ("cond_dcgan", 4): [50.0, 52.0],
}


def protocol(n: int) -> dict:
    fp = f"{n:08d}"
    return {
        "extractor": "domain:digits",
        "extractor_sha256": "ab" * 32,
        "extractor_test_accuracy": 0.986,
        "n_generated": n,
        "n_real": 360,
        "real_split": "digits/test",
        "precision": "fp32",
        "seed": 0,
        "torch_fidelity": "0.4.0",
        "kid_subsets": 5,
        "kid_subset_size": 50,
        "fingerprint": fp,
        "fingerprints": {k: fp for k in ("fd_digits", "kid_digits", "coverage_digits", "class_kl_digits")},
    }


def gan_log(steps: int, vanish: bool, wgan: bool) -> list[dict]:
    rows = []
    for i in range(steps):
        grad = 1e-6 if vanish and i > steps // 3 else 5.0 / (1 + i / 20) + 0.3 * np.sin(i)
        row = {"step": i, "d/loss": 0.01 if vanish else 1.3 - i / (2 * steps), "g/loss": 0.9}
        row["g/d_layer1_grad_norm"] = float(grad)
        if wgan:
            row |= {"d/loss": -2.0 + i / steps, "d/gp": 0.05}
        rows.append(row)
    return rows


def fabricate(out: Path) -> dict[tuple[str, int], list[CellConfig]]:
    """Write the folder; returns the cells of each row (model, latent size) by seed."""
    rng = np.random.default_rng(0)
    cells: dict[tuple[str, int], list[CellConfig]] = {}
    for cfg in expand(GRID, "fab").cells:
        cells.setdefault((cfg.model, cfg.latent_size), []).append(cfg)
    for (model, z), cfgs in cells.items():
        for cfg, value in zip(sorted(cfgs, key=lambda c: c.seed), FD[(model, z)], strict=True):
            d = out / cfg.cell_id
            atomic_write_json(d / "config.json", cfg.model_dump(mode="json"))
            if value is None:
                if cfg.seed == 1:
                    atomic_write_json(d / "running.json", {"host": socket.gethostname(), "pid": os.getpid()})
                continue
            result = {**cell_identity(cfg), "status": "done", "reason": None, "wall_seconds": 30.0 + z}
            (d / "cell.log").write_text(f"cell {cfg.cell_id}\n")
            if value in ("failed", "diverged"):
                result |= {
                    "status": value,
                    "reason": "RuntimeError: boom" if value == "failed" else "d/loss became nan",
                }
                atomic_write_json(d / "result.json", result)
                continue
            n = cfg.eval.n_samples
            metrics = {
                "fd_digits": value,
                "kid_digits": value / 10,
                "kid_digits_std": 0.1,
                "coverage_digits": 1.0,
                "class_kl_digits": 0.05,
                "eval_seconds": 2.0,
            }
            if model == "mlp_vae":
                metrics |= {"bpd": 0.5 + z / 100, "elbo": -300.0 - cfg.seed, "recon_mse": 0.03, "psnr": 15.0}
            if model == "cond_dcgan":
                per_class = {f"fd_digits_class{c}": value + c + cfg.seed for c in range(3)}
                metrics |= per_class | {
                    "cond_accuracy_digits": 0.8,
                    "fd_digits_class_mean": value + 1 + cfg.seed,
                }
            result |= {
                "metrics": metrics,
                "protocol": protocol(n),
                "train": {"seconds": 20.0, "processes": 1},
            }
            if model == "dcgan" and z == 8:
                result["cost"] = {
                    "device_seconds": 3600.0 * (1 + cfg.seed),
                    "train_seconds": 3000.0,
                    "peak_memory_bytes": 2**30,
                    "peak_memory_kind": "max allocated",
                    "device_name": "NVIDIA H200",
                }
                result["eval_repeats"] = {"fd_digits": [value - 1, value, value + 1]}
            atomic_write_json(d / "result.json", result)
            if model != "mlp_vae":
                log = gan_log(
                    60, vanish=model == "dcgan" and z == 8 and cfg.seed == 1, wgan=model == "wgan_gp"
                )
            else:
                log = [{"step": i, "loss": 200.0 - i} for i in range(60)]
            (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
            if (model, z) in (("mlp_vae", 4), ("dcgan", 8)):
                curve = [{"step": s, "fd_digits": value + 300.0 / (1 + s / 10)} for s in (10, 20, 30, 40)]
                (d / "curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in curve))
            pixels = (rng.random((28 * 4, 28 * 4)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(d / "samples.png")
            if model == "mlp_vae" and z == 4 and cfg.seed == 0:
                Image.fromarray(pixels[:56]).save(d / "traversal.png")  # an analysis's figure
    return cells
