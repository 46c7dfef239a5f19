#!/usr/bin/env bash
# The main job on the shipped defaults: installs what it needs, builds the CLI, checks the fp32 accuracy of every
# shipped model, then runs the default synthetic-vs-real calibration experiment (qforge experiment: five models,
# W8A8 and W4A8, real/StyleGAN2/filtered StyleGAN2/fractal/noise calibration data, four calibrators) into
# results/experiment/ (table.md, table.csv, drops.png, calibration grids). docs/results.md shows a full run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DQFORGE_BUILD_TESTS=OFF
cmake --build build -j"$(nproc)" --target qforge_cli
for m in weights/fmnist_{resnet,vgg,mobilenetv2,shufflenetv2,repvgg}.onnx; do
  ./build/qforge eval "$m" --data fmnist:test
done
./build/qforge experiment --out results/experiment "$@"
echo "tables: results/experiment/table.md"
