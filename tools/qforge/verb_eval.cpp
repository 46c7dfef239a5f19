// `qforge eval MODEL --data SPEC`: top-1 accuracy of a model on a labelled dataset.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "cli.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/io/npy.hpp"
#include "qforge/model.hpp"
#include "qforge/quant/calibrate.hpp"

// A named namespace, not an anonymous one: the verbs compile as one unity translation unit (CMakeLists.txt).
namespace verb_eval {

using namespace qforge;

int eval_main(const std::vector<std::string>& argv) {
  cli::Args a(argv, {"json"});
  auto unknown = a.unknown({"data", "limit", "threads", "batch", "json", "mean", "std", "reference", "predictions"});
  if (a.positional().size() != 1 || !a.has("data") || !unknown.empty()) {
    if (!unknown.empty()) std::fprintf(stderr, "qforge eval: unknown or incomplete option --%s\n", unknown[0].c_str());
    std::fprintf(stderr,
                 "usage: qforge eval MODEL --data fmnist:test|cifar10:PATH|folder:PATH [--limit N] [--threads T]\n"
                 "                   [--batch B] [--mean M[,M,M]] [--std S[,S,S]] [--reference FP32_MODEL] [--json]\n"
                 "                   [--predictions FILE.npy]\n"
                 "  --reference: also run this model and report how often the two agree on the top-1 class\n"
                 "  --predictions: write every image's top-1 class (int64 [images], in dataset order) as .npy\n");
    return 2;
  }
  const std::string path = a.positional()[0];
  auto limit = a.has("limit") ? a.get_int("limit") : std::optional<long long>(-1);
  auto threads = a.has("threads") ? a.get_int("threads") : std::optional<long long>(0);
  auto batch = a.has("batch") ? a.get_int("batch") : std::optional<long long>(64);
  if (!limit || !threads || !batch || *threads < 0 || *batch < 1) {
    std::fprintf(stderr, "qforge eval: --limit, --threads and --batch take whole numbers (batch >= 1)\n");
    return 2;
  }
  if (*threads > 0) omp_set_num_threads(int(*threads));

  auto model = Model::load(path, {int(*threads)});
  if (!model.ok()) {
    std::fprintf(stderr, "qforge eval: %s\n", model.error().message.c_str());
    return 1;
  }
  std::optional<Model> reference;
  if (a.has("reference")) {
    auto r = Model::load(a.get("reference"), {int(*threads)});
    if (!r.ok()) {
      std::fprintf(stderr, "qforge eval: %s\n", r.error().message.c_str());
      return 1;
    }
    reference = std::move(r).value();
  }
  auto spec = data::input_spec_of(model->graph(), a.get("mean"), a.get("std"));
  if (!spec.ok()) {
    std::fprintf(stderr, "qforge eval: %s: %s\n", path.c_str(), spec.error().message.c_str());
    return 1;
  }
  data::DatasetOptions dopt;
  dopt.limit = *limit;
  dopt.resize_h = spec->height;
  dopt.resize_w = spec->width;
  dopt.channels = spec->channels;
  auto ds = data::load_dataset(a.get("data"), dopt);
  if (!ds.ok()) {
    std::fprintf(stderr, "qforge eval: %s\n", ds.error().message.c_str());
    return 1;
  }
  int64_t n = ds->size(), correct = 0, labelled = 0, agree = 0;
  // A model exported with a fixed batch dimension runs in batches of exactly that size.
  auto step = quant::model_batch_size(model->graph().inputs[0], *batch, n);
  if (!step.ok()) {
    std::fprintf(stderr, "qforge eval: %s: %s\n", path.c_str(), step.error().message.c_str());
    return 1;
  }
  auto argmax = [](const Tensor& t, int64_t i) {
    const float* row = t.data<float>() + i * t.dim(1);
    return std::max_element(row, row + t.dim(1)) - row;
  };
  // Per-image answers let a caller compare two models image by image (paired tests, agreement with a
  // reference computed once) without running either model again.
  Tensor predictions(DType::i64, {n});
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t b = 0; b < n; b += *step) {
    int64_t e = std::min<int64_t>(n, b + *step);
    Tensor x = data::preprocess_batch(*ds, b, e, *spec);
    auto out = model->run({x});
    if (!out.ok()) {
      std::fprintf(stderr, "qforge eval: %s: %s\n", path.c_str(), out.error().message.c_str());
      return 1;
    }
    const Tensor& logits = (*out)[0];
    if (logits.dtype() != DType::f32 || logits.rank() != 2 || logits.dim(0) != e - b) {
      std::fprintf(stderr, "qforge eval: %s: output '%s' has shape %s, expected [batch, classes] float\n",
                   path.c_str(), model->graph().outputs[0].name.c_str(), shape_str(logits.shape()).c_str());
      return 1;
    }
    Tensor ref_logits;
    if (reference) {
      auto r = reference->run({x});
      if (!r.ok()) {
        std::fprintf(stderr, "qforge eval: %s: %s\n", a.get("reference").c_str(), r.error().message.c_str());
        return 1;
      }
      ref_logits = (*r)[0];
      if (ref_logits.shape() != logits.shape()) {
        std::fprintf(stderr, "qforge eval: the reference model's output shape %s differs from %s\n",
                     shape_str(ref_logits.shape()).c_str(), shape_str(logits.shape()).c_str());
        return 1;
      }
    }
    for (int64_t i = 0; i < e - b; ++i) {
      int64_t pred = argmax(logits, i);
      predictions.data<int64_t>()[b + i] = pred;
      if (reference) agree += pred == argmax(ref_logits, i);
      int64_t label = ds->labels[size_t(b + i)];
      if (label < 0) continue;
      ++labelled;
      correct += pred == label;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.has("predictions")) {
    auto st = io::save_npy(a.get("predictions"), predictions);
    if (!st.ok()) {
      std::fprintf(stderr, "qforge eval: --predictions: %s\n", st.error().message.c_str());
      return 1;
    }
  }
  double top1 = labelled ? 100.0 * double(correct) / double(labelled) : 0.0;
  double agreement = n ? 100.0 * double(agree) / double(n) : 0.0;
  if (a.has("json")) {
    std::printf("{\"model\": \"%s\", \"kind\": \"%s\", \"data\": \"%s\", \"images\": %lld, \"correct\": %lld, "
                "\"top1\": %.4f, \"images_per_s\": %.1f",
                path.c_str(), model->kind(), a.get("data").c_str(), (long long)labelled, (long long)correct, top1,
                double(n) / secs);
    if (reference) std::printf(", \"agreement\": %.4f", agreement);
    std::printf("}\n");
  } else {
    std::printf("%-32s %-5s %-14s top-1 %6.2f%% (%lld/%lld)", path.c_str(), model->kind(), a.get("data").c_str(), top1,
                (long long)correct, (long long)labelled);
    if (reference) std::printf("  agreement with %s %.2f%%", a.get("reference").c_str(), agreement);
    std::printf("  %.0f images/s\n", double(n) / secs);
  }
  return 0;
}

cli::Verb reg{"eval", "top-1 of a model on a labelled dataset (fmnist:test, cifar10:PATH, folder:PATH)", eval_main};

}  // namespace verb_eval
