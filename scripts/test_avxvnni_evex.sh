#!/usr/bin/env bash
# Runs the AVX-VNNI int8 kernels on a CPU without AVX-VNNI: builds the GEMM and conv kernel tests with
# -DQFORGE_AVXVNNI_AS_EVEX, which compiles kernels/x86/avxvnni with the EVEX encoding of the same ymm vpdpbusd
# (AVX512_VNNI + AVX512VL; same operation), and runs them, so that the AVX-VNNI block loops, tails and
# epilogues are checked against the scalar reference on AVX-512 VNNI hosts too. On a CPU with AVX-VNNI the main
# suite runs those kernels natively, and on one without AVX-512 VNNI this cannot run: both skip (exit 0).
# usage: scripts/test_avxvnni_evex.sh [build-dir]     exit status: 0 iff the tests passed or were skipped
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-avxvnni-evex}
JOBS=${JOBS:-2}
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
if [[ " $flags " == *" avx_vnni "* ]]; then
  echo "test_avxvnni_evex: this CPU has AVX-VNNI; the main suite runs those kernels natively"
  exit 0
fi
if [[ " $flags " != *" avx512_vnni "* || " $flags " != *" avx512vl "* ]]; then
  echo "test_avxvnni_evex: no AVX-512 VNNI + VL here; the AVX-VNNI kernels cannot run on this CPU"
  exit 0
fi
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" \
  -DCMAKE_CXX_FLAGS=-DQFORGE_AVXVNNI_AS_EVEX \
  -DQFORGE_BUILD_TESTS=ON -DQFORGE_BUILD_BENCH=OFF -DQFORGE_BUILD_EXAMPLES=OFF -DQFORGE_BUILD_TOOLS=OFF \
  -DQFORGE_TEST_UNITY=OFF > "$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log"; exit 1; }
cmake --build "$BUILD" -j"$JOBS" --target test_kernels_qgemm test_kernels_qconv || exit 1
ctest --test-dir "$BUILD" --output-on-failure --no-tests=error -R '^test_kernels_(qgemm|qconv)$'
