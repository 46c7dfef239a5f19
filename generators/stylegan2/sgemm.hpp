// generators/stylegan2/sgemm.hpp — the fp32 GEMM behind StyleGAN2's convolutions: weights packed once at load,
// activations read through a per-k row-offset table (so a KxK conv is ONE GEMM with K = I*k*k over the padded
// activation frames — an implicit im2col done by the B packing), runtime-dispatched register-tile kernels.
//
// Contract: C[i][j] (+)= sum_k A[i][k] * B(k, j), i < M, j < N, with B(k, j) = b[row_off[k] + j] and C row-major
// (leading dimension ldc). accumulate = false overwrites C. Kernels: avx512 (8 x 48 tile, zmm FMA), avx2 (6 x 16,
// ymm FMA), scalar (portable, 4 x 16); each SIMD function carries its own target attribute, so the header needs no
// -m flags, and best_sgemm_kind() picks the fastest one the CPU runs (cpu_features(), once). Every C element is
// summed by one thread in increasing k, in fixed K blocks of kKc, with one fused multiply-add per k (scalar: a
// plain multiply-add, which the compiler may or may not contract), so results do not depend on the thread count
// or N blocking; they differ between kinds by rounding only. Tails in M, N, K are handled (zero-padded packing,
// masked stores). threads: 0 = OpenMP default, 1 = serial; parallel over blocks of N.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "qforge/core/cpu.hpp"

namespace qforge::gen::sg2 {

enum class SgemmKind { scalar, avx2, avx512 };

inline const char* sgemm_kind_name(SgemmKind k) {
  return k == SgemmKind::scalar ? "scalar" : k == SgemmKind::avx2 ? "avx2" : "avx512";
}

inline bool sgemm_kind_available(SgemmKind k) {
  const CpuFeatures& f = cpu_features();
  switch (k) {
    case SgemmKind::scalar: return true;
    case SgemmKind::avx2: return f.avx2 && f.fma;
    case SgemmKind::avx512: return f.avx512f && f.fma;
  }
  return false;
}

inline SgemmKind best_sgemm_kind() {
  static const SgemmKind k = sgemm_kind_available(SgemmKind::avx512) ? SgemmKind::avx512
                             : sgemm_kind_available(SgemmKind::avx2) ? SgemmKind::avx2
                                                                     : SgemmKind::scalar;
  return k;
}

namespace sgemm_detail {

constexpr int64_t kKc = 256;  // K block
constexpr int64_t kNc = 480;  // N block (multiple of every NR): kKc x kNc packed B = 480 KiB, in L2

inline int mr_of(SgemmKind k) { return k == SgemmKind::avx512 ? 8 : k == SgemmKind::avx2 ? 6 : 4; }
inline int nr_of(SgemmKind k) { return k == SgemmKind::avx512 ? 48 : 16; }

// ------------------------------------------------------------------------------------------------ scalar
inline void micro_scalar(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, int mr, int nr,
                         bool add) {
  constexpr int MR = 4, NR = 16;
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* a = Ap + k * MR;
    const float* b = Bp + k * NR;
    for (int r = 0; r < MR; ++r)
      for (int c = 0; c < NR; ++c) acc[r][c] += a[r] * b[c];
  }
  for (int r = 0; r < mr; ++r) {
    float* cr = C + r * ldc;
    for (int c = 0; c < nr; ++c) cr[c] = add ? cr[c] + acc[r][c] : acc[r][c];
  }
}

#if defined(__x86_64__)
// ------------------------------------------------------------------------------------------------ avx2
#define QF_SG2_AVX2 __attribute__((target("avx2,fma"))) inline
QF_SG2_AVX2 __attribute__((noinline)) void micro_avx2(int64_t kc, const float* Ap, const float* Bp, float* C,
                                                       int64_t ldc, int mr, int nr, bool add) {
  constexpr int MR = 6;
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(Bp + k * 16), b1 = _mm256_loadu_ps(Bp + k * 16 + 8);
    const float* a = Ap + k * MR;
    __m256 x;
    x = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
  }
  alignas(32) float tile[MR][16];
  _mm256_store_ps(tile[0], c00); _mm256_store_ps(tile[0] + 8, c01);
  _mm256_store_ps(tile[1], c10); _mm256_store_ps(tile[1] + 8, c11);
  _mm256_store_ps(tile[2], c20); _mm256_store_ps(tile[2] + 8, c21);
  _mm256_store_ps(tile[3], c30); _mm256_store_ps(tile[3] + 8, c31);
  _mm256_store_ps(tile[4], c40); _mm256_store_ps(tile[4] + 8, c41);
  _mm256_store_ps(tile[5], c50); _mm256_store_ps(tile[5] + 8, c51);
  for (int r = 0; r < mr; ++r) {
    float* cr = C + r * ldc;
    if (nr == 16) {
      __m256 v0 = _mm256_load_ps(tile[r]), v1 = _mm256_load_ps(tile[r] + 8);
      if (add) {
        v0 = _mm256_add_ps(_mm256_loadu_ps(cr), v0);
        v1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), v1);
      }
      _mm256_storeu_ps(cr, v0);
      _mm256_storeu_ps(cr + 8, v1);
    } else {
      for (int c = 0; c < nr; ++c) cr[c] = add ? cr[c] + tile[r][c] : tile[r][c];
    }
  }
}

// ------------------------------------------------------------------------------------------------ avx512
#define QF_SG2_AVX512 __attribute__((target("avx512f,avx2,fma"))) inline
QF_SG2_AVX512 void store_row_avx512(float* cr, __m512 v0, __m512 v1, __m512 v2, int nr, bool add) {
  const __m512 vs[3] = {v0, v1, v2};
  for (int v = 0; v < 3; ++v) {
    const int cols = std::min(16, nr - 16 * v);
    if (cols <= 0) break;
    const __mmask16 m = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1u);
    __m512 x = vs[v];
    if (add) x = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cr + 16 * v), x);
    _mm512_mask_storeu_ps(cr + 16 * v, m, x);
  }
}

QF_SG2_AVX512 __attribute__((noinline)) void micro_avx512(int64_t kc, const float* Ap, const float* Bp, float* C,
                                                           int64_t ldc, int mr, int nr, bool add) {
  constexpr int MR = 8;
  __m512 c[MR][3];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) c[r][0] = c[r][1] = c[r][2] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(Bp + k * 48), b1 = _mm512_loadu_ps(Bp + k * 48 + 16),
                 b2 = _mm512_loadu_ps(Bp + k * 48 + 32);
    const float* a = Ap + k * MR;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r]);
      c[r][0] = _mm512_fmadd_ps(x, b0, c[r][0]);
      c[r][1] = _mm512_fmadd_ps(x, b1, c[r][1]);
      c[r][2] = _mm512_fmadd_ps(x, b2, c[r][2]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    if (r < mr) store_row_avx512(C + r * ldc, c[r][0], c[r][1], c[r][2], nr, add);
}
#endif

inline void micro(SgemmKind kind, int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, int mr, int nr,
                  bool add) {
#if defined(__x86_64__)
  if (kind == SgemmKind::avx512) return micro_avx512(kc, Ap, Bp, C, ldc, mr, nr, add);
  if (kind == SgemmKind::avx2) return micro_avx2(kc, Ap, Bp, C, ldc, mr, nr, add);
#endif
  micro_scalar(kc, Ap, Bp, C, ldc, mr, nr, add);
}

}  // namespace sgemm_detail

// A [M][K] packed once into panels of MR rows, k-major within a panel (rows past M are zero).
struct PackedA {
  SgemmKind kind = SgemmKind::scalar;
  int64_t M = 0, K = 0;
  int mr = 4;
  std::vector<float> data;  // panel p: data[p*K*mr + k*mr + r] = A[p*mr + r][k]

  // A(i, k) = a[i * lda + k]
  static PackedA pack(const float* a, int64_t M, int64_t K, int64_t lda, SgemmKind kind = best_sgemm_kind()) {
    PackedA p;
    p.kind = kind;
    p.M = M;
    p.K = K;
    p.mr = sgemm_detail::mr_of(kind);
    const int64_t panels = (M + p.mr - 1) / p.mr;
    p.data.assign(size_t(panels * K * p.mr), 0.f);
    for (int64_t i = 0; i < M; ++i) {
      float* d = p.data.data() + (i / p.mr) * K * p.mr + (i % p.mr);
      const float* s = a + i * lda;
      for (int64_t k = 0; k < K; ++k) d[k * p.mr] = s[k];
    }
    return p;
  }
};

// C[M][N] (+)= A . B with B(k, j) = b[row_off[k] + j].
inline void sgemm(const PackedA& A, int64_t N, const float* b, const int64_t* row_off, float* C, int64_t ldc,
                  bool accumulate, int threads = 1) {
  namespace d = sgemm_detail;
  const int64_t M = A.M, K = A.K;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.f);
    return;
  }
  const int mr = A.mr, nr = d::nr_of(A.kind);
  const int64_t nblocks = (N + d::kNc - 1) / d::kNc;
  auto run_block = [&](int64_t nb) {
    const int64_t j0 = nb * d::kNc, nc = std::min(d::kNc, N - j0);
    const int64_t panels = (nc + nr - 1) / nr;
    thread_local std::vector<float> bp;
    bp.resize(size_t(panels * nr * d::kKc));
    for (int64_t k0 = 0; k0 < K; k0 += d::kKc) {
      const int64_t kc = std::min(d::kKc, K - k0);
      // pack B[k0 .. k0+kc) x [j0 .. j0+nc) into panels of nr columns (k-major), zero past N
      for (int64_t p = 0; p < panels; ++p) {
        const int64_t jj = j0 + p * nr, cols = std::min<int64_t>(nr, N - jj);
        float* dst = bp.data() + p * kc * nr;
        for (int64_t k = 0; k < kc; ++k) {
          const float* src = b + row_off[k0 + k] + jj;
          float* o = dst + k * nr;
          std::memcpy(o, src, size_t(cols) * sizeof(float));
          if (cols < nr) std::memset(o + cols, 0, size_t(nr - cols) * sizeof(float));
        }
      }
      const bool add = accumulate || k0 > 0;
      for (int64_t i0 = 0; i0 < M; i0 += mr) {
        const float* ap = A.data.data() + (i0 / mr) * K * mr + k0 * mr;
        const int rows = int(std::min<int64_t>(mr, M - i0));
        for (int64_t p = 0; p < panels; ++p) {
          const int64_t jj = j0 + p * nr;
          d::micro(A.kind, kc, ap, bp.data() + p * kc * nr, C + i0 * ldc + jj, ldc, rows,
                   int(std::min<int64_t>(nr, N - jj)), add);
        }
      }
    }
  };
#if defined(_OPENMP)
  int nt = threads > 0 ? threads : omp_get_max_threads();
  if (nt > 1 && nblocks > 1 && double(M) * double(N) * double(K) > 1e6) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t nb = 0; nb < nblocks; ++nb) run_block(nb);
    return;
  }
#else
  (void)threads;
#endif
  for (int64_t nb = 0; nb < nblocks; ++nb) run_block(nb);
}

// Row offsets of a plain row-major B with leading dimension ldb.
inline std::vector<int64_t> dense_row_offsets(int64_t K, int64_t ldb) {
  std::vector<int64_t> r(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) r[size_t(k)] = k * ldb;
  return r;
}

}  // namespace qforge::gen::sg2
