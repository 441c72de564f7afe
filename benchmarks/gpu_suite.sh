#!/usr/bin/env bash
# Every GPU figure the project reports, in one run of at most 8 minutes on one H100 or H200, for a
# machine lent for a short time with no network (docs/performance.md says what to prepare and run).
#   bash benchmarks/gpu_suite.sh [OUT_DIR]                 (default benchmarks/out-gpu; OUT_DIR/*.log)
#   BENCH_GPU_SMOKE=1 bash benchmarks/gpu_suite.sh OUT_DIR  (the same steps at tiny sizes on the CPU)
# Runs bench from this source tree, uninstalled (PYTHONPATH). Wheels the image lacks, downloaded here by
# benchmarks/gpu_wheels.sh into .whl/, are installed with no index into $BENCH_SITE (default /tmp/site).
# Each step has its own time limit (together 470 s), so one slow step cannot eat the lease; a step that
# fails or runs out is logged and the suite goes on. Exit status: the preflight's, else 0.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/out-gpu}
mkdir -p "$out"
PY=${PYTHON:-python3}
smoke=${BENCH_GPU_SMOKE:-0}
site=${BENCH_SITE:-/tmp/site}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [[ $smoke != 1 ]] && compgen -G ".whl/*.whl" >/dev/null; then
  # --no-index --no-deps: nothing is fetched; the image provides everything else (gpu_wheels.sh).
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
    || { echo "installing .whl/*.whl into $site failed"; exit 1; }
  export PYTHONPATH=$site:$PYTHONPATH
fi
# Smoke mode's limits are a multiple of the GPU's: a busy CPU imports slowly, and they only catch hangs.
scale=$([[ $smoke == 1 ]] && echo "${BENCH_GPU_SMOKE_SCALE:-6}" || echo 1)
step() {  # step NAME SECONDS CMD...: run with a limit, keep the log, never stop the suite
  local name=$1 limit=$(($2 * scale)); shift 2
  echo "== $name (limit ${limit}s): $*" | tee "$out/$name.log"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$out/$name.log"
  echo "== $name: exit ${PIPESTATUS[0]} after $((SECONDS - t0)) s" | tee -a "$out/$name.log"
}
# Sizes: the GPU figures, or (smoke) the smallest that still run every line of each step's Python.
if [[ $smoke == 1 ]]; then
  DC=(--family dcgan --resolution 32 --channels 1 --width 8 --latent 8 --batch 8 --steps 2 --rounds 1)
  PATHS=${BENCH_GPU_SMOKE_PATHS:-eager,compile}; PACKED=2  # graphs: GPU only
  INC=(--batch 2 --rounds 1)
  FDKID=(--n 300 --dim 64 --kid-subsets 2 --kid-subset-size 100 --repeats 1)
  EVAL=(--extractor inception --n 8 --batch 4 --block 4 --bf16-batch 4 --kid-subsets 2 --kid-subset-size 4 --rounds 1)
  SEEDS=(--seeds 2 --steps 2 --rounds 1 --batch 8)
  CELLS=(--cells 2 --steps 4 --jobs 2 --modes serial,packed,task)
else
  DC=(--family dcgan --resolution 64 --width 64 --batch 128 --steps 50 --rounds 3)
  PATHS=eager,compile,graphs; PACKED=8
  INC=(--batch 500 --rounds 5)
  FDKID=(--n 10000 --kid-subsets 100)
  EVAL=(--extractor inception --n 5000 --batch 250 --bf16-batch 1000 --kid-subsets 50 --kid-subset-size 1000 --rounds 2)
  SEEDS=(--seeds 3 --steps 50 --rounds 5)
  CELLS=(--cells 8 --steps 300 --jobs 8 --modes serial,packed,task)
fi
# Every import the steps need, and the device, driver and versions, before any step spends time.
step preflight 30 "$PY" benchmarks/gpu_preflight.py $([[ $smoke == 1 ]] && echo --smoke) || true
grep -q "^== preflight: exit 0 " "$out/preflight.log" || { echo "preflight failed: see $out/preflight.log"; exit 1; }
# DCGAN-64 (widths 64, batch 128): one cell alone (target >= 50k img/s), then 8 packed on the one GPU
# (target >= 100k img/s together).
step dcgan64 40 "$PY" benchmarks/train_throughput.py "${DC[@]}"
step dcgan64_packed 50 "$PY" benchmarks/train_throughput.py "${DC[@]}" --packed "$PACKED"
# The same cell's step paths in one run: eager, torch.compile (default mode), the whole step as one CUDA
# graph (train.cuda_graphs); steps/s, img/s and ratios to eager. Compilation (~1 min cold) is untimed.
step dcgan64_paths 90 "$PY" benchmarks/train_throughput.py "${DC[@]}" --paths "$PATHS"
# InceptionV3 features (target >= 20k img/s), fp32 and bf16 channels_last.
step inception 40 "$PY" benchmarks/train_throughput.py --inception "${INC[@]}"
# FD/KID: NumPy (torch-fidelity) vs torch float64 on the device, 10k x 2048 features.
step fd_kid_device 40 "$PY" benchmarks/eval_stats_device.py "${FDKID[@]}"
# Evaluation: the old host/DataLoader/NumPy path vs samples, features and FD/KID on the device, and bf16
# channels_last at batch 1000 (InceptionV3, random weights of the real architecture).
step eval_throughput 50 "$PY" benchmarks/eval_throughput.py "${EVAL[@]}"
# Seeds stacked with vmap vs one after another (kept only if faster; on the CPU it is slower).
step seeds_stacked 30 "$PY" benchmarks/seeds_stacked.py "${SEEDS[@]}"
# MNIST-size cells per hour (28x28 digits, MLP VAE and DCGAN): 8 small cells one after another (a new
# process each, the old default) vs 8 at once in persistent workers (`--jobs 8`) vs one SLURM packed
# task of K=8 (`--cells-per-task 8`: bench.launch.packed, which starts CUDA MPS when the node has it;
# its log says whether it did). Target >= 6x serial.
step cells_per_hour 100 "$PY" benchmarks/cells_per_hour.py "${CELLS[@]}"
echo "logs in $out"
