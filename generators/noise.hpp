// generators/noise.hpp — noise images: Gaussian, uniform and 1/f ("pink") noise, any size and channel count.
//
// Contract: a gen::Generator (generators/generator.hpp). Image `index` of seed `seed` is a pure function of
// (seed, index, options); channels are independent. Values are in [-1, 1]:
//  * gaussian: N(0, gaussian_std^2) clamped to [-1, 1] (std 0.5 by default: ~4.6% of pixels clip);
//  * uniform:  U(-1, 1);
//  * pink:     amplitude spectrum ∝ 1/f^alpha (alpha = 1 by default, the spectrum of natural images; power
//              ∝ 1/f^(2 alpha)). FFT-free: a sum of octaves of white noise on lattices of cell size L = 1, 2, 4,
//              ... (up to the image size), each sampled with smoothstep-bilinear interpolation at a random
//              sub-cell offset and weighted L^(alpha - 1) (an octave of cell L carries its variance around
//              f ~ 1/L over a band of area ~1/L^2, so its power density is weight^2 L^2 ∝ f^(-2 alpha)).
//              Each channel is then standardised to mean 0 and std pink_std and clamped to [-1, 1].
// pink_plane() is the building block, also used for fractal backgrounds.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "generators/fractal/ifs.hpp"  // FastRng
#include "generators/generator.hpp"
#include "qforge/core/rng.hpp"

namespace qforge::gen {

enum class NoiseKind { Gaussian, Uniform, Pink };

inline const char* noise_kind_name(NoiseKind k) {
  return k == NoiseKind::Gaussian ? "gaussian" : k == NoiseKind::Uniform ? "uniform" : "pink";
}

struct NoiseOptions {
  NoiseKind kind = NoiseKind::Gaussian;
  int64_t height = 32, width = 32, channels = 3;
  float gaussian_std = 0.5f;  // gaussian: std before clamping
  float pink_alpha = 1.0f;    // pink: amplitude spectrum exponent (1/f^alpha)
  float pink_std = 0.5f;      // pink: per-channel std after standardising, before clamping
  int pink_min_cell = 1;      // pink: finest lattice cell (1 = keep all frequencies; larger = smoother)
};

// Adds sum_k L_k^(alpha-1) * octave_k (zero-mean, unnormalised) into out[h*w] (which the caller zeroes).
inline void pink_plane(fractal::FastRng& rng, float* out, int64_t h, int64_t w, float alpha, int min_cell = 1) {
  int64_t top = std::max<int64_t>(h, w);
  std::vector<float> lat;
  std::vector<float> wx, wy;
  std::vector<int64_t> ix, iy;
  for (int64_t L = std::max(1, min_cell); L <= top; L *= 2) {
    float amp = std::pow(float(L), alpha - 1.0f);
    if (L == 1) {  // white noise, no interpolation
      for (int64_t k = 0; k < h * w; ++k) out[k] += amp * rng.normal();
      continue;
    }
    int64_t lh = h / L + 3, lw = w / L + 3;  // i + 1 <= (n - 1) / L + 2
    lat.resize(size_t(lh * lw));
    for (auto& v : lat) v = rng.normal();
    float ox = rng.uniform(), oy = rng.uniform();
    float inv = 1.0f / float(L);
    ix.resize(size_t(w)); wx.resize(size_t(w));
    iy.resize(size_t(h)); wy.resize(size_t(h));
    for (int64_t x = 0; x < w; ++x) {
      float u = float(x) * inv + ox;
      int64_t i = int64_t(u);
      float t = u - float(i);
      ix[size_t(x)] = i;
      wx[size_t(x)] = t * t * (3 - 2 * t);
    }
    for (int64_t y = 0; y < h; ++y) {
      float u = float(y) * inv + oy;
      int64_t i = int64_t(u);
      float t = u - float(i);
      iy[size_t(y)] = i;
      wy[size_t(y)] = t * t * (3 - 2 * t);
    }
    for (int64_t y = 0; y < h; ++y) {
      const float* r0 = lat.data() + iy[size_t(y)] * lw;
      const float* r1 = r0 + lw;
      float ty = wy[size_t(y)];
      float* o = out + y * w;
      for (int64_t x = 0; x < w; ++x) {
        int64_t i = ix[size_t(x)];
        float tx = wx[size_t(x)];
        float a = r0[i] + tx * (r0[i + 1] - r0[i]);
        float b = r1[i] + tx * (r1[i + 1] - r1[i]);
        o[x] += amp * (a + ty * (b - a));
      }
    }
  }
}

// Shift/scale a plane to mean 0, standard deviation `std` (a constant plane becomes 0).
inline void standardise(float* p, int64_t n, float std) {
  double s = 0, ss = 0;
  for (int64_t k = 0; k < n; ++k) s += p[k];
  double mean = s / double(n);
  for (int64_t k = 0; k < n; ++k) ss += (p[k] - mean) * (p[k] - mean);
  double sd = std::sqrt(ss / double(n));
  float scale = sd > 1e-12 ? float(std / sd) : 0.0f;
  for (int64_t k = 0; k < n; ++k) p[k] = float(p[k] - mean) * scale;
}

class NoiseGenerator : public Generator {
 public:
  static Result<std::unique_ptr<NoiseGenerator>> create(const NoiseOptions& o) {
    if (o.height < 1 || o.width < 1 || o.height > 8192 || o.width > 8192)
      return make_error("noise: image size ", o.height, "x", o.width, " is out of range 1..8192");
    if (o.channels < 1 || o.channels > 4) return make_error("noise: channels = ", o.channels, ", expected 1..4");
    if (!(o.gaussian_std > 0) || !(o.pink_std > 0)) return make_error("noise: std must be > 0");
    if (!(std::fabs(o.pink_alpha) <= 4)) return make_error("noise: pink alpha ", o.pink_alpha, " not in [-4, 4]");
    return std::unique_ptr<NoiseGenerator>(new NoiseGenerator(o));
  }

  GeneratorInfo info() const override {
    GeneratorInfo i;
    i.name = std::string("noise:") + noise_kind_name(o_.kind);
    i.height = o_.height;
    i.width = o_.width;
    i.channels = o_.channels;
    return i;
  }

  // One image [C, H, W] into out.
  void render(uint64_t seed, int64_t index, float* out) const {
    const int64_t hw = o_.height * o_.width;
    CounterRng img = CounterRng(seed).fork(uint64_t(index));
    for (int64_t c = 0; c < o_.channels; ++c) {
      float* p = out + c * hw;
      auto rng = fractal::FastRng::from(img, uint64_t(c));
      switch (o_.kind) {
        case NoiseKind::Gaussian:
          for (int64_t k = 0; k < hw; ++k) p[k] = std::clamp(o_.gaussian_std * rng.normal(), -1.0f, 1.0f);
          break;
        case NoiseKind::Uniform:
          for (int64_t k = 0; k < hw; ++k) p[k] = rng.uniform() * 2.0f - 1.0f;
          break;
        case NoiseKind::Pink:
          std::fill(p, p + hw, 0.0f);
          pink_plane(rng, p, o_.height, o_.width, o_.pink_alpha, o_.pink_min_cell);
          standardise(p, hw, o_.pink_std);
          for (int64_t k = 0; k < hw; ++k) p[k] = std::clamp(p[k], -1.0f, 1.0f);
          break;
      }
    }
  }

  Result<Tensor> generate(const GenerateRequest& req) const override {
    if (req.count < 0 || req.first < 0) return make_error("noise: bad request first=", req.first, " count=", req.count);
    QF_ASSIGN_OR_RETURN(Tensor t, Tensor::create(DType::f32, {req.count, o_.channels, o_.height, o_.width}));
    const int64_t per = o_.channels * o_.height * o_.width;
    float* d = t.data<float>();
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4) if (req.count >= 16)
#endif
    for (int64_t i = 0; i < req.count; ++i) render(req.seed, req.first + i, d + i * per);
    return t;
  }

  const NoiseOptions& options() const { return o_; }

 private:
  explicit NoiseGenerator(const NoiseOptions& o) : o_(o) {}
  NoiseOptions o_;
};

}  // namespace qforge::gen
