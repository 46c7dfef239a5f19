// Generator throughput on one core: images/s for fractals (SVD and FractalDB sampling) and noise images.
// Each iteration makes a batch of 8 consecutive images (below the 16-image OpenMP threshold, so one thread);
// the index advances every iteration so every image is new.
#include <benchmark/benchmark.h>

#include "generators/fractal/fractal_generator.hpp"
#include "generators/noise.hpp"

using namespace qforge;
using namespace qforge::gen;

namespace {

void run(benchmark::State& state, const Generator& g) {
  GenerateRequest r;
  r.seed = 1;
  r.count = 8;
  for (auto _ : state) {
    auto t = g.generate(r);
    if (!t.ok()) {
      state.SkipWithError(t.error().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(t->raw());
    r.first += r.count;
  }
  state.counters["images/s"] = benchmark::Counter(double(state.iterations() * r.count), benchmark::Counter::kIsRate);
}

void BM_fractal(benchmark::State& state, fractal::SamplingMethod m) {
  FractalOptions o;
  o.sampling.method = m;
  o.height = o.width = state.range(0);
  auto g = FractalGenerator::create(o);
  if (!g.ok()) return state.SkipWithError(g.error().message.c_str());
  run(state, **g);
}

void BM_noise(benchmark::State& state, NoiseKind k) {
  NoiseOptions o;
  o.kind = k;
  o.height = o.width = state.range(0);
  auto g = NoiseGenerator::create(o);
  if (!g.ok()) return state.SkipWithError(g.error().message.c_str());
  run(state, **g);
}

}  // namespace

BENCHMARK_CAPTURE(BM_fractal, svd, fractal::SamplingMethod::SVD)->Arg(32)->Arg(64)->Arg(224)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_fractal, fractaldb, fractal::SamplingMethod::FractalDB)->Arg(32)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_noise, gaussian, NoiseKind::Gaussian)->Arg(32)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_noise, uniform, NoiseKind::Uniform)->Arg(32)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_noise, pink, NoiseKind::Pink)->Arg(32)->Arg(224)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
