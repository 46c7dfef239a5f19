// generators/fractal/ifs.hpp — iterated function systems: sampling (FractalDB search, Anderson & Farrell SVD)
// and the chaos game.
//
// Contract: an IfsSystem is 1..8 affine maps w_i(x, y) = (a x + b y + e, c x + d y + f) with selection
// probabilities p_i (sum 1). Sampling is a pure function of the FastRng state handed in, so a caller that seeds
// FastRng from (seed, index) gets reproducible systems. chaos_game() writes up to `n` finite points and stops at
// the first non-finite one (divergent, non-contractive FractalDB systems), returning how many it wrote.
//
// Methods (see docs/generators.md):
//  * FractalDB (Kataoka et al. 2020): N ~ U{min_maps..max_maps} (2..7), a..f ~ U(-1, 1), p_i ∝ |det A_i|; keep
//    the system when a coarse render fills >= min_fill of its pixels. The coarse render is fill_resolution^2
//    pixels with fill_points points — the defaults (64^2, 1562 points) keep FractalDB's point density
//    (100,000 points on 512^2), so its 20% threshold means the same thing at 1/64 of the cost. After max_tries
//    the best-filling system seen is returned (never an error).
//  * SVD (Anderson & Farrell 2022): N ~ U{2..4}; A_i = R(t1) D1 diag(s1, s2) R(t2) D2 with rotations R, random
//    reflections D = diag(±1, ±1), 0 <= s2 <= s1 <= 1 and sum_i (s1 + 2 s2) = alpha, alpha ~
//    U((5+N)/2, (6+N)/2) (the "sigma factor"); translations ~ U(-1, 1). Contractive by construction.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qforge/core/rng.hpp"

namespace qforge::gen::fractal {

// A small, fast sequential generator (SplitMix64) for the inner loops; seed it from CounterRng so results stay
// a pure function of (seed, index).
class FastRng {
 public:
  explicit FastRng(uint64_t seed = 0) : s_(seed) {}
  static FastRng from(const CounterRng& r, uint64_t counter = 0) {
    auto b = r.block(counter);
    return FastRng((uint64_t(b[0]) << 32) | b[1]);
  }
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t u32() { return uint32_t(next() >> 32); }
  // Uniform in [0, 1).
  float uniform() { return float(next() >> 40) * (1.0f / 16777216.0f); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi] (inclusive).
  int range(int lo, int hi) { return lo + int((uint64_t(u32()) * uint64_t(hi - lo + 1)) >> 32); }
  bool bernoulli(float p) { return uniform() < p; }
  float normal() {
    double u1 = (double(next() >> 11) + 1.0) * (1.0 / 9007199254740993.0);  // (0, 1]
    double u2 = double(next() >> 11) * (1.0 / 9007199254740992.0);
    return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

 private:
  uint64_t s_;
};

struct Affine {
  float a = 0, b = 0, c = 0, d = 0, e = 0, f = 0;
  float det() const { return a * d - b * c; }
};

struct IfsSystem {
  std::vector<Affine> maps;
  std::vector<float> prob;  // same size as maps, sums to 1
};

enum class SamplingMethod { FractalDB, SVD };

struct SamplingOptions {
  SamplingMethod method = SamplingMethod::SVD;
  int min_maps = 2;           // N ~ U{min_maps..max_maps}; 0 = the method's default (FractalDB 2..7, SVD 2..4)
  int max_maps = 0;
  // SVD: alpha ~ U((alpha_lo + N)/2, (alpha_hi + N)/2).
  float alpha_lo = 5.0f, alpha_hi = 6.0f;
  // FractalDB: acceptance by coarse fill rate.
  float min_fill = 0.2f;
  int fill_resolution = 64;
  int fill_points = 1562;
  int max_tries = 500;
};

inline int default_max_maps(SamplingMethod m) { return m == SamplingMethod::FractalDB ? 7 : 4; }

// p_i ∝ |det A_i| (uniform when every determinant is 0).
inline void set_det_probabilities(IfsSystem& s) {
  s.prob.assign(s.maps.size(), 0.0f);
  double tot = 0;
  for (auto& m : s.maps) tot += std::fabs(double(m.det()));
  for (size_t i = 0; i < s.maps.size(); ++i)
    s.prob[i] = tot > 0 ? float(std::fabs(double(s.maps[i].det())) / tot) : 1.0f / float(s.maps.size());
}

// Singular values with 0 <= s2 <= s1 <= 1 and sum_i (s1_i + 2 s2_i) = alpha, drawn map by map, each uniform in
// the interval that keeps the rest feasible (the remaining m maps can absorb anything in [0, 3m]).
inline std::vector<std::pair<float, float>> sample_singular_values(FastRng& rng, int n, float alpha) {
  std::vector<std::pair<float, float>> sv(static_cast<size_t>(n));
  float rest = std::clamp(alpha, 0.0f, 3.0f * float(n));
  for (int i = 0; i < n; ++i) {
    float m = float(n - i - 1);
    float lo1 = std::max(0.0f, (rest - 3.0f * m) / 3.0f), hi1 = std::min(1.0f, rest);
    float s1 = rng.uniform(lo1, std::max(lo1, hi1));
    float lo2 = std::max(0.0f, (rest - 3.0f * m - s1) / 2.0f), hi2 = std::min(s1, (rest - s1) / 2.0f);
    float s2 = (m == 0) ? std::clamp((rest - s1) / 2.0f, 0.0f, s1) : rng.uniform(lo2, std::max(lo2, hi2));
    sv[size_t(i)] = {s1, s2};
    rest = std::max(0.0f, rest - s1 - 2.0f * s2);
  }
  return sv;
}

inline IfsSystem sample_svd_system(FastRng& rng, const SamplingOptions& o) {
  int hi = o.max_maps > 0 ? o.max_maps : default_max_maps(SamplingMethod::SVD);
  int lo = std::clamp(o.min_maps > 0 ? o.min_maps : 2, 1, hi);
  int n = rng.range(lo, hi);
  float alpha = rng.uniform((o.alpha_lo + float(n)) * 0.5f, (o.alpha_hi + float(n)) * 0.5f);
  auto sv = sample_singular_values(rng, n, alpha);
  IfsSystem s;
  for (int i = 0; i < n; ++i) {
    const float pi = 3.14159265358979f;
    float t1 = rng.uniform(-pi, pi), t2 = rng.uniform(-pi, pi);
    float r1x = rng.bernoulli(0.5f) ? -1.0f : 1.0f, r1y = rng.bernoulli(0.5f) ? -1.0f : 1.0f;
    float r2x = rng.bernoulli(0.5f) ? -1.0f : 1.0f, r2y = rng.bernoulli(0.5f) ? -1.0f : 1.0f;
    // U = R(t1) diag(r1x, r1y); V = R(t2) diag(r2x, r2y); A = U diag(s1, s2) V.
    float c1 = std::cos(t1), s1n = std::sin(t1), c2 = std::cos(t2), s2n = std::sin(t2);
    float u00 = c1 * r1x, u01 = -s1n * r1y, u10 = s1n * r1x, u11 = c1 * r1y;
    float v00 = c2 * r2x, v01 = -s2n * r2y, v10 = s2n * r2x, v11 = c2 * r2y;
    float sa = sv[size_t(i)].first, sb = sv[size_t(i)].second;
    Affine m;
    m.a = u00 * sa * v00 + u01 * sb * v10;
    m.b = u00 * sa * v01 + u01 * sb * v11;
    m.c = u10 * sa * v00 + u11 * sb * v10;
    m.d = u10 * sa * v01 + u11 * sb * v11;
    m.e = rng.uniform(-1.0f, 1.0f);
    m.f = rng.uniform(-1.0f, 1.0f);
    s.maps.push_back(m);
  }
  set_det_probabilities(s);
  return s;
}

// The chaos game. Starts at the fixed point of map 0 (a point of the attractor when map 0 is contractive; the
// origin when I - A_0 is singular), writes points[k] = (xs[k], ys[k]) and the index of the map that produced
// it (map_of may be null). Stops early at the first non-finite or huge (> 1e15) coordinate. Returns the count.
inline int64_t chaos_game(const IfsSystem& s, FastRng& rng, int64_t n, float* xs, float* ys, uint8_t* map_of) {
  const int nm = int(s.maps.size());
  if (nm == 0 || n <= 0) return 0;
  // Cumulative thresholds on 32-bit draws.
  uint32_t thr[8];
  double acc = 0;
  for (int i = 0; i < nm; ++i) {
    acc += s.prob[size_t(i)];
    thr[i] = i == nm - 1 ? 0xFFFFFFFFu : uint32_t(std::min(acc, 1.0) * 4294967295.0);
  }
  const Affine& m0 = s.maps[0];
  float det = (1 - m0.a) * (1 - m0.d) - m0.b * m0.c;
  float x = 0, y = 0;
  if (std::fabs(det) > 1e-6f) {
    x = ((1 - m0.d) * m0.e + m0.b * m0.f) / det;
    y = (m0.c * m0.e + (1 - m0.a) * m0.f) / det;
  }
  const Affine* maps = s.maps.data();
  for (int64_t k = 0; k < n; ++k) {
    uint64_t r = rng.next();
    uint32_t u = uint32_t(r >> 32);
    int i = 0;
    while (i < nm - 1 && u > thr[i]) ++i;
    const Affine& m = maps[i];
    float nx = m.a * x + m.b * y + m.e;
    float ny = m.c * x + m.d * y + m.f;
    x = nx;
    y = ny;
    if (!(std::fabs(x) < 1e15f) || !(std::fabs(y) < 1e15f)) return k;
    xs[k] = x;
    ys[k] = y;
    if (map_of) map_of[k] = uint8_t(i);
  }
  return n;
}

// Fraction of the res x res pixels hit when `npoints` chaos-game points are fitted to the frame (per-axis
// bounding box, as FractalDB). 0 for systems that diverge before half of the points.
inline float fill_rate(const IfsSystem& s, FastRng& rng, int res, int npoints) {
  std::vector<float> xs(static_cast<size_t>(npoints)), ys(static_cast<size_t>(npoints));
  int64_t n = chaos_game(s, rng, npoints, xs.data(), ys.data(), nullptr);
  if (n < npoints / 2 || n == 0) return 0.0f;
  float x0 = *std::min_element(xs.begin(), xs.begin() + n), x1 = *std::max_element(xs.begin(), xs.begin() + n);
  float y0 = *std::min_element(ys.begin(), ys.begin() + n), y1 = *std::max_element(ys.begin(), ys.begin() + n);
  // Pixel = min(res - 1, floor((v - min) · res / span)): every row and column covers an equal share.
  float sx = x1 > x0 ? float(res) / (x1 - x0) : 0.0f, sy = y1 > y0 ? float(res) / (y1 - y0) : 0.0f;
  std::vector<uint8_t> hit(size_t(res) * size_t(res), 0);
  int64_t filled = 0;
  for (int64_t k = 0; k < n; ++k) {
    int px = std::clamp(int((xs[size_t(k)] - x0) * sx), 0, res - 1);
    int py = std::clamp(int((ys[size_t(k)] - y0) * sy), 0, res - 1);
    uint8_t& h = hit[size_t(py) * size_t(res) + size_t(px)];
    filled += !h;
    h = 1;
  }
  return float(filled) / float(res * res);
}

// FractalDB's search: random coefficients in (-1, 1), accept by fill rate; returns the best system seen when
// no try reaches min_fill. `tries` and `fill` (optional) receive the number of systems drawn and the returned
// system's fill rate.
inline IfsSystem sample_fractaldb_system(FastRng& rng, const SamplingOptions& o, int* tries = nullptr,
                                         float* fill = nullptr) {
  int hi = std::clamp(o.max_maps > 0 ? o.max_maps : default_max_maps(SamplingMethod::FractalDB), 1, 8);
  int lo = std::clamp(o.min_maps > 0 ? o.min_maps : 2, 1, hi);
  IfsSystem best;
  float best_fill = -1;
  int t = 0;
  for (; t < std::max(1, o.max_tries); ++t) {
    IfsSystem s;
    int n = rng.range(lo, hi);
    for (int i = 0; i < n; ++i) {
      Affine m;
      m.a = rng.uniform(-1, 1); m.b = rng.uniform(-1, 1); m.c = rng.uniform(-1, 1);
      m.d = rng.uniform(-1, 1); m.e = rng.uniform(-1, 1); m.f = rng.uniform(-1, 1);
      s.maps.push_back(m);
    }
    set_det_probabilities(s);
    float fr = fill_rate(s, rng, o.fill_resolution, o.fill_points);
    if (fr > best_fill) {
      best_fill = fr;
      best = s;
    }
    if (fr >= o.min_fill) {
      ++t;
      break;
    }
  }
  if (tries) *tries = t;
  if (fill) *fill = best_fill;
  return best;
}

inline IfsSystem sample_system(FastRng& rng, const SamplingOptions& o) {
  return o.method == SamplingMethod::FractalDB ? sample_fractaldb_system(rng, o) : sample_svd_system(rng, o);
}

}  // namespace qforge::gen::fractal
