#!/bin/bash
# Whole-model timings for docs/performance.md: bench/bm_models (qforge fp32 and int8) then tools/bench/peers.py
# (PyTorch fp32 / onednn int8, ONNX Runtime fp32 / qforge's QDQ export), 1-thread rows pinned to CPU 0 and 2-thread
# rows to CPUs 0,1, then one Markdown table with all of them.
#
#   tools/bench/run_models.sh [build-dir] [out-dir]        (defaults: build-bench, <build-dir>/bench/models)
#
# Needs: bm_models and qforge_cli built in build-dir; the torchvision files
# (/usr/bin/python3 tools/python/export_torchvision_bench.py, folder in $QFORGE_TORCHVISION_DIR, default
# /var/tmp/qforge_bench). MIN_TIME (default 0.3 s) and REPS (default 3) apply to every engine.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-bench}
OUT=${2:-$BUILD/bench/models}
MIN_TIME=${MIN_TIME:-0.3}
REPS=${REPS:-3}
export QFORGE_TORCHVISION_DIR=${QFORGE_TORCHVISION_DIR:-/var/tmp/qforge_bench}
mkdir -p "$OUT"
{ date -u; uptime; git rev-parse HEAD; } > "$OUT/start.txt"
/usr/bin/python3 tools/bench/peers.py --prepare --engines none --qforge "$BUILD/qforge" --out "$OUT" > /dev/null
# bm_models rows in four runs: torchvision batch-64 rows (one run takes seconds) get 1 repetition, as in peers.py.
# 2-thread rows run with OMP_WAIT_POLICY=passive (peers.py --no-spin does the same for PyTorch and ORT): with the
# default spinning policy a 2-thread run on this shared machine is tens to hundreds of times slower than 1 thread
# (docs/performance.md).
bm() {  # name cpus threads filter reps [env...]
  local name=$1 cpus=$2 t=$3 filter=$4 reps=$5
  shift 5
  env OMP_NUM_THREADS="$t" "$@" taskset -c "$cpus" "$BUILD/bench/bm_models" --benchmark_filter="$filter" \
    --benchmark_min_time="$MIN_TIME" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
    --benchmark_out="$OUT/bm_models_$name.json" --benchmark_out_format=json
}
T2_FILTER='^(fmnist_.*|tv_.*batch:1/)threads:2/'
bm t1 0 1 '^(fmnist_.*|tv_.*batch:1/)threads:1/' "$REPS"
bm t1_heavy 0 1 '^tv_.*batch:64/threads:1/' 1
bm t2 0,1 2 "$T2_FILTER" "$REPS" OMP_WAIT_POLICY=passive
bm t2_heavy 0,1 2 '^tv_.*batch:64/threads:2/' 1 OMP_WAIT_POLICY=passive
{ date -u; uptime; } > "$OUT/mid.txt"
/usr/bin/python3 tools/bench/peers.py --min-time "$MIN_TIME" --reps "$REPS" --heavy-reps 1 --no-spin --out "$OUT" \
  --bm-json "$OUT/bm_models_t1.json" --bm-json "$OUT/bm_models_t1_heavy.json" \
  --bm-json "$OUT/bm_models_t2.json" --bm-json "$OUT/bm_models_t2_heavy.json"
{ date -u; uptime; } > "$OUT/end.txt"
cat "$OUT/start.txt" "$OUT/mid.txt" "$OUT/end.txt"
