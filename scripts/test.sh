#!/usr/bin/env bash
# Builds qforge and runs the whole test suite (ctest over the doctest executables). This is the README's test
# command and the only thing .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
