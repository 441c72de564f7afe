#!/usr/bin/env bash
# Every GPU figure the project reports, in one run of a few minutes, for a machine lent for a short time.
#   bash benchmarks/gpu_suite.sh [OUT_DIR]      (default: benchmarks/out-gpu; OUT_DIR/*.log hold the output)
# Each step has its own time limit, so one slow step cannot eat the lease; the whole set is sized for
# about 8 minutes on one H200. Needs the project installed (./dev.sh setup) or PYTHONPATH at the checkout.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/out-gpu}
mkdir -p "$out"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=${PYTHONPATH:-$PWD}
step() {  # step NAME SECONDS CMD...: run with a limit, keep the log, never stop the suite
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit}s): $*" | tee "$out/$name.log"
  timeout "$limit" "$@" 2>&1 | tee -a "$out/$name.log"
  echo "== $name: exit ${PIPESTATUS[0]}" | tee -a "$out/$name.log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.log"
# DCGAN-64 (widths 64, batch 128): one cell alone, then 4 and 8 packed on the one GPU (target >= 50k
# img/s alone, >= 100k packed).
step dcgan64 120 "$PY" benchmarks/train_throughput.py --family dcgan --resolution 64 --width 64 --batch 128 --steps 50
step dcgan64_packed4 150 "$PY" benchmarks/train_throughput.py --family dcgan --resolution 64 --width 64 --batch 128 --steps 50 --packed 4
step dcgan64_packed8 180 "$PY" benchmarks/train_throughput.py --family dcgan --resolution 64 --width 64 --batch 128 --steps 50 --packed 8
# The same cell's step paths in one run: eager, torch.compile (default mode), the whole step as one CUDA
# graph (train.cuda_graphs); steps/s, img/s and ratios to eager. Compilation (~1 min cold) is untimed.
step dcgan64_fast 300 "$PY" benchmarks/train_throughput.py --family dcgan --resolution 64 --width 64 --batch 128 --steps 50 --paths eager,compile,graphs
# InceptionV3 features (target >= 20k img/s), fp32 and bf16 channels_last.
step inception 120 "$PY" benchmarks/train_throughput.py --inception --batch 500 --rounds 5
# FD/KID: NumPy (torch-fidelity) vs torch float64 on the device, 10k x 2048 features.
step fd_kid_device 180 "$PY" benchmarks/eval_stats_device.py --n 10000 --kid-subsets 100
# Evaluation: the old host/DataLoader/NumPy path vs samples, features and FD/KID on the device, and bf16
# channels_last at batch 1000 (InceptionV3, random weights of the real architecture).
step eval_throughput 240 "$PY" benchmarks/eval_throughput.py --extractor inception --n 10000 --batch 250 --bf16-batch 1000 --kid-subsets 50 --kid-subset-size 1000 --rounds 2
# Seeds stacked with vmap vs one after another (kept only if faster; on the CPU it is slower).
step seeds_stacked 90 "$PY" benchmarks/seeds_stacked.py --seeds 3 --steps 50 --rounds 5
# MNIST-size cells per hour (28x28 digits, MLP VAE and DCGAN): 8 small cells one per GPU in turn (a
# new process each, the old default) vs 8 at once in persistent workers (`--jobs 8`) vs one SLURM packed
# task of K=8 (`--cells-per-task 8`: bench.launch.packed, which starts CUDA MPS when the node has it;
# its log says whether it did). Target >= 6x serial.
step cells_per_hour 480 "$PY" benchmarks/cells_per_hour.py --cells 8 --steps 1000 --jobs 8 --modes serial,packed,task
echo "logs in $out"
