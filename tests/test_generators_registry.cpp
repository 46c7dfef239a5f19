// SOURCE specs → generators (registry.hpp), and generator output → model input (data/preprocess_gen.hpp).
#include <doctest/doctest.h>

#include <cmath>

#include "generators/registry.hpp"
#include "qforge/data/preprocess_gen.hpp"

using namespace qforge;
using namespace qforge::gen;

TEST_CASE("parse_source splits kind, argument and key=value options; paths stay verbatim") {
  auto s = parse_source("fractal:ifs,color=gray,maps=2-3");
  REQUIRE(s.ok());
  CHECK(s->kind == "fractal");
  CHECK(s->arg == "ifs");
  REQUIRE(s->options.size() == 2);
  CHECK(s->options[1].first == "maps");
  CHECK(s->options[1].second == "2-3");
  auto p = parse_source("stylegan2:/a/b,c.pkl");
  REQUIRE(p.ok());
  CHECK(p->arg == "/a/b,c.pkl");
  CHECK(p->options.empty());
  CHECK(!parse_source("fractal,color").ok());
  CHECK(!parse_source("noise:pink,=3").ok());
  CHECK(!parse_source(":x").ok());
}

TEST_CASE("make_generator builds fractal and noise sources with the requested size") {
  SourceOptions so;
  so.height = 24;
  so.width = 40;
  so.channels = 1;
  struct Case { const char* spec; const char* name; };
  for (Case c : {Case{"fractal", "fractal:svd"}, Case{"fractal:svd", "fractal:svd"}, Case{"fractal:ifs", "fractal:ifs"},
                 Case{"noise:gaussian", "noise:gaussian"}, Case{"noise:uniform", "noise:uniform"},
                 Case{"noise:pink,alpha=0.5", "noise:pink"}}) {
    auto g = make_generator(c.spec, so);
    REQUIRE_MESSAGE(g.ok(), c.spec);
    auto info = (*g)->info();
    CHECK(info.name == c.name);
    CHECK(info.height == 24);
    CHECK(info.width == 40);
    CHECK(info.channels == 1);
    GenerateRequest r;
    r.count = 2;
    auto t = (*g)->generate(r);
    REQUIRE(t.ok());
    CHECK(t->shape() == Shape{2, 1, 24, 40});
  }
  auto d = make_generator("fractal");
  REQUIRE(d.ok());
  CHECK((*d)->info().height == 32);
  CHECK((*d)->info().channels == 3);
}

TEST_CASE("fractal key=value options reach the generator") {
  auto g = make_generator("fractal,color=gray,background=black,blur=0,systems=7,maps=3-3,points=5000");
  REQUIRE(g.ok());
  auto* f = dynamic_cast<FractalGenerator*>(g->get());
  REQUIRE(f != nullptr);
  CHECK(f->options().color == fractal::ColorMode::Gray);
  CHECK(f->options().background == fractal::BackgroundMode::Black);
  CHECK(f->options().blur_prob == 0.0f);
  CHECK(f->options().num_systems == 7);
  CHECK(f->options().points == 5000);
  CHECK((*g)->info().num_classes == 7);
  CHECK(f->system_for(0, 3, 1).maps.size() == 3);
  GenerateRequest r;
  r.count = 1;
  r.classes = {4};
  auto t = (*g)->generate(r);
  REQUIRE(t.ok());
  const float* p = t->data<float>();
  for (int64_t k = 0; k < 32 * 32; ++k) REQUIRE(p[k] == p[32 * 32 + k]);  // gray: R == G
}

TEST_CASE("bad specs give errors naming the spec and field") {
  auto msg = [](const std::string& spec) {
    auto g = make_generator(spec);
    REQUIRE_MESSAGE(!g.ok(), spec);
    return g.error().message;
  };
  CHECK(msg("bogus").find("unknown source kind 'bogus'") != std::string::npos);
  CHECK(msg("fractal:mandel").find("unknown fractal method") != std::string::npos);
  CHECK(msg("noise:brown").find("unknown noise kind") != std::string::npos);
  CHECK(msg("fractal,colour=gray").find("unknown fractal option 'colour'") != std::string::npos);
  CHECK(msg("fractal,color=pink").find("color=pink") != std::string::npos);
  CHECK(msg("fractal,blur=2").find("probability") != std::string::npos);
  CHECK(msg("fractal,maps=3-9").find("maps=3-9") != std::string::npos);
  CHECK(msg("fractal,points=abc").find("points=abc") != std::string::npos);
  CHECK(msg("noise:pink,beta=1").find("unknown noise option 'beta'") != std::string::npos);
  CHECK(msg("stylegan2:").find("needs a path") != std::string::npos);
  CHECK(msg("onnxgen:").find("needs a path") != std::string::npos);
  SourceOptions so;
  so.channels = 2;
  auto g = make_generator("fractal", so);
  REQUIRE(!g.ok());
  CHECK(g.error().message.find("source 'fractal'") != std::string::npos);
  CHECK(g.error().message.find("channels") != std::string::npos);
}

TEST_CASE("preprocess_generated: (x+1)/2, then (p - mean) / std per channel") {
  Tensor t(DType::f32, {1, 3, 2, 2});
  for (int64_t i = 0; i < 12; ++i) t.at<float>(i) = -1.0f + float(i) / 5.5f;  // -1 .. 1
  data::InputSpec s;
  s.channels = 3;
  s.height = 2;
  s.width = 2;
  s.mean = {0.5f, 0.25f, 0.0f};
  s.std = {0.5f, 0.25f, 2.0f};
  auto r = data::preprocess_generated(t, s);
  REQUIRE(r.ok());
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t k = 0; k < 4; ++k) {
      float p = (t.at<float>(c * 4 + k) + 1) / 2;
      CHECK(r->at<float>(c * 4 + k) == doctest::Approx((p - s.mean[size_t(c)]) / s.std[size_t(c)]));
    }
  // RGB → 1 channel averages; a scalar mean/std applies to every channel.
  data::InputSpec g1;
  g1.channels = 1;
  g1.height = 2;
  g1.width = 2;
  g1.mean = {0.2860f};
  g1.std = {0.3530f};
  auto m = data::preprocess_generated(t, g1);
  REQUIRE(m.ok());
  CHECK(m->shape() == Shape{1, 1, 2, 2});
  for (int64_t k = 0; k < 4; ++k) {
    float p = 0;
    for (int64_t c = 0; c < 3; ++c) p += (t.at<float>(c * 4 + k) + 1) / 2;
    CHECK(m->at<float>(k) == doctest::Approx((p / 3 - 0.2860f) / 0.3530f));
  }
  // 1 → 3 repeats.
  auto one = data::resize_images(m.value(), 3, 2, 2);
  REQUIRE(one.ok());
  for (int64_t k = 0; k < 4; ++k) CHECK(one->at<float>(8 + k) == m->at<float>(k));
  s.mean = {0.1f, 0.2f};
  CHECK(!data::preprocess_generated(t, s).ok());
  CHECK(!data::preprocess_generated(Tensor(DType::f32, {3, 2, 2}), g1).ok());
}

TEST_CASE("resizing: area for 2x shrinks (block means), bilinear for small changes, constants preserved") {
  Tensor t(DType::f32, {1, 1, 4, 6});
  for (int64_t i = 0; i < 24; ++i) t.at<float>(i) = float(i % 7) / 7.0f - 0.3f;
  auto a = data::resize_images(t, 1, 2, 3);  // exactly 2x: block means
  REQUIRE(a.ok());
  for (int64_t y = 0; y < 2; ++y)
    for (int64_t x = 0; x < 3; ++x) {
      float s = 0;
      for (int64_t dy = 0; dy < 2; ++dy)
        for (int64_t dx = 0; dx < 2; ++dx) s += t.at<float>((2 * y + dy) * 6 + 2 * x + dx);
      CHECK(a->at<float>(y * 3 + x) == doctest::Approx(s / 4));
    }
  // 3 → 2 columns: output 0 covers [0, 1.5): (v0 + 0.5 v1) / 1.5.
  Tensor row(DType::f32, {1, 1, 1, 3});
  row.at<float>(0) = 0.1f;
  row.at<float>(1) = 0.4f;
  row.at<float>(2) = -0.8f;
  auto r = data::resize_images(row, 1, 1, 2, data::ResizeMode::Area);
  REQUIRE(r.ok());
  CHECK(r->at<float>(0) == doctest::Approx((0.1 + 0.5 * 0.4) / 1.5));
  CHECK(r->at<float>(1) == doctest::Approx((0.5 * 0.4 - 0.8) / 1.5));
  // 32 → 28 (FMNIST): Auto is bilinear, the same as the real-image path.
  Tensor big(DType::f32, {1, 1, 32, 32});
  for (int64_t i = 0; i < 1024; ++i) big.at<float>(i) = std::sin(float(i) * 0.37f);
  auto b = data::resize_images(big, 1, 28, 28);
  REQUIRE(b.ok());
  std::vector<float> ref(28 * 28);
  data::resize_plane_bilinear(big.data<float>(), 32, 32, ref.data(), 28, 28);
  for (int64_t i = 0; i < 28 * 28; ++i) CHECK(b->at<float>(i) == ref[size_t(i)]);
  // Constant images stay constant under both modes and odd ratios.
  Tensor c(DType::f32, {1, 1, 7, 5});
  for (int64_t i = 0; i < 35; ++i) c.at<float>(i) = 0.25f;
  for (auto mode : {data::ResizeMode::Area, data::ResizeMode::Bilinear})
    for (auto hw : {std::pair<int64_t, int64_t>{3, 2}, {11, 13}, {2, 5}}) {
      auto o = data::resize_images(c, 1, hw.first, hw.second, mode);
      REQUIRE(o.ok());
      for (int64_t i = 0; i < o->numel(); ++i) CHECK(o->at<float>(i) == doctest::Approx(0.25f));
    }
}

#ifdef QFORGE_HAVE_STYLEGAN2_SOURCE
TEST_CASE("stylegan2:PATH goes to the StyleGAN2 generator with psi and noise mode") {
  const std::string path = std::string(QFORGE_SOURCE_DIR) + "/tests/data/stylegan2/tiny_skip.qf";
  SourceOptions so;
  auto g1 = make_generator("stylegan2:" + path, so);
  REQUIRE_MESSAGE(g1.ok(), (g1.ok() ? "" : g1.error().message));
  auto* sg = dynamic_cast<StyleGan2Generator*>(g1->get());
  REQUIRE(sg != nullptr);
  CHECK(sg->options().truncation_psi == 1.0f);
  CHECK(sg->options().noise == sg2::NoiseMode::constant);
  auto info = (*g1)->info();
  CHECK(info.name == "stylegan2");
  GenerateRequest r;
  r.seed = 3;
  r.count = 2;
  auto a = (*g1)->generate(r);
  REQUIRE(a.ok());
  CHECK(a->shape() == Shape{2, info.channels, info.height, info.width});
  so.psi = 0.5f;
  so.noise_mode = "none";
  auto g2 = make_generator("stylegan2:" + path, so);
  if (g2.ok()) {  // psi != 1 needs mapping.w_avg in the file
    auto* s2 = dynamic_cast<StyleGan2Generator*>(g2->get());
    REQUIRE(s2 != nullptr);
    CHECK(s2->options().truncation_psi == 0.5f);
    CHECK(s2->options().noise == sg2::NoiseMode::none);
    auto b = (*g2)->generate(r);
    REQUIRE(b.ok());
    CHECK(!std::equal(a->data<float>(), a->data<float>() + a->numel(), b->data<float>()));
  } else {
    CHECK(g2.error().message.find("w_avg") != std::string::npos);
  }
  so.noise_mode = "loud";
  auto bad = make_generator("stylegan2:" + path, so);
  REQUIRE(!bad.ok());
  CHECK(bad.error().message.find("loud") != std::string::npos);
  auto missing = make_generator("stylegan2:/nonexistent/g.qf");
  REQUIRE(!missing.ok());
  CHECK(missing.error().message.find("/nonexistent/g.qf") != std::string::npos);
}
#endif
