// Fractal generator: IFS sampling constraints (SVD sigma factor, FractalDB fill search), the chaos game on known
// attractors, fitting/rendering, determinism per (seed, index, class), options validation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "generators/fractal/fractal_generator.hpp"

using namespace qforge;
using namespace qforge::gen;
using namespace qforge::gen::fractal;

namespace {

// Singular values of [[a, b], [c, d]].
std::pair<double, double> svals(const Affine& m) {
  double a = m.a, b = m.b, c = m.c, d = m.d;
  double s = a * a + b * b + c * c + d * d;
  double det = a * d - b * c;
  double disc = std::sqrt(std::max(0.0, s * s - 4 * det * det));
  return {std::sqrt((s + disc) / 2), std::sqrt(std::max(0.0, (s - disc) / 2))};
}

FractalOptions plain_options() {
  FractalOptions o;
  o.flip_prob = 0;
  o.max_rotation_deg = 0;
  o.blur_prob = 0;
  o.patch_prob = 0;
  o.color = ColorMode::Gray;
  o.background = BackgroundMode::Black;
  o.extent_lo = o.extent_hi = 1.0f;
  return o;
}

}  // namespace

TEST_CASE("hsv_to_rgb primaries and gray") {
  auto r = hsv_to_rgb(0, 1, 1), g = hsv_to_rgb(1.0f / 3, 1, 1), b = hsv_to_rgb(2.0f / 3, 1, 1);
  CHECK(r[0] == doctest::Approx(1)); CHECK(r[1] == doctest::Approx(0)); CHECK(r[2] == doctest::Approx(0));
  CHECK(g[0] == doctest::Approx(0)); CHECK(g[1] == doctest::Approx(1)); CHECK(g[2] == doctest::Approx(0));
  CHECK(b[0] == doctest::Approx(0)); CHECK(b[1] == doctest::Approx(0)); CHECK(b[2] == doctest::Approx(1));
  auto y = hsv_to_rgb(1.0f / 6, 1, 0.5f);  // yellow at half value
  CHECK(y[0] == doctest::Approx(0.5)); CHECK(y[1] == doctest::Approx(0.5)); CHECK(y[2] == doctest::Approx(0));
  auto gr = hsv_to_rgb(0.7f, 0, 0.25f);
  CHECK(gr[0] == doctest::Approx(0.25)); CHECK(gr[1] == doctest::Approx(0.25)); CHECK(gr[2] == doctest::Approx(0.25));
}

TEST_CASE("sigma-factor singular values satisfy the constraint exactly") {
  FastRng rng(7);
  for (int n = 1; n <= 7; ++n)
    for (int t = 0; t < 300; ++t) {
      float alpha = rng.uniform(0.0f, 3.0f * float(n));
      auto sv = sample_singular_values(rng, n, alpha);
      REQUIRE(int(sv.size()) == n);
      double sum = 0;
      for (auto& p : sv) {
        CHECK(p.first <= 1.0f + 1e-6f);
        CHECK(p.second >= 0.0f);
        CHECK(p.second <= p.first + 1e-6f);
        sum += p.first + 2.0 * p.second;
      }
      CHECK(sum == doctest::Approx(alpha).epsilon(1e-4));
    }
}

TEST_CASE("SVD systems: 2..4 contractive maps, sigma factor in ((5+N)/2, (6+N)/2), p proportional to |det|") {
  SamplingOptions o;
  std::set<size_t> sizes;
  for (int i = 0; i < 500; ++i) {
    FastRng rng(1000 + uint64_t(i));
    IfsSystem s = sample_svd_system(rng, o);
    size_t n = s.maps.size();
    sizes.insert(n);
    REQUIRE(n >= 2);
    REQUIRE(n <= 4);
    double alpha = 0, dets = 0, psum = 0;
    for (auto& m : s.maps) {
      auto [s1, s2] = svals(m);
      CHECK(s1 <= 1.0 + 1e-5);
      alpha += s1 + 2 * s2;
      dets += std::fabs(m.det());
      CHECK(std::fabs(m.e) <= 1.0f);
      CHECK(std::fabs(m.f) <= 1.0f);
    }
    CHECK(alpha >= (5.0 + double(n)) / 2 - 1e-3);
    CHECK(alpha <= (6.0 + double(n)) / 2 + 1e-3);
    for (size_t k = 0; k < n; ++k) {
      psum += s.prob[k];
      CHECK(s.prob[k] == doctest::Approx(std::fabs(s.maps[k].det()) / dets).epsilon(1e-4));
    }
    CHECK(psum == doctest::Approx(1.0));
  }
  CHECK(sizes == std::set<size_t>{2, 3, 4});
}

TEST_CASE("chaos game on the Sierpinski triangle stays on the attractor") {
  IfsSystem s;
  s.maps = {{0.5f, 0, 0, 0.5f, 0, 0}, {0.5f, 0, 0, 0.5f, 0.5f, 0}, {0.5f, 0, 0, 0.5f, 0.25f, 0.5f}};
  s.prob = {1.0f / 3, 1.0f / 3, 1.0f / 3};
  const int64_t n = 20000;
  std::vector<float> xs(n), ys(n);
  std::vector<uint8_t> mp(n);
  FastRng rng(3);
  REQUIRE(chaos_game(s, rng, n, xs.data(), ys.data(), mp.data()) == n);
  int counts[3] = {0, 0, 0};
  int in_hole = 0, outside = 0;
  for (int64_t k = 0; k < n; ++k) {
    float x = xs[size_t(k)], y = ys[size_t(k)];
    // The triangle (0,0), (1,0), (0.5,1): y >= 0, y <= 2x, y <= 2(1-x).
    if (y < -1e-5f || y > 2 * x + 1e-5f || y > 2 * (1 - x) + 1e-5f) ++outside;
    // The removed middle triangle (0.25,0.5), (0.75,0.5), (0.5,0), strictly inside with a margin.
    if (y < 0.5f - 1e-3f && y > 2 * (0.5f - x) + 1e-3f && y > 2 * (x - 0.5f) + 1e-3f) ++in_hole;
    counts[mp[size_t(k)]]++;
    // The map that produced a point decides its sub-triangle.
    if (mp[size_t(k)] == 0) CHECK((x <= 0.5f + 1e-5f && y <= 0.5f + 1e-5f));
    if (mp[size_t(k)] == 2) CHECK(y >= 0.5f - 1e-5f);
  }
  CHECK(outside == 0);
  CHECK(in_hole == 0);
  for (int c : counts) CHECK(std::abs(c - n / 3) < n / 30);  // equal probabilities
}

TEST_CASE("chaos game stops at divergence; fill rate of full, point-like and divergent systems") {
  IfsSystem grow;
  grow.maps = {{3.0f, 0, 0, 3.0f, 1, 1}, {3.0f, 0, 0, 3.0f, -1, 0}};  // expanding, different fixed points
  grow.prob = {0.5f, 0.5f};
  std::vector<float> xs(1000), ys(1000);
  FastRng rng(1);
  int64_t got = chaos_game(grow, rng, 1000, xs.data(), ys.data(), nullptr);
  CHECK(got < 1000);
  CHECK(got > 10);
  for (int64_t k = 0; k < got; ++k) CHECK(std::isfinite(xs[size_t(k)]));
  CHECK(fill_rate(grow, rng, 64, 1000) == 0.0f);

  IfsSystem square;  // four half-size copies: the attractor is the unit square
  square.maps = {{0.5f, 0, 0, 0.5f, 0, 0}, {0.5f, 0, 0, 0.5f, 0.5f, 0}, {0.5f, 0, 0, 0.5f, 0, 0.5f},
                 {0.5f, 0, 0, 0.5f, 0.5f, 0.5f}};
  set_det_probabilities(square);
  CHECK(fill_rate(square, rng, 32, 40000) > 0.99f);
  // Point density as FractalDB (1562 points on 64^2): a uniform attractor fills 1 - exp(-0.38) ≈ 32%.
  float fr = fill_rate(square, rng, 64, 1562);
  CHECK(fr > 0.28f);
  CHECK(fr < 0.36f);

  IfsSystem point;  // everything maps to (0.3, 0.3)
  point.maps = {{0, 0, 0, 0, 0.3f, 0.3f}, {0, 0, 0, 0, 0.3f, 0.3f}};
  set_det_probabilities(point);
  CHECK(point.prob[0] == doctest::Approx(0.5));
  CHECK(fill_rate(point, rng, 64, 1000) == doctest::Approx(1.0 / (64 * 64)));
}

TEST_CASE("FractalDB search: coefficients in (-1, 1), 2..7 maps, accepted systems fill >= min_fill") {
  SamplingOptions o;
  o.method = SamplingMethod::FractalDB;
  int accepted = 0;
  std::set<size_t> sizes;
  for (int i = 0; i < 40; ++i) {
    FastRng rng(500 + uint64_t(i));
    int tries = 0;
    float fill = 0;
    IfsSystem s = sample_fractaldb_system(rng, o, &tries, &fill);
    sizes.insert(s.maps.size());
    CHECK(s.maps.size() >= 2);
    CHECK(s.maps.size() <= 7);
    for (auto& m : s.maps)
      for (float v : {m.a, m.b, m.c, m.d, m.e, m.f}) CHECK(std::fabs(v) < 1.0f);
    CHECK(tries >= 1);
    CHECK(tries <= o.max_tries);
    if (tries < o.max_tries) {
      CHECK(fill >= o.min_fill);
      ++accepted;
    }
  }
  CHECK(accepted >= 36);  // the search almost always succeeds within max_tries
  CHECK(sizes.size() >= 3);
  // An impossible threshold returns the best system seen, after exactly max_tries.
  o.min_fill = 1.5f;
  o.max_tries = 7;
  FastRng rng(9);
  int tries = 0;
  float fill = -1;
  IfsSystem s = sample_fractaldb_system(rng, o, &tries, &fill);
  CHECK(tries == 7);
  CHECK(!s.maps.empty());
  CHECK(fill >= 0.0f);
}

TEST_CASE("fractal images: shape, range, determinism per (seed, index), batch/thread independence") {
  for (auto method : {SamplingMethod::SVD, SamplingMethod::FractalDB}) {
    FractalOptions o;
    o.sampling.method = method;
    auto g = FractalGenerator::create(o);
    REQUIRE(g.ok());
    auto info = (*g)->info();
    CHECK(info.height == 32);
    CHECK(info.channels == 3);
    CHECK(info.num_classes == 0);
    CHECK(info.name == (method == SamplingMethod::SVD ? "fractal:svd" : "fractal:ifs"));
    GenerateRequest all;
    all.seed = 42;
    all.count = 24;  // >= 16: the OpenMP path when available
    auto a = (*g)->generate(all);
    REQUIRE(a.ok());
    CHECK(a->shape() == Shape{24, 3, 32, 32});
    const float* pa = a->data<float>();
    for (int64_t i = 0; i < a->numel(); ++i) {
      REQUIRE(pa[i] >= -1.0f);
      REQUIRE(pa[i] <= 1.0f);
    }
    GenerateRequest part = all;
    part.first = 5;
    part.count = 3;
    auto b = (*g)->generate(part);
    REQUIRE(b.ok());
    const int64_t per = 3 * 32 * 32;
    for (int64_t i = 0; i < 3 * per; ++i) REQUIRE(b->data<float>()[i] == pa[5 * per + i]);
    // Images differ from each other and across seeds.
    int diff_images = 0;
    for (int64_t i = 1; i < 24; ++i)
      diff_images += !std::equal(pa + i * per, pa + (i + 1) * per, pa + (i - 1) * per);
    CHECK(diff_images == 23);
    GenerateRequest other = part;
    other.seed = 43;
    auto c = (*g)->generate(other);
    REQUIRE(c.ok());
    CHECK(!std::equal(c->data<float>(), c->data<float>() + per, b->data<float>()));
  }
}

TEST_CASE("fitting without augmentation spans the frame; unhit pixels are the black background") {
  FractalOptions o = plain_options();
  o.height = o.width = 40;
  auto g = FractalGenerator::create(o);
  REQUIRE(g.ok());
  GenerateRequest r;
  r.seed = 3;
  r.count = 6;
  auto t = (*g)->generate(r);
  REQUIRE(t.ok());
  for (int64_t i = 0; i < 6; ++i) {
    const float* p = t->data<float>() + i * 3 * 40 * 40;
    bool top = false, bottom = false, left = false, right = false;
    int64_t lit = 0, black = 0;
    for (int64_t y = 0; y < 40; ++y)
      for (int64_t x = 0; x < 40; ++x) {
        float v = p[y * 40 + x];
        CHECK(v == p[40 * 40 + y * 40 + x]);  // gray scheme: R == G == B
        if (v > -1.0f) {
          ++lit;
          top |= y == 0; bottom |= y == 39; left |= x == 0; right |= x == 39;
        } else {
          ++black;
        }
      }
    CHECK(top);
    CHECK(bottom);
    CHECK(left);
    CHECK(right);
    CHECK(lit > 20);
    CHECK(black > 0);
  }
}

TEST_CASE("one channel is the luma of the RGB image") {
  FractalOptions o;
  o.blur_prob = 0;
  auto rgb = FractalGenerator::create(o);
  o.channels = 1;
  auto gray = FractalGenerator::create(o);
  REQUIRE(rgb.ok());
  REQUIRE(gray.ok());
  GenerateRequest r;
  r.seed = 11;
  r.count = 2;
  auto a = (*rgb)->generate(r);
  auto b = (*gray)->generate(r);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(b->shape() == Shape{2, 1, 32, 32});
  const int64_t hw = 32 * 32;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < hw; ++k) {
      const float* p = a->data<float>() + i * 3 * hw;
      float l = 0.299f * (p[k] + 1) / 2 + 0.587f * (p[hw + k] + 1) / 2 + 0.114f * (p[2 * hw + k] + 1) / 2;
      CHECK(b->data<float>()[i * hw + k] == doctest::Approx(2 * l - 1).epsilon(1e-4));
    }
}

TEST_CASE("num_systems makes a conditional source: class = system, images are jittered instances") {
  FractalOptions o;
  o.num_systems = 5;
  auto g = FractalGenerator::create(o);
  REQUIRE(g.ok());
  CHECK((*g)->info().num_classes == 5);
  auto s0 = (*g)->system_for(1, 0, 2), s1 = (*g)->system_for(1, 77, 2), s2 = (*g)->system_for(1, 0, 3);
  REQUIRE(s0.maps.size() == s1.maps.size());
  for (size_t k = 0; k < s0.maps.size(); ++k) CHECK(s0.maps[k].a == s1.maps[k].a);
  bool differs = s2.maps.size() != s0.maps.size() || s2.maps[0].a != s0.maps[0].a;
  CHECK(differs);
  // Without classes image i uses system i mod K.
  auto s7 = (*g)->system_for(1, 7, -1);
  REQUIRE(s7.maps.size() == s0.maps.size());
  CHECK(s7.maps[0].e == s0.maps[0].e);
  GenerateRequest r;
  r.seed = 1;
  r.count = 2;
  r.classes = {2, 2};
  auto t = (*g)->generate(r);
  REQUIRE(t.ok());
  const int64_t per = 3 * 32 * 32;
  CHECK(!std::equal(t->data<float>(), t->data<float>() + per, t->data<float>() + per));
  r.classes = {2, 5};
  auto bad = (*g)->generate(r);
  REQUIRE(!bad.ok());
  CHECK(bad.error().message.find("class 5") != std::string::npos);
  r.classes = {1};
  CHECK(!(*g)->generate(r).ok());
}

TEST_CASE("fractal options are validated with messages naming the field") {
  FractalOptions o;
  o.channels = 2;
  auto a = FractalGenerator::create(o);
  REQUIRE(!a.ok());
  CHECK(a.error().message.find("channels") != std::string::npos);
  o = FractalOptions();
  o.height = 2;
  CHECK(!FractalGenerator::create(o).ok());
  o = FractalOptions();
  o.sampling.max_maps = 9;
  CHECK(!FractalGenerator::create(o).ok());
  o = FractalOptions();
  o.extent_lo = 0.9f;
  o.extent_hi = 0.5f;
  auto e = FractalGenerator::create(o);
  REQUIRE(!e.ok());
  CHECK(e.error().message.find("extent") != std::string::npos);
  GenerateRequest r;
  r.count = -1;
  CHECK(!(*FractalGenerator::create(FractalOptions()))->generate(r).ok());
}
