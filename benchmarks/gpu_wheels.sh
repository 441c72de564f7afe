#!/usr/bin/env bash
# Downloads, here (where the package index is reachable), exactly the wheels that the GPU machine's image
# lacks, into .whl/ (ignored by git), for benchmarks/gpu_suite.sh to install there with no index.
#   bash benchmarks/gpu_wheels.sh            (PYTHON=... picks the interpreter whose pip downloads)
# The image (Python 3.12 at /opt/torch/.venv, x86_64) has torch 2.11, torchvision, accelerate, typer,
# rich, scipy, scikit-learn, matplotlib, jinja2, tensorboard, filelock, pyyaml, pandas, numpy, pillow,
# tqdm and typing-extensions; of `bench`'s dependencies it lacks pydantic (and its own needs below) and
# torch-fidelity. Together about 3 MB (the device tool carries at most 64 MiB with the repository). deepspeed and gdown are not needed: bench imports them only where used (a DeepSpeed
# cell, a CelebA download), and the suite uses neither. Versions: the ones the project is tested with;
# pydantic-core must be the one this pydantic pins.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=(
  pydantic==2.14.4
  pydantic-core==2.50.5  # compiled: cp312 manylinux
  annotated-types==0.8.0
  typing-inspection==0.4.5
  typing-extensions==4.16.0  # the image has it, but pydantic 2.14 needs >= 4.16 (its version unread)
  torch-fidelity==0.4.0  # needs numpy, pillow, scipy, torch, torchvision, tqdm: all in the image
)
rm -rf .whl && mkdir -p .whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
ls -l .whl
du -ch .whl/*.whl | tail -1
