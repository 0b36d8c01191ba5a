#!/usr/bin/env bash
# The device check for #19 as one script. Each step has a time limit so the rest still runs; the limits add up
# to 11 min 20 s (the steps' real length on an H200 is not measured yet). Each step's output goes to
# $OUT/<step>.txt (default benchmarks/gpu-out).
#   bash benchmarks/gpu_session.sh
#   BENCH_ARGS="--device cpu --text-layers 1 --vision-layers 1 --frames 4 --size 64 --batches 2" \
#     OUT=/tmp/smoke bash benchmarks/gpu_session.sh      # the script itself, on a CPU (given last, they win)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/gpu-out}
mkdir -p "$OUT"
[ -d .venv ] && . .venv/bin/activate
BENCH="python benchmarks/bench_gpu_qwen3vl.py"
SMOKE=${BENCH_ARGS:-}  # appended to each benchmark step: a CPU smoke run of this script (see above)

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "== $name (at most ${limit}s): $*"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/device.txt"
# 1. Where a decode step's time goes at batch 32: wall time against the time kernels keep the device busy.
step profile 100 $BENCH --profile-decode 32 $SMOKE
# 2. Eager, the static cache compiled (do the logs show CUDA graphs recorded and replayed?) and continuous slots.
step compare-128 220 env TORCH_LOGS=cudagraphs,recompiles $BENCH --batches 32 --new-tokens 128 \
  --decode eager static-compile continuous $SMOKE
# 3. Chunks whose reasoning lengths differ (1/4 to all of 512 tokens): padded batches wait for their longest.
step varied-512 150 $BENCH --batches 16 --new-tokens 512 --varied --decode eager continuous $SMOKE
# 4. As on an H100 80GB.
step h100-80gb 60 $BENCH --batches 32 --new-tokens 128 --memory-gb 80 $SMOKE
# 5. The frame index's image-text model (SigLIP base, random weights) on the GPU: frames embedded per second.
step frames 90 python benchmarks/bench_frames.py --device cuda --seconds 60
step gpu-tests 60 python -m pytest -q -m gpu tests/test_gpu.py
