// bm_input_checks — what qforge::Model/AnyModel::run spends before the model runs: the NaN/Inf scan of a float
// input (core/finite.hpp), on Fashion-MNIST-shaped batches of 1 and 64. Counter elems_per_s. Compare with
// bm_models' time per batch of the same size to see its share.
#include <benchmark/benchmark.h>

#include "qforge/core/finite.hpp"

namespace {

void BM_check_finite(benchmark::State& st) {
  qforge::Tensor t(qforge::DType::f32, {st.range(0), 1, 28, 28});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = float(i % 255) / 255.f;
  for (auto _ : st) {
    auto s = qforge::check_finite(t, "x");
    benchmark::DoNotOptimize(s);
  }
  st.counters["elems_per_s"] = benchmark::Counter(double(t.numel()), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_check_finite)->Arg(1)->Arg(64);
BENCHMARK_MAIN();
