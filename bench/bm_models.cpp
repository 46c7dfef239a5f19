// bm_models — whole-model inference, fp32 (qforge::Model's executor) and int8 (the QGraph executor), in one binary.
//
// Models: the shipped Fashion-MNIST classifiers weights/fmnist_{resnet,vgg,mobilenetv2,shufflenetv2,repvgg}.onnx
// and, when $QFORGE_TORCHVISION_DIR names a folder with tv_resnet18.onnx / tv_mobilenet_v2.onnx (written by
// tools/python/export_torchvision_bench.py: random weights, 224×224), torchvision ResNet-18 and MobileNetV2.
// Without that variable those rows are not registered and a line on stderr says so.
//
// int8 models are made in the process, the way `qforge quantize` makes them (quant/ptq.hpp, default options: mse
// activation calibrator, per-channel minmax weights, u8 activations): shipped models on the first 256 images of
// fmnist:train, torchvision models on 32 noise:uniform images (seed 0). Quantization happens once per model, the
// first time a row of that model runs, outside the timed loop; so does preparing an executor per thread count.
//
// Names: <model>/<qforge_fp32|qforge_int8>/batch:<B>/threads:<T>. Counter images_per_s (batch / wall time; every
// row uses real time); the CPU column is the process's CPU time (all threads), which on a loaded machine says how
// much of the wall time the benchmark actually ran. The executor's thread count is set with ModelOptions/QExecOptions threads and OpenMP's
// default (omp_set_num_threads) before the loop. The input is a real batch (fmnist:test) or noise, preprocessed.
// Run 1-thread rows pinned to one core (taskset -c 0) and 2-thread rows on two; see docs/performance.md.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "bench_common.hpp"
#include "qforge/core/cpu.hpp"
#include "qforge/model.hpp"
#include "qforge/quant/any_model.hpp"
#include "qforge/quant/ptq.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace qforge;

namespace {

struct ModelSpec {
  std::string name;   // row name
  std::string path;   // ONNX file
  std::string calib;  // calibration source for int8
  int64_t calib_n;
  std::string input;  // source of the timed input batch
};

struct Prepared {
  Graph graph;                          // fp32 graph as loaded
  std::shared_ptr<const quant::QGraph> qgraph;  // null until an int8 row needs it
};

[[noreturn]] void die(const std::string& what, const Error& e) {
  std::fprintf(stderr, "bm_models: %s: %s\n", what.c_str(), e.message.c_str());
  std::exit(1);
}

std::mutex g_mu;
std::map<std::string, Prepared> g_prepared;
std::map<std::tuple<std::string, bool, int>, std::shared_ptr<const quant::AnyModel>> g_models;
std::map<std::pair<std::string, int64_t>, Tensor> g_inputs;

Prepared& prepared(const ModelSpec& m) {
  auto it = g_prepared.find(m.name);
  if (it != g_prepared.end()) return it->second;
  auto g = load_graph(m.path);
  if (!g.ok()) die(m.path, g.error());
  Prepared p;
  p.graph = std::move(g).value();
  return g_prepared.emplace(m.name, std::move(p)).first->second;
}

std::shared_ptr<const quant::QGraph> qgraph_of(const ModelSpec& m) {
  Prepared& p = prepared(m);
  if (p.qgraph) return p.qgraph;
  auto cs = quant::make_calibration_set(m.calib, p.graph, m.calib_n);
  if (!cs.ok()) die(m.name + " --calib " + m.calib, cs.error());
  quant::PtqOptions po;  // the defaults of `qforge quantize`
  po.threads = 1;
  auto r = quant::quantize_model(p.graph, cs.value(), po);
  if (!r.ok()) die(m.name + " quantize", r.error());
  std::fprintf(stderr, "bm_models: %s quantized on %lld images of %s: %d int8 nodes, %zu fp32 nodes\n", m.name.c_str(),
               (long long)m.calib_n, m.calib.c_str(), r->info.quantized_nodes, r->info.float_nodes.size());
  p.qgraph = std::make_shared<const quant::QGraph>(std::move(r->qgraph));
  return p.qgraph;
}

std::shared_ptr<const quant::AnyModel> model_of(const ModelSpec& m, bool int8, int threads) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto key = std::make_tuple(m.name, int8, threads);
  auto it = g_models.find(key);
  if (it != g_models.end()) return it->second;
  Result<quant::AnyModel> am = int8 ? quant::AnyModel::from_qgraph(*qgraph_of(m), m.path, threads)
                                    : quant::AnyModel::from_graph(prepared(m).graph, m.path, threads);
  if (!am.ok()) die(m.name, am.error());
  auto sp = std::make_shared<const quant::AnyModel>(std::move(am).value());
  g_models.emplace(key, sp);
  return sp;
}

const Tensor& input_of(const ModelSpec& m, int64_t batch) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto key = std::make_pair(m.name, batch);
  auto it = g_inputs.find(key);
  if (it != g_inputs.end()) return it->second;
  quant::CalibrationSourceOptions so;
  so.seed = 1;  // not the calibration images
  auto cs = quant::make_calibration_set(m.input, prepared(m).graph, batch, so);
  if (!cs.ok()) die(m.name + " input " + m.input, cs.error());
  auto x = cs->batch(0, batch);
  if (!x.ok()) die(m.name + " input " + m.input, x.error());
  return g_inputs.emplace(key, std::move(x).value()).first->second;
}

void BM_model(benchmark::State& st, ModelSpec m, bool int8, int64_t batch, int threads) {
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
  auto model = model_of(m, int8, threads);
  const std::vector<Tensor> in{input_of(m, batch)};
  static std::set<std::string> warmed;  // Google Benchmark calls this once per repetition: warm up only once
  if (warmed.insert(m.name + (int8 ? "/int8/" : "/fp32/") + std::to_string(batch) + "/" + std::to_string(threads))
          .second) {  // first-touch allocations, lazily packed buffers
    auto y = model->run(in);
    if (!y.ok()) {
      st.SkipWithError((m.name + ": " + y.error().message).c_str());
      return;
    }
  }
  for (auto _ : st) {
    auto y = model->run(in);
    benchmark::DoNotOptimize(y);
  }
  st.counters["images_per_s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(int8 ? std::string("int8 ") + isa_name(best_isa()) : std::string("fp32"));
}

std::vector<ModelSpec> model_specs() {
  std::vector<ModelSpec> v;
  const std::string w = std::string(QFORGE_SOURCE_DIR) + "/weights/";
  for (const char* a : {"resnet", "vgg", "mobilenetv2", "shufflenetv2", "repvgg"})
    v.push_back({std::string("fmnist_") + a, w + "fmnist_" + a + ".onnx", "fmnist:train", 256, "fmnist:test"});
  const char* tv = std::getenv("QFORGE_TORCHVISION_DIR");
  if (!tv || !*tv) {
    std::fprintf(stderr,
                 "bm_models: torchvision rows skipped: set QFORGE_TORCHVISION_DIR to the folder written by "
                 "tools/python/export_torchvision_bench.py\n");
    return v;
  }
  for (const char* a : {"resnet18", "mobilenet_v2"}) {
    const std::string path = std::string(tv) + "/tv_" + a + ".onnx";
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      std::fclose(f);
      v.push_back({std::string("tv_") + a, path, "noise:uniform", 32, "noise:uniform"});
    } else {
      std::fprintf(stderr, "bm_models: tv_%s rows skipped: %s not found\n", a, path.c_str());
    }
  }
  return v;
}

void register_all() {
  for (const ModelSpec& m : model_specs())
    for (bool int8 : {false, true})
      for (int64_t batch : {1, 64})
        for (int threads : {1, 2}) {
          const std::string name = m.name + (int8 ? "/qforge_int8" : "/qforge_fp32") + "/batch:" +
                                   std::to_string(batch) + "/threads:" + std::to_string(threads);
          benchmark::RegisterBenchmark(name.c_str(), BM_model, m, int8, batch, threads)
              ->Unit(benchmark::kMillisecond)
              ->MeasureProcessCPUTime()
              ->UseRealTime();
        }
}

}  // namespace

int main(int argc, char** argv) { return qforge::bench::run_benchmarks(argc, argv, register_all); }
