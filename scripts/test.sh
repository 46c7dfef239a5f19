#!/usr/bin/env bash
# Builds qforge and runs the whole test suite (ctest over the doctest executables), then the kernel and core
# tests again for aarch64 (cross-compiled, run under qemu with and without dotprod), the AVX-VNNI kernels on a CPU
# without AVX-VNNI (scripts/test_avxvnni_evex.sh), then the suite under ASan+UBSan, the concurrency test under
# TSan and each fuzz target over its seeds plus 10,000 inputs (scripts/test_sanitizers.sh). This is
# the README's test command and the only thing .ci/run calls. Benches are built by scripts/run.sh / by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)
start=$(date +%s)
# Tests ON explicitly: scripts/run.sh configures the same build folder with them OFF, and the cache would keep it.
# No examples: the install test (ctest) builds the same example against the installed package.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DQFORGE_BUILD_TESTS=ON -DQFORGE_BUILD_BENCH=OFF \
  -DQFORGE_BUILD_EXAMPLES=OFF
cmake --build build -j"$jobs"
echo "== x86-64 build took $(( $(date +%s) - start )) s"
# ctest runs $jobs tests at once, each with OpenMP's default thread count: with libgomp's default (spinning)
# waits, more threads than cores made some tests ~10x slower on a loaded 2-core machine. Passive waits fix it.
(cd build && OMP_WAIT_POLICY=PASSIVE ctest --output-on-failure --no-tests=error -j"$jobs")
echo "== aarch64 (qemu): kernels and core"
JOBS=$jobs scripts/test_aarch64.sh build-aarch64 '^test_(kernels|core)'
echo "== AVX-VNNI kernels (EVEX-encoded, on CPUs with AVX-512 VNNI but no AVX-VNNI)"
JOBS=$jobs scripts/test_avxvnni_evex.sh build-avxvnni-evex
echo "== sanitizers (clang): ASan+UBSan suite, TSan concurrency, fuzzing"
JOBS=$jobs scripts/test_sanitizers.sh
echo "== total $(( $(date +%s) - start )) s"
