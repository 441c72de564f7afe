"""The built-in `all` grid: the whole study lists without data, and a reduced copy of it runs end to end.

The reduced copy is derived from all.yaml itself, so it follows the study as it changes: every model
entry of every block (with its arguments, nets shrunk), one latent size, one seed, two steps, and
built-in or fabricated data in place of the downloads (digits for the labelled sets; a folder of two
fabricated domains for CelebA's attribute domains)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
import yaml
from PIL import Image
from rich.console import Console

from bench.grid import Grid, expand, load_grid
from bench.launch.local import run_local
from bench.models import MODELS
from bench.storage import files as store

QUIET = Console(file=open("/dev/null", "w"))  # noqa: SIM115

# Small nets where a family has the setting (checked against its Config, so nothing unknown is passed).
SMALL = {
    "g_width": 8,
    "d_width": 8,
    "d_hidden": 16,
    "sample_pool": 16,
    "embed_dim": 8,
    "base_channels": 8,
    "sample_steps": 4,
    "prior_fit_n": 64,
    "prior_steps": 5,
    "pca_dim": 8,
    "gmm_components": 2,
    "hidden": 32,
}


def all_raw() -> dict:
    return yaml.safe_load((resources.files("bench.grids") / "all.yaml").read_text())


def model_names(raw: dict) -> set[str]:
    return {m if isinstance(m, str) else next(iter(m)) for b in raw["blocks"] for m in b["models"]}


def test_all_grid_lists_the_whole_study_without_data(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "nothing-here"))
    grid = load_grid("all")
    assert len(grid.cells) > 100
    by_model = {c.model for c in grid.cells}
    # Every registered family is in the study except pix2pix, which needs a paired set the study lacks.
    assert by_model == set(MODELS.names()) - {"pix2pix"}
    sweep = {c.latent_size for c in grid.cells if c.model == "mlp_gan" and c.dataset == "mnist"}
    assert sweep == {2, 4, 8, 16, 32, 64}
    assert {c.seed for c in grid.cells} == {0, 1, 2}
    k = {c.model_args["codebook_size"] for c in grid.cells if c.model == "vq_vae"}
    assert k == {64, 128, 256}
    assert not list(tmp_path.iterdir())  # nothing was read or written


def shrink(entry, family_fields: dict) -> dict:
    name, args = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
    fields = MODELS.get(name).Config.model_fields
    small = {k: v for k, v in SMALL.items() if k in fields and isinstance(fields[k].default, int)}
    return {name: {**small, **(args or {})}}


def fabricated_domains(root: Path) -> Path:
    for split, n in (("train", 12), ("test", 24)):  # 24 test images of B: KID's subsets of 20
        for dom, base in (("A", 30), ("B", 200)):
            d = root / f"{split}{dom}"
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(torch.full((28, 28), base + i, dtype=torch.uint8).numpy()).save(
                    d / f"{i}.png"
                )
    return root


def reduced(raw: dict, domains: Path) -> dict:
    blocks = []
    for b in raw["blocks"]:
        unpaired = any(isinstance(d, dict) and next(iter(d)) == "celeba_domains" for d in b["datasets"])
        block = {
            "models": [shrink(m, {}) for m in b["models"]],
            "datasets": (
                [{"folder_unpaired": {"path": str(domains), "resolution": 28, "channels": 1}}]
                if unpaired
                else ["digits"]
            ),
        }
        if "latent_sizes" in b:
            block["latent_sizes"] = b["latent_sizes"][:1]
        blocks.append(block)
    return {
        "name": "all-reduced",
        "train": {"steps": 2, "batch_size": 8, "log_every": 1, "checkpoint_every": 0, "threads": 1},
        "eval": {"n_samples": 40, "kid_subset_size": 20, "kid_subsets": 2, "batch_size": 40},
        "seeds": [0],
        "blocks": blocks,
    }


def test_a_reduced_copy_of_all_runs_end_to_end(tmp_path: Path) -> None:
    raw = all_raw()
    grid = expand(reduced(raw, fabricated_domains(tmp_path / "domains")), "all-reduced")
    one_each: dict[str, object] = {}
    for cell in grid.cells:  # one cell per family keeps it to seconds
        one_each.setdefault(cell.model, cell)
    grid = Grid(grid.name, grid.description, list(one_each.values()), grid.source)
    assert set(one_each) == model_names(raw)
    out = tmp_path / "out"
    summary = run_local(grid, out, QUIET, in_process=True)
    assert len(summary.ran) == len(grid.cells)
    for cell in grid.cells:
        d = out / cell.cell_id
        r = store.read_result(d)
        assert r["status"] == "done", f"{cell.model}: {r['status']} {r['reason']}"
        assert (d / "samples.png").is_file() and (d / "metrics.jsonl").is_file()
        if cell.model == "cyclegan":  # unlabelled domains: scored on the rotation extractor
            assert {"cycle_l1_ABA", "cycle_l1_BAB", "fd_folder_domains", "kid_folder_domains"} <= set(
                r["metrics"]
            )
            assert r["protocol"]["extractor_objective"] == "rotation"
        else:
            assert "fd_digits" in r["metrics"], cell.model
