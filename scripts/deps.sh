#!/usr/bin/env bash
# Installs the Debian packages qforge needs. Usage: scripts/deps.sh [test|run|python]
#   test   - build + test suite (compiler, header-only deps, datasets used by tests, aarch64 cross tools, clang
#            with its sanitizer/libFuzzer runtimes and OpenMP for the sanitizer builds)
#   run    - the main job (test set plus the peers the benches link against)
#   python - the offline tools in tools/python (training, export, PyTorch reference checks)
set -euo pipefail
what=${1:-test}
pkgs=(g++ cmake make libxsimd-dev libstb-dev doctest-dev libbenchmark-dev dataset-fashion-mnist libonnx-testdata)
case "$what" in
  test) pkgs+=(g++-aarch64-linux-gnu qemu-user-static clang libclang-rt-dev libomp-dev) ;;
  run) pkgs+=(libdnnl-dev ocl-icd-opencl-dev libopenblas-dev) ;;  # dnnl's CMake package needs OpenCL's
  python) pkgs+=(python3-torch python3-torchvision python3-onnx python3-numpy) ;;
  *) echo "usage: $0 [test|run|python]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
