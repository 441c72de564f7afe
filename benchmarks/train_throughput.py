"""Training images/s of one family through bench's one loop, alone or K copies packed on one device,
and InceptionV3 feature images/s: the figures a GPU-hour is paid for.

Random uint8 images of the dataset's shape live on the device (as a cell's whole split does); each timed
round runs `--steps` steps of `fit` (bf16 autocast and channels_last on CUDA, as cells run) and is
synchronized before the clock stops. Packed: K processes of this script train at once on the same
device, started together; their images/s are summed, and the ratio to one alone is printed.

    python benchmarks/train_throughput.py --family dcgan --resolution 64 --width 64 --batch 128
    python benchmarks/train_throughput.py --family dcgan --resolution 64 --width 64 --batch 128 --packed 4
    python benchmarks/train_throughput.py --inception --batch 500
    python benchmarks/train_throughput.py --family dcgan --paths all   # eager vs compile (vs graphs)

`--paths` compares the step paths in one run: eager, torch.compile (mode default) and, on a GPU, the
step captured as a CUDA graph (`train.cuda_graphs`); ratios are to the first path. Each path trains a
fresh model from the same seed for WARMUP untimed steps (compilation, capture), then `--rounds` rounds.

On this 2-core CPU the figures are small but the ratios still print; benchmarks/gpu_suite.sh runs the
GPU set in one go.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


WARMUP = 6  # untimed steps first: compilation, cuDNN autotuning, the graph's warm-up and capture
PATHS = ("eager", "compile", "graphs")  # graphs: CUDA only


def train_rate(
    family: str,
    resolution: int,
    channels: int,
    width: int,
    batch: int,
    steps: int,
    rounds: int,
    latent: int,
    path: str = "eager",
) -> dict[str, float]:
    """Steps/s of one `fit` on random images: WARMUP steps, then `rounds` timed rounds of `steps`, each
    synchronized at both ends (inside the one `fit` call, so a captured graph is captured once)."""
    from accelerate import Accelerator

    from bench.datasets.base import DatasetInfo, ImageSplit
    from bench.datasets.batches import BatchStream
    from bench.models import MODELS
    from bench.models.base import AdamKernel
    from bench.train.compile import compile_nets
    from bench.train.loop import fit
    from bench.train.numerics import set_device_numerics
    from bench.train.steplog import StepLog

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    set_device_numerics(device)  # cudnn.benchmark and TF32 on a GPU, as cells run
    info = DatasetInfo("bench", resolution, channels, 0, {"train": 4 * batch}, "random", "-")
    cls = MODELS.get(family)
    args = {"g_width": width, "d_width": width} if "g_width" in cls.Config.model_fields else {}
    torch.manual_seed(0)
    model = cls(cls.Config.model_validate(args), info, latent if cls.uses_latent else None)
    for name, net in model.nets.items():
        net = net.to(device)
        model.nets[name] = net.to(memory_format=torch.channels_last) if cuda else net
    model.adam_kernel = AdamKernel.for_device(device, capturable=path == "graphs")
    opts = model.optimizers()
    if path == "compile":
        model.nets = compile_nets(model, "default")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(
        0, 256, (4 * batch, channels, resolution, resolution), dtype=torch.uint8, generator=g
    )
    stream = BatchStream(ImageSplit(images), batch, device, seed=0, channels_last=cuda)
    acc = Accelerator(cpu=not cuda, mixed_precision="bf16" if cuda else "no")
    marks: list[float] = []

    def on_step(done: int) -> None:  # after step `done`: clock the round boundaries
        if done >= WARMUP and (done - WARMUP) % steps == 0:
            _sync(device)
            marks.append(time.perf_counter())

    total = WARMUP + rounds * steps
    model.begin(total)
    fit(
        model,
        opts,
        stream,
        acc,
        StepLog(None),
        0,
        total,
        steps,
        on_step=on_step,
        cuda_graphs=path == "graphs",
    )
    sec = statistics.median(b - a for a, b in zip(marks, marks[1:], strict=False))
    return {
        "steps_per_s": steps / sec,
        "images_per_s": steps * batch / sec,
        "device": str(device),
        "path": path,
    }


def inception_rate(batch: int, rounds: int, bf16: bool) -> float:
    from unittest import mock

    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    class Skeleton(tf_inception.FeatureExtractorInceptionV3):
        """Random weights of the real architecture: the speed does not depend on the values."""

        def load_state_dict(self, *args, **kwargs):
            return None

    with mock.patch.object(tf_inception, "load_state_dict_from_url", return_value={}):
        net = Skeleton("inception-v3-compat", ["2048"])
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    net = net.to(device).eval()
    x = torch.randint(0, 256, (batch, 3, 299, 299), dtype=torch.uint8, device=device)
    if cuda and bf16:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    ctx = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if (cuda and bf16)
        else torch.autocast("cpu", enabled=False)
    )
    times = []
    with torch.no_grad(), ctx:
        net(x)
        for _ in range(rounds):
            _sync(device)
            t0 = time.perf_counter()
            net(x)
            _sync(device)
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def _config_fields(family: str) -> dict:
    from bench.models import MODELS

    return MODELS.get(family).Config.model_fields


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", default="dcgan")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--latent", type=int, default=100)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--packed", type=int, default=1, help="K copies trained at once on the device")
    ap.add_argument("--json", action="store_true", help="print one JSON line (used by --packed)")
    ap.add_argument("--inception", action="store_true", help="InceptionV3 feature images/s instead")
    ap.add_argument(
        "--paths",
        default="eager",
        help="comma-separated step paths to compare: eager, compile (torch.compile default), graphs "
        "(CUDA graphs, GPU only); 'all' = every one this device has. Ratios are to the first",
    )
    args = ap.parse_args()
    if args.inception:
        fp32 = inception_rate(args.batch, args.rounds, bf16=False)
        print(f"InceptionV3 299x299, batch {args.batch}: fp32 {fp32:.0f} img/s", end="")
        if torch.cuda.is_available():
            bf = inception_rate(args.batch, args.rounds, bf16=True)
            print(f", bf16 channels_last {bf:.0f} img/s (ratio {bf / fp32:.2f})")
        else:
            print()
        return
    paths = list(PATHS) if args.paths == "all" else args.paths.split(",")
    if not torch.cuda.is_available() and "graphs" in paths:
        if args.paths != "all":
            print("graphs: skipped, CUDA graphs need a GPU", file=sys.stderr)
        paths.remove("graphs")
    shape = (args.family, args.resolution, args.channels, args.width, args.batch, args.steps, args.rounds)
    rates = {p: train_rate(*shape, args.latent, path=p) for p in paths}
    one = rates[paths[0]]
    if args.json:
        print(json.dumps(one))
        return
    base = paths[0]
    width = f" width {args.width}" if "g_width" in _config_fields(args.family) else ""
    for p, r in rates.items():
        ratio = f", {r['steps_per_s'] / one['steps_per_s']:.2f}x {base}" if p != base else ""
        print(
            f"{args.family} {args.resolution}px{width} batch {args.batch} on {r['device']}, "
            f"{p}: {r['steps_per_s']:.1f} steps/s, {r['images_per_s']:.0f} img/s{ratio}"
        )
    if args.packed > 1:
        argv, skip = [], False
        for a in sys.argv[1:]:  # this command line without its --packed K and --paths P
            if skip or a.startswith(("--packed", "--paths")):
                skip = a in ("--packed", "--paths")
                continue
            argv.append(a)
        cmd = [sys.executable, __file__, *argv, "--paths", base, "--json"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(args.packed)]
        rates = [json.loads(p.communicate()[0].strip().splitlines()[-1])["images_per_s"] for p in procs]
        total = sum(rates)
        print(
            f"packed x{args.packed}: {total:.0f} img/s together ({', '.join(f'{r:.0f}' for r in rates)}); "
            f"ratio to one alone {total / one['images_per_s']:.2f}"
        )


if __name__ == "__main__":
    main()
