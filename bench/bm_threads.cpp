// bm_threads — what a second OpenMP thread costs before it does any work: one empty 2-thread parallel region
// entered after a stretch of serial work (as each layer's kernel call is, between layers), the region alone
// timed. libgomp reads OMP_WAIT_POLICY at start-up, so run the binary once per policy:
//   OMP_WAIT_POLICY=passive taskset -c 0,1 bench/bm_threads   (the partner thread sleeps: a futex wake)
//   OMP_WAIT_POLICY=active  taskset -c 0,1 bench/bm_threads   (the partner spins)
// kernels/threads.hpp sets its per-thread work threshold from this cost. Counter region_us.
// The same for the spin pool (kernels/spin_pool.hpp): an empty 2-part try_run after the same gaps, outside and
// inside a hot section (QExecutor::run opens one when it runs with several threads).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>

#include <kernels/spin_pool.hpp>

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

// range(0): µs of serial work before each call; range(1): 1 = inside a hot section.
void BM_spin_pool_after_serial_work(benchmark::State& st) {
  using clk = std::chrono::steady_clock;
  const double gap = double(st.range(0)) * 1e-6;
  const qforge::kernels::SpinPool::HotSection hot(st.range(1) != 0);
  double region = 0;
  int sink = 0;
  auto part = [&](int t) { sink += t; };
  for (auto _ : st) {
    const auto g = clk::now();
    while (std::chrono::duration<double>(clk::now() - g).count() < gap) {
    }
    const auto t0 = clk::now();
    if (!qforge::kernels::spin_pool_run(2, part)) {
      st.SkipWithError("the spin pool did not take the call (one core, QFORGE_SPIN_POOL=0 or OMP_WAIT_POLICY=active)");
      break;
    }
    const double dt = std::chrono::duration<double>(clk::now() - t0).count();
    region += dt;
    st.SetIterationTime(dt);
  }
  benchmark::DoNotOptimize(sink);
  st.counters["region_us"] = region / double(std::max<int64_t>(1, st.iterations())) * 1e6;
}

}  // namespace

// Serial work between regions: 0 (back to back), 20 µs (a small layer), 200 µs (a large one).
BENCHMARK(BM_region_after_serial_work)->Arg(0)->Arg(20)->Arg(200)->UseManualTime();
BENCHMARK(BM_spin_pool_after_serial_work)
    ->ArgsProduct({{0, 20, 200}, {0, 1}})
    ->ArgNames({"gap_us", "hot"})
    ->UseManualTime();
BENCHMARK_MAIN();
