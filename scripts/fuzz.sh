#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang, ASan+UBSan) and runs each for a fixed time, starting from the
# committed seed corpora. Any crash, sanitizer report, leak, timeout (>10 s per input) or out-of-memory (>2 GB) is
# a finding: its input is saved under BUILD/fuzz-artifacts/ and the script exits 1.
# Usage: scripts/fuzz.sh [-t SECONDS_PER_TARGET] [-b BUILD_DIR] [-j PARALLEL] [TARGET ...]
#   defaults: 30 s, build-asan, $(nproc) at once, every target. New corpus entries stay in BUILD/fuzz-corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=30 build=build-asan par=$(nproc)
while getopts "t:b:j:" o; do
  case $o in t) secs=$OPTARG ;; b) build=$OPTARG ;; j) par=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_onnx fuzz_model_file fuzz_idx fuzz_cifar fuzz_image fuzz_stylegan2)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O0" -DQFORGE_OPS_COMPILE_OPTIONS=-O1 -DQFORGE_SANITIZE=address,undefined \
    -DQFORGE_BUILD_FUZZERS=ON -DQFORGE_BUILD_BENCH=OFF -DQFORGE_BUILD_EXAMPLES=OFF > /dev/null
fi
cmake --build "$build" -j"$par" --target "${targets[@]}"
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
# Leak checks need LeakSanitizer, which needs ptrace (some containers forbid it): off, and said, when it can't run.
leaks=1
if ! ASAN_OPTIONS=detect_leaks=1 "$build/tests/fuzz/fuzz_cifar" -runs=1 > /dev/null 2>&1; then
  leaks=0
  echo "fuzz.sh: LeakSanitizer cannot run here (no ptrace?); leak checks are off" >&2
fi
run_one() {
  local t=$1 secs=$2 build=$3 leaks=$4
  mkdir -p "$build/fuzz-corpus/$t"
  # Single-threaded OpenMP inside a fuzzer: one job per core is the parallelism.
  OMP_NUM_THREADS=1 "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -detect_leaks="$leaks" \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" \
    "$build/fuzz-corpus/$t" "tests/fuzz/corpus/$t" > "$build/fuzz-logs/$t.log" 2>&1
}
export -f run_one
status=0
printf '%s\n' "${targets[@]}" | xargs -P "$par" -I{} bash -c 'run_one {} '"$secs $build $leaks" || status=1
printf '%-18s %14s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  log="$build/fuzz-logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if grep -qE "^==[0-9]+==ERROR|runtime error:|fuzz finding:|deadly signal|ERROR: libFuzzer" "$log"; then
    res="FINDING (see $log)"
    status=1
  else
    res=ok
  fi
  printf '%-18s %14s %10s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$res"
done
exit $status
