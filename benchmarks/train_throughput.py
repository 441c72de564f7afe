"""Training images/s of one family through bench's one loop, alone or K copies packed on one device,
and InceptionV3 feature images/s: the figures a GPU-hour is paid for.

Random uint8 images of the dataset's shape live on the device (as a cell's whole split does); each timed
round runs `--steps` steps of `fit` (bf16 autocast and channels_last on CUDA, as cells run) and is
synchronized before the clock stops. Packed: K processes of this script train at once on the same
device, started together; their images/s are summed, and the ratio to one alone is printed.

    python benchmarks/train_throughput.py --family dcgan --resolution 64 --width 64 --batch 128
    python benchmarks/train_throughput.py --family dcgan --resolution 64 --width 64 --batch 128 --packed 4
    python benchmarks/train_throughput.py --inception --batch 500

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


def train_rate(
    family: str, resolution: int, channels: int, width: int, batch: int, steps: int, rounds: int, latent: int
) -> dict[str, float]:
    from accelerate import Accelerator

    from bench.datasets.base import DatasetInfo, ImageSplit
    from bench.datasets.batches import BatchStream
    from bench.models import MODELS
    from bench.train.loop import fit
    from bench.train.steplog import StepLog

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    info = DatasetInfo("bench", resolution, channels, 0, {"train": 4 * batch}, "random", "-")
    cls = MODELS.get(family)
    args = {"g_width": width, "d_width": width} if "g_width" in cls.Config.model_fields else {}
    model = cls(cls.Config.model_validate(args), info, latent if cls.uses_latent else None)
    for name, net in model.nets.items():
        net = net.to(device)
        model.nets[name] = net.to(memory_format=torch.channels_last) if cuda else net
    opts = model.optimizers()
    g = torch.Generator().manual_seed(0)
    images = torch.randint(
        0, 256, (4 * batch, channels, resolution, resolution), dtype=torch.uint8, generator=g
    )
    stream = BatchStream(ImageSplit(images), batch, device, seed=0, channels_last=cuda)
    acc = Accelerator(cpu=not cuda, mixed_precision="bf16" if cuda else "no")
    log = StepLog(None)
    model.begin(10**9)
    fit(model, opts, stream, acc, log, 0, 3, log_every=3)  # warm-up (cudnn autotuning, allocator)
    per_round, step = [], 3
    for _ in range(rounds):
        _sync(device)
        t0 = time.perf_counter()
        fit(model, opts, stream, acc, log, step, step + steps, log_every=steps)
        _sync(device)
        per_round.append(time.perf_counter() - t0)
        step += steps
    sec = statistics.median(per_round)
    return {"steps_per_s": steps / sec, "images_per_s": steps * batch / sec, "device": str(device)}


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
    one = train_rate(
        args.family,
        args.resolution,
        args.channels,
        args.width,
        args.batch,
        args.steps,
        args.rounds,
        args.latent,
    )
    if args.json:
        print(json.dumps(one))
        return
    print(
        f"{args.family} {args.resolution}px width {args.width} batch {args.batch} on {one['device']}: "
        f"{one['steps_per_s']:.1f} steps/s, {one['images_per_s']:.0f} img/s (one cell alone)"
    )
    if args.packed > 1:
        argv, skip = [], False
        for a in sys.argv[1:]:  # this command line without its --packed K
            if skip or a.startswith("--packed"):
                skip = a == "--packed"
                continue
            argv.append(a)
        cmd = [sys.executable, __file__, *argv, "--json"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(args.packed)]
        rates = [json.loads(p.communicate()[0].strip().splitlines()[-1])["images_per_s"] for p in procs]
        total = sum(rates)
        print(
            f"packed x{args.packed}: {total:.0f} img/s together ({', '.join(f'{r:.0f}' for r in rates)}); "
            f"ratio to one alone {total / one['images_per_s']:.2f}"
        )


if __name__ == "__main__":
    main()
