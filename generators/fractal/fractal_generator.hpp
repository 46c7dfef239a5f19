// generators/fractal/fractal_generator.hpp — fractal calibration images, natively (no colorisation network).
//
// Contract: a gen::Generator. Image `index` of seed `seed` is a pure function of (seed, index, class, options).
// Output [N, C, H, W] float32 in [-1, 1], C = 1 (luma) or 3 (RGB).
//
// Per image (see FractalOptions for every knob and its default):
//  1. an IFS: FractalDB search or SVD sampling (ifs.hpp). With num_systems = K > 0 the source is conditional:
//     class k in [0, K) names system k (drawn from the seed alone) and each image is an instance of it, with one
//     coefficient (a..f) of every map scaled by U(1 - instance_jitter, 1 + instance_jitter) (FractalDB's
//     weight rows, drawn at random); without classes image i uses system i mod K.
//  2. the chaos game (ifs.hpp), `points` points;
//  3. geometric augmentation applied to the points before fitting: flips (each axis with flip_prob) and a
//     rotation U(-max_rotation_deg, +max_rotation_deg). Rotating the point cloud before the fit keeps the whole
//     attractor in the frame (an image-space rotation would crop corners);
//  4. fitting: the bounding box of the points spans a fraction U(extent_lo, extent_hi) of each axis of the
//     canvas (per-axis stretch as FractalDB, or uniform scale with keep_aspect) at a random position;
//  5. rasterising at supersample × the output size: hit counts per pixel and the last map that hit it;
//     with probability patch_prob every point splats a 3×3 patch through one random mask (Anderson & Farrell);
//  6. colour: g = log(1 + count) / log(1 + max count); a per-image ColorScheme (color.hpp) maps (g, map) to RGB;
//     pixel coverage (alpha) = 0.4 + 0.6 g on hit pixels;
//  7. area-averaging colour·alpha and alpha down to the output size, compositing over a random background
//     (color.hpp) drawn at the output size (identical to compositing before downsampling, background aside);
//  8. with blur_prob, a 3×3 Gaussian blur, sigma U(0.5, 1); then luma for C = 1, and x = 2 v - 1.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "generators/fractal/color.hpp"
#include "generators/fractal/ifs.hpp"
#include "generators/generator.hpp"
#include "qforge/core/rng.hpp"

namespace qforge::gen {

struct FractalOptions {
  int64_t height = 32, width = 32;
  int64_t channels = 3;              // 1 (luma) or 3 (RGB)
  fractal::SamplingOptions sampling;  // method (SVD default), number of maps, sigma factor, FractalDB fill search
  int supersample = 2;               // rasterise at supersample × (H, W), then area-average
  int64_t points = 0;                // chaos-game points per image; 0 = 2 per raster pixel, at least 2000
  float patch_prob = 0.5f;           // probability that an image uses 3×3 patch splatting instead of points
  fractal::ColorMode color = fractal::ColorMode::Random;
  fractal::BackgroundMode background = fractal::BackgroundMode::Random;
  float extent_lo = 0.6f, extent_hi = 1.0f;  // fraction of each axis covered by the attractor's bounding box
  bool keep_aspect = false;          // false: stretch each axis independently (FractalDB)
  float flip_prob = 0.5f;            // horizontal and vertical flip, each
  float max_rotation_deg = 30.0f;    // rotation ~ U(-r, r)
  float blur_prob = 0.5f;            // 3×3 Gaussian blur with sigma ~ U(0.5, 1) at the output size
  int64_t num_systems = 0;           // 0 = a new system per image (unconditional); K > 0 = K classes
  float instance_jitter = 0.4f;      // with num_systems: scale of one coefficient, U(1 - j, 1 + j)
};

// Reusable buffers for one thread.
struct FractalScratch {
  std::vector<float> xs, ys;
  std::vector<uint8_t> map_of;
  std::vector<uint32_t> counts, counts2;
  std::vector<uint8_t> last, last2;
  std::vector<float> acc;  // 4 planes at output size: r·a, g·a, b·a, a
  std::vector<float> bg;   // 3 planes at output size
  std::vector<float> tmp;
};

class FractalGenerator : public Generator {
 public:
  static Result<std::unique_ptr<FractalGenerator>> create(const FractalOptions& o) {
    if (o.height < 4 || o.width < 4 || o.height > 4096 || o.width > 4096)
      return make_error("fractal: image size ", o.height, "x", o.width, " is out of range 4..4096");
    if (o.channels != 1 && o.channels != 3) return make_error("fractal: channels = ", o.channels, ", expected 1 or 3");
    if (o.supersample < 1 || o.supersample > 8) return make_error("fractal: supersample ", o.supersample, " not in 1..8");
    if (o.points < 0 || o.points > 100000000) return make_error("fractal: points ", o.points, " out of range");
    auto& s = o.sampling;
    int hi = s.max_maps > 0 ? s.max_maps : fractal::default_max_maps(s.method);
    if (s.min_maps < 0 || hi > 8 || (s.min_maps > 0 && s.min_maps > hi))
      return make_error("fractal: number of maps ", s.min_maps, "..", hi, " must be within 1..8");
    if (!(o.extent_lo > 0) || !(o.extent_hi <= 1) || o.extent_lo > o.extent_hi)
      return make_error("fractal: extent range [", o.extent_lo, ", ", o.extent_hi, "] must be within (0, 1]");
    if (s.method == fractal::SamplingMethod::FractalDB && (s.fill_resolution < 4 || s.fill_points < 16))
      return make_error("fractal: fill_resolution >= 4 and fill_points >= 16 required");
    if (o.num_systems < 0) return make_error("fractal: num_systems must be >= 0");
    return std::unique_ptr<FractalGenerator>(new FractalGenerator(o));
  }

  GeneratorInfo info() const override {
    GeneratorInfo i;
    i.name = o_.sampling.method == fractal::SamplingMethod::FractalDB ? "fractal:ifs" : "fractal:svd";
    i.height = o_.height;
    i.width = o_.width;
    i.channels = o_.channels;
    i.num_classes = o_.num_systems;
    return i;
  }

  const FractalOptions& options() const { return o_; }

  // The IFS that image (seed, index, cls) is drawn from (before instance jitter). cls < 0 = none given.
  fractal::IfsSystem system_for(uint64_t seed, int64_t index, int64_t cls) const {
    if (o_.num_systems > 0) {
      int64_t k = cls >= 0 ? cls % o_.num_systems : index % o_.num_systems;
      auto rng = fractal::FastRng::from(CounterRng(seed, kSystemStream).fork(uint64_t(k)));
      return fractal::sample_system(rng, o_.sampling);
    }
    auto rng = fractal::FastRng::from(CounterRng(seed).fork(uint64_t(index)), 0);
    return fractal::sample_system(rng, o_.sampling);
  }

  // One image [C, H, W] into out.
  void render(uint64_t seed, int64_t index, int64_t cls, float* out, FractalScratch& sc) const {
    using namespace fractal;
    const CounterRng img = CounterRng(seed).fork(uint64_t(index));
    IfsSystem sys = system_for(seed, index, cls);
    FastRng rng = FastRng::from(img, 1);
    if (o_.num_systems > 0) {  // instance jitter: one coefficient of every map
      int which = rng.range(0, 5);
      float s = rng.uniform(1.0f - o_.instance_jitter, 1.0f + o_.instance_jitter);
      for (auto& m : sys.maps) {
        float* coef[6] = {&m.a, &m.b, &m.c, &m.d, &m.e, &m.f};
        *coef[which] *= s;
      }
      set_det_probabilities(sys);
    }
    const int64_t H = o_.height, W = o_.width, ss = o_.supersample;
    const int64_t RH = H * ss, RW = W * ss;
    const int64_t npts = o_.points > 0 ? o_.points : std::max<int64_t>(2000, 2 * RH * RW);
    sc.xs.resize(size_t(npts));
    sc.ys.resize(size_t(npts));
    sc.map_of.resize(size_t(npts));
    FastRng game = FastRng::from(img, 2);
    int64_t n = chaos_game(sys, game, npts, sc.xs.data(), sc.ys.data(), sc.map_of.data());

    // Augmentation as a 2×2 transform of the points.
    float fx = rng.bernoulli(o_.flip_prob) ? -1.0f : 1.0f, fy = rng.bernoulli(o_.flip_prob) ? -1.0f : 1.0f;
    float th = rng.uniform(-o_.max_rotation_deg, o_.max_rotation_deg) * 0.017453292519943295f;
    float cs = std::cos(th), sn = std::sin(th);
    float t00 = cs * fx, t01 = -sn * fy, t10 = sn * fx, t11 = cs * fy;
    float x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
    for (int64_t k = 0; k < n; ++k) {
      float x = sc.xs[size_t(k)], y = sc.ys[size_t(k)];
      float u = t00 * x + t01 * y, v = t10 * x + t11 * y;
      sc.xs[size_t(k)] = u;
      sc.ys[size_t(k)] = v;
      x0 = std::min(x0, u); x1 = std::max(x1, u);
      y0 = std::min(y0, v); y1 = std::max(y1, v);
    }
    // Fit into the canvas.
    float ex = rng.uniform(o_.extent_lo, o_.extent_hi), ey = rng.uniform(o_.extent_lo, o_.extent_hi);
    float spanx = std::max(x1 - x0, 1e-12f), spany = std::max(y1 - y0, 1e-12f);
    float sx = ex * float(RW) / spanx, sy = ey * float(RH) / spany;
    if (o_.keep_aspect) sx = sy = std::min(sx, sy);
    float usedx = sx * spanx, usedy = sy * spany;
    float offx = rng.uniform(0.0f, std::max(0.0f, float(RW) - usedx));
    float offy = rng.uniform(0.0f, std::max(0.0f, float(RH) - usedy));

    // Rasterise: counts and last map per raster pixel.
    const size_t R = size_t(RH * RW);
    sc.counts.assign(R, 0);
    sc.last.assign(R, 0);
    for (int64_t k = 0; k < n; ++k) {
      int64_t px = int64_t((sc.xs[size_t(k)] - x0) * sx + offx);
      int64_t py = int64_t((sc.ys[size_t(k)] - y0) * sy + offy);
      px = std::clamp<int64_t>(px, 0, RW - 1);
      py = std::clamp<int64_t>(py, 0, RH - 1);
      size_t at = size_t(py * RW + px);
      sc.counts[at]++;
      sc.last[at] = sc.map_of[size_t(k)];
    }
    if (rng.bernoulli(o_.patch_prob)) splat_patch(rng, RH, RW, sc);

    // Colour, alpha, area-average into the output grid.
    ColorScheme scheme = ColorScheme::draw(rng, o_.color);
    uint32_t cmax = 1;
    for (size_t i = 0; i < R; ++i) cmax = std::max(cmax, sc.counts[i]);
    const float inv_log = 1.0f / std::log1p(float(cmax));
    // g(c) for small counts from a table (most hit pixels have a few hits).
    float glut[256];
    for (int c = 0; c < 256; ++c) glut[c] = std::min(1.0f, std::log1p(float(c)) * inv_log);
    const int64_t HW = H * W;
    sc.acc.assign(size_t(4 * HW), 0.0f);
    float* ar = sc.acc.data();
    float* ag = ar + HW;
    float* ab = ag + HW;
    float* aa = ab + HW;
    const float wgt = 1.0f / float(ss * ss);
    for (int64_t py = 0; py < RH; ++py) {
      const uint32_t* crow = sc.counts.data() + py * RW;
      const int64_t orow = (py / ss) * W;
      for (int64_t px = 0; px < RW; ++px) {
        uint32_t c = crow[px];
        if (!c) continue;
        float g = c < 256 ? glut[c] : std::log1p(float(c)) * inv_log;
        Rgb col = scheme.at(g, sc.last[size_t(py * RW + px)]);
        float a = (0.4f + 0.6f * g) * wgt;
        int64_t o = orow + px / ss;
        ar[o] += col[0] * a;
        ag[o] += col[1] * a;
        ab[o] += col[2] * a;
        aa[o] += a;
      }
    }
    sc.bg.resize(size_t(3 * HW));
    float* br = sc.bg.data();
    float* bgp = br + HW;
    float* bb = bgp + HW;
    draw_background(rng, o_.background, H, W, br, bgp, bb);
    for (int64_t i = 0; i < HW; ++i) {
      float t = 1.0f - std::min(1.0f, aa[i]);
      br[i] = ar[i] + t * br[i];
      bgp[i] = ag[i] + t * bgp[i];
      bb[i] = ab[i] + t * bb[i];
    }
    if (rng.bernoulli(o_.blur_prob)) {
      float sigma = rng.uniform(0.5f, 1.0f);
      for (int ch = 0; ch < 3; ++ch) blur3(sc.bg.data() + ch * HW, H, W, sigma, sc.tmp);
    }
    if (o_.channels == 3) {
      for (int64_t i = 0; i < 3 * HW; ++i) out[i] = std::clamp(sc.bg[size_t(i)], 0.0f, 1.0f) * 2.0f - 1.0f;
    } else {
      for (int64_t i = 0; i < HW; ++i) {
        float l = 0.299f * br[i] + 0.587f * bgp[i] + 0.114f * bb[i];
        out[i] = std::clamp(l, 0.0f, 1.0f) * 2.0f - 1.0f;
      }
    }
  }

  Result<Tensor> generate(const GenerateRequest& req) const override {
    if (req.count < 0 || req.first < 0)
      return make_error("fractal: bad request first=", req.first, " count=", req.count);
    if (!req.classes.empty() && int64_t(req.classes.size()) != req.count)
      return make_error("fractal: ", req.classes.size(), " classes for ", req.count, " images");
    for (auto c : req.classes)
      if (o_.num_systems > 0 && (c < 0 || c >= o_.num_systems))
        return make_error("fractal: class ", c, " is outside 0..", o_.num_systems - 1, " (num_systems)");
    QF_ASSIGN_OR_RETURN(Tensor t, Tensor::create(DType::f32, {req.count, o_.channels, o_.height, o_.width}));
    const int64_t per = o_.channels * o_.height * o_.width;
    float* d = t.data<float>();
#ifdef _OPENMP
#pragma omp parallel if (req.count >= 16)
#endif
    {
      FractalScratch sc;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 4)
#endif
      for (int64_t i = 0; i < req.count; ++i) {
        int64_t cls = req.classes.empty() ? -1 : req.classes[size_t(i)];
        render(req.seed, req.first + i, cls, d + i * per, sc);
      }
    }
    return t;
  }

 private:
  static constexpr uint64_t kSystemStream = uint64_t(1) << 62;

  explicit FractalGenerator(const FractalOptions& o) : o_(o) {}

  // Dilate the hit counts with one random 3×3 mask (each cell kept with p = 0.5, the centre always): every point
  // then paints the masked neighbours of its pixel.
  static void splat_patch(fractal::FastRng& rng, int64_t RH, int64_t RW, FractalScratch& sc) {
    uint32_t mask = rng.u32() | (1u << 4);
    sc.counts2.assign(sc.counts.size(), 0);
    sc.last2.assign(sc.last.size(), 0);
    for (int64_t y = 0; y < RH; ++y)
      for (int64_t x = 0; x < RW; ++x) {
        uint32_t c = sc.counts[size_t(y * RW + x)];
        if (!c) continue;
        uint8_t lm = sc.last[size_t(y * RW + x)];
        for (int b = 0; b < 9; ++b) {
          if (!(mask >> b & 1)) continue;
          int64_t yy = y + b / 3 - 1, xx = x + b % 3 - 1;
          if (yy < 0 || yy >= RH || xx < 0 || xx >= RW) continue;
          size_t at = size_t(yy * RW + xx);
          sc.counts2[at] += c;
          sc.last2[at] = lm;
        }
      }
    std::swap(sc.counts, sc.counts2);
    std::swap(sc.last, sc.last2);
  }

  // Separable 3×3 Gaussian, edges clamped.
  static void blur3(float* p, int64_t H, int64_t W, float sigma, std::vector<float>& tmp) {
    float e = std::exp(-1.0f / (2 * sigma * sigma));
    float w1 = e / (1 + 2 * e), w0 = 1 / (1 + 2 * e);
    tmp.resize(size_t(H * W));
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        const float* r = p + y * W;
        tmp[size_t(y * W + x)] = w0 * r[x] + w1 * (r[std::max<int64_t>(0, x - 1)] + r[std::min(W - 1, x + 1)]);
      }
    for (int64_t y = 0; y < H; ++y) {
      const float* up = tmp.data() + std::max<int64_t>(0, y - 1) * W;
      const float* mid = tmp.data() + y * W;
      const float* dn = tmp.data() + std::min(H - 1, y + 1) * W;
      for (int64_t x = 0; x < W; ++x) p[y * W + x] = w0 * mid[x] + w1 * (up[x] + dn[x]);
    }
  }

  FractalOptions o_;
};

}  // namespace qforge::gen
