// Tensor helpers shared by tests that need no op table (test_kernels_*) and by test_exec_common.hpp: seeded
// Gaussian tensors and element-wise comparisons.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "qforge/core/tensor.hpp"

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

}  // namespace qft
