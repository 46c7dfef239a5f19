// Concurrency and determinism: one prepared model (fp32 and int8) run from 8 threads at once gives bit-identical
// outputs to a single-threaded run; quantization gives byte-identical files whatever the thread count; the int8
// model's outputs are bit-identical on every int8 ISA this CPU has (the integer math is exact, so they must be).
// scripts/test.sh also builds and runs this file under ThreadSanitizer (without OpenMP, which TSan cannot see).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <stdexcept>
#include <thread>
#include <vector>

#include "qforge/core/cpu.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/graph/executor.hpp"
#include "qforge/io/model_file.hpp"
#include "qforge/quant/ptq.hpp"
#include "qforge/quant/qexecutor.hpp"
#include "qforge/quant/qgraph_io.hpp"
#include <kernels/spin_pool.hpp>

#include <atomic>

using namespace qforge;
using namespace qforge::quant;

namespace {

// Under ThreadSanitizer (scripts/test_sanitizers.sh) the races are the question, and they do not depend on the
// kernel family: one ISA is enough there (the scalar reference alone took ~40 s of the suite); the plain build
// checks every ISA against the reference.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define QF_UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define QF_UNDER_TSAN 1
#endif

constexpr int kThreads = 8;
constexpr int64_t kPerThread = 4;  // images per run

std::string model_path() { return std::string(QFORGE_SOURCE_DIR) + "/weights/fmnist_resnet.onnx"; }

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// kThreads batches of real test images (different per thread), preprocessed for the model.
std::vector<Tensor> test_batches(const Graph& g) {
  data::DatasetOptions o;
  o.limit = kThreads * kPerThread;
  auto ds = data::load_dataset("fmnist:test", o);
  REQUIRE_MESSAGE(ds.ok(), (ds.ok() ? "" : ds.error().message));
  auto spec = data::input_spec_of(g);
  REQUIRE(spec.ok());
  std::vector<Tensor> xs;
  for (int t = 0; t < kThreads; ++t) xs.push_back(data::preprocess_batch(*ds, t * kPerThread, (t + 1) * kPerThread, *spec));
  return xs;
}

// Runs run(x_t) for every batch once serially, then all at once from kThreads threads; both must agree bitwise.
template <class Run>
void check_concurrent_equals_serial(const std::vector<Tensor>& xs, Run run) {
  std::vector<Tensor> serial, parallel(xs.size());
  for (auto& x : xs) serial.push_back(run(x));
  std::vector<std::thread> ts;
  for (size_t t = 0; t < xs.size(); ++t) ts.emplace_back([&, t] { parallel[t] = run(xs[t]); });
  for (auto& t : ts) t.join();
  for (size_t t = 0; t < xs.size(); ++t) CHECK_MESSAGE(same_bits(serial[t], parallel[t]), "thread ", t);
}

Result<PtqResult> quantize_resnet(const Graph& g, int threads) {
  auto calib = make_calibration_set("fmnist:train", g, 32);
  if (!calib.ok()) return calib.error();
  PtqOptions o;
  o.threads = threads;
  o.batch_size = 8;
  return quantize_model(g, *calib, o);
}

}  // namespace

TEST_CASE("one prepared fp32 model, 8 threads at once, equals single-threaded runs") {
  auto g = load_onnx(model_path());
  REQUIRE(g.ok());
  ExecOptions o;
  o.threads = 1;
  auto ex = Executor::prepare(*g, o);
  REQUIRE(ex.ok());
  check_concurrent_equals_serial(test_batches(*g), [&](const Tensor& x) {
    auto y = ex->run({x});
    REQUIRE(y.ok());
    return (*y)[0];
  });
}

TEST_CASE("one prepared int8 model, 8 threads at once, equals single-threaded runs; identical on every ISA") {
  auto g = load_onnx(model_path());
  REQUIRE(g.ok());
  auto q = quantize_resnet(*g, 1);
  REQUIRE_MESSAGE(q.ok(), (q.ok() ? "" : q.error().message));
  const auto xs = test_batches(*g);
  std::vector<Tensor> reference;  // the scalar reference kernels define every result
#if defined(QF_UNDER_TSAN)
  const std::vector<Isa> isas{best_isa()};
#else
  const std::vector<Isa> isas = available_isas();
#endif
  for (Isa isa : isas) {
    CAPTURE(isa_name(isa));
    QExecOptions o;
    o.threads = 1;
    o.use_env_isa = false;
    o.isa = isa;
    auto ex = QExecutor::prepare(q->qgraph, o);
    REQUIRE(ex.ok());
    auto run = [&](const Tensor& x) {
      auto y = ex->run({x});
      REQUIRE(y.ok());
      return (*y)[0];
    };
    check_concurrent_equals_serial(xs, run);
    if (reference.empty()) {
      for (auto& x : xs) reference.push_back(run(x));
      continue;
    }
    for (size_t t = 0; t < xs.size(); ++t) CHECK_MESSAGE(same_bits(run(xs[t]), reference[t]), "batch ", t);
  }
}

TEST_CASE("quantization gives the same int8 file with 1 and 2 threads") {
  auto g = load_onnx(model_path());
  REQUIRE(g.ok());
  auto a = quantize_resnet(*g, 1), b = quantize_resnet(*g, 2);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto fa = qgraph_to_tensor_file(a->qgraph), fb = qgraph_to_tensor_file(b->qgraph);
  REQUIRE(fa.ok());
  REQUIRE(fb.ok());
  auto ba = serialize_tensor_file(*fa), bb = serialize_tensor_file(*fb);
  REQUIRE(ba.ok());
  REQUIRE(bb.ok());
  CHECK(*ba == *bb);
}

TEST_CASE("spin pool: every part runs once, nested and concurrent callers fall back, many rounds") {
  using kernels::SpinPool;
  SpinPool& pool = SpinPool::global();
  const int n = int(std::thread::hardware_concurrency() > 1 ? 2 : 1);
  // Many rounds with and without a hot section: each part t writes its own slot; a missing or doubled call
  // would leave a slot at 0 or 2.
  for (int hot = 0; hot < 2; ++hot) {
    const SpinPool::HotSection h(hot != 0);
    for (int round = 0; round < 2000; ++round) {
      std::vector<int> hits(size_t(n), 0);
      auto work = [&](int t) { hits[size_t(t)] += 1; };
      if (!kernels::spin_pool_run(n, work))
        for (int t = 0; t < n; ++t) work(t);
      for (int t = 0; t < n; ++t) REQUIRE(hits[size_t(t)] == 1);
    }
  }
  if (n < 2 || !SpinPool::enabled()) return;  // one core, QFORGE_SPIN_POOL=0 or OMP_WAIT_POLICY=active
  CHECK(pool.workers() >= 1);
  // More parts than workers + 1: refused, nothing run.
  int calls = 0;
  auto count = [&](int) { ++calls; };
  CHECK_FALSE(kernels::spin_pool_run(pool.workers() + 2, count));
  CHECK(calls == 0);
  // A task that asks the pool again is refused (it would wait for itself) and runs its inner work itself.
  std::atomic<int> inner_refused{0};
  auto outer = [&](int) {
    int x = 0;
    auto inner = [&](int) { ++x; };
    if (!kernels::spin_pool_run(2, inner)) inner_refused.fetch_add(1);
  };
  REQUIRE(kernels::spin_pool_run(2, outer));
  CHECK(inner_refused.load() == 2);
  // A part that throws, on the caller (t = 0) or on a worker (t = 1): try_run rethrows after both parts are done,
  // and the pool serves the next call.
  for (int bad = 0; bad < 2; ++bad) {
    std::atomic<int> done{0};
    auto thrower = [&](int t) {
      done.fetch_add(1);
      if (t == bad) throw std::runtime_error("part " + std::to_string(t));
    };
    CHECK_THROWS_WITH(kernels::spin_pool_run(2, thrower), ("part " + std::to_string(bad)).c_str());
    CHECK(done.load() == 2);
    std::vector<int> hits(2, 0);
    auto work = [&](int t) { hits[size_t(t)] += 1; };
    CHECK(kernels::spin_pool_run(2, work));
    CHECK(hits == std::vector<int>{1, 1});
  }
  // Callers on 4 threads at once: each call either runs all its parts once or is refused and runs nothing.
  // (Checked after the join: the counters, not doctest, are touched from the callers' threads.)
  std::atomic<int> ran{0}, refused{0}, wrong{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < 4; ++c)
    ts.emplace_back([&] {
      for (int round = 0; round < 500; ++round) {
        std::atomic<int> parts{0};
        auto work = [&](int) { parts.fetch_add(1); };
        const bool took = kernels::spin_pool_run(2, work);
        (took ? ran : refused).fetch_add(1);
        if (parts.load() != (took ? 2 : 0)) wrong.fetch_add(1);
      }
    });
  for (auto& t : ts) t.join();
  CHECK(wrong.load() == 0);
  CHECK(ran.load() + refused.load() == 4 * 500);
  CHECK(ran.load() > 0);
}
