// qforge/quant/calibrators.hpp — calibrators: turn observed statistics into a real range [lo, hi] per tensor,
// and weights into per-output-channel clipping thresholds.
//
// Contract: every function is a pure function of its inputs (histograms are integer counts from
// observers.hpp), so a range does not depend on the order or batch size of the calibration images.
// Activation calibrators (per tensor; the range is then made affine by choose_qparams):
//   minmax       [min, max] over all calibration data.
//   mean-minmax  [mean over images of the per-image min, mean of the per-image max]   (NNCF MEAN_MINMAX)
//   percentile   T = upper edge of the |x| histogram bin where the |x| CDF reaches p (default 99.99 %);
//                range [max(min, -T), min(max, T)].
//   entropy      TensorRT/ncnn KL: |x| histogram (2048 bins over [0, max|x|], exact zeros left out); for every
//                candidate i in [start, 2048) (start = max(128, levels)): P = first i bins with the tail mass
//                added to bin i-1; Q = the first i bins merged into `levels` groups (group j = bins
//                [floor(j·i/levels), floor((j+1)·i/levels))), each group's mass spread evenly over its non-empty
//                bins; P and Q normalised and smoothed (empty bins get eps = 1e-4, taken evenly from the non-empty
//                ones); KL(P‖Q) = Σ P log(P/Q); smallest KL wins (ties: smaller i). T = (i + 0.5)·bin_width;
//                range as for percentile. levels = 2^(b-1) (128 for 8 bits) when the tensor has negative values,
//                2^b (256) when it has none (an unsigned tensor uses all levels of u8).
//   mse          exhaustive search over bin edges a ≤ 0 ≤ b of the signed histogram minimising the expected error
//                E(a, b) = (n_inside − n_zero)·Δ²/12 + Σ_{bins outside} n_k·((c_k − edge)² + w²/12),
//                Δ = (b − a)/(2^bits − 1) (uniform rounding noise inside; clipping error of values spread
//                uniformly in their bin, c_k its centre, w the bin width; exact zeros cost nothing). With prefix
//                sums each candidate costs O(1), so all (a, b) pairs are tried — not PyTorch's greedy stop at
//                the first local minimum. a is fixed to 0 when min ≥ 0, b to 0 when max ≤ 0.
// Weight ranges (symmetric, per output channel unless per-tensor): minmax amax = max|w|; mse amax = the
// candidate max|w|·k/100, k = 20..100, minimising Σ (w − fakequant(w))² exactly (ties: larger amax).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/quant/observers.hpp"
#include "qforge/quant/qparams.hpp"

namespace qforge::quant {

enum class Calibrator { MinMax, MeanMinMax, Percentile, Entropy, Mse };
enum class WeightMethod { MinMax, Mse };

inline const char* calibrator_name(Calibrator c) {
  switch (c) {
    case Calibrator::MinMax: return "minmax";
    case Calibrator::MeanMinMax: return "mean-minmax";
    case Calibrator::Percentile: return "percentile";
    case Calibrator::Entropy: return "entropy";
    case Calibrator::Mse: return "mse";
  }
  return "?";
}
inline Result<Calibrator> parse_calibrator(const std::string& s) {
  if (s == "minmax") return Calibrator::MinMax;
  if (s == "mean-minmax") return Calibrator::MeanMinMax;
  if (s == "percentile") return Calibrator::Percentile;
  if (s == "entropy" || s == "kl") return Calibrator::Entropy;
  if (s == "mse") return Calibrator::Mse;
  return make_error("unknown calibrator '", s, "' (minmax, mean-minmax, percentile, entropy, mse)");
}
inline const char* weight_method_name(WeightMethod m) { return m == WeightMethod::MinMax ? "minmax" : "mse"; }
inline Result<WeightMethod> parse_weight_method(const std::string& s) {
  if (s == "minmax") return WeightMethod::MinMax;
  if (s == "mse") return WeightMethod::Mse;
  return make_error("unknown weight range method '", s, "' (minmax, mse)");
}

struct Range {
  float lo = 0, hi = 0;
};

struct CalibratorOptions {
  Calibrator method = Calibrator::Mse;
  double percentile = 99.99;  // percent, for Calibrator::Percentile
  int bits = 8;               // activation bits
  int kl_start_bin = 128;     // entropy: first candidate
  double kl_eps = 1e-4;       // entropy: smoothing
};

// ---------------------------------------------------------------------------------------------- percentile
// Smallest k such that zeros + Σ_{i≤k} hist[i] ≥ pct/100 · total; returns the upper edge (k + 1)·width.
// `zeros` are values exactly 0 (they sit below every bin); total = zeros + Σ hist.
inline float percentile_threshold(const std::vector<uint64_t>& abs_hist, uint64_t zeros, float width, double pct) {
  uint64_t total = zeros;
  for (auto c : abs_hist) total += c;
  if (total == 0) return 0.0f;
  const double target = pct / 100.0 * double(total);
  double cum = double(zeros);
  if (cum >= target) return 0.0f;
  for (size_t k = 0; k < abs_hist.size(); ++k) {
    cum += double(abs_hist[k]);
    if (cum >= target) return float(double(k + 1) * double(width));
  }
  return float(double(abs_hist.size()) * double(width));
}

// ---------------------------------------------------------------------------------------------- entropy (KL)
namespace detail {
// Normalises counts to a distribution and smooths it: empty bins get eps, taken evenly from the non-empty bins.
// Returns false when smoothing would make a bin negative or there is no mass.
inline bool smooth_distribution(std::vector<double>& p, double eps) {
  double total = 0;
  size_t nz = 0;
  for (double v : p) {
    total += v;
    nz += v > 0;
  }
  if (total <= 0 || nz == 0) return false;
  const size_t zeros = p.size() - nz;
  const double take = zeros ? eps * double(zeros) / double(nz) : 0.0;
  for (double& v : p) {
    if (v > 0) {
      v = v / total - take;
      if (v <= 0) return false;
    } else {
      v = eps;
    }
  }
  return true;
}
}  // namespace detail

// KL divergence of candidate i (see the header comment); +inf when the candidate cannot be evaluated.
inline double kl_candidate(const std::vector<uint64_t>& hist, int i, int levels, double eps) {
  std::vector<double> P(static_cast<size_t>(i), 0.0), Q(static_cast<size_t>(i), 0.0);
  double tail = 0;
  for (size_t k = size_t(i); k < hist.size(); ++k) tail += double(hist[k]);
  for (int k = 0; k < i; ++k) P[size_t(k)] = double(hist[size_t(k)]);
  P[size_t(i - 1)] += tail;
  for (int j = 0; j < levels; ++j) {
    const int b0 = int(int64_t(j) * i / levels), b1 = int(int64_t(j + 1) * i / levels);
    double mass = 0;
    int nonempty = 0;
    for (int k = b0; k < b1; ++k) {
      mass += double(hist[size_t(k)]);
      nonempty += hist[size_t(k)] != 0;
    }
    if (nonempty == 0) continue;
    for (int k = b0; k < b1; ++k)
      if (hist[size_t(k)] != 0) Q[size_t(k)] = mass / double(nonempty);
  }
  if (!detail::smooth_distribution(P, eps) || !detail::smooth_distribution(Q, eps))
    return std::numeric_limits<double>::infinity();
  double kl = 0;
  for (int k = 0; k < i; ++k) kl += P[size_t(k)] * std::log(P[size_t(k)] / Q[size_t(k)]);
  return kl;
}

// Index i of the best candidate in [max(start, levels), bins); the threshold is (i + 0.5)·width. With fewer bins
// than the first candidate the whole histogram is kept (returns bins - 1... i.e. threshold at the top).
inline int kl_threshold_bin(const std::vector<uint64_t>& hist, int start, int levels, double eps) {
  const int bins = int(hist.size());
  const int first = std::max(start, levels);
  if (first >= bins) return bins - 1;
  int best = bins - 1;
  double best_kl = std::numeric_limits<double>::infinity();
  for (int i = first; i < bins; ++i) {
    const double kl = kl_candidate(hist, i, levels, eps);
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------- MSE
struct MseResult {
  float lo = 0, hi = 0;
  double cost = 0;
};

// Exhaustive search of the signed histogram (bins over [lo, hi]) for the range [a, b] ∋ 0 with the smallest
// expected squared error (header comment). `levels` = 2^bits, zeros = exact zeros among the counts.
inline MseResult mse_search(const std::vector<uint64_t>& hist, float lo, float hi, uint64_t zeros, int levels) {
  const int n = int(hist.size());
  MseResult r{std::min(lo, 0.0f), std::max(hi, 0.0f), 0.0};
  if (n == 0 || !(hi > lo)) return r;
  using ld = long double;
  const ld w = (ld(hi) - ld(lo)) / ld(n);
  auto edge = [&](int k) -> ld { return ld(lo) + w * ld(k); };
  std::vector<ld> S0(size_t(n) + 1, 0), S1(size_t(n) + 1, 0), S2(size_t(n) + 1, 0);
  for (int k = 0; k < n; ++k) {
    const ld c = ld(lo) + w * (ld(k) + 0.5L), cnt = ld(hist[size_t(k)]);
    S0[size_t(k) + 1] = S0[size_t(k)] + cnt;
    S1[size_t(k) + 1] = S1[size_t(k)] + cnt * c;
    S2[size_t(k) + 1] = S2[size_t(k)] + cnt * c * c;
  }
  const ld w2 = w * w / 12.0L;
  // Candidate lower edges: index i means a = edge(i) (bins < i clipped); a = 0 exactly when lo >= 0 (i = -1).
  std::vector<int> ai, bj;
  if (lo >= 0) {
    ai.push_back(-1);
  } else {
    for (int i = 0; i <= n && edge(i) <= 0; ++i) ai.push_back(i);
  }
  if (hi <= 0) {
    bj.push_back(-1);
  } else {
    for (int j = n; j >= 0 && edge(j) >= 0; --j) bj.push_back(j);
  }
  if (ai.empty()) ai.push_back(-1);
  if (bj.empty()) bj.push_back(-1);
  ld best = std::numeric_limits<ld>::infinity();
  for (int i : ai) {
    const ld a = i < 0 ? 0.0L : edge(i);
    const int ii = i < 0 ? 0 : i;  // first bin inside
    // clip below: bins [0, ii)
    const ld L0 = S0[size_t(ii)], L1 = S1[size_t(ii)], L2 = S2[size_t(ii)];
    const ld clip_lo = L2 - 2 * a * L1 + a * a * L0 + L0 * w2;
    for (int j : bj) {
      const ld b = j < 0 ? 0.0L : edge(j);
      const int jj = j < 0 ? n : j;  // bins [jj, n) clipped above
      if (jj < ii) continue;
      const ld H0 = S0[size_t(n)] - S0[size_t(jj)], H1 = S1[size_t(n)] - S1[size_t(jj)],
               H2 = S2[size_t(n)] - S2[size_t(jj)];
      const ld clip_hi = H2 - 2 * b * H1 + b * b * H0 + H0 * w2;
      const ld inside = std::max<ld>(S0[size_t(jj)] - S0[size_t(ii)] - ld(zeros), 0.0L);
      const ld delta = (b - a) / ld(levels - 1);
      const ld cost = inside * delta * delta / 12.0L + std::max<ld>(clip_lo, 0) + std::max<ld>(clip_hi, 0);
      if (cost < best) {
        best = cost;
        r.lo = float(a);
        r.hi = float(b);
        r.cost = double(cost);
      }
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------------- activations
// Range of one activation tensor (see the header comment). Errors when the tensor was never observed or when
// a histogram method is asked for without pass-2 histograms.
inline Result<Range> choose_range(const TensorStats& s, const CalibratorOptions& o, const std::string& name = "") {
  if (!s.seen()) return make_error("value '", name, "' was never observed during calibration");
  const bool has_neg = s.min < 0;
  auto clip_sym = [&](float T) { return Range{std::max(s.min, -T), std::min(s.max, T)}; };
  switch (o.method) {
    case Calibrator::MinMax: return Range{s.min, s.max};
    case Calibrator::MeanMinMax: return Range{float(s.mean_sample_min()), float(s.mean_sample_max())};
    case Calibrator::Percentile:
    case Calibrator::Entropy:
    case Calibrator::Mse: {
      if (s.hist.empty()) return make_error("value '", name, "': no histogram (second calibration pass missing)");
      if (o.method == Calibrator::Percentile)
        return clip_sym(percentile_threshold(s.abs_hist, s.zeros, s.abs_bin_width(), o.percentile));
      if (o.method == Calibrator::Entropy) {
        if (!(s.abs_max() > 0)) return Range{s.min, s.max};
        const int levels = has_neg ? (1 << (o.bits - 1)) : (1 << o.bits);
        const int i = kl_threshold_bin(s.abs_hist, o.kl_start_bin, levels, o.kl_eps);
        return clip_sym(float((double(i) + 0.5) * double(s.abs_bin_width())));
      }
      auto m = mse_search(s.hist, s.min, s.max, s.zeros, 1 << o.bits);
      return Range{m.lo, m.hi};
    }
  }
  return Range{s.min, s.max};
}

// ---------------------------------------------------------------------------------------------- weights
// Σ (w − fakequant(w))² for symmetric quantization of xs with clipping threshold amax.
inline double weight_quant_error(const float* xs, int64_t n, float amax, int bits) {
  if (!(amax > 0)) {
    double e = 0;
    for (int64_t k = 0; k < n; ++k) e += double(xs[k]) * xs[k];
    return e;
  }
  const float s = weight_scale(amax, bits);
  const int32_t qm = weight_qmax(bits);
  double e = 0;
  for (int64_t k = 0; k < n; ++k) {
    const float d = xs[k] - dequantize_value(quantize_value(xs[k], s, 0, -qm, qm), s, 0);
    e += double(d) * d;
  }
  return e;
}

// Clipping threshold for a group of weights (one output channel, or the whole tensor).
inline float weight_amax(const float* xs, int64_t n, WeightMethod m, int bits) {
  float mx = 0;
  for (int64_t k = 0; k < n; ++k) mx = std::max(mx, std::fabs(xs[k]));
  if (m == WeightMethod::MinMax || !(mx > 0)) return mx;
  float best_a = mx;
  double best = std::numeric_limits<double>::infinity();
  for (int k = 100; k >= 20; --k) {
    const float a = mx * float(k) / 100.0f;
    const double e = weight_quant_error(xs, n, a, bits);
    if (e < best) {
      best = e;
      best_a = a;
    }
  }
  return best_a;
}

// Per-output-channel (axis 0) scales of a weight tensor, or one scale repeated when per_tensor. A channel of
// all-zero weights gets the largest scale of the other channels (1 if none): its weights quantize to 0 either
// way and its bias keeps a sane int32 resolution.
inline std::vector<float> weight_scales(const Tensor& w, WeightMethod m, int bits, bool per_tensor) {
  QF_CHECK(w.dtype() == DType::f32 && w.rank() >= 1, "weight_scales: float weights with an axis 0");
  const int64_t C = w.dim(0), K = C ? w.numel() / C : 0;
  const float* p = w.data<float>();
  std::vector<float> s(size_t(C), 0.0f);
  if (per_tensor) {
    const float a = weight_amax(p, w.numel(), m, bits);
    std::fill(s.begin(), s.end(), a > 0 ? weight_scale(a, bits) : 1.0f);
    return s;
  }
  float largest = 0;
  for (int64_t c = 0; c < C; ++c) {
    const float a = weight_amax(p + c * K, K, m, bits);
    s[size_t(c)] = a > 0 ? std::max(weight_scale(a, bits), kMinScale) : 0.0f;
    largest = std::max(largest, s[size_t(c)]);
  }
  for (auto& v : s)
    if (v == 0.0f) v = largest > 0 ? largest : 1.0f;
  return s;
}

}  // namespace qforge::quant
