#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang, ASan+UBSan) and runs each, starting from the committed seed
# corpora (tests/fuzz/corpus/<target>/) and the inputs of past findings (tests/fuzz/regressions/<target>/). Any
# crash, sanitizer report, leak, timeout (>10 s per input) or out-of-memory (>2 GB) is a finding: its input is
# saved under BUILD/fuzz-artifacts/ and the script exits 1.
# Usage: scripts/fuzz.sh [-t SECONDS | -r RUNS] [-s SEED] [-b BUILD_DIR] [-j PARALLEL] [TARGET ...]
#   -t: run each target this long (default 30 s; exploration, a different path each time).
#   -r: run each target for this many inputs after the seeds, from a fixed seed (-s, default 1): the same inputs
#       every time, so a pass or a failure repeats. This is what the test suite runs.
#   defaults: build-asan, $(nproc) at once, every target. New corpus entries stay in BUILD/fuzz-corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=30 runs="" seed=1 build=build-asan par=$(nproc)
while getopts "t:r:s:b:j:" o; do
  case $o in t) secs=$OPTARG ;; r) runs=$OPTARG ;; s) seed=$OPTARG ;; b) build=$OPTARG ;; j) par=$OPTARG ;; *) exit 2 ;; esac
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
leaks=1
if ! scripts/lsan_available.sh; then
  leaks=0
  echo "fuzz.sh: LeakSanitizer cannot run here (no ptrace?); leak checks are off" >&2
fi
prefix=""
if [ -n "$runs" ]; then
  # A fixed input stream. A fixed seed is not enough: libFuzzer also learns from compared values, pointers among
  # them, which move with address-space randomisation. So: no comparison tracing, no randomisation (setarch -R),
  # and no corpus written back (an empty scratch folder each time). Then two runs take the same inputs.
  budget="-runs=$runs -seed=$seed -use_cmp=0"
  if setarch -R true 2> /dev/null; then prefix="setarch -R"; fi
else
  budget="-max_total_time=$secs"
fi
run_one() {
  local t=$1 build=$2 leaks=$3 budget=$4 runs=$5 prefix=$6
  local out="$build/fuzz-corpus/$t"
  if [ -n "$runs" ]; then out=$(mktemp -d); fi
  mkdir -p "$out"
  local seeds=("tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/regressions/$t" ] && seeds+=("tests/fuzz/regressions/$t")
  # Single-threaded OpenMP inside a fuzzer: one job per core is the parallelism.
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 $prefix "$build/tests/fuzz/$t" $budget -timeout=10 -rss_limit_mb=2048 -detect_leaks="$leaks" \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" "$out" "${seeds[@]}" \
    > "$build/fuzz-logs/$t.log" 2>&1
  local rc=$?
  [ -n "$runs" ] && rm -rf "$out"
  return $rc
}
export -f run_one
status=0
printf '%s\n' "${targets[@]}" | xargs -P "$par" -I{} bash -c 'run_one {} "$@"' _ "$build" "$leaks" "$budget" "$runs" "$prefix" ||
  status=1
printf '%-18s %14s %10s  %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  log="$build/fuzz-logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if grep -qE "^==[0-9]+==ERROR|runtime error:|fuzz finding:|deadly signal|ERROR: libFuzzer" "$log"; then
    res="FINDING (see $log)"
    status=1
    # The evidence, for logs (CI) where the file itself is out of reach.
    grep -m1 -A12 -E "^==[0-9]+==ERROR|runtime error:|fuzz finding:|deadly signal|ERROR: libFuzzer" "$log" >&2
  else
    res=ok
  fi
  printf '%-18s %14s %10s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$res"
done
exit $status
