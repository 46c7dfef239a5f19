// qforge/quant/ptq.hpp — post-training quantization end to end: calibration source → fp32 statistics → QGraph.
//
// Contract:
//  * make_calibration_set(spec, model, n, opts): a dataset spec (fmnist:train, idx:, cifar10:, folder:) gives its
//    first n images; a generator spec (fractal, noise:..., stylegan2:PATH, onnxgen:PATH) gives images 0..n-1 of
//    the run `seed` (conditional generators cycle through their classes). Images are preprocessed to the model's
//    input exactly as for evaluation (data/preprocess*.hpp: model metadata qforge.mean / qforge.std, or the
//    overrides). `shuffle` ≠ 0 feeds the same n images in a seeded random order (to check order independence).
//  * quantize_model(model, calib, opts): prepares the fp32 executor (BN folding, activation fusion), collects
//    statistics (two passes when the calibrator needs histograms), runs the quantize pass. The result does not
//    depend on batch size or image order.
#pragma once
#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "generators/registry.hpp"
#include "qforge/core/error.hpp"
#include "qforge/core/rng.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/data/preprocess_gen.hpp"
#include "qforge/graph/executor.hpp"
#include "qforge/quant/calibrate.hpp"
#include "qforge/quant/quantize.hpp"

namespace qforge::quant {

struct CalibrationSourceOptions {
  uint64_t seed = 0;             // generator run
  uint64_t shuffle = 0;          // 0 = natural order, else a seeded permutation of the n images
  std::string mean, std;         // overrides of the model's normalisation ("" = model metadata)
  gen::SourceOptions generator;  // psi, noise mode, ...
};

inline Result<CalibrationSet> make_calibration_set(const std::string& spec, const Graph& model, int64_t n,
                                                   const CalibrationSourceOptions& o = {}) {
  if (n <= 0) return make_error("the calibration set is empty (-n ", n, ")");
  QF_ASSIGN_OR_RETURN(data::InputSpec in, data::input_spec_of(model, o.mean, o.std));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (o.shuffle) {
    CounterRng rng(o.shuffle, 0x5348554646ull);
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(rng.u32(uint64_t(i)) % uint64_t(i + 1))]);
  }
  auto ord = std::make_shared<std::vector<int64_t>>(std::move(order));
  CalibrationSet cs;
  cs.count = n;
  if (data::is_dataset_spec(spec)) {
    data::DatasetOptions dopt;
    dopt.limit = n;
    dopt.resize_h = in.height;
    dopt.resize_w = in.width;
    dopt.channels = in.channels;
    auto ds = data::load_dataset(spec, dopt);
    if (!ds.ok()) return ds.error();
    if (ds->size() < n)
      return make_error("calibration source '", spec, "' has ", ds->size(), " images, ", n, " requested");
    auto d = std::make_shared<data::Dataset>(std::move(ds).value());
    cs.batch = [d, in, ord](int64_t b, int64_t e) -> Result<Tensor> {
      Tensor out(DType::f32, {e - b, in.channels, in.height, in.width});
      const int64_t per = in.channels * in.height * in.width;
      for (int64_t k = b; k < e; ++k) {
        const int64_t idx = (*ord)[size_t(k)];
        Tensor one = data::preprocess_batch(*d, idx, idx + 1, in);
        std::copy(one.data<float>(), one.data<float>() + per, out.data<float>() + (k - b) * per);
      }
      return out;
    };
    cs.image_name = [d, ord](int64_t k) { return d->item_name((*ord)[size_t(k)]); };
    return cs;
  }
  auto g = gen::make_generator(spec, o.generator);
  if (!g.ok()) return g.error();
  std::shared_ptr<const gen::Generator> gp(std::move(g).value());
  const int64_t classes = gp->info().num_classes;
  const uint64_t seed = o.seed;
  cs.batch = [gp, in, ord, classes, seed](int64_t b, int64_t e) -> Result<Tensor> {
    Tensor out(DType::f32, {e - b, in.channels, in.height, in.width});
    const int64_t per = in.channels * in.height * in.width;
    for (int64_t k = b; k < e; ++k) {
      gen::GenerateRequest r;
      r.seed = seed;
      r.first = (*ord)[size_t(k)];
      r.count = 1;
      if (classes > 0) r.classes = {r.first % classes};
      QF_ASSIGN_OR_RETURN(Tensor img, gp->generate(r));
      QF_ASSIGN_OR_RETURN(Tensor x, data::preprocess_generated(img, in));
      std::copy(x.data<float>(), x.data<float>() + per, out.data<float>() + (k - b) * per);
    }
    return out;
  };
  const std::string name = spec;
  cs.image_name = [name, ord, seed](int64_t k) {
    return name + " seed " + std::to_string(seed) + " image " + std::to_string((*ord)[size_t(k)]);
  };
  return cs;
}

struct PtqOptions {
  QuantizeOptions quant;
  int64_t batch_size = 64;
  int threads = 0;
};

struct PtqResult {
  QGraph qgraph;
  QuantizeInfo info;
  Graph fp32;  // the prepared fp32 graph the pass worked on
  std::map<std::string, TensorStats> stats;
};

// An Fp32Runner over a prepared executor.
inline Fp32Runner executor_runner(std::shared_ptr<const Executor> ex) {
  return [ex](const Tensor& x, const ValueSink& sink) -> Status {
    auto r = ex->run({x}, [&](const std::string& n, const Tensor& t) { sink(n, t); });
    if (!r.ok()) return r.error();
    return Status::Ok();
  };
}

inline Result<PtqResult> quantize_model(const Graph& model, const CalibrationSet& calib, const PtqOptions& o) {
  if (model.inputs.size() != 1) return make_error("quantize: the model must have one input, it has ", model.inputs.size());
  ExecOptions eo;
  eo.threads = o.threads;
  QF_ASSIGN_OR_RETURN(Executor ex, Executor::prepare(model, eo));
  auto exp = std::make_shared<const Executor>(std::move(ex));
  QF_ASSIGN_OR_RETURN(int64_t batch, model_batch_size(model.inputs[0], o.batch_size, calib.count));
  QF_ASSIGN_OR_RETURN(auto stats, collect_statistics(executor_runner(exp), calib, batch,
                                                     needs_histograms(o.quant.act.method)));
  PtqResult r;
  r.fp32 = exp->graph();
  auto q = quantize_graph(r.fp32, stats, o.quant, &r.info);
  if (!q.ok()) return q.error();
  r.qgraph = std::move(q).value();
  r.stats = std::move(stats);
  return r;
}

}  // namespace qforge::quant
