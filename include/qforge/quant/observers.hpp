// qforge/quant/observers.hpp — observers: statistics of named fp32 tensors seen during calibration runs.
//
// Contract: statistics do not depend on the order of the calibration images or on the batch size, bit for bit.
//  * Pass 1 (observe_range): global min/max, element count, per-sample min/max summed for NNCF's mean-minmax, and
//    per-channel sums (axis 1, for bias correction). Sums use ExactSum (fixed point, integer addition), so they
//    are associative; min/max are order-free by nature.
//  * Pass 2 (observe_histogram): two 2048-bin histograms over the FIXED range found in pass 1: a signed one over
//    [min, max] and one of |x| over [0, max|x|] (exact zeros are counted apart, not binned). Integer counts.
// Axis 0 is the sample axis (a batch of N images gives N samples) when its size equals the batch size passed in;
// otherwise the whole tensor counts as one sample. Non-finite values are rejected with an error that names the
// tensor and the image index (first_sample + n).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"

namespace qforge::quant {

constexpr int kHistogramBins = 2048;

// Order-independent sum: each addend is rounded (to nearest) to a multiple of 2^-40 and added as a 128-bit integer,
// so the total is the same for any order of additions. Addends must satisfy |v| < 2^80 (checked; larger values
// saturate), which holds for finite activations of any sane network.
class ExactSum {
 public:
  void add(double v) {
    if (!std::isfinite(v)) return;
    const double lim = 1.2089258196146292e24;  // 2^80
    v = std::clamp(v, -lim, lim);
    acc_ += static_cast<__int128>(std::nearbyint(std::ldexp(v, kFrac)));
  }
  void merge(const ExactSum& o) { acc_ += o.acc_; }
  double value() const { return std::ldexp(static_cast<double>(acc_), -kFrac); }

 private:
  static constexpr int kFrac = 40;
  __int128 acc_ = 0;
};

// Everything the calibrators need to know about one activation tensor.
struct TensorStats {
  Shape shape;             // shape of the first batch seen (axis 0 = batch)
  uint64_t count = 0;      // elements seen in pass 1
  uint64_t samples = 0;    // samples (images) seen in pass 1
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  ExactSum sum_sample_min, sum_sample_max;  // Σ over samples of the per-sample min / max
  std::vector<ExactSum> channel_sum;        // per channel (axis 1) Σ x
  uint64_t channel_count = 0;               // elements per channel seen

  // Pass 2.
  std::vector<uint64_t> hist;      // signed: kHistogramBins over [min, max]
  std::vector<uint64_t> abs_hist;  // |x| over [0, abs_max], exact zeros not included
  uint64_t zeros = 0;              // exact zeros
  uint64_t hist_count = 0;         // elements seen in pass 2

  bool seen() const { return count > 0; }
  float abs_max() const { return std::max(std::fabs(min), std::fabs(max)); }
  float bin_width() const { return (max - min) / float(kHistogramBins); }
  float abs_bin_width() const { return abs_max() / float(kHistogramBins); }
  double mean_sample_min() const { return samples ? sum_sample_min.value() / double(samples) : 0.0; }
  double mean_sample_max() const { return samples ? sum_sample_max.value() / double(samples) : 0.0; }
  std::vector<double> channel_means() const {
    std::vector<double> m(channel_sum.size(), 0.0);
    if (channel_count)
      for (size_t c = 0; c < m.size(); ++c) m[c] = channel_sum[c].value() / double(channel_count);
    return m;
  }
};

// Bin of x in a histogram of `bins` bins over [lo, hi] (hi > lo), clamped to [0, bins-1]. A pure function of x.
inline int histogram_bin(float x, float lo, float hi, int bins) {
  const double t = (double(x) - double(lo)) / (double(hi) - double(lo)) * double(bins);
  if (!(t > 0)) return 0;
  if (t >= double(bins)) return bins - 1;
  return int(t);
}

// Returns an error naming the first non-finite element of a float batch: "<what>: NaN at element e of image k".
inline Status check_finite(const Tensor& t, const std::string& what, int64_t first_sample,
                           const std::vector<std::string>* image_names = nullptr) {
  if (t.dtype() != DType::f32) return Status::Ok();
  const float* p = t.data<float>();
  const int64_t n = t.numel();
  const int64_t N = t.rank() ? std::max<int64_t>(t.dim(0), 1) : 1;
  const int64_t per = n / N ? n / N : 1;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) {
      int64_t img = first_sample + i / per;
      std::string nm = "image " + std::to_string(img);
      if (image_names && img >= 0 && img < int64_t(image_names->size())) nm += " (" + (*image_names)[size_t(img)] + ")";
      return make_error(what, ": ", std::isnan(p[i]) ? "NaN" : "Inf", " at element ", i % per, " of calibration ", nm);
    }
  return Status::Ok();
}

// Collects TensorStats for named tensors over the two calibration passes.
class ActivationObserver {
 public:
  // Pass 1. `batch` = number of images in this run; `first_sample` = global index of its first image.
  Status observe_range(const std::string& name, const Tensor& t, int64_t batch, int64_t first_sample) {
    if (t.dtype() != DType::f32 || t.numel() == 0) return Status::Ok();
    QF_RETURN_IF_ERROR(check_finite(t, "value '" + name + "'", first_sample));
    TensorStats& s = stats_[name];
    if (s.shape.empty()) s.shape = t.shape();
    const float* p = t.data<float>();
    const int64_t n = t.numel();
    const bool per_sample = t.rank() >= 1 && t.dim(0) == batch && batch > 0;
    const int64_t N = per_sample ? batch : 1, per = n / N;
    for (int64_t b = 0; b < N; ++b) {
      float lo = p[b * per], hi = p[b * per];
      for (int64_t i = 1; i < per; ++i) {
        const float v = p[b * per + i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
      }
      s.min = std::min(s.min, lo);
      s.max = std::max(s.max, hi);
      s.sum_sample_min.add(lo);
      s.sum_sample_max.add(hi);
    }
    s.samples += uint64_t(N);
    s.count += uint64_t(n);
    // Per-channel sums along axis 1 (rank >= 2): per sample and channel a double sum in a fixed order, then exact.
    if (t.rank() >= 2) {
      const int64_t C = t.dim(1), inner = per_sample ? per / C : n / (t.dim(0) * C);
      const int64_t outer = t.dim(0);
      if (s.channel_sum.empty()) s.channel_sum.resize(size_t(C));
      if (int64_t(s.channel_sum.size()) == C) {
        for (int64_t b = 0; b < outer; ++b)
          for (int64_t c = 0; c < C; ++c) {
            double acc = 0;
            const float* q = p + (b * C + c) * inner;
            for (int64_t i = 0; i < inner; ++i) acc += q[i];
            s.channel_sum[size_t(c)].add(acc);
          }
        s.channel_count += uint64_t(outer * inner);
      }
    }
    return Status::Ok();
  }

  // Pass 2: histograms over the pass-1 range. Tensors not seen in pass 1 are ignored.
  Status observe_histogram(const std::string& name, const Tensor& t) {
    if (t.dtype() != DType::f32 || t.numel() == 0) return Status::Ok();
    auto it = stats_.find(name);
    if (it == stats_.end() || !it->second.seen()) return Status::Ok();
    TensorStats& s = it->second;
    if (s.hist.empty()) {
      s.hist.assign(kHistogramBins, 0);
      s.abs_hist.assign(kHistogramBins, 0);
    }
    const float* p = t.data<float>();
    const int64_t n = t.numel();
    const float lo = s.min, hi = s.max, am = s.abs_max();
    const bool flat = !(hi > lo);
    for (int64_t i = 0; i < n; ++i) {
      const float v = p[i];
      if (!std::isfinite(v))
        return make_error("value '", name, "': non-finite value in the second calibration pass (the model is not "
                          "deterministic?)");
      s.hist[size_t(flat ? 0 : histogram_bin(v, lo, hi, kHistogramBins))] += 1;
      if (v == 0.0f) {
        ++s.zeros;
      } else {
        s.abs_hist[size_t(am > 0 ? histogram_bin(std::fabs(v), 0.0f, am, kHistogramBins) : 0)] += 1;
      }
    }
    s.hist_count += uint64_t(n);
    return Status::Ok();
  }

  const std::map<std::string, TensorStats>& stats() const { return stats_; }
  std::map<std::string, TensorStats>& stats() { return stats_; }
  const TensorStats* find(const std::string& name) const {
    auto it = stats_.find(name);
    return it == stats_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, TensorStats> stats_;
};

}  // namespace qforge::quant
