// kernels/threads.hpp — how many OpenMP threads a kernel call uses.
//
// resolve_threads: 0 = the OpenMP default, else the number asked for (1 without OpenMP). threads_for_work: at most
// one thread per min_macs_per_thread() int8 multiply-adds (fp32 callers count 4 per fp32 multiply-add, the speed
// ratio of the two kernels here). Waking a parked OpenMP thread (passive waits, the only sane policy on a shared
// machine) costs tens of microseconds, more than a whole layer of a 28x28 model at batch 1, which 2 threads made
// ~10x slower than 1. Every kernel's results are independent of its thread count, so this only changes speed.
// The default is 4M, or 16M under OMP_WAIT_POLICY=passive (waking a sleeping thread costs more), and 1M inside a
// hot section of the spin pool (kernels/spin_pool.hpp), where the second thread spins between layers;
// $QFORGE_MIN_MACS_PER_THREAD (a positive integer) overrides it: the tests set 1 so that their small shapes
// still run the threaded paths.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <kernels/spin_pool.hpp>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace qforge::kernels {

inline int resolve_threads(int threads) {
#if defined(_OPENMP)
  return threads > 0 ? threads : omp_get_max_threads();
#else
  (void)threads;
  return 1;
#endif
}

constexpr int64_t kMinMacsPerThread = int64_t(1) << 22;
// Under OMP_WAIT_POLICY=passive a parked thread sleeps, and waking it took 54-65 µs per parallel region here
// (active waits: 0.6-2.8 µs; bench/bm_threads, 22 Nov): a layer must then be 4x bigger
// to gain from a second thread (tv MobileNetV2 int8, batch 1, 2 threads: 358-437 images/s at 4M, 456-514 at
// 16M, three alternating runs).
constexpr int64_t kMinMacsPerThreadPassive = int64_t(1) << 24;

// The default for an OMP_WAIT_POLICY value (null: unset).
inline int64_t default_min_macs(const char* wait_policy) {
  return wait_policy_lower(wait_policy) == "passive" ? kMinMacsPerThreadPassive : kMinMacsPerThread;
}

// Inside a hot section (QExecutor::run with threads > 1, kernels/spin_pool.hpp) the second thread spins between
// layers and a call costs 0.4-2.8 µs (bench/bm_threads), so a layer gains from it at 1M multiply-adds per thread (tv MobileNetV2 int8, batch 1,
// 2 threads, spinning waits: 690 images/s at 4M, 819 at 1M).
constexpr int64_t kMinMacsPerThreadHot = int64_t(1) << 20;

// $QFORGE_MIN_MACS_PER_THREAD when set to a positive integer, else 0.
inline int64_t min_macs_override() {
  static const int64_t v = [] {
    const char* e = std::getenv("QFORGE_MIN_MACS_PER_THREAD");
    if (!e) return int64_t(0);
    char* end = nullptr;
    const long long x = std::strtoll(e, &end, 10);
    return (end != e && *end == '\0' && x >= 1) ? int64_t(x) : int64_t(0);
  }();
  return v;
}

inline int64_t min_macs_per_thread() {
  static const int64_t policy_default = default_min_macs(std::getenv("OMP_WAIT_POLICY"));
  if (const int64_t o = min_macs_override()) return o;
  if (SpinPool::enabled() && SpinPool::hot()) return kMinMacsPerThreadHot;
  return policy_default;
}

inline int threads_for_work(int threads, int64_t macs, int64_t min_macs = min_macs_per_thread()) {
  return int(std::max<int64_t>(1, std::min<int64_t>(threads, macs / std::max<int64_t>(min_macs, 1))));
}

}  // namespace qforge::kernels
