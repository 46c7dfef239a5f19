// qforge/data/filters.hpp — GenQ-style quality filters for synthetic calibration images: score every candidate
// with the fp32 model, keep the lowest scores (over-generate, then select).
//
// Contract: images are generator output, float32 [N, C, H, W] in [-1, 1]; they are mapped to the model input by
// preprocess_generated (preprocess_gen.hpp: (x+1)/2, channels, resize, (p − mean)/std from the model metadata).
// Scores are one float per image, lower = better, and do not depend on batch size (the model runs per image
// statistics only; BN runs in inference mode).
//  * energy_scores: E(x) = −T · logsumexp(f(x) / T) over the model's first output (logits [N, K]), T = 1 by
//    default (Liu et al. 2020, as used by GenQ): low energy = the model sees the image as in-distribution.
//  * bn_scores: distance of each image's per-channel activation statistics at the input of every
//    BatchNormalization (stats from collect_bn_stats on the unfolded graph) to the BN running statistics.
//    Per channel c of layer l: d = ((μ − m)² + (σ − s)²) / (s² + ε), with μ, σ² the image's mean and (biased)
//    variance over the spatial positions, m, s² the running mean/var. (μ − m)² + (σ − s)² is the squared
//    2-Wasserstein distance between N(μ, σ²) and N(m, s²); dividing by s² makes it scale-free, so every channel
//    and layer weigh the same. score = mean over layers of the mean over channels. (For a [N, C] input, σ = 0.)
//  * select_lowest: per group (class, or −1 for all) keep the `want[group]` lowest scores; ties keep the lower
//    index. Returns candidate indices in ascending order.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/data/preprocess_gen.hpp"
#include "qforge/graph/executor.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/graph/passes.hpp"
#include "qforge/io/model_file.hpp"

namespace qforge::data {

struct FilterOptions {
  float temperature = 1.0f;        // energy: T
  int64_t batch = 64;              // images per executor run (capped by a fixed batch dim in the model)
  ResizeMode resize = ResizeMode::Auto;
  std::string mean, std;           // override the model's qforge.mean / qforge.std ("" = metadata)
};

// The fp32 model a filter scores with: prepared without BN folding so BatchNormalization inputs are observable.
struct FilterModel {
  std::string name;
  Graph graph;                 // as loaded (BN unfolded)
  std::vector<BnStat> bn;      // collect_bn_stats(graph)
  InputSpec spec;              // from the graph input and metadata
  int64_t fixed_batch = 0;     // > 0 when the model's input declares a fixed batch size
  std::shared_ptr<const Executor> exec;
};

inline Result<FilterModel> make_filter_model(Graph g, const std::string& name, const FilterOptions& o = {}) {
  FilterModel m;
  m.name = name;
  auto spec = input_spec_of(g, o.mean, o.std);
  if (!spec.ok()) return spec.error().wrap(name);
  m.spec = *spec;
  m.fixed_batch = g.inputs[0].shape[0] > 0 ? g.inputs[0].shape[0] : 0;
  if (g.outputs.empty()) return make_error(name, ": model has no outputs");
  m.bn = collect_bn_stats(g);
  ExecOptions eo;
  eo.fold_bn = false;
  auto ex = Executor::prepare(g, eo);
  if (!ex.ok()) return ex.error().wrap(name);
  m.exec = std::make_shared<const Executor>(std::move(*ex));
  m.graph = std::move(g);
  return m;
}

inline Result<FilterModel> load_filter_model(const std::string& path, const FilterOptions& o = {}) {
  QF_ASSIGN_OR_RETURN(Graph g, load_graph(path));
  return make_filter_model(std::move(g), path, o);
}

namespace filter_detail {

inline int64_t batch_size(const FilterModel& m, const FilterOptions& o) {
  return m.fixed_batch > 0 ? m.fixed_batch : std::max<int64_t>(1, o.batch);
}

// Pads a batch of b < fixed images up to the model's fixed batch with copies of the last image.
inline Tensor pad_batch(const Tensor& x, int64_t want) {
  if (x.dim(0) == want) return x;
  Shape s = x.shape();
  s[0] = want;
  Tensor t(DType::f32, s);
  const int64_t per = x.numel() / x.dim(0);
  std::copy(x.data<float>(), x.data<float>() + x.numel(), t.data<float>());
  for (int64_t i = x.dim(0); i < want; ++i)
    std::copy(x.data<float>() + (x.dim(0) - 1) * per, x.data<float>() + x.dim(0) * per, t.data<float>() + i * per);
  return t;
}

}  // namespace filter_detail

// Energy score per image: −T · logsumexp(logits / T).
inline Result<std::vector<float>> energy_scores(const FilterModel& m, const Tensor& images, const FilterOptions& o = {}) {
  if (!(o.temperature > 0)) return make_error("energy filter: temperature must be > 0");
  if (images.rank() != 4) return make_error("energy filter: images must be [N,C,H,W], got ", shape_str(images.shape()));
  const int64_t N = images.dim(0), B = filter_detail::batch_size(m, o);
  std::vector<float> out(static_cast<size_t>(N));
  for (int64_t b0 = 0; b0 < N; b0 += B) {
    int64_t b1 = std::min(N, b0 + B);
    QF_ASSIGN_OR_RETURN(Tensor x, preprocess_generated(images.slice0(b0, b1), m.spec, o.resize));
    if (m.fixed_batch > 0) x = filter_detail::pad_batch(x, m.fixed_batch);
    auto r = m.exec->run({x});
    if (!r.ok()) return r.error().wrap(m.name);
    const Tensor& y = (*r)[0];
    if (y.dtype() != DType::f32 || y.rank() < 1 || y.dim(0) != x.dim(0) || y.numel() == 0)
      return make_error(m.name, ": output '", m.graph.outputs[0].name, "' has shape ", shape_str(y.shape()),
                        ", expected logits [", x.dim(0), ", K]");
    const int64_t K = y.numel() / y.dim(0);
    const float T = o.temperature;
    for (int64_t i = b0; i < b1; ++i) {
      const float* l = y.data<float>() + (i - b0) * K;
      double mx = -1e300;
      for (int64_t k = 0; k < K; ++k) mx = std::max(mx, double(l[k]) / T);
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += std::exp(double(l[k]) / T - mx);
      out[size_t(i)] = float(-double(T) * (mx + std::log(s)));
    }
  }
  return out;
}

// BN-statistics distance per image (see the header comment for the formula).
inline Result<std::vector<float>> bn_scores(const FilterModel& m, const Tensor& images, const FilterOptions& o = {}) {
  if (m.bn.empty()) return make_error(m.name, ": the bn filter needs a model with BatchNormalization layers");
  if (images.rank() != 4) return make_error("bn filter: images must be [N,C,H,W], got ", shape_str(images.shape()));
  std::map<std::string, size_t> layer_of;
  for (size_t l = 0; l < m.bn.size(); ++l) layer_of[m.bn[l].input_value] = l;
  const int64_t N = images.dim(0), B = filter_detail::batch_size(m, o);
  std::vector<double> acc(static_cast<size_t>(N), 0.0);
  for (int64_t b0 = 0; b0 < N; b0 += B) {
    int64_t b1 = std::min(N, b0 + B);
    QF_ASSIGN_OR_RETURN(Tensor x, preprocess_generated(images.slice0(b0, b1), m.spec, o.resize));
    if (m.fixed_batch > 0) x = filter_detail::pad_batch(x, m.fixed_batch);
    std::vector<bool> seen(m.bn.size(), false);
    std::string bad;
    auto observer = [&](const std::string& name, const Tensor& t) {
      auto it = layer_of.find(name);
      if (it == layer_of.end() || seen[it->second]) return;
      const BnStat& st = m.bn[it->second];
      const int64_t C = st.mean.numel();
      if (t.dtype() != DType::f32 || t.rank() < 2 || t.dim(0) != x.dim(0) || t.dim(1) != C ||
          st.var.numel() != C || st.mean.dtype() != DType::f32 || st.var.dtype() != DType::f32) {
        bad = "BatchNormalization '" + st.node + "': input '" + name + "' has shape " + shape_str(t.shape()) +
              " for " + std::to_string(C) + " running statistics";
        return;
      }
      seen[it->second] = true;
      const int64_t S = t.numel() / (t.dim(0) * C);
      for (int64_t i = b0; i < b1; ++i) {
        double layer = 0;
        for (int64_t c = 0; c < C; ++c) {
          const float* p = t.data<float>() + ((i - b0) * C + c) * S;
          double s = 0, ss = 0;
          for (int64_t k = 0; k < S; ++k) s += p[k];
          double mu = s / double(S);
          for (int64_t k = 0; k < S; ++k) ss += (p[k] - mu) * (p[k] - mu);
          double sd = std::sqrt(ss / double(S));
          double rm = st.mean.data<float>()[c], rv = std::max(0.0, double(st.var.data<float>()[c]));
          double den = rv + double(st.epsilon);
          layer += ((mu - rm) * (mu - rm) + (sd - std::sqrt(rv)) * (sd - std::sqrt(rv))) / den;
        }
        acc[size_t(i)] += layer / double(C);
      }
    };
    auto r = m.exec->run({x}, observer);
    if (!r.ok()) return r.error().wrap(m.name);
    if (!bad.empty()) return make_error(m.name, ": ", bad);
    for (size_t l = 0; l < m.bn.size(); ++l)
      if (!seen[l])
        return make_error(m.name, ": BatchNormalization '", m.bn[l].node, "' input '", m.bn[l].input_value,
                          "' was never computed");
  }
  std::vector<float> out(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) out[size_t(i)] = float(acc[size_t(i)] / double(m.bn.size()));
  return out;
}

// Keeps, per group, the want[group] lowest scores (ties: lower index first). Groups absent from `want` keep
// nothing; a group with fewer candidates than wanted keeps all of them. Returns ascending candidate indices.
inline std::vector<size_t> select_lowest(const std::vector<float>& scores, const std::vector<int64_t>& group,
                                         const std::map<int64_t, int64_t>& want) {
  std::map<int64_t, std::vector<size_t>> members;
  for (size_t i = 0; i < scores.size(); ++i) members[i < group.size() ? group[i] : -1].push_back(i);
  std::vector<size_t> keep;
  for (auto& [g, idx] : members) {
    auto w = want.find(g);
    if (w == want.end() || w->second <= 0) continue;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      float sa = scores[a], sb = scores[b];
      if (std::isnan(sa)) return false;  // NaN scores sort last
      if (std::isnan(sb)) return true;
      return sa < sb;
    });
    size_t k = std::min(idx.size(), size_t(w->second));
    keep.insert(keep.end(), idx.begin(), idx.begin() + long(k));
  }
  std::sort(keep.begin(), keep.end());
  return keep;
}

}  // namespace qforge::data
