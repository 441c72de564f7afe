"""Before the GPU suite spends its lease: every module its steps import, and the facts its figures need
(device, driver, CUDA, versions). Exits 1 with one line per missing module, so a machine without the
wheels fails in seconds, not half-way through. `--smoke`: the CPU smoke mode (no CUDA required).

    python benchmarks/gpu_preflight.py [--smoke]
"""

from __future__ import annotations

import argparse
import importlib
import platform
import shutil
import subprocess
import sys

# What the suite's steps import: bench's dependencies that the steps reach (deepspeed and gdown are
# imported only by a DeepSpeed cell and a CelebA download, which the suite runs neither of) and bench.
MODULES = (
    "numpy", "torch", "torchvision", "accelerate", "pydantic", "pydantic_core", "annotated_types",
    "typing_inspection", "torch_fidelity", "typer", "rich", "scipy", "sklearn", "matplotlib", "jinja2",
    "tensorboard", "filelock", "yaml", "PIL", "tqdm",
    "bench", "bench.cli", "bench.launch.packed", "bench.launch.worker", "bench.cell.run",
)  # fmt: skip


def _version(name: str) -> str:
    mod = sys.modules.get(name)
    return str(getattr(mod, "__version__", "?"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="CPU smoke mode: no GPU needed")
    args = ap.parse_args()
    missing = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as err:  # an ImportError, or a module that breaks on import
            missing.append(f"{name}: {type(err).__name__}: {err}")
    if missing:
        print("missing before the suite starts (run benchmarks/gpu_wheels.sh here and carry .whl):")
        print("\n".join(f"  {m}" for m in missing))
        sys.exit(1)
    import torch

    import bench

    print(f"python {platform.python_version()} ({sys.executable}), {platform.machine()}")
    print(f"bench {bench.__version__} from {bench.__file__}")
    names = ("torch", "torchvision", "accelerate", "pydantic", "torch_fidelity", "numpy", "scipy")
    print("versions: " + ", ".join(f"{n} {_version(n)}" for n in names))
    print(f"torch CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            print(f"cuda:{i} {p.name}, {p.total_memory / 2**30:.0f} GiB, capability {p.major}.{p.minor}")
        if shutil.which("nvidia-smi"):
            q = "--query-gpu=name,memory.total,driver_version"
            out = subprocess.run(["nvidia-smi", q, "--format=csv,noheader"], capture_output=True, text=True)
            print(f"nvidia-smi: {out.stdout.strip() or out.stderr.strip()}")
    elif args.smoke:
        print(f"no CUDA: smoke mode on the CPU ({torch.get_num_threads()} threads)")
    else:
        print("no CUDA device: this suite measures GPUs (BENCH_GPU_SMOKE=1 runs its CPU smoke mode)")
        sys.exit(1)


if __name__ == "__main__":
    main()
