// Noise generator: moments of Gaussian/uniform noise, the 1/f spectrum of pink noise (measured with a direct DFT),
// channel independence, determinism and option checks.
#include <doctest/doctest.h>

#include <cmath>
#include <complex>
#include <vector>

#include "generators/noise.hpp"

using namespace qforge;
using namespace qforge::gen;

namespace {

Tensor make(NoiseKind k, int64_t n, int64_t h, int64_t w, int64_t c, float alpha = 1.0f, uint64_t seed = 1) {
  NoiseOptions o;
  o.kind = k;
  o.height = h;
  o.width = w;
  o.channels = c;
  o.pink_alpha = alpha;
  auto g = NoiseGenerator::create(o);
  REQUIRE(g.ok());
  GenerateRequest r;
  r.seed = seed;
  r.count = n;
  auto t = (*g)->generate(r);
  REQUIRE(t.ok());
  return *t;
}

// Slope of log(radially averaged power) vs log(frequency) over frequencies [f0, f1], averaged over every plane of t.
double spectral_slope(const Tensor& t, int f0, int f1) {
  const int64_t N = t.dim(0) * t.dim(1), H = t.dim(2), W = t.dim(3);
  REQUIRE(H == W);
  const double pi = 3.14159265358979323846;
  std::vector<double> power(size_t(H), 0.0);
  std::vector<int> cnt(size_t(H), 0);
  std::vector<std::complex<double>> rowdft(size_t(H * W)), full(size_t(H * W));
  for (int64_t p = 0; p < N; ++p) {
    const float* x = t.data<float>() + p * H * W;
    for (int64_t y = 0; y < H; ++y)  // DFT along x
      for (int64_t u = 0; u < W; ++u) {
        std::complex<double> s = 0;
        for (int64_t xx = 0; xx < W; ++xx) s += double(x[y * W + xx]) * std::polar(1.0, -2 * pi * double(u * xx) / double(W));
        rowdft[size_t(y * W + u)] = s;
      }
    for (int64_t u = 0; u < W; ++u)  // then along y
      for (int64_t v = 0; v < H; ++v) {
        std::complex<double> s = 0;
        for (int64_t y = 0; y < H; ++y) s += rowdft[size_t(y * W + u)] * std::polar(1.0, -2 * pi * double(v * y) / double(H));
        full[size_t(v * W + u)] = s;
      }
    for (int64_t v = 0; v < H; ++v)
      for (int64_t u = 0; u < W; ++u) {
        double fv = double(v <= H / 2 ? v : v - H), fu = double(u <= W / 2 ? u : u - W);
        int r = int(std::lround(std::sqrt(fu * fu + fv * fv)));
        if (r >= f0 && r <= f1) {
          power[size_t(r)] += std::norm(full[size_t(v * W + u)]);
          cnt[size_t(r)]++;
        }
      }
  }
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int m = 0;
  for (int r = f0; r <= f1; ++r) {
    double lx = std::log(double(r)), ly = std::log(power[size_t(r)] / cnt[size_t(r)]);
    sx += lx; sy += ly; sxx += lx * lx; sxy += lx * ly;
    ++m;
  }
  return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

}  // namespace

TEST_CASE("gaussian and uniform noise: range and moments") {
  Tensor g = make(NoiseKind::Gaussian, 4, 64, 64, 3);
  Tensor u = make(NoiseKind::Uniform, 4, 64, 64, 3);
  auto moments = [](const Tensor& t, double& mean, double& var, float& lo, float& hi) {
    double s = 0, ss = 0;
    lo = 1e9f; hi = -1e9f;
    for (int64_t i = 0; i < t.numel(); ++i) {
      float v = t.data<float>()[i];
      s += v; ss += double(v) * v;
      lo = std::min(lo, v); hi = std::max(hi, v);
    }
    mean = s / double(t.numel());
    var = ss / double(t.numel()) - mean * mean;
  };
  double m, v;
  float lo, hi;
  moments(g, m, v, lo, hi);
  CHECK(std::fabs(m) < 0.01);
  // N(0, 0.5^2) clamped at ±1 (2 sigma): 0.25 · (P(|Z|<2) - 4 phi(2)) + P(|Z|>2) = 0.25 · 0.7385 + 0.0455.
  CHECK(v == doctest::Approx(0.2301).epsilon(0.03));
  CHECK(lo == -1.0f);
  CHECK(hi == 1.0f);
  moments(u, m, v, lo, hi);
  CHECK(std::fabs(m) < 0.01);
  CHECK(v == doctest::Approx(1.0 / 3).epsilon(0.03));
  CHECK(lo >= -1.0f);
  CHECK(hi < 1.0f);
}

TEST_CASE("pink noise has a 1/f^alpha amplitude spectrum; white noise is flat") {
  Tensor pink = make(NoiseKind::Pink, 6, 64, 64, 1, 1.0f);
  Tensor pink_half = make(NoiseKind::Pink, 6, 64, 64, 1, 0.5f);
  Tensor white = make(NoiseKind::Gaussian, 6, 64, 64, 1);
  double sp = spectral_slope(pink, 2, 24), sh = spectral_slope(pink_half, 2, 24), sw = spectral_slope(white, 2, 24);
  MESSAGE("power slopes: pink(alpha=1) ", sp, ", pink(alpha=0.5) ", sh, ", white ", sw);
  CHECK(sp < -1.6);  // expected -2
  CHECK(sp > -2.6);
  CHECK(sh < -0.6);  // expected -1
  CHECK(sh > -1.4);
  CHECK(std::fabs(sw) < 0.15);
  // Standardised to std 0.5 per channel before clamping.
  double ss = 0;
  for (int64_t i = 0; i < pink.numel(); ++i) ss += double(pink.data<float>()[i]) * pink.data<float>()[i];
  CHECK(std::sqrt(ss / double(pink.numel())) == doctest::Approx(0.5).epsilon(0.05));
}

TEST_CASE("noise channels are independent; any size works") {
  Tensor t = make(NoiseKind::Pink, 2, 48, 80, 3);
  CHECK(t.shape() == Shape{2, 3, 48, 80});
  const int64_t hw = 48 * 80;
  const float* a = t.data<float>();
  const float* b = a + hw;
  double sab = 0, saa = 0, sbb = 0;
  for (int64_t k = 0; k < hw; ++k) { sab += a[k] * b[k]; saa += a[k] * a[k]; sbb += b[k] * b[k]; }
  CHECK(std::fabs(sab / std::sqrt(saa * sbb)) < 0.3);  // smooth noise: few independent samples, loose bound
  Tensor odd = make(NoiseKind::Pink, 1, 7, 3, 4);
  CHECK(odd.shape() == Shape{1, 4, 7, 3});
  for (int64_t i = 0; i < odd.numel(); ++i) CHECK(std::fabs(odd.data<float>()[i]) <= 1.0f);
}

TEST_CASE("noise image index is a pure function of (seed, index)") {
  for (auto k : {NoiseKind::Gaussian, NoiseKind::Uniform, NoiseKind::Pink}) {
    Tensor all = make(k, 20, 16, 16, 2, 1.0f, 9);
    NoiseOptions o;
    o.kind = k;
    o.height = o.width = 16;
    o.channels = 2;
    auto g = NoiseGenerator::create(o);
    REQUIRE(g.ok());
    CHECK((*g)->info().name == std::string("noise:") + noise_kind_name(k));
    GenerateRequest r;
    r.seed = 9;
    r.first = 17;
    r.count = 2;
    auto part = (*g)->generate(r);
    REQUIRE(part.ok());
    const int64_t per = 2 * 16 * 16;
    for (int64_t i = 0; i < 2 * per; ++i) REQUIRE(part->data<float>()[i] == all.data<float>()[17 * per + i]);
    CHECK(!std::equal(all.data<float>(), all.data<float>() + per, all.data<float>() + per));
    Tensor other = make(k, 1, 16, 16, 2, 1.0f, 10);
    CHECK(!std::equal(other.data<float>(), other.data<float>() + per, all.data<float>()));
  }
}

TEST_CASE("noise options are validated") {
  NoiseOptions o;
  o.channels = 0;
  auto a = NoiseGenerator::create(o);
  REQUIRE(!a.ok());
  CHECK(a.error().message.find("channels") != std::string::npos);
  o = NoiseOptions();
  o.width = 0;
  CHECK(!NoiseGenerator::create(o).ok());
  o = NoiseOptions();
  o.gaussian_std = -1;
  CHECK(!NoiseGenerator::create(o).ok());
}
