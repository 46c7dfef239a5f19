// Generator throughput on one core: images/s for fractals (SVD and FractalDB sampling) and noise images.
// Each iteration makes a batch of 8 consecutive images (below the 16-image OpenMP threshold, so one thread);
// the index advances every iteration so every image is new.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "generators/fractal/fractal_generator.hpp"
#include "generators/noise.hpp"
#include "generators/stylegan2/stylegan2_generator.hpp"

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

// StyleGAN2 (generators/stylegan2): batches of 64 images (psi 1, noise const) through mapping + synthesis.
// cifar = the StyleGAN2-ADA CIFAR-10 generator shape (512 channels at 4..32, ~4.0 GMAC/image), random weights;
// fmnist = the shipped weights/fmnist_stylegan2.qf. Compare with tools/python/bench_stylegan2_ref.py (PyTorch, same
// thread count). threads:1 rows report CPU time, threads:2 rows wall time (UseRealTime).
void BM_stylegan2(benchmark::State& state, std::string which) {
  const int threads = int(state.range(0));
  Result<StyleGan2Model> m = which == "cifar"
                                 ? random_stylegan2_model(sg2::cifar10_config(), 1)
                                 : StyleGan2Model::load(std::string(QFORGE_SOURCE_DIR) + "/weights/fmnist_stylegan2.qf");
  if (!m.ok()) return state.SkipWithError(m.error().message.c_str());
  StyleGan2Options o;
  o.threads = threads;
  StyleGan2Generator g(std::make_shared<const StyleGan2Model>(std::move(*m)), o);
  GenerateRequest r;
  r.seed = 1;
  r.count = 64;
  for (auto _ : state) {
    auto t = g.generate(r);
    if (!t.ok()) return state.SkipWithError(t.error().message.c_str());
    benchmark::DoNotOptimize(t->raw());
    r.first += r.count;
  }
  state.counters["images/s"] = benchmark::Counter(double(state.iterations() * r.count), benchmark::Counter::kIsRate);
  state.SetLabel(std::string("gemm ") + sg2::sgemm_kind_name(sg2::best_sgemm_kind()));
}

}  // namespace

BENCHMARK_CAPTURE(BM_stylegan2, cifar, std::string("cifar"))->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_stylegan2, cifar, std::string("cifar"))->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_stylegan2, fmnist, std::string("fmnist"))->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_stylegan2, fmnist, std::string("fmnist"))->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_fractal, svd, fractal::SamplingMethod::SVD)->Arg(32)->Arg(64)->Arg(224)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_fractal, fractaldb, fractal::SamplingMethod::FractalDB)->Arg(32)->Arg(64)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_noise, gaussian, NoiseKind::Gaussian)->Arg(32)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_noise, uniform, NoiseKind::Uniform)->Arg(32)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_noise, pink, NoiseKind::Pink)->Arg(32)->Arg(224)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
