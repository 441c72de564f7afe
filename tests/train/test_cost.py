"""The cost every result records: seconds, device-seconds, images drawn, peak memory, device."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from rich.console import Console

from bench.grid import load_grid
from bench.launch.local import run_local
from bench.storage import files as store
from bench.train.cost import peak_memory

QUIET = Console(file=open(os.devnull, "w"))  # noqa: SIM115


def _cost(write_grid, out: Path, model) -> dict:
    run_local(load_grid(str(write_grid(models=[model]))), out, QUIET, in_process=True)
    (cell,) = [p.parent for p in out.glob(f"*/{store.CONFIG}")]
    r = store.read_result(cell)
    assert r["status"] == "done"
    return r


def test_cost_is_recorded_and_images_count_every_draw(write_grid, tmp_path) -> None:
    vae = _cost(write_grid, tmp_path / "vae", "mlp_vae")
    gan = _cost(write_grid, tmp_path / "gan", {"dcgan": {"g_width": 8, "d_width": 8}})
    # TINY_GRID: 24 steps of 16 images; the VAE draws once a step, and so does DCGAN: its D phase draws
    # real images, its G phase reuses the D phase's fakes and draws none.
    assert vae["cost"]["images_seen"] == 24 * 16 and gan["cost"]["images_seen"] == 24 * 16
    for r in (vae, gan):
        c = r["cost"]
        assert c["processes"] == 1 and c["device_name"]
        assert 0 < c["train_seconds"] < r["wall_seconds"] and 0 < c["eval_seconds"] < r["wall_seconds"]
        assert c["device_seconds"] == pytest.approx(r["wall_seconds"])
        assert c["steps_per_second"] == pytest.approx(24 / c["train_seconds"])
        assert c["peak_memory_kind"] == ("cuda_max_allocated" if torch.cuda.is_available() else "max_rss")
        assert c["peak_memory_bytes"] > 50 * 2**20  # torch alone is more than that


def test_images_seen_counts_the_draws_before_a_resume(write_grid, tmp_path, monkeypatch) -> None:
    import bench.cell.training as cell_mod

    straight = _cost(write_grid, tmp_path / "a", "mlp_vae")
    real_fit = cell_mod.fit

    def fit_then_die(*args, **kwargs):
        on_flush = kwargs["on_flush"]

        def flush(step: int) -> None:
            on_flush(step)
            if step == 16:
                raise KeyboardInterrupt

        return real_fit(*args, **{**kwargs, "on_flush": flush})

    monkeypatch.setattr(cell_mod, "fit", fit_then_die)
    with pytest.raises(KeyboardInterrupt):
        _cost(write_grid, tmp_path / "b", "mlp_vae")
    monkeypatch.setattr(cell_mod, "fit", real_fit)
    resumed = _cost(write_grid, tmp_path / "b", "mlp_vae")
    assert resumed["train"]["resumed_from"] == 16
    assert resumed["cost"]["images_seen"] == straight["cost"]["images_seen"] == 24 * 16
    assert resumed["cost"]["steps_per_second"] == pytest.approx(8 / resumed["cost"]["train_seconds"])


def test_cpu_peak_memory_is_the_resident_high_water_mark_in_bytes() -> None:
    peak, kind = peak_memory(torch.device("cpu"))
    status = Path("/proc/self/status").read_text().splitlines()
    hwm_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    assert kind == "max_rss" and 0.8 < peak / (hwm_kib * 1024) < 1.25
