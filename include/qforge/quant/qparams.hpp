// qforge/quant/qparams.hpp — quantization parameters and the scalar quantize/dequantize arithmetic.
//
// Contract (DESIGN.md, numerical contract):
//   quantize:   q = saturate(round_half_to_even(x / s) + zp)            (ONNX QuantizeLinear, float32 math)
//   dequantize: x = (q - zp) · s                                        (ONNX DequantizeLinear)
// Activations are per tensor, affine: u8 [0, 2^b - 1] on x86, or s8 [-2^(b-1), 2^(b-1) - 1] (--act s8), b = 8 or 4,
// values always held in 8-bit containers. Weights are signed, symmetric (zp 0), per output channel by default,
// range [-(2^(b-1) - 1), 2^(b-1) - 1] (±127 for 8 bits, ±7 for 4 bits).
// A range [lo, hi] becomes affine parameters with 0 exactly representable:
//   lo' = min(lo, 0), hi' = max(hi, 0), s = (hi' - lo') / (qmax - qmin), zp = clamp(qmin - round(lo' / s)).
// A zero range (constant-zero tensor) gets s = 1 (every value is 0, any scale is exact); scales are floored at
// kMinScale so that int32 biases b / (s_in · s_w) stay finite.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"

namespace qforge::quant {

constexpr float kMinScale = 1e-10f;

// Per-tensor affine parameters of one quantized value.
struct QParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  int32_t qmin = 0, qmax = 255;
  DType dtype = DType::u8;  // container: u8 or i8
  int bits = 8;

  float min_real() const { return float(qmin - zero_point) * scale; }
  float max_real() const { return float(qmax - zero_point) * scale; }
  bool operator==(const QParams& o) const {
    return scale == o.scale && zero_point == o.zero_point && qmin == o.qmin && qmax == o.qmax && dtype == o.dtype &&
           bits == o.bits;
  }
  bool operator!=(const QParams& o) const { return !(*this == o); }
};

// Integer range of an activation type: unsigned [0, 2^b-1] or signed [-2^(b-1), 2^(b-1)-1].
inline void activation_range(bool is_signed, int bits, int32_t& qmin, int32_t& qmax) {
  if (is_signed) {
    qmin = -(1 << (bits - 1));
    qmax = (1 << (bits - 1)) - 1;
  } else {
    qmin = 0;
    qmax = (1 << bits) - 1;
  }
}

// Largest weight magnitude for b-bit symmetric weights: 2^(b-1) - 1 (127 for 8 bits, 7 for 4 bits).
inline int32_t weight_qmax(int bits) { return (1 << (bits - 1)) - 1; }

// Affine parameters for a real range [lo, hi] (see header comment).
inline QParams choose_qparams(float lo, float hi, bool is_signed, int bits) {
  QParams p;
  p.bits = bits;
  p.dtype = is_signed ? DType::i8 : DType::u8;
  activation_range(is_signed, bits, p.qmin, p.qmax);
  if (!std::isfinite(lo)) lo = 0;
  if (!std::isfinite(hi)) hi = 0;
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  float s = (hi - lo) / float(p.qmax - p.qmin);
  if (!(s > 0)) s = 1.0f;
  s = std::max(s, kMinScale);
  p.scale = s;
  float z = float(p.qmin) - std::nearbyint(lo / s);
  p.zero_point = int32_t(std::clamp(z, float(p.qmin), float(p.qmax)));
  return p;
}

// q = saturate(round_half_to_even(x / s) + zp) in float32 (NaN quantizes to the zero point's clamp of 0: qmin..).
inline int32_t quantize_value(float x, float scale, int32_t zp, int32_t qmin, int32_t qmax) {
  float v = std::nearbyint(x / scale) + float(zp);
  v = v > float(qmin) ? v : float(qmin);  // NaN -> qmin
  v = v < float(qmax) ? v : float(qmax);
  return int32_t(v);
}
inline int32_t quantize_value(float x, const QParams& p) { return quantize_value(x, p.scale, p.zero_point, p.qmin, p.qmax); }

inline float dequantize_value(int32_t q, float scale, int32_t zp) { return float(q - zp) * scale; }
inline float dequantize_value(int32_t q, const QParams& p) { return dequantize_value(q, p.scale, p.zero_point); }

// Fake-quantization (quantize then dequantize) of one value.
inline float fake_quant(float x, const QParams& p) { return dequantize_value(quantize_value(x, p), p); }

// Symmetric per-channel weight scale from a clipping threshold amax: s = amax / (2^(b-1) - 1).
inline float weight_scale(float amax, int bits) { return amax / float(weight_qmax(bits)); }

// Quantizes a weight tensor per output channel (axis 0, rows of K = numel / C elements) with the given scales
// (one per channel). Returns int8 values in [-qmax_w, qmax_w].
inline Tensor quantize_weights(const Tensor& w, const std::vector<float>& scales, int bits) {
  QF_CHECK(w.dtype() == DType::f32 && w.rank() >= 1, "weights must be float with an output-channel axis");
  const int64_t C = w.dim(0), K = C ? w.numel() / C : 0;
  QF_CHECK(int64_t(scales.size()) == C, scales.size(), " scales for ", C, " channels");
  const int32_t qm = weight_qmax(bits);
  Tensor q(DType::i8, w.shape());
  const float* src = w.data<float>();
  int8_t* dst = q.data<int8_t>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t k = 0; k < K; ++k)
      dst[c * K + k] = int8_t(quantize_value(src[c * K + k], scales[size_t(c)], 0, -qm, qm));
  return q;
}

}  // namespace qforge::quant
