"""The domain extractor's three objectives at the default recipe, on real images (scikit-learn's digits,
no download): held-out accuracy of what each predicts, training time, and the FD (torch-fidelity's, on
the features evaluation extracts) of the real test split and of that split under noise and blur against
the training split. `classes` uses the digit labels, `attributes` the 4 bits of each label as binary
attributes, `rotation` the bare images. Trains on the GPU when there is one.

    python benchmarks/domain_objectives.py [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch
from torchvision.transforms.functional import gaussian_blur

from bench.datasets import DATASETS, DataContext
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import to_uint8
from bench.eval.domain import domain_extractor
from bench.eval.fidelity import DOMAIN_EXTRACTOR, extract_features, frechet_distance

NOISE = (0.2, 0.4, 0.8)  # std of Gaussian noise on [-1, 1] images
BLUR = (1.0, 1.5, 2.5)  # sigma of a 9x9 Gaussian blur


def digits_as(objective: str) -> tuple[DatasetInfo, ImageSplit, ImageSplit]:
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    info, train, test = src.info(), src.load("train", DataContext()), src.load("test", DataContext())
    if objective == "classes":
        return info, train, test
    if objective == "attributes":
        info = dataclasses.replace(
            info, name="digits_bits", num_classes=0, factors={f"b{i}": 2 for i in range(4)}
        )
        bits = [torch.stack([(s.labels >> b) & 1 for b in range(4)], dim=1) for s in (train, test)]
        return info, ImageSplit(train.images, factors=bits[0]), ImageSplit(test.images, factors=bits[1])
    info = dataclasses.replace(info, name="digits_bare", num_classes=0)
    return info, ImageSplit(train.images), ImageSplit(test.images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    for objective in ("classes", "attributes", "rotation"):
        info, train, test = digits_as(objective)
        t0 = time.perf_counter()
        f = domain_extractor(info, train, test, Path(tempfile.mkdtemp()))
        seconds = time.perf_counter() - t0

        def feats(images: torch.Tensor, path: Path = f.path) -> torch.Tensor:
            return extract_features(images, DOMAIN_EXTRACTOR, path, 500, cuda, ("features",))["features"]

        ref = feats(train.images)
        x = test.images.float() / 127.5 - 1
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
        real = frechet_distance(feats(test.images), ref)
        noisy = [frechet_distance(feats(to_uint8(x + s * noise)), ref) for s in NOISE]
        blurred = [frechet_distance(feats(to_uint8(gaussian_blur(x, 9, s))), ref) for s in BLUR]
        print(
            f"{f.description}: held-out accuracy {f.test_accuracy:.3f}, trained on {f.trained_on} in "
            f"{seconds:.0f} s | FD real {real:.3f}; noise {NOISE}: {', '.join(f'{v:.3f}' for v in noisy)}; "
            f"blur {BLUR}: {', '.join(f'{v:.3f}' for v in blurred)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
