#!/usr/bin/env bash
# The test suite under sanitizers (clang): every test built with AddressSanitizer + UndefinedBehaviorSanitizer
# (any report fails the test), the concurrency test under ThreadSanitizer (without OpenMP, whose runtime TSan
# cannot see), and each libFuzzer target over its committed seeds and past findings, then FUZZ_RUNS (default 10000)
# inputs from a fixed seed.
# usage: scripts/test_sanitizers.sh [asan|tsan|fuzz ...]   (default: all three)   exit status 0 iff all passed
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(asan tsan fuzz)
status=0
# -O0 for everything but the op tables (-O1, where the tests spend their time): the sanitizer builds cost a third
# of what -O1 everywhere costs, and the tests still run in minutes.
san_flags=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O0"
           "-DQFORGE_OPS_COMPILE_OPTIONS=-O1" -DQFORGE_BUILD_BENCH=OFF -DQFORGE_BUILD_EXAMPLES=OFF)
for part in "${parts[@]}"; do
  start=$(date +%s)
  case $part in
    asan)
      # The op tables' address checks as calls, not inline code: the AVX-512 depthwise tiles (236 template
      # instances) made op_tables_int8.cpp a 5-minute -O1 compile with inline checks, nearly all of it code
      # generation (clang -ftime-trace), and the longest step of this build; with calls it is under 3 minutes.
      cmake -S . -B build-asan "${san_flags[@]}" -DQFORGE_SANITIZE=address,undefined -DQFORGE_BUILD_FUZZERS=ON \
        "-DQFORGE_OPS_COMPILE_OPTIONS=-O1;SHELL:-mllvm -asan-instrumentation-with-call-threshold=0" \
        > build-asan.configure.log 2>&1 || { cat build-asan.configure.log; exit 1; }
      cmake --build build-asan -j"$jobs" || status=1
      # detect_leaks: a leak is a failure too, where LeakSanitizer can run (it needs ptrace, which some
      # containers forbid: then leaks go unchecked, and this says so). Two tests run in the plain build only: the
      # install test builds the examples with the system compiler (the same with or without sanitizers), and the
      # memory test measures peak RSS, which ASan's shadow memory and quarantine would swamp (the quantize path it
      # drives runs under ASan in test_quant_cli).
      leaks=1
      if ! scripts/lsan_available.sh; then
        leaks=0
        echo "test_sanitizers: LeakSanitizer cannot run here (no ptrace?); leak checks are off" >&2
      fi
      # Fashion-MNIST inflated once, here, by gzip: the tests read the 26 MB training file many times, and the
      # DEFLATE decoder built at -O0 with ASan took ~5 s a read (test_quant_cli 118 -> 80 s). The decoder keeps
      # its ASan coverage in test_data's and test_bad_inputs' gzip cases and the fuzz_idx target; the plain
      # build's run reads the real .gz files.
      fm_env=()
      fm_src=${QFORGE_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
      if ls "$fm_src"/*-ubyte.gz > /dev/null 2>&1; then
        mkdir -p build-asan/fmnist-idx
        for gz in "$fm_src"/*-ubyte.gz; do
          idx=build-asan/fmnist-idx/$(basename "$gz" .gz)
          if [ ! -s "$idx" ] || [ "$gz" -nt "$idx" ]; then
            gzip -dc "$gz" > "$idx.tmp" && mv "$idx.tmp" "$idx" || status=1
          fi
        done
        fm_env=(QFORGE_FMNIST_DIR="$PWD/build-asan/fmnist-idx")
      fi
      (cd build-asan && env "${fm_env[@]}" ASAN_OPTIONS=detect_leaks=$leaks:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        OMP_WAIT_POLICY=PASSIVE ctest --output-on-failure --no-tests=error -j"$jobs" -E '^(install_and_find_package|test_resources)$') || status=1
      ;;
    tsan)
      cmake -S . -B build-tsan "${san_flags[@]}" -DQFORGE_SANITIZE=thread -DQFORGE_USE_OPENMP=OFF -DQFORGE_TEST_UNITY=OFF \
        -DQFORGE_BUILD_TOOLS=OFF > build-tsan.configure.log 2>&1 || { cat build-tsan.configure.log; exit 1; }
      cmake --build build-tsan -j"$jobs" --target test_concurrency || status=1
      (cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --no-tests=error -R '^test_concurrency$') || status=1
      ;;
    fuzz)
      # A fixed seed and input count: the same inputs every run, so CI never fails by chance. Exploring (fresh
      # inputs, for as long as you like) is scripts/fuzz.sh -t SECONDS, outside the suite.
      scripts/fuzz.sh -r "${FUZZ_RUNS:-10000}" -s 1 -b build-asan -j "$jobs" || status=1
      ;;
    *) echo "test_sanitizers: unknown part '$part' (asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
  echo "== sanitizers: $part took $(( $(date +%s) - start )) s"
done
exit $status
