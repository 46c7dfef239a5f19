// bm_threads — what a second OpenMP thread costs before it does any work: one empty 2-thread parallel region
// entered after a stretch of serial work (as each layer's kernel call is, between layers), the region alone
// timed. libgomp reads OMP_WAIT_POLICY at start-up, so run the binary once per policy:
//   OMP_WAIT_POLICY=passive taskset -c 0,1 bench/bm_threads   (the partner thread sleeps: a futex wake)
//   OMP_WAIT_POLICY=active  taskset -c 0,1 bench/bm_threads   (the partner spins)
// kernels/threads.hpp sets its per-thread work threshold from this cost. Counter region_us.
#include <benchmark/benchmark.h>

#include <chrono>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

void BM_region_after_serial_work(benchmark::State& st) {
  using clk = std::chrono::steady_clock;
  const double gap = double(st.range(0)) * 1e-6;
  double region = 0;
  int sink = 0;
  for (auto _ : st) {
    const auto g = clk::now();
    while (std::chrono::duration<double>(clk::now() - g).count() < gap) {
    }
    const auto t0 = clk::now();
#if defined(_OPENMP)
#pragma omp parallel num_threads(2) reduction(+ : sink)
    sink += omp_get_thread_num();
#endif
    const double dt = std::chrono::duration<double>(clk::now() - t0).count();
    region += dt;
    st.SetIterationTime(dt);
  }
  benchmark::DoNotOptimize(sink);
  st.counters["region_us"] = region / double(st.iterations()) * 1e6;
}

}  // namespace

// Serial work between regions: 0 (back to back), 20 µs (a small layer), 200 µs (a large one).
BENCHMARK(BM_region_after_serial_work)->Arg(0)->Arg(20)->Arg(200)->UseManualTime();
BENCHMARK_MAIN();
