// qforge/core/finite.hpp — rejecting NaN/Inf in float inputs before they reach a model.
//
// Why: an image never holds NaN/Inf, so one there means a broken file or preprocessing; the int8 path would turn it
// into an undefined float->int conversion, and the fp32 path into a silent garbage class. The error names the
// input and the first bad element.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"

namespace qforge {

inline Status check_finite(const Tensor& t, const std::string& what) {
  if (t.dtype() != DType::f32 || !t.defined()) return Status::Ok();
  const float* p = t.data<float>();
  const int64_t n = t.numel();
  // Blocks without an early exit so the compiler vectorises the test (a float is NaN/Inf iff its exponent bits are
  // all ones); only a block that holds one is scanned again to name the element (4x the plain loop here).
  constexpr int64_t kBlock = 1024;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = b + kBlock < n ? b + kBlock : n;
    uint32_t bad = 0;
    for (int64_t i = b; i < e; ++i) {
      uint32_t bits;
      std::memcpy(&bits, p + i, 4);
      bad |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);
    }
    if (!bad) continue;
    for (int64_t i = b; i < e; ++i)
      if (!std::isfinite(p[i]))
        return make_error(what, ": element ", i, " of ", shape_str(t.shape()), " is ",
                          std::isnan(p[i]) ? "NaN" : "Inf", " (inputs must be finite)");
  }
  return Status::Ok();
}

}  // namespace qforge
