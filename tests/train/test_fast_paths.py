"""The fast paths of the training step (bench/train/compile.py, cuda_graphs.py, numerics.py, the Adam
kernel in bench/models/base.py): each family's optimizers take the runner's kernel, torch.compile agrees
with eager, CUDA graphs are refused where a step cannot be captured (and agree with eager on a GPU),
accelerate's second autocast is gone, and the settings are in the cell's id and its result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from torch import nn

from bench.config import CellConfig, EvalConfig, TrainConfig
from bench.datasets.batches import BatchStream
from bench.errors import BenchError
from bench.grid import load_grid
from bench.models import MODELS
from bench.models.base import AdamKernel
from bench.train.compile import compile_nets
from bench.train.distributed import prepare_net
from bench.train.loop import fit
from bench.train.numerics import set_device_numerics
from bench.train.steplog import StepLog
from tests.helpers.recipe_cells import CELLS, LATENT, _info, _split
from tests.helpers.step_watch import ops_in_training_steps

# torch.compile (inductor, C++ on this CPU) against eager over COMPILE_STEPS steps: every logged value
# at every step within COMPILE_RTOL relative. Measured here:
# mlp_vae bitwise equal, dcgan at most 2.0e-7 relative; the bound leaves 50x for other CPUs' kernels.
COMPILE_STEPS = 8
COMPILE_RTOL = {"mlp_vae": 1e-5, "dcgan": 1e-5}


def _model(name: str, kernel: AdamKernel | None = None, seed: int = 0):
    pairing, args = CELLS[name]
    family = MODELS.get(name)
    torch.manual_seed(seed)
    model = family(family.Config(**args), _info(pairing), LATENT if family.uses_latent else None)
    if kernel is not None:
        model.adam_kernel = kernel
    return model


def _losses(model, tmp_path: Path, steps: int, device: str = "cpu", cuda_graphs: bool = False) -> list[dict]:
    stream = BatchStream(_split(24, "none", 0), 8, torch.device(device), seed=0)
    path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.jsonl"
    torch.manual_seed(1)
    model.begin(steps)
    if device != "cpu":  # accelerate's state is process-wide; earlier tests made a CPU one
        AcceleratorState._reset_state(reset_partial_state=False)
    acc = Accelerator(cpu=device == "cpu")
    fit(model, model.optimizers(), stream, acc, StepLog(path), 0, steps, steps, cuda_graphs=cuda_graphs)
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("name", sorted(CELLS))
def test_every_family_builds_its_optimizers_with_the_runners_kernel(name: str) -> None:
    for kernel, want in [
        (AdamKernel(), {"foreach": True, "capturable": False}),
        (AdamKernel(fused=True, capturable=True), {"fused": True, "capturable": True}),
    ]:
        opts = _model(name, kernel).optimizers()
        assert opts, name
        for phase, opt in opts.items():
            got = {k: opt.defaults.get(k) for k in want}
            assert got == want, f"{name}.{phase}: {got}"


def test_the_kernel_follows_the_device() -> None:
    assert AdamKernel.for_device(torch.device("cpu")).options() == {"foreach": True}
    gpu = AdamKernel.for_device(torch.device("cuda"), capturable=True)
    assert gpu.options() == {"fused": True, "capturable": True}
    assert gpu.record() == {"optimizer_kernel": "fused", "capturable": True}


def test_foreach_adam_is_bitwise_the_loop_over_parameters_on_the_cpu(tmp_path: Path) -> None:
    """Why foreach is safe as the CPU default: recorded results of unchanged families stay bitwise."""
    a = _losses(_model("dcgan", AdamKernel()), tmp_path, 4)
    plain = _model("dcgan")
    plain.adam = lambda params, lr, betas=(0.9, 0.999): torch.optim.Adam(params, lr=lr, betas=betas)
    assert a == _losses(plain, tmp_path, 4)


@pytest.mark.parametrize("name", ["mlp_vae", "dcgan"])
def test_compiled_nets_train_like_eager_ones(tmp_path: Path, name: str, one_blas_thread) -> None:
    eager = _losses(_model(name), tmp_path, COMPILE_STEPS)
    model = _model(name)
    model.nets = compile_nets(model, "default")
    assert all(hasattr(net, "_orig_mod") for net in model.nets.values())
    compiled = _losses(model, tmp_path, COMPILE_STEPS)
    assert len(compiled) == len(eager) == COMPILE_STEPS
    assert eager[0] != compiled[-1]  # the losses move: the comparison is over a trajectory
    for e, c in zip(eager, compiled, strict=True):
        assert e.keys() == c.keys()
        for k in e:
            assert c[k] == pytest.approx(e[k], rel=COMPILE_RTOL[name], abs=1e-6), f"{k} at step {e['step']}"


def test_compile_leaves_ema_copies_plain() -> None:
    family = MODELS.get("dcgan")
    model = family(family.Config(g_width=4, d_width=4, ema=0.9), _info("none"), LATENT)
    nets = compile_nets(model, "default")
    assert not hasattr(nets["G_ema"], "_orig_mod") and hasattr(nets["G"], "_orig_mod")
    assert compile_nets(model, "none") == model.nets


def test_prepare_net_leaves_one_autocast_the_loops() -> None:
    """accelerate wraps forward in autocast + an fp32 cast under mixed precision; prepare_net undoes it."""
    AcceleratorState._reset_state(reset_partial_state=False)  # other tests made an fp32 one
    acc = Accelerator(cpu=True, mixed_precision="bf16")
    torch.manual_seed(0)
    plain, wrapped = nn.Linear(16, 16), nn.Linear(16, 16)
    wrapped.load_state_dict(plain.state_dict())
    x = torch.randn(4, 16)
    want = plain(x)
    assert not torch.equal(acc.prepare_model(wrapped)(x), want)  # bf16 inside accelerate's wrapper
    prepared = prepare_net(acc, plain)
    assert "forward" not in prepared.__dict__ and "_original_forward" not in prepared.__dict__
    assert torch.equal(prepared(x), want)
    with acc.autocast():
        assert prepared(x).dtype == torch.bfloat16  # the loop's autocast still applies
    AcceleratorState._reset_state(reset_partial_state=False)


def test_cpu_numerics_are_the_full_float32_defaults() -> None:
    set_device_numerics(torch.device("cuda"))  # as a GPU cell run before in this process would
    try:
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.benchmark
    finally:
        record = set_device_numerics(torch.device("cpu"))
    assert record == {
        "cudnn_benchmark": False,
        "tf32_matmul": False,
        "tf32_conv": False,
        "float32_matmul_precision": "highest",
    }
    assert torch.get_float32_matmul_precision() == "highest" and not torch.backends.cudnn.benchmark


def _cell(**train: object) -> CellConfig:
    return CellConfig(
        model="mlp_vae",
        model_args={},
        dataset="digits",
        dataset_args={},
        latent_size=4,
        seed=0,
        train=TrainConfig(steps=10, **train),
        eval=EvalConfig(),
    )


def test_fast_paths_are_training_settings_and_defaults_keep_old_ids() -> None:
    base = _cell()
    assert "compile" not in base.training_identity()["train"]  # ids of cells recorded before stay
    assert _cell(compile="none").cell_id == base.cell_id == _cell(cuda_graphs=False).cell_id
    ids = {base.cell_id, _cell(compile="default").cell_id, _cell(compile="max-autotune").cell_id}
    ids.add(_cell(cuda_graphs=True).cell_id)
    assert len(ids) == 4


@pytest.mark.parametrize(
    ("models", "train", "message"),
    [
        (["mlp_vae"], {"device": "cpu"}, "models.mlp_vae: train.cuda_graphs: it needs a GPU and train.dev"),
        (
            [{"wgan_gp": {"g_width": 8, "d_width": 8}}],
            {},
            "models.wgan_gp: train.cuda_graphs: WGANGP cannot be captured: the wgan_gp gradient penalty "
            "takes a double backward; set cuda_graphs: false",
        ),
        (
            [{"dcgan": {"loss": "wgan_gp"}}],
            {},
            "DCGAN cannot be captured: the wgan_gp gradient penalty takes a double backward",
        ),
        (["dcgan_encoder"], {}, "cannot be captured: its phases change during training"),
        (["mlp_vae"], {"processes": 2}, "with 2 processes the ddp gradient exchange is not captured"),
        (["mlp_vae"], {"compile": "default"}, "train.compile: default compiles the step itself"),
    ],
)
def test_cuda_graphs_are_refused_where_a_step_cannot_be_captured(write_grid, models, train, message) -> None:
    path = write_grid(models=models, train={"steps": 10, "batch_size": 16, "cuda_graphs": True, **train})
    with pytest.raises(BenchError) as err:
        load_grid(str(path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cuda_graphs_validate_for_capturable_families(write_grid) -> None:
    grid = load_grid(str(write_grid(train={"steps": 10, "batch_size": 16, "cuda_graphs": True})))
    assert {c.model for c in grid.cells} == {"mlp_vae", "dcgan"}
    assert all(c.train.cuda_graphs for c in grid.cells)


def test_compile_with_deepspeed_processes_is_refused(write_grid) -> None:
    train = {"steps": 10, "processes": 2, "distributed": "deepspeed", "compile": "default"}
    with pytest.raises(BenchError, match=r"train\.compile: default is not supported with distributed"):
        load_grid(str(write_grid(models=["mlp_vae"], train=train)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a GPU")
def test_bench_run_refuses_cuda_graphs_without_a_gpu(monkeypatch, capsys, tmp_path: Path, write_grid) -> None:
    from tests.e2e.test_bad_inputs import _run_row

    grid = write_grid(train={"steps": 10, "batch_size": 16, "cuda_graphs": True})
    _run_row(monkeypatch, capsys, tmp_path, grid, [], "train.cuda_graphs: 2 cell(s) ask for CUDA graphs")


def test_a_compiled_cell_records_its_fast_paths(tmp_path: Path, write_grid, one_blas_thread) -> None:
    import os

    from rich.console import Console

    from bench.launch.local import run_local
    from bench.storage import files as store

    train = {"steps": 6, "batch_size": 16, "log_every": 3, "checkpoint_every": 0, "compile": "default"}
    eval_ = {"n_samples": 60, "kid_subset_size": 20, "kid_subsets": 2, "batch_size": 60, "metrics": []}
    grid = load_grid(str(write_grid(models=[{"mlp_vae": {"hidden": [32]}}], train=train, eval=eval_)))
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    summary = run_local(grid, tmp_path / "out", quiet, in_process=True)
    (cid,) = summary.ran
    r = store.read_result(tmp_path / "out" / cid)
    assert r["status"] == "done", r.get("reason")
    t = r["train"]
    assert (t["compile"], t["cuda_graphs"], t["optimizer_kernel"], t["capturable"]) == (
        "default",
        False,
        "foreach",
        False,
    )
    numerics = (t["float32_matmul_precision"], t["tf32_matmul"], t["cudnn_benchmark"])
    assert numerics == ("highest", False, False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
@pytest.mark.parametrize("name", ["mlp_vae", "dcgan"])
def test_cuda_graph_steps_train_like_eager_ones_on_a_gpu(tmp_path: Path, name: str) -> None:
    """Replayed steps against eager ones, same seeds and batches, 20 steps (3 eager warm-up, then 17
    replays). The graph draws its noise from other Philox offsets than eager code, so values agree
    closely only where no noise enters; the bound is on the mean of each logged value over the run."""
    steps = 20

    def run(graphs: bool) -> list[dict]:
        model = _model(name, AdamKernel(fused=True, capturable=graphs))
        for key, net in model.nets.items():
            model.nets[key] = net.cuda()
        return _losses(model, tmp_path, steps, device="cuda", cuda_graphs=graphs)

    eager, graphed = run(False), run(True)
    assert len(graphed) == steps
    assert graphed[0] == pytest.approx(eager[0], rel=1e-4)  # warm-up steps run eagerly: the same start
    for k in eager[0]:
        mean_e = sum(r[k] for r in eager) / steps
        mean_g = sum(r[k] for r in graphed) / steps
        assert mean_g == pytest.approx(mean_e, rel=0.05, abs=1e-3), k


def _capturable(name: str) -> bool:
    family = MODELS.get(name)
    return family.capture_blocker(family.Config(**CELLS[name][1])) is None


# Every family validation lets capture, and the VAE's other likelihoods (the cells use the default).
HOST_DATA_CASES = [(n, {}) for n in sorted(CELLS) if _capturable(n)] + [
    ("mlp_vae", {"likelihood": name}) for name in ("gaussian", "discretized_gaussian", "discretized_logistic")
]


@pytest.mark.parametrize(("name", "extra"), HOST_DATA_CASES, ids=[f"{n}{e}" for n, e in HOST_DATA_CASES])
def test_capturable_steps_build_no_tensor_from_host_values(
    tmp_path: Path, name: str, extra: dict, monkeypatch
) -> None:
    """What the CPU can check of a family validation lets capture: its training step makes no tensor
    from Python data (`torch.tensor`, `new_tensor`, `as_tensor` of a number: `aten.lift_fresh`), which
    on a GPU is a copy from pageable host memory that CUDA graph capture refuses. The optimizer step,
    the EMA update and the log flush are outside (they run outside the graph, or only at warm-up)."""
    from bench.train.ema import EMAUpdate

    lifts = (torch.ops.aten.lift_fresh, torch.ops.aten.lift_fresh_copy)
    seen = ops_in_training_steps(
        name, lifts, tmp_path, monkeypatch, extra, exempt=[(EMAUpdate, "after_step")]
    )
    assert not seen, f"{name}: tensors from host data in a step: {sorted(set(seen))}"


class HostReplay:
    """A CPU stand-in for `CudaCapture` with a graph's semantics: capture leaves no trace (it runs the
    step once to learn its outputs, then puts weights, buffers, optimizer state and the RNG back), and
    every replay runs the recorded step again on the static batches, writing into the same outputs."""

    device_type = "cpu"

    def __init__(self, model, optimizers) -> None:
        self.model, self.optimizers, self.warmups, self.captures, self.replays = model, optimizers, 0, 0, 0

    def warmup(self, fn):
        self.warmups += 1
        return fn()

    def capture(self, fn):
        import copy

        from bench.models.base import unwrap

        nets = {k: copy.deepcopy(unwrap(n).state_dict()) for k, n in self.model.nets.items()}
        opts = {k: copy.deepcopy(o.state_dict()) for k, o in self.optimizers.items()}
        rng = torch.get_rng_state()
        outputs = fn()
        for k, n in self.model.nets.items():
            unwrap(n).load_state_dict(nets[k])
        for k, o in self.optimizers.items():
            o.load_state_dict(opts[k])
        torch.set_rng_state(rng)
        self.captures += 1

        def replay() -> None:
            self.replays += 1
            for (_, out), (_, new) in zip(outputs, fn(), strict=True):
                for k, v in out.items():
                    v.detach().copy_(new[k])

        return replay, outputs


def _graphed(
    name: str, tmp_path: Path, steps: int, monkeypatch, **args
) -> tuple[list[dict], object, HostReplay]:
    from bench.train import cuda_graphs

    pairing, cell_args = CELLS[name]
    family = MODELS.get(name)
    torch.manual_seed(0)
    model = family(family.Config(**{**cell_args, **args}), _info(pairing), LATENT)
    opts = model.optimizers()
    device = HostReplay(model, opts)
    monkeypatch.setattr(cuda_graphs, "CudaCapture", lambda: device)
    model.optimizers = lambda: opts
    rows = _losses(model, tmp_path, steps, cuda_graphs=True)
    return rows, model, device


@pytest.mark.parametrize("name", ["mlp_vae", "dcgan"])
def test_the_graphed_step_driver_replays_exactly_the_eager_steps(
    tmp_path: Path, name: str, monkeypatch
) -> None:
    """The driver's part of train.cuda_graphs, on the CPU: warm-up steps, one capture, static batches
    refilled before every replay, outputs copied out, the EMA updated after each replay. With a replay
    that re-runs the recorded step the run must be bitwise the eager one (same batches, same order)."""
    steps = 8
    graphed, model, device = _graphed(name, tmp_path, steps, monkeypatch, ema=0.9)
    torch.manual_seed(0)
    family = MODELS.get(name)
    eager_model = family(family.Config(**CELLS[name][1], ema=0.9), _info("none"), LATENT)
    eager = _losses(eager_model, tmp_path, steps)
    assert (device.warmups, device.captures, device.replays) == (3, 1, steps - 3)
    assert graphed == eager
    for k, net in eager_model.nets.items():  # the EMA copies too: updated after each replay
        for a, b in zip(net.state_dict().values(), model.nets[k].state_dict().values(), strict=True):
            assert torch.equal(a, b), k


def test_the_graphed_step_refuses_phases_that_change(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(
        BenchError, match=r"train\.cuda_graphs: the phases changed at step \d+ \(e after d, d, g\)"
    ):
        _graphed("dcgan_encoder", tmp_path, 8, monkeypatch, critic_steps=2)
