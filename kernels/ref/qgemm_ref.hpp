// kernels/ref/qgemm_ref.hpp — the integer contract: scalar reference of the int8 GEMM and its epilogue.
//
// Every fast int8 kernel in kernels/ must give exactly (bit for bit) what these functions give.
//
//   acc[m][n] = Σ_k (A[m][k] - a_zp) * W[n][k]                 (exact int32; K ≤ 65536 keeps it in range)
//   v         = acc + bias[n]                                   (bias may be null → 0)
//   TC = int32_t : C = v                                        (scale ignored)
//   TC = float   : C = float(v) * scale[n]                      (scale null → 1)
//   TC = u8 / s8 : C = clamp(nearbyint(float(v) * scale[n]) + out_zp, qmin, qmax)
//
// The u8/s8 requantization is float32 arithmetic in exactly this order, rounding half to even (the default
// FP rounding mode). It is computed as: x = float(v) * scale; x = max(x, qmin - out_zp); x = min(x, qmax - out_zp);
// C = int(nearbyint(x)) + out_zp — equal to the formula above for every finite x (the bounds are integers), and
// defined for NaN/inf too (max(x, lo) with x NaN gives lo, like the SIMD max instruction). qmin/qmax must lie in
// the output type's range and qmin ≤ qmax.
//
// Layouts: A is M×K row-major with row stride lda (u8 or s8 activations, zero point a_zp in the activation's
// range); W is N×K row-major (one row per output channel), row stride ldw, symmetric (zero point 0); C is M×N
// row-major with row stride ldc.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace qforge::kernels {

// Per-output-channel epilogue applied to the int32 accumulator acc[m][n] = Σ_k (A[m][k] - a_zp) * W[n][k].
struct Epilogue {
  const int32_t* bias = nullptr;  // per n (may be null): v = acc + bias[n]
  const float* scale = nullptr;   // per n: requant multiplier (s_a*s_w[n]/s_out) for u8/s8 output, or dequant
                                  // multiplier (s_a*s_w[n]) for float output; null means 1
  int32_t out_zp = 0;             // u8/s8 output only
  int32_t qmin = 0, qmax = 255;   // clamp after adding out_zp (a fused ReLU is qmin = out_zp)
};

namespace ref {

// Applies the epilogue to one accumulator of output channel n (the scalar definition every kernel follows).
template <class TC>
inline TC apply_epilogue(int32_t acc, int n, const Epilogue& ep) {
  static_assert(std::is_same_v<TC, int32_t> || std::is_same_v<TC, float> || std::is_same_v<TC, uint8_t> ||
                    std::is_same_v<TC, int8_t>,
                "qgemm output must be int32_t, float, uint8_t or int8_t");
  // Wrapping add (as the SIMD vpaddd does), so even absurd biases are defined behaviour.
  const int32_t v = ep.bias ? int32_t(uint32_t(acc) + uint32_t(ep.bias[n])) : acc;
  if constexpr (std::is_same_v<TC, int32_t>) {
    return v;
  } else if constexpr (std::is_same_v<TC, float>) {
    const float s = ep.scale ? ep.scale[n] : 1.0f;
    return float(v) * s;
  } else {
    const float s = ep.scale ? ep.scale[n] : 1.0f;
    float x = float(v) * s;
    const float lo = float(ep.qmin - ep.out_zp), hi = float(ep.qmax - ep.out_zp);
    x = (x > lo) ? x : lo;  // NaN → lo
    x = (x < hi) ? x : hi;
    return TC(int32_t(std::nearbyint(x)) + ep.out_zp);
  }
}

// C = epilogue(Σ_k (A - a_zp) · W), see the header comment. TA: uint8_t or int8_t; TC: int32_t, float, uint8_t,
// int8_t.
template <class TA, class TC>
void qgemm(int M, int N, int K, const TA* A, int lda, int32_t a_zp, const int8_t* W, int ldw, const Epilogue& ep,
           TC* C, int ldc) {
  static_assert(std::is_same_v<TA, uint8_t> || std::is_same_v<TA, int8_t>, "activations must be uint8_t or int8_t");
  for (int m = 0; m < M; ++m) {
    const TA* a = A + size_t(m) * size_t(lda);
    for (int n = 0; n < N; ++n) {
      const int8_t* w = W + size_t(n) * size_t(ldw);
      int32_t acc = 0;
      for (int k = 0; k < K; ++k) acc += (int32_t(a[k]) - a_zp) * int32_t(w[k]);
      C[size_t(m) * size_t(ldc) + n] = apply_epilogue<TC>(acc, n, ep);
    }
  }
}

}  // namespace ref
}  // namespace qforge::kernels
