// kernels/x86/f32_micro.hpp — fp32 GEMM micro-kernels for AVX-512F (6 x 32 tile) and AVX2+FMA (6 x 16), compiled
// with function target attributes and chosen at run time (kernels/f32_gemm.hpp), so a generic x86-64 build runs
// fp32 at the speed of the CPU it lands on instead of at SSE2's (xsimd's width is fixed at compile time).
//
// Contract (both): acc = Σ_k A(r, k) · Bp[k·NR + c] over kc with A(r, k) = Ap[r·ars + k·aks] (packed A: ars = 1,
// aks = 6; A read in place: its row stride and 1), rows r < mr only (a tile of R < 6 rows runs an R-row kernel, with
// the same per-element arithmetic), one fused multiply-add per k in increasing k order
// (deterministic); then C[r·ldc + c] = (add ? C + acc : acc) for r < mr, c < nr. Ap/Bp are packed by f32_gemm.hpp.
#pragma once
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <cstdint>

#define QF_F32_AVX512_FN __attribute__((target("avx512f,fma"))) inline
#define QF_F32_AVX2_FN __attribute__((target("avx2,fma"))) inline

namespace qforge::kernels::x86f32 {

constexpr int kMr = 6;

// Copies the first mr x nr of a full tile into C (add or overwrite): the edge tiles.
inline void store_partial(const float* tile, int tile_ld, float* C, int64_t ldc, int64_t mr, int64_t nr, bool add) {
  for (int64_t r = 0; r < mr; ++r) {
    float* c = C + r * ldc;
    const float* t = tile + r * tile_ld;
    if (add) {
      for (int64_t j = 0; j < nr; ++j) c[j] += t[j];
    } else {
      for (int64_t j = 0; j < nr; ++j) c[j] = t[j];
    }
  }
}

template <int R>
QF_F32_AVX512_FN void micro_avx512_rows(int64_t kc, const float* Ap, int64_t ars, int64_t aks, const float* Bp, float* C, int64_t ldc, int64_t mr,
                                   int64_t nr, bool add) {
  constexpr int kNr = 32;
  __m512 acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(Bp + k * kNr), b1 = _mm512_loadu_ps(Bp + k * kNr + 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(Ap[r * ars + k * aks]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  if (mr == R && nr == kNr) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      float* c = C + r * ldc;
      if (add) {
        acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(c));
        acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(c + 16));
      }
      _mm512_storeu_ps(c, acc[r][0]);
      _mm512_storeu_ps(c + 16, acc[r][1]);
    }
    return;
  }
  alignas(64) float tile[R * kNr];
  for (int r = 0; r < R; ++r) {
    _mm512_store_ps(tile + r * kNr, acc[r][0]);
    _mm512_store_ps(tile + r * kNr + 16, acc[r][1]);
  }
  store_partial(tile, kNr, C, ldc, mr, nr, add);
}

// The avx512 micro-kernel: dispatches on the tile's row count so a thin tile runs only the rows it has.
QF_F32_AVX512_FN void micro_avx512(int64_t kc, const float* Ap, int64_t ars, int64_t aks, const float* Bp, float* C, int64_t ldc, int64_t mr,
                                   int64_t nr, bool add) {
  switch (mr) {
    case 1: return micro_avx512_rows<1>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    case 2: return micro_avx512_rows<2>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    case 3: return micro_avx512_rows<3>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    case 4: return micro_avx512_rows<4>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    case 5: return micro_avx512_rows<5>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    default: return micro_avx512_rows<kMr>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
  }
}

template <int R>
QF_F32_AVX2_FN void micro_avx2_rows(int64_t kc, const float* Ap, int64_t ars, int64_t aks, const float* Bp, float* C, int64_t ldc, int64_t mr,
                               int64_t nr, bool add) {
  constexpr int kNr = 16;
  __m256 acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(Bp + k * kNr), b1 = _mm256_loadu_ps(Bp + k * kNr + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_set1_ps(Ap[r * ars + k * aks]);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  if (mr == R && nr == kNr) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      float* c = C + r * ldc;
      if (add) {
        acc[r][0] = _mm256_add_ps(acc[r][0], _mm256_loadu_ps(c));
        acc[r][1] = _mm256_add_ps(acc[r][1], _mm256_loadu_ps(c + 8));
      }
      _mm256_storeu_ps(c, acc[r][0]);
      _mm256_storeu_ps(c + 8, acc[r][1]);
    }
    return;
  }
  alignas(32) float tile[R * kNr];
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(tile + r * kNr, acc[r][0]);
    _mm256_store_ps(tile + r * kNr + 8, acc[r][1]);
  }
  store_partial(tile, kNr, C, ldc, mr, nr, add);
}

// The avx2 micro-kernel: dispatches on the tile's row count so a thin tile runs only the rows it has.
QF_F32_AVX2_FN void micro_avx2(int64_t kc, const float* Ap, int64_t ars, int64_t aks, const float* Bp, float* C, int64_t ldc, int64_t mr,
                                   int64_t nr, bool add) {
  switch (mr) {
    case 1: return micro_avx2_rows<1>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    case 2: return micro_avx2_rows<2>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    case 3: return micro_avx2_rows<3>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    case 4: return micro_avx2_rows<4>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    case 5: return micro_avx2_rows<5>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
    default: return micro_avx2_rows<kMr>(kc, Ap, ars, aks, Bp, C, ldc, mr, nr, add);
  }
}

}  // namespace qforge::kernels::x86f32

#endif  // __x86_64__
