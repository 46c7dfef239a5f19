// bench_common.hpp — what the kernel and model benches share: deterministic random operands, the name of the ISA
// oneDNN actually ran, the 1- and 2-thread registration convention, and a main() that registers rows at run time.
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "qforge/core/rng.hpp"
#include <kernels/spin_pool.hpp>

#if defined(QFORGE_HAVE_DNNL)
#include <dnnl.hpp>
#endif

namespace qforge::bench {

// n bytes of a counter-based stream (the same operands every run and every engine), as T (uint8_t or int8_t).
template <class T>
std::vector<T> random_bytes(size_t n, uint64_t seed) {
  static_assert(sizeof(T) == 1, "random_bytes fills one byte per element");
  CounterRng rng(seed);
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t b = uint8_t(rng.u32(i));
    std::memcpy(&v[i], &b, 1);
  }
  return v;
}

#if defined(QFORGE_HAVE_DNNL)
// oneDNN picks its ISA itself (capped by DNNL_MAX_CPU_ISA); rows label what it picked.
inline const char* dnnl_isa_name() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx2: return "dnnl:avx2";
    case dnnl::cpu_isa::avx2_vnni: return "dnnl:avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "dnnl:avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "dnnl:avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "dnnl:avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "dnnl:avx512_core_amx";
    default: return "dnnl:other";
  }
}
#endif

// A qforge kernel row with threads > 1 runs inside a spin-pool hot section, as every layer of a model run with
// threads > 1 does (QExecutor::run_batch): the pool's workers spin between calls, and a kernel takes a second
// thread per 1M multiply-adds (kernels/threads.hpp) instead of 4M. Usage: const LayerThreads lt(threads).
using LayerThreads = qforge::kernels::SpinPool::HotSection;

// Calls add(threads, suffix, finish) for 1 and 2 threads. Rows are named <...>/<shape><suffix> (suffix "" or
// "/threads:2"); finish(b) sets microseconds and, for 2 threads, wall time (CPU time would count one thread only).
using FinishRow = std::function<void(benchmark::internal::Benchmark*)>;
inline void for_each_thread_count(const std::function<void(int, const std::string&, const FinishRow&)>& add) {
  for (int threads : {1, 2}) {
    const std::string suffix = threads == 1 ? "" : "/threads:2";
    const FinishRow finish = [threads](benchmark::internal::Benchmark* b) {
      b->Unit(benchmark::kMicrosecond);
      if (threads > 1) b->UseRealTime();
    };
    add(threads, suffix, finish);
  }
}

// main() of a bench whose rows are registered at run time by register_rows.
inline int run_benchmarks(int argc, char** argv, const std::function<void()>& register_rows) {
  register_rows();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace qforge::bench
