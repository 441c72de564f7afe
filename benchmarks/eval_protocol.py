"""Two measurements of the evaluation protocol (numbers quoted in README, "Evaluation protocol"):

1. one cell's evaluation time with and without the reference-statistics cache, at the quick grid's
   settings (digits, n_samples 1000, KID 50 x 200, batch 250, domain extractor);
2. how much bf16 autocast during sampling and feature extraction moves FD, against fp32.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/eval_protocol.py [--inception WEIGHTS.pth]

With --inception, also times FID (N=100 generated, the 360 test images as reference) with and without
the cache on that Inception file (any file in the real format: timing does not depend on the weights).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.config import EvalConfig
from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import to_unit_range
from bench.eval.evaluate import domain, evaluate_samples
from bench.eval.generate import unconditional
from bench.models import MODELS


def main() -> None:
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    info, ctx = src.info(), DataContext.from_env()
    train, test = src.load("train", ctx), src.load("test", ctx)
    ext = domain(info, train, test, ctx.cache_dir.parent)
    torch.manual_seed(0)
    family = MODELS.get("mlp_gan")
    model = family(family.Config(), info, 8)
    model.train(False)
    ev = EvalConfig(n_samples=1000, kid_subset_size=200, kid_subsets=50, batch_size=250)
    ident = {"dataset": "digits", "split": "test"}
    # Three rounds of (empty cache, then a hit), median of each; the extractor is built once before.
    runs: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(4):
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(2):
                t0 = time.perf_counter()
                _, _, refs = evaluate_samples(
                    unconditional(model),
                    model.device,
                    test,
                    ident,
                    ev,
                    list(ev.metrics),
                    {"domain": ext},
                    Path(tmp),
                    False,
                    num_classes=info.num_classes,
                )
                runs[refs["digits"].computed].append(time.perf_counter() - t0)
    miss, hit = (statistics.median(runs[k][1:] if k else runs[k]) for k in (True, False))
    print(f"evaluation without the cache (computes the reference): median {miss:.3f} s")
    print(f"evaluation with the cache (reads the reference): median {hit:.3f} s")

    # bf16: the same samples and real images, extracted in fp32 and under bf16 autocast.
    def real_sampler(images):
        return lambda j, size, g: to_unit_range(images[j * 250 : j * 250 + size])

    for name, sampler, n in (
        ("untrained mlp_gan samples", unconditional(model), 1000),
        ("real train images", real_sampler(train.images), len(train)),
    ):
        fds = {}
        for precision in ("fp32", "bf16"):
            e = ev.model_copy(update={"precision": precision, "metrics": ["fd"]})
            with tempfile.TemporaryDirectory() as tmp:
                s, _, _ = evaluate_samples(
                    sampler, model.device, test, ident, e, ["fd"], {"domain": ext}, Path(tmp), False, n=n
                )
            fds[precision] = s["fd_digits"]
        rel = abs(fds["bf16"] - fds["fp32"]) / fds["fp32"]
        print(f"FD {name} vs test: fp32 {fds['fp32']:.4f}, bf16 {fds['bf16']:.4f}, relative change {rel:.2e}")


def time_inception(weights: Path) -> None:
    from bench.features.extractor import inception_extractor
    from bench.fs import file_sha256

    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    info, test = src.info(), src.load("test", DataContext.from_env())
    ext = inception_extractor(weights, file_sha256(weights))
    torch.manual_seed(0)
    model = MODELS.get("mlp_gan")(MODELS.get("mlp_gan").Config(), info, 8)
    model.train(False)
    ev = EvalConfig(metrics=["fid"], n_samples=100, batch_size=50)
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(2):
            t0 = time.perf_counter()
            _, _, refs = evaluate_samples(
                unconditional(model),
                model.device,
                test,
                {"dataset": "digits", "split": "test"},
                ev,
                ["fid"],
                {"inception": ext},
                Path(tmp),
                False,
            )
            state = "computes" if refs["inception"].computed else "reads"
            print(
                f"FID evaluation (100 generated, 360 real) that {state} the reference: "
                f"{time.perf_counter() - t0:.1f} s"
            )


if __name__ == "__main__":
    import sys

    if "--inception" in sys.argv:
        time_inception(Path(sys.argv[sys.argv.index("--inception") + 1]))
    else:
        main()
