// kernels/ref/f32_gemm_ref.hpp — scalar truth for the fp32 GEMM (kernels/f32_gemm.hpp).
//
// Contract: C[i,j] (+)= sum_k A(i,k) * B(k,j), with A(i,k) = A[i*rsa + k*csa] and B(k,j) = B[k*rsb + j*csb]
// (general strides, so transposed operands need no copy) and C row-major with leading dimension ldc.
// accumulate = false overwrites C, true adds to it. The sum runs over k in increasing order in float.
// M, N or K may be 0 (K = 0 gives C = 0, or C unchanged when accumulating).
#pragma once
#include <cstdint>

namespace qforge::kernels::ref {

inline void f32_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B,
                     int64_t rsb, int64_t csb, float* C, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float s = 0.f;
      for (int64_t k = 0; k < K; ++k) s += A[i * rsa + k * csa] * B[k * rsb + j * csb];
      C[i * ldc + j] = accumulate ? C[i * ldc + j] + s : s;
    }
}

}  // namespace qforge::kernels::ref
