// qforge/experiment/few_shot.hpp — GenQ's low-data regime without training: K real images per class steer
// which StyleGAN2 images are used for calibration.
//
// Contract:
//  * penultimate_value(graph): the input of the last Gemm/MatMul of the prepared fp32 graph (the classifier's
//    feature vector); an error when the graph has none.
//  * features(): that value for each image, flattened to [N, D] (images go through preprocess_generated).
//  * nearest_real_distance(): per candidate, the squared L2 distance of its features to the nearest real
//    image's features of the same class (of any class when the candidate has none or the class has no real
//    image).
//  * few_shot_set(): draws `pool` generator candidates (images 0..pool-1 of the run), keeps n − |real| of them
//    with the smallest distances (per class as many as the first n − |real| candidates hold, filter_select),
//    resizes them to the real images' size and puts the real images first. K = 0 gives the plain generator set.
#pragma once
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/data/preprocess_gen.hpp"
#include "qforge/experiment/sources.hpp"
#include "qforge/graph/executor.hpp"

namespace qforge::experiment {

inline Result<std::string> penultimate_value(const Graph& g) {
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& n = g.nodes[i];
    if ((n.op_type == "Gemm" || n.op_type == "MatMul") && !n.inputs.empty()) return n.inputs[0];
  }
  return make_error("model '", g.name, "' has no Gemm/MatMul layer whose input could serve as features");
}

struct Features {
  std::vector<float> v;  // [N, D]
  int64_t n = 0, d = 0;
  const float* row(int64_t i) const { return v.data() + i * d; }
};

inline Result<Features> features(const Executor& ex, const data::InputSpec& spec, const Tensor& raw,
                                 const std::string& value, int64_t batch) {
  Features f;
  f.n = raw.dim(0);
  for (int64_t b = 0; b < f.n; b += batch) {
    const int64_t e = std::min(f.n, b + batch);
    QF_ASSIGN_OR_RETURN(Tensor x, data::preprocess_generated(raw.slice0(b, e), spec));
    bool seen = false;
    std::string bad;
    auto obs = [&](const std::string& name, const Tensor& t) {
      if (name != value || seen) return;
      seen = true;
      if (t.dtype() != DType::f32 || t.rank() < 1 || t.dim(0) != e - b) {
        bad = "feature value '" + value + "' has shape " + shape_str(t.shape());
        return;
      }
      const int64_t d = t.numel() / (e - b);
      if (f.d == 0) f.d = d;
      if (d != f.d) {
        bad = "feature size changed";
        return;
      }
      f.v.insert(f.v.end(), t.data<float>(), t.data<float>() + t.numel());
    };
    auto r = ex.run({x}, obs);
    if (!r.ok()) return r.error();
    if (!bad.empty()) return make_error(bad);
    if (!seen) return make_error("feature value '", value, "' was never computed");
  }
  return f;
}

inline std::vector<float> nearest_real_distance(const Features& cand, const std::vector<int64_t>& cand_cls,
                                                const Features& real, const std::vector<int64_t>& real_cls) {
  std::vector<float> out(size_t(cand.n), std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < cand.n; ++i) {
    const int64_t c = i < int64_t(cand_cls.size()) ? cand_cls[size_t(i)] : -1;
    bool class_has_real = false;
    for (int64_t rc : real_cls) class_has_real |= (c >= 0 && rc == c);
    double best = std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < real.n; ++j) {
      if (class_has_real && real_cls[size_t(j)] != c) continue;
      double s = 0;
      const float *a = cand.row(i), *b = real.row(j);
      for (int64_t k = 0; k < cand.d; ++k) s += double(a[k] - b[k]) * double(a[k] - b[k]);
      best = std::min(best, s);
    }
    out[size_t(i)] = float(best);
  }
  return out;
}

inline Result<RawImages> few_shot_set(const Executor& ex, const data::InputSpec& spec, const std::string& feat_value,
                                      const RawImages& real, const gen::Generator& g, uint64_t seed, int64_t n,
                                      int64_t pool_factor, int64_t batch) {
  const int64_t n_syn = n - real.size();
  if (n_syn <= 0) return real;
  const Shape rs = real.size() ? real.images.shape() : Shape{};
  QF_ASSIGN_OR_RETURN(RawImages cand, generate_images(g, seed, 0, n_syn * std::max<int64_t>(1, pool_factor), batch));
  RawImages syn;
  if (real.size() == 0) {
    std::vector<size_t> first(static_cast<size_t>(n_syn));
    for (size_t i = 0; i < first.size(); ++i) first[i] = i;
    return take(cand, first);
  }
  QF_ASSIGN_OR_RETURN(Features fr, features(ex, spec, real.images, feat_value, batch));
  QF_ASSIGN_OR_RETURN(Features fc, features(ex, spec, cand.images, feat_value, batch));
  if (fr.d != fc.d) return make_error("few-shot: feature sizes differ (", fr.d, " vs ", fc.d, ")");
  syn = filter_select(cand, nearest_real_distance(fc, cand.classes, fr, real.classes), n_syn);
  QF_ASSIGN_OR_RETURN(syn.images, data::resize_images(syn.images, rs[1], rs[2], rs[3]));
  return concat(real, syn);
}

}  // namespace qforge::experiment
