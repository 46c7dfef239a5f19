// GenQ-style filters (data/filters.hpp) on tiny hand-built models whose energy and BN distance are computed here
// by hand; class-balanced selection; and `qforge generate --filter` end to end.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "generators/fractal/fractal_generator.hpp"
#include "qforge/data/filters.hpp"
#include "qforge/io/onnx.hpp"

using namespace qforge;
namespace fs = std::filesystem;

namespace {

Node node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
          std::map<std::string, Attribute> attrs = {}) {
  Node n;
  n.name = op + "_" + out[0];
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.attrs = std::move(attrs);
  return n;
}

const float kW[3][4] = {{1.0f, -0.5f, 0.25f, 2.0f}, {-1.0f, 0.5f, 1.5f, 0.0f}, {0.3f, 0.3f, -0.7f, 1.0f}};
const float kB[3] = {0.1f, -0.2f, 0.05f};

// x [batch,1,2,2] → Flatten → Gemm(W[3,4]ᵀ, b) → logits [N,3]; normalisation mean 0.5, std 0.25.
Graph energy_graph(int64_t batch = -1) {
  Graph g;
  g.name = "energy";
  g.inputs = {{"x", DType::f32, {batch, 1, 2, 2}}};
  g.outputs = {{"logits", DType::f32, {}}};
  std::vector<float> w, b(kB, kB + 3);
  for (auto& r : kW) w.insert(w.end(), r, r + 4);
  g.initializers["W"] = Tensor::from_vector<float>({3, 4}, w);
  g.initializers["B"] = Tensor::from_vector<float>({3}, b);
  g.nodes.push_back(node("Flatten", {"x"}, {"f"}, {{"axis", Attribute::make_int(1)}}));
  g.nodes.push_back(node("Gemm", {"f", "W", "B"}, {"logits"}, {{"transB", Attribute::make_int(1)}}));
  g.metadata["qforge.mean"] = "0.5";
  g.metadata["qforge.std"] = "0.25";
  REQUIRE(g.validate_and_sort().ok());
  return g;
}

const float kM1[2] = {0.2f, -0.4f}, kV1[2] = {1.5f, 0.5f};  // BN on the input
const float kM2[2] = {0.5f, 0.0f}, kV2[2] = {2.0f, 0.25f};  // BN after the conv

// x [N,2,2,2] → BN1 → y → Conv 1×1 (W = diag(2, 1), no bias) → c → BN2 → Relu → out. Metadata: mean 0, std 1.
Graph bn_graph() {
  Graph g;
  g.name = "bn";
  g.inputs = {{"x", DType::f32, {-1, 2, 2, 2}}};
  g.outputs = {{"out", DType::f32, {}}};
  g.initializers["Wc"] = Tensor::from_vector<float>({2, 2, 1, 1}, {2.0f, 0.0f, 0.0f, 1.0f});
  auto vec = [](const float* p) { return Tensor::from_vector<float>({2}, std::vector<float>(p, p + 2)); };
  g.initializers["one"] = Tensor::from_vector<float>({2}, {1.0f, 1.0f});
  g.initializers["zero"] = Tensor::from_vector<float>({2}, {0.0f, 0.0f});
  g.initializers["m1"] = vec(kM1);
  g.initializers["v1"] = vec(kV1);
  g.initializers["m2"] = vec(kM2);
  g.initializers["v2"] = vec(kV2);
  g.nodes.push_back(node("BatchNormalization", {"x", "one", "zero", "m1", "v1"}, {"y"},
                         {{"epsilon", Attribute::make_float(1e-5f)}}));
  g.nodes.push_back(node("Conv", {"y", "Wc"}, {"c"}, {{"kernel_shape", Attribute::make_ints({1, 1})}}));
  g.nodes.push_back(node("BatchNormalization", {"c", "one", "zero", "m2", "v2"}, {"b2"},
                         {{"epsilon", Attribute::make_float(1e-5f)}}));
  g.nodes.push_back(node("Relu", {"b2"}, {"out"}));
  g.metadata["qforge.mean"] = "0";
  g.metadata["qforge.std"] = "1";
  REQUIRE(g.validate_and_sort().ok());
  return g;
}

Tensor images(int64_t n, int64_t c, uint64_t seed) {
  Tensor t(DType::f32, {n, c, 2, 2});
  CounterRng r(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.at<float>(i) = r.uniform(uint64_t(i)) * 2 - 1;
  return t;
}

// Per-channel W2²/var term of the BN score, by hand.
double bn_term(const double* v, int n, double m, double var) {
  double mu = 0, ss = 0;
  for (int k = 0; k < n; ++k) mu += v[k];
  mu /= n;
  for (int k = 0; k < n; ++k) ss += (v[k] - mu) * (v[k] - mu);
  double sd = std::sqrt(ss / n);
  return ((mu - m) * (mu - m) + (sd - std::sqrt(var)) * (sd - std::sqrt(var))) / (var + 1e-5);
}

}  // namespace

TEST_CASE("energy score = -T logsumexp(logits / T) after (x+1)/2 and (p - mean)/std") {
  auto m = data::make_filter_model(energy_graph(), "energy");
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message));
  Tensor x = images(5, 1, 1);
  for (float T : {1.0f, 2.5f}) {
    data::FilterOptions o;
    o.temperature = T;
    o.batch = 2;  // batches of 2, 2, 1
    auto e = data::energy_scores(*m, x, o);
    REQUIRE(e.ok());
    REQUIRE(e->size() == 5);
    for (int64_t i = 0; i < 5; ++i) {
      double z[4], l[3], s = 0;
      for (int k = 0; k < 4; ++k) z[k] = ((x.at<float>(i * 4 + k) + 1) / 2 - 0.5) / 0.25;
      for (int j = 0; j < 3; ++j) {
        l[j] = kB[j];
        for (int k = 0; k < 4; ++k) l[j] += kW[j][k] * z[k];
        s += std::exp(l[j] / T);
      }
      CHECK((*e)[size_t(i)] == doctest::Approx(-T * std::log(s)).epsilon(1e-5));
    }
  }
  // A model with a fixed batch of 1 gives the same scores.
  auto m1 = data::make_filter_model(energy_graph(1), "energy1");
  REQUIRE(m1.ok());
  CHECK(m1->fixed_batch == 1);
  auto a = data::energy_scores(*m, x), b = data::energy_scores(*m1, x);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  for (size_t i = 0; i < 5; ++i) CHECK((*a)[i] == doctest::Approx((*b)[i]).epsilon(1e-6));
  data::FilterOptions bad;
  bad.temperature = 0;
  CHECK(!data::energy_scores(*m, x, bad).ok());
}

TEST_CASE("BN-statistics distance: mean over layers of per-channel W2^2 / running var, from unfolded BN inputs") {
  Graph g = bn_graph();
  auto m = data::make_filter_model(g, "bn");
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message));
  REQUIRE(m->bn.size() == 2);
  CHECK(m->bn[0].input_value == "x");
  CHECK(m->bn[1].input_value == "c");
  Tensor x = images(4, 2, 7);
  data::FilterOptions o;
  o.batch = 3;
  auto s = data::bn_scores(*m, x, o);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().message));
  REQUIRE(s->size() == 4);
  for (int64_t i = 0; i < 4; ++i) {
    double layer1 = 0, layer2 = 0;
    for (int c = 0; c < 2; ++c) {
      double z[4], y[4], conv[4];
      for (int k = 0; k < 4; ++k) {
        z[k] = (x.at<float>((i * 2 + c) * 4 + k) + 1) / 2;  // mean 0, std 1
        y[k] = (z[k] - kM1[c]) / std::sqrt(kV1[c] + 1e-5);  // BN1 output (scale 1, bias 0)
        conv[k] = (c == 0 ? 2.0 : 1.0) * y[k];              // Conv diag(2, 1)
      }
      layer1 += bn_term(z, 4, kM1[c], kV1[c]);
      layer2 += bn_term(conv, 4, kM2[c], kV2[c]);
    }
    double expect = (layer1 / 2 + layer2 / 2) / 2;
    CHECK((*s)[size_t(i)] == doctest::Approx(expect).epsilon(1e-4));
  }
  // Images that match the running statistics of layer 1 score lower than ones that do not.
  auto e = data::make_filter_model(energy_graph(), "energy");
  REQUIRE(e.ok());
  auto none = data::bn_scores(*e, images(2, 1, 1));
  REQUIRE(!none.ok());
  CHECK(none.error().message.find("BatchNormalization") != std::string::npos);
}

TEST_CASE("select_lowest keeps the best per group, ties by index, NaN last") {
  std::vector<float> s = {5, 1, 3, 2, 4, 0};
  std::vector<int64_t> g = {0, 1, 0, 1, 0, 1};
  CHECK(data::select_lowest(s, g, {{0, 2}, {1, 1}}) == std::vector<size_t>{2, 4, 5});
  CHECK(data::select_lowest(s, std::vector<int64_t>(6, -1), {{-1, 3}}) == std::vector<size_t>{1, 3, 5});
  CHECK(data::select_lowest({1, 1, 1, 0}, {-1, -1, -1, -1}, {{-1, 2}}) == std::vector<size_t>{0, 3});
  CHECK(data::select_lowest({NAN, 2, 1}, {-1, -1, -1}, {{-1, 2}}) == std::vector<size_t>{1, 2});
  CHECK(data::select_lowest(s, g, {{0, 10}}) == std::vector<size_t>{0, 2, 4});  // fewer than wanted: all
}

TEST_CASE("energy filter over fractal images keeps the lowest energies") {
  gen::FractalOptions fo;
  fo.supersample = 1;
  auto gen = gen::FractalGenerator::create(fo);
  REQUIRE(gen.ok());
  gen::GenerateRequest r;
  r.seed = 5;
  r.count = 12;
  auto imgs = (*gen)->generate(r);
  REQUIRE(imgs.ok());
  auto m = data::make_filter_model(energy_graph(), "energy");  // 32×32×3 → 2×2×1 by area + channel mean
  REQUIRE(m.ok());
  auto e = data::energy_scores(*m, *imgs);
  REQUIRE(e.ok());
  auto keep = data::select_lowest(*e, std::vector<int64_t>(12, -1), {{-1, 6}});
  REQUIRE(keep.size() == 6);
  float worst_kept = -1e30f, best_dropped = 1e30f;
  for (size_t i = 0; i < 12; ++i) {
    bool k = std::find(keep.begin(), keep.end(), i) != keep.end();
    if (k) worst_kept = std::max(worst_kept, (*e)[i]);
    else best_dropped = std::min(best_dropped, (*e)[i]);
  }
  CHECK(worst_kept <= best_dropped);
}

#ifdef QFORGE_EXE
TEST_CASE("qforge generate --filter energy|bn keeps the lowest-scoring half") {
  std::string dir = (fs::temp_directory_path() / ("qforge_test_filter_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  Graph g = bn_graph();
  // 32×32 RGB fractals → the model's 2×2×2 input: resize by area, 3→2 channels repeats (convert_channels).
  REQUIRE(save_onnx(dir + "/bn.onnx", g).ok());
  for (std::string filter : {"bn"}) {
    std::string out = dir + "/" + filter;
    std::string cmd = std::string(QFORGE_EXE) + " generate --source fractal -n 4 --seed 2 --filter " + filter +
                      " --model " + dir + "/bn.onnx --keep 0.5 --out " + out + " > /dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    // Scores of all 8 candidates, computed in-process.
    auto gen = gen::FractalGenerator::create(gen::FractalOptions());
    REQUIRE(gen.ok());
    gen::GenerateRequest r;
    r.seed = 2;
    r.count = 8;
    auto imgs = (*gen)->generate(r);
    REQUIRE(imgs.ok());
    auto m = data::make_filter_model(g, "bn");
    REQUIRE(m.ok());
    auto s = data::bn_scores(*m, *imgs);
    REQUIRE(s.ok());
    auto keep = data::select_lowest(*s, std::vector<int64_t>(8, -1), {{-1, 4}});
    std::ifstream f(out + "/index.csv");
    std::string line;
    std::getline(f, line);
    CHECK(line == "file,seed,index,class,score");
    for (size_t k = 0; k < 4; ++k) {
      REQUIRE(std::getline(f, line));
      char name[16];
      std::snprintf(name, sizeof name, "%06zu.png", k);
      CHECK(line.rfind(std::string(name) + ",2," + std::to_string(keep[k]) + ",-1,", 0) == 0);
    }
    CHECK(!std::getline(f, line));
  }
  fs::remove_all(dir);
}
#endif
