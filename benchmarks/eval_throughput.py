"""Evaluation images/s and metric seconds: the old host path against the device path, in one run.

  old  (bench before the device path): each sample block copied to the CPU as uint8, fed back through
       torch-fidelity's DataLoader (`get_featuresdict_from_dataset`, features copied to the CPU per
       batch), FD and KID in float64 NumPy on the CPU (`fid_features_to_statistics` +
       `fid_statistics_to_metric`, `kid_features_to_metric`);
  new  (bench.eval.generate / fidelity / torch_stats): samples stay on the device as uint8 and go to
       the extractor in batches, features stay there, FD and KID in float64 torch on that device;
  new bf16 (CUDA only): the same with eval.precision bf16, i.e. bf16 autocast and channels_last, at
       --bf16-batch.
"images/s" is sampling + feature extraction of --n images; "metric s" is FD + KID of those features
against --n reference features (KID --kid-subsets x --kid-subset-size). Rounds alternate the paths;
each figure is the median over --rounds, synchronized on CUDA; ratios are new / old images/s and
old / new metric seconds (> 1: the new path is faster). The fp32 features of both paths are compared
(max abs difference) and the metrics' relative differences are printed, so a speed-up that changed a
number shows. The sampler is a fixed random decoder (a linear map and a tanh), cheap next to any
extractor: what is timed is the evaluation, not a model.

    python benchmarks/eval_throughput.py [--extractor domain|inception] [--n 2000] [--batch 250]
        [--bf16-batch 1000] [--kid-subsets 10] [--kid-subset-size 1000] [--rounds 3] [--threads N]

`domain` is the digits classifier (trained once into BENCH_CACHE; 28x28 gray); `inception` is
torch-fidelity's InceptionV3 with random weights of the real architecture (speed does not depend on the
values; 299x299 after its own resize of 64x64 RGB samples). It prints the command that re-runs it.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import torch
from torch.utils.data import Dataset
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric
from torch_fidelity.utils import get_featuresdict_from_dataset

from bench.datasets.batches import to_uint8
from bench.eval.generate import block_sizes, chunk_seed, generate_uint8
from bench.features import fidelity
from bench.metrics import torch_stats


class UInt8Images(Dataset):
    """The old path's Dataset: one uint8 image per item, grayscale repeated to 3 channels."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.images[i]
        return x.expand(3, -1, -1) if x.shape[0] == 1 else x


def decoder(
    device: torch.device, channels: int, side: int, seed: int = 0
) -> Callable[[int, int, torch.Generator], torch.Tensor]:
    """(block, size, generator) -> images in [-1, 1]: a fixed random linear map of 64-d noise, tanh;
    `seed` picks the map (two seeds: two different image distributions)."""
    w = torch.randn(64, channels * side * side, generator=torch.Generator().manual_seed(seed)) / 8
    w = w.to(device)

    def sample(j: int, size: int, g: torch.Generator) -> torch.Tensor:
        z = torch.randn(size, 64, generator=g, device=device)
        return torch.tanh(z @ w).view(size, channels, side, side)

    return sample


def old_features(sampler, device, n, block, batch, cuda, fe) -> torch.Tensor:
    """The previous evaluation path, as bench ran it: blocks to the CPU, a DataLoader back."""
    out = []
    for j, size in enumerate(block_sizes(n, block)):
        g = torch.Generator(device).manual_seed(chunk_seed(0, j))
        out.append(to_uint8(sampler(j, size, g)).cpu())
    images = torch.cat(out)
    feats = get_featuresdict_from_dataset(
        UInt8Images(images), fe, batch, cuda, save_cpu_ram=True, verbose=False
    )
    return next(iter(feats.values())).float()


def old_metrics(
    fake: torch.Tensor, real: torch.Tensor, subsets: int, subset_size: int
) -> tuple[float, float]:
    s_fake, s_real = fid_features_to_statistics(fake.double()), fid_features_to_statistics(real.double())
    fd = float(fid_statistics_to_metric(s_fake, s_real, verbose=False)[KEY_METRIC_FID])
    kid = kid_features_to_metric(
        fake.double(),
        real.double(),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        rng_seed=0,
        verbose=False,
    )
    return fd, float(kid[KEY_METRIC_KID_MEAN])


def new_metrics(
    fake: torch.Tensor, real: torch.Tensor, subsets: int, subset_size: int
) -> tuple[float, float]:
    fd = torch_stats.frechet_distance(
        *torch_stats.feature_statistics(fake), *torch_stats.feature_statistics(real)
    )
    return fd, torch_stats.kid(fake, real, subsets, subset_size, 0)[0]


def inception_file(directory: Path) -> Path:
    """A weight file of torch-fidelity's InceptionV3 architecture with random values."""
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    class Skeleton(tf_inception.FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):  # the constructor's load of the download
            return None

    with mock.patch.object(tf_inception, "load_state_dict_from_url", return_value={}):
        net = Skeleton("inception-v3-compat", ["2048"])
    path = directory / "inception-random.pth"
    torch.save(torch.nn.Module.state_dict(net), path)
    return path


def extractor(kind: str, directory: Path) -> tuple[str, Path, tuple[str, ...], int, int]:
    """(torch-fidelity name, weight file, layers, channels, side of the samples)."""
    if kind == "inception":
        return "inception-v3-compat", inception_file(directory), ("2048",), 3, 64
    from bench.datasets import DATASETS, DataContext
    from bench.eval.evaluate import domain

    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    ctx = DataContext.from_env()
    ext = domain(src.info(), src.load("train", ctx), src.load("test", ctx), ctx.cache_dir.parent)
    return ext.fidelity_name, ext.weights, ("features",), 1, 28


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extractor", choices=["domain", "inception"], default="domain")
    ap.add_argument("--n", type=int, default=2000, help="generated images (and reference features)")
    ap.add_argument("--batch", type=int, default=250, help="extraction batch (eval.batch_size)")
    ap.add_argument("--block", type=int, default=250, help="eval.sample_block")
    ap.add_argument("--bf16-batch", type=int, default=1000, help="extraction batch of the CUDA bf16 path")
    ap.add_argument("--kid-subsets", type=int, default=10)
    ap.add_argument("--kid-subset-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(limits=args.threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    tmp = tempfile.TemporaryDirectory()
    name, weights, layers, channels, side = extractor(args.extractor, Path(tmp.name))
    sampler = decoder(device, channels, side)
    subset = min(args.kid_subset_size, args.n)
    fe_old = fidelity._feature_extractor(name, weights, layers, cuda, False)

    def new(precision: str, batch: int) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            images = generate_uint8(sampler, device, args.n, args.block, 0, precision=precision)
            return fidelity.extract_features(images, name, weights, batch, cuda, layers, precision)[layers[0]]

        return run

    paths: dict[str, Callable[[], torch.Tensor]] = {
        "old (host + DataLoader, NumPy)": lambda: old_features(
            sampler, device, args.n, args.block, args.batch, cuda, fe_old
        ),
        "new (device, torch float64)": new("fp32", args.batch),
    }
    if cuda:
        paths[f"new bf16 channels_last, batch {args.bf16_batch}"] = new("bf16", args.bf16_batch)
    for fn in paths.values():  # lazy initialisation and cuDNN autotuning off the clock
        fn()
    # The "real" features: images of another decoder, so that FD is far from 0 (near 0 it is a
    # difference of large traces, and both paths' round-off shows as a large relative difference).
    other = generate_uint8(decoder(device, channels, side, seed=1), device, args.n, args.block, 1)
    ref = fidelity.extract_features(other, name, weights, args.batch, cuda, layers)[layers[0]]
    ref_cpu = ref.cpu()
    h = min(64, args.n // 2)  # two halves of the reference (the smoke mode's N is tiny)
    old_metrics(ref_cpu[:h], ref_cpu[h : 2 * h], 2, h // 2)  # LAPACK / cuSOLVER handles off the clock too
    new_metrics(ref[:h], ref[h : 2 * h], 2, h // 2)
    secs: dict[str, list[float]] = {k: [] for k in paths}
    metric_secs: dict[str, list[float]] = {k: [] for k in paths}
    values: dict[str, tuple[float, float]] = {}
    feats: dict[str, torch.Tensor] = {}
    for _ in range(args.rounds):
        for key, fn in paths.items():
            sync()
            t0 = time.perf_counter()
            f = fn()
            sync()
            secs[key].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            if key.startswith("old"):
                values[key] = old_metrics(f, ref_cpu, args.kid_subsets, subset)
            else:
                values[key] = new_metrics(f, ref, args.kid_subsets, subset)
            sync()
            metric_secs[key].append(time.perf_counter() - t0)
            feats[key] = f
    old_key, new_key = list(paths)[:2]
    old_rate = args.n / statistics.median(secs[old_key])
    old_metric = statistics.median(metric_secs[old_key])
    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"{args.extractor} extractor, N={args.n}, batch {args.batch}, block {args.block}, KID "
        f"{args.kid_subsets} x {subset}, median of {args.rounds} alternating rounds, {where}, "
        f"torch {torch.__version__}"
    )
    print(f"{'path':44s} {'images/s':>10s} {'x':>6s} {'metric s':>9s} {'x':>6s}  rel diff FD, KID vs old")
    for key in paths:
        rate = args.n / statistics.median(secs[key])
        msec = statistics.median(metric_secs[key])
        fd_rel = abs(values[key][0] - values[old_key][0]) / abs(values[old_key][0])
        kid_rel = abs(values[key][1] - values[old_key][1]) / max(abs(values[old_key][1]), 1e-30)
        print(
            f"{key:44s} {rate:10.0f} {rate / old_rate:6.2f} {msec:9.3f} {old_metric / msec:6.2f}  "
            f"{fd_rel:.1e}, {kid_rel:.1e}"
        )
    diff = float((feats[new_key].cpu() - feats[old_key]).abs().max())
    print(
        f"fp32 features, new vs old: max abs difference {diff:.3g} ({'identical' if diff == 0 else 'differ'})"
    )
    resolved = [
        "python",
        "benchmarks/eval_throughput.py",
        *("--extractor", args.extractor, "--n", str(args.n), "--batch", str(args.batch)),
        *("--block", str(args.block), "--bf16-batch", str(args.bf16_batch)),
        *("--kid-subsets", str(args.kid_subsets), "--kid-subset-size", str(args.kid_subset_size)),
        *("--rounds", str(args.rounds), "--threads", str(torch.get_num_threads())),
    ]
    print("re-run: " + shlex.join(resolved))
    tmp.cleanup()


if __name__ == "__main__":
    main()
