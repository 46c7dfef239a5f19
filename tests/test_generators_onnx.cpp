// The onnxgen source: a DiStyleGAN-architecture generator (random weights, exported by
// tools/python/export_distylegan.py with ngf 64 / project_dim 64 to stay small) run by qforge's executor must
// match PyTorch's images; latents, classes and determinism follow the Generator contract.
#include <doctest/doctest.h>

#include <cmath>

#include "generators/onnx_generator.hpp"
#include "generators/registry.hpp"
#include "qforge/io/npy.hpp"

using namespace qforge;
using namespace qforge::gen;

namespace {
const std::string kDir = std::string(QFORGE_SOURCE_DIR) + "/tests/data/distylegan/";
}

TEST_CASE("DiStyleGAN ONNX generator matches PyTorch (max abs <= 1e-4)") {
  auto g = load_onnx_generator(kDir + "distylegan.onnx");
  REQUIRE_MESSAGE(g.ok(), (g.ok() ? "" : g.error().message));
  auto info = (*g)->info();
  CHECK(info.name == "onnxgen");
  CHECK(info.channels == 3);
  CHECK(info.height == 32);
  CHECK(info.width == 32);
  CHECK(info.latent_dim == 512);
  CHECK(info.num_classes == 10);
  auto z = io::load_npy(kDir + "z.npy");
  auto labels = io::load_npy(kDir + "labels.npy");
  auto img = io::load_npy(kDir + "img.npy");
  REQUIRE(z.ok());
  REQUIRE(labels.ok());
  REQUIRE(img.ok());
  std::vector<int64_t> cls(labels->data<int64_t>(), labels->data<int64_t>() + labels->numel());
  auto y = (*g)->synthesize(*z, cls);
  REQUIRE_MESSAGE(y.ok(), (y.ok() ? "" : y.error().message));
  REQUIRE(y->shape() == img->shape());
  double maxdiff = 0, spread = 0;
  for (int64_t i = 0; i < y->numel(); ++i) {
    maxdiff = std::max(maxdiff, double(std::fabs(y->data<float>()[i] - img->data<float>()[i])));
    spread = std::max(spread, double(std::fabs(img->data<float>()[i])));
  }
  MESSAGE("max |qforge - pytorch| = ", maxdiff);
  CHECK(maxdiff <= 1e-4);
  CHECK(spread > 0.5);  // the golden is not a flat image
  // The class input matters: the same z with another label gives another image.
  std::vector<int64_t> other(cls.size());
  for (size_t i = 0; i < cls.size(); ++i) other[i] = (cls[i] + 1) % 10;
  auto y2 = (*g)->synthesize(*z, other);
  REQUIRE(y2.ok());
  CHECK(!std::equal(y->data<float>(), y->data<float>() + 3072, y2->data<float>()));
}

TEST_CASE("onnxgen images are a pure function of (seed, index, class); balanced default classes") {
  auto g = make_generator("onnxgen:" + kDir + "distylegan.onnx");
  REQUIRE_MESSAGE(g.ok(), (g.ok() ? "" : g.error().message));
  GenerateRequest r;
  r.seed = 4;
  r.count = 12;
  auto a = (*g)->generate(r);
  REQUIRE(a.ok());
  CHECK(a->shape() == Shape{12, 3, 32, 32});
  for (int64_t i = 0; i < a->numel(); ++i) REQUIRE(std::fabs(a->data<float>()[i]) <= 1.0f);
  GenerateRequest part = r;
  part.first = 11;
  part.count = 1;
  auto b = (*g)->generate(part);
  REQUIRE(b.ok());
  CHECK(std::equal(b->data<float>(), b->data<float>() + 3072, a->data<float>() + 11 * 3072));
  // Default class of image 11 is 11 % 10 = 1.
  part.classes = {1};
  auto c = (*g)->generate(part);
  REQUIRE(c.ok());
  CHECK(std::equal(c->data<float>(), c->data<float>() + 3072, b->data<float>()));
  part.classes = {2};
  auto d = (*g)->generate(part);
  REQUIRE(d.ok());
  CHECK(!std::equal(d->data<float>(), d->data<float>() + 3072, b->data<float>()));
  part.classes = {10};
  CHECK(!(*g)->generate(part).ok());
}

TEST_CASE("onnxgen latents: N(0,1) by default, U(0,1) on request") {
  auto n = load_onnx_generator(kDir + "distylegan.onnx");
  OnnxGeneratorOptions o;
  o.uniform_latent = true;
  auto u = load_onnx_generator(kDir + "distylegan.onnx", o);
  REQUIRE(n.ok());
  REQUIRE(u.ok());
  double sn = 0, ssn = 0, su = 0, lo = 1, hi = 0;
  const int reps = 8;
  for (int i = 0; i < reps; ++i) {
    auto zn = (*n)->latent(1, i), zu = (*u)->latent(1, i);
    for (float v : zn) { sn += v; ssn += double(v) * v; }
    for (float v : zu) { su += v; lo = std::min(lo, double(v)); hi = std::max(hi, double(v)); }
  }
  const double cnt = 512.0 * reps;
  CHECK(std::fabs(sn / cnt) < 0.06);
  CHECK(ssn / cnt == doctest::Approx(1.0).epsilon(0.08));
  CHECK(su / cnt == doctest::Approx(0.5).epsilon(0.05));
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
}

TEST_CASE("onnxgen errors name the file") {
  auto g = load_onnx_generator("/nonexistent/g.onnx");
  REQUIRE(!g.ok());
  CHECK(g.error().message.find("/nonexistent/g.onnx") != std::string::npos);
  Graph bad;  // an image classifier is not a generator: input [N, 1, 2, 2]
  bad.inputs = {{"x", DType::f32, {-1, 1, 2, 2}}};
  bad.outputs = {{"x", DType::f32, {}}};
  auto b = OnnxGenerator::create(bad, "clf.onnx");
  REQUIRE(!b.ok());
  CHECK(b.error().message.find("clf.onnx") != std::string::npos);
  CHECK(b.error().message.find("[N, D]") != std::string::npos);
}
