#!/bin/bash
# Runs bench/bm_gemm (and bench/bm_conv if built) once per oneDNN ISA cap and prints qforge/oneDNN GOPS ratios
# per shape. 1-thread rows run pinned to core 0 with OMP_NUM_THREADS=1; threads:2 rows on cores 0-1.
# usage: scripts/bench_kernels.sh [build-dir] [min_time]     (results also in <build-dir>/bench/results/*.json)
set -euo pipefail
BUILD=${1:-build}
MIN_TIME=${2:-0.2}
REPS=${REPS:-3}
OUT=$BUILD/bench/results
mkdir -p "$OUT"
run() {  # name cap engines-regex kinds-regex
  local name=$1 cap=$2 engines=$3 kinds=${4:-s8|conv3x3|conv1x1|dw3x3}
  local filter="^($kinds)/($engines)/"
  for bm in bm_gemm bm_conv; do
    [ -x "$BUILD/bench/$bm" ] || continue
    DNNL_MAX_CPU_ISA=$cap OMP_NUM_THREADS=1 taskset -c 0 "$BUILD/bench/$bm" --benchmark_min_time=$MIN_TIME \
      --benchmark_repetitions=$REPS --benchmark_filter="$filter[^:]*\$" \
      --benchmark_out="$OUT/${bm}_${name}_t1.json" --benchmark_out_format=json > /dev/null 2>&1 || true
    [ "${SKIP_T2:-0}" = 1 ] && continue
    DNNL_MAX_CPU_ISA=$cap OMP_NUM_THREADS=2 "$BUILD/bench/$bm" --benchmark_min_time=$MIN_TIME \
      --benchmark_repetitions=$REPS --benchmark_filter="$filter.*threads:2" \
      --benchmark_out="$OUT/${bm}_${name}_t2.json" --benchmark_out_format=json > /dev/null 2>&1 || true
  done
}
run avx2 AVX2 'qforge_avx2|dnnl'
run avxvnni AVX2_VNNI 'qforge_avxvnni|dnnl'
run avx512vnni AVX512_CORE_VNNI 'qforge_avx512vnni|dnnl'
run f32 ALL 'qforge|dnnl|openblas' 'f32'
run amx ALL 'qforge_amx|dnnl'
/usr/bin/python3 "$(dirname "$0")/bench_ratios.py" "$OUT"
