// qforge/core/finite.hpp — rejecting NaN/Inf in float inputs before they reach a model.
//
// Why: an image never holds NaN/Inf, so one there means a broken file or preprocessing; the int8 path would turn it
// into an undefined float->int conversion, and the fp32 path into a silent garbage class. The error names the
// input and the first bad element.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"

namespace qforge {

inline Status check_finite(const Tensor& t, const std::string& what) {
  if (t.dtype() != DType::f32 || !t.defined()) return Status::Ok();
  const float* p = t.data<float>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (!std::isfinite(p[i]))
      return make_error(what, ": element ", i, " of ", shape_str(t.shape()), " is ", std::isnan(p[i]) ? "NaN" : "Inf",
                        " (inputs must be finite)");
  return Status::Ok();
}

}  // namespace qforge
