"""The domain extractor's three objectives at the default recipe, on real images (scikit-learn's digits,
no download): held-out accuracy of what each predicts, training time, and the FD (torch-fidelity's, on
the features evaluation extracts) of the real test split and of that split under noise and blur against
the training split. `classes` uses the digit labels, `attributes` the 4 bits of each label as binary
attributes, `rotation` the bare images. Trains on the GPU when there is one.

    python benchmarks/domain_objectives.py [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from bench.features.domain.classifier import domain_extractor
from bench.features.domain.sanity import BLUR, NOISE, digits_as, sanity_fds


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

        real, noisy, blurred = sanity_fds(f.path, train, test, cuda)
        print(
            f"{f.description}: held-out accuracy {f.test_accuracy:.3f}, trained on {f.trained_on} in "
            f"{seconds:.0f} s | FD real {real:.3f}; noise {NOISE}: {', '.join(f'{v:.3f}' for v in noisy)}; "
            f"blur {BLUR}: {', '.join(f'{v:.3f}' for v in blurred)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
