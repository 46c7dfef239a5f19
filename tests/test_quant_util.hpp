// Shared helpers of the test_quant_*.cpp executables: a small residual net, an fp32 runner on the fp32 executor,
// calibration helpers.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <random>

#include "qforge/graph/executor.hpp"
#include "qforge/quant/calibrate.hpp"
#include "qforge/quant/qexecutor.hpp"
#include "qforge/quant/quantize.hpp"

using namespace qforge;
using namespace qforge::quant;

#define REQUIRE_OK(r)                                      \
  do {                                                     \
    if (!(r).ok()) FAIL_CHECK((r).error().message);        \
    REQUIRE((r).ok());                                     \
  } while (0)

namespace qtest {

// The fp32 executor (BN folding, activation fusion) runs the model; the quantize pass works on its prepared graph.
inline Status run_fp32(const Graph& g, const Tensor& x, const ValueSink& sink, std::map<std::string, Tensor>* vals_out = nullptr) {
  auto ex = Executor::prepare(g);
  if (!ex.ok()) return ex.error();
  std::map<std::string, Tensor> vals;
  auto r = ex->run({x}, [&](const std::string& n, const Tensor& t) {
    vals[n] = t;
    if (sink) sink(n, t);
  });
  if (!r.ok()) return r.error();
  if (vals_out) *vals_out = vals;
  return Status::Ok();
}

inline Graph prepared(const Graph& g) {
  auto ex = Executor::prepare(g);
  REQUIRE(ex.ok());
  return ex->graph();
}

inline Tensor randn(Shape s, uint32_t seed, float sd = 1.0f, float mean = 0.0f) {
  Tensor t(DType::f32, std::move(s));
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(mean, sd);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = nd(rng);
  return t;
}

inline Node node(const std::string& name, const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

// Flatten(in) -> "flo" -> Gemm with initializers wf [classes, features] and bf (transB) -> out.
inline void add_classifier_head(Graph& g, const std::string& in, const std::string& out) {
  Node fl = node("flat", "Flatten", {in}, {"flo"});
  fl.attrs["axis"] = Attribute::make_int(1);
  g.nodes.push_back(fl);
  Node gm = node("fc", "Gemm", {"flo", "wf", "bf"}, {out});
  gm.attrs["transB"] = Attribute::make_int(1);
  g.nodes.push_back(gm);
}

// x[N,1,8,8] -> c1 (4ch 3x3 p1, bias) -> relu -> c2 (4ch 3x3 p1) -> add(c2, r1) -> relu -> maxpool 2 -> flatten
// -> gemm (64 -> 5) -> y; a dead branch (Sigmoid of x) that no output uses.
inline Graph small_net() {
  Graph g;
  g.name = "small";
  g.inputs = {{"x", DType::f32, {-1, 1, 8, 8}}};
  g.outputs = {{"y", DType::f32, {-1, 5}}};
  g.initializers["w1"] = randn({4, 1, 3, 3}, 1, 0.5f);
  g.initializers["b1"] = randn({4}, 2, 0.1f);
  g.initializers["w2"] = randn({4, 4, 3, 3}, 3, 0.3f);
  g.initializers["b2"] = randn({4}, 4, 0.1f);
  g.initializers["wf"] = randn({5, 64}, 5, 0.2f);
  g.initializers["bf"] = randn({5}, 6, 0.1f);
  auto conv = [](const std::string& nm, std::vector<std::string> in, const std::string& out) {
    Node n = node(nm, "Conv", std::move(in), {out});
    n.attrs["kernel_shape"] = Attribute::make_ints({3, 3});
    n.attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
    return n;
  };
  g.nodes.push_back(conv("c1", {"x", "w1", "b1"}, "c1o"));
  g.nodes.push_back(node("r1", "Relu", {"c1o"}, {"r1o"}));
  g.nodes.push_back(conv("c2", {"r1o", "w2", "b2"}, "c2o"));
  g.nodes.push_back(node("add", "Add", {"c2o", "r1o"}, {"ao"}));
  g.nodes.push_back(node("r2", "Relu", {"ao"}, {"r2o"}));
  Node mp = node("mp", "MaxPool", {"r2o"}, {"mpo"});
  mp.attrs["kernel_shape"] = Attribute::make_ints({2, 2});
  mp.attrs["strides"] = Attribute::make_ints({2, 2});
  g.nodes.push_back(mp);
  add_classifier_head(g, "mpo", "y");
  g.nodes.push_back(node("dead", "Sigmoid", {"x"}, {"unused"}));
  REQUIRE(g.validate_and_sort().ok());
  return g;
}

inline CalibrationSet make_set(const Tensor& images) {
  CalibrationSet cs;
  cs.count = images.dim(0);
  cs.batch = [images](int64_t b, int64_t e) -> Result<Tensor> { return images.slice0(b, e).clone(); };
  return cs;
}

inline Fp32Runner runner(const Graph& g) {
  return [&g](const Tensor& x, const ValueSink& sink) { return run_fp32(g, x, sink); };
}

inline std::map<std::string, TensorStats> calibrate(const Graph& g, const Tensor& images, int64_t bs = 8) {
  auto s = collect_statistics(runner(g), make_set(images), bs, true);
  REQUIRE_OK(s);
  return s.value();
}

inline Tensor fp32_out(const Graph& g, const Tensor& x) {
  std::map<std::string, Tensor> vals;
  REQUIRE(run_fp32(g, x, nullptr, &vals).ok());
  return vals.at(g.outputs[0].name);
}

inline double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, double(std::fabs(a.data<float>()[i])));
  return m;
}
inline double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, double(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
  return m;
}

}  // namespace qtest
using namespace qtest;
