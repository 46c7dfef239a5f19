#!/usr/bin/env bash
# The main job on the shipped defaults: installs what it needs, builds, then evaluates every shipped model on
# the Fashion-MNIST test set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target qforge_cli
for m in weights/fmnist_*.onnx; do
  ./build/qforge eval "$m" --data fmnist:test
done
