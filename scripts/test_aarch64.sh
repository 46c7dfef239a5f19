#!/bin/bash
# Cross-builds the qforge test suite for aarch64 (cmake/aarch64-toolchain.cmake) and runs it under qemu twice:
# QEMU_CPU=max (NEON + dotprod + i8mm: the tests exercise every available ISA in-process) and
# QEMU_CPU=cortex-a53 (a core without dotprod: the plain NEON kernels are the best available).
# usage: scripts/test_aarch64.sh [build-dir] [ctest -R regex]     exit status: 0 iff every run passed
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-aarch64}
FILTER=${2:-}
JOBS=${JOBS:-2}
for tool in aarch64-linux-gnu-g++ qemu-aarch64-static; do
  command -v $tool > /dev/null || { echo "test_aarch64: $tool not found" >&2; exit 2; }
done
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-toolchain.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DQFORGE_BUILD_BENCH=OFF -DQFORGE_TEST_UNITY=OFF > "$BUILD.configure.log" 2>&1 ||
  { cat "$BUILD.configure.log"; exit 1; }
# Keep going past a target that fails to build (its test then fails in ctest as "Not Run").
status=0
if [ -n "$FILTER" ]; then
  targets=$(cd "$ROOT/tests" && ls test_*.cpp | sed 's/\.cpp$//' | grep -E "$FILTER" | tr '\n' ' ')
  cmake --build "$BUILD" -j"$JOBS" --target $targets -- -k || status=1
else
  cmake --build "$BUILD" -j"$JOBS" -- -k || status=1
fi
[ $status -ne 0 ] && echo "test_aarch64: some targets failed to build (see above)" >&2
for cpu in max cortex-a53; do
  echo "== aarch64 tests, QEMU_CPU=$cpu"
  args=(--test-dir "$BUILD" --output-on-failure --no-tests=error)
  [ -n "$FILTER" ] && args+=(-R "$FILTER")
  QEMU_CPU=$cpu ctest "${args[@]}" || status=1
done
exit $status
