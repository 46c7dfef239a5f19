// Helpers shared by the test_exec_* executables: build small graphs by hand, fill tensors, compare.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/rng.hpp"
#include "qforge/graph/executor.hpp"

namespace qft {

using namespace qforge;

inline Tensor randn(Shape s, uint64_t seed, float scale = 1.f) {
  Tensor t(DType::f32, std::move(s));
  float* p = t.data<float>();
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    // splitmix64 -> two uniforms -> Box-Muller
    auto next = [&] {
      x += 0x9E3779B97F4A7C15ull;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      return double((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
    };
    double u1 = next() + 1e-12, u2 = next();
    p[i] = scale * float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return t;
}

inline Node node(std::string op, std::vector<std::string> in, std::vector<std::string> out,
                 std::map<std::string, Attribute> attrs = {}, std::string name = "") {
  Node n;
  n.op_type = std::move(op);
  n.name = name.empty() ? n.op_type + "_" + (out.empty() ? std::string("x") : out[0]) : name;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.attrs = std::move(attrs);
  return n;
}

inline ValueInfo vi(std::string name, Shape s, DType t = DType::f32) { return ValueInfo{std::move(name), t, std::move(s)}; }

inline float max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  float m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a.data<float>()[i] - b.data<float>()[i]));
  return m;
}

// max |a-b| / (1 + |b|)
inline float max_rel_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  float m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    float x = a.data<float>()[i], y = b.data<float>()[i];
    m = std::max(m, std::fabs(x - y) / (1.f + std::fabs(y)));
  }
  return m;
}

inline std::vector<Tensor> run_ok(const Graph& g, const std::vector<Tensor>& in, ExecOptions o = {}) {
  auto ex = Executor::prepare(g, o);
  if (!ex.ok()) FAIL(ex.error().message);
  auto r = ex->run(in);
  if (!r.ok()) FAIL(r.error().message);
  return r.value();
}

}  // namespace qft
