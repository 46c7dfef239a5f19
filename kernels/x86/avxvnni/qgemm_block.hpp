// kernels/x86/avxvnni/qgemm_block.hpp — u8×s8 GEMM micro-kernels on AVX-VNNI (VEX vpdpbusd ymm), for CPUs with
// AVX-VNNI but no AVX-512 (and as a 256-bit variant where AVX-512 exists).
//
// Contract: block<TC, S8>(job, m0, m1, p0, p1) computes rows [m0, m1) × panels [p0, p1) of a GemmJob whose
// weights were packed for Isa::avxvnni (panels of 24 columns, K in groups of 4 bytes per column), bit for bit
// what ref::qgemm gives. Register tile: up to 4 rows × 3 ymm (24 columns) of int32 accumulators over the whole K
// loop; int8 activations flipped to u8 with XOR 0x80; batch-1 rows run 4 panels at once. Uses only AVX2 +
// AVX-VNNI instructions (no AVX-512): column tails go through vpmaskmovd or a small buffer.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <kernels/gemm_job.hpp>

#define QF_AVXVNNI_FN __attribute__((target("avx2,fma,avxvnni,bmi,bmi2,lzcnt,popcnt"))) inline
// Register-tile kernels are never inlined into their callers: inlined into the block loop, GCC spills the
// accumulators.
#define QF_AVXVNNI_KERNEL QF_AVXVNNI_FN __attribute__((noinline))

namespace qforge::kernels::avxvnni {

constexpr int kMR = 4;
constexpr int kNV = 3;
constexpr int kGemvPanels = 4;

QF_AVXVNNI_FN __m256i tail_mask(int valid) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), idx);
}

// Epilogue of one vector of 8 columns (n .. n+7, `valid` of them real) of one output row.
template <class TC>
QF_AVXVNNI_FN void store8(__m256i acc, const GemmJob& j, int n, int valid, TC* c) {
  const bool full = valid >= 8;
  const __m256i mk = full ? _mm256_set1_epi32(-1) : tail_mask(valid);
  const __m256i v = _mm256_add_epi32(acc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(j.cbias + n)));
  if constexpr (std::is_same_v<TC, int32_t>) {
    if (full)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c), v);
    else
      _mm256_maskstore_epi32(reinterpret_cast<int*>(c), mk, v);
  } else {
    const __m256 s = j.scale ? (full ? _mm256_loadu_ps(j.scale + n) : _mm256_maskload_ps(j.scale + n, mk))
                             : _mm256_set1_ps(1.0f);
    __m256 x = _mm256_mul_ps(_mm256_cvtepi32_ps(v), s);
    if constexpr (std::is_same_v<TC, float>) {
      if (full)
        _mm256_storeu_ps(c, x);
      else
        _mm256_maskstore_ps(c, mk, x);
    } else {
      x = _mm256_max_ps(x, _mm256_set1_ps(j.lo));  // NaN → lo, like the reference
      x = _mm256_min_ps(x, _mm256_set1_ps(j.hi));
      const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(x), _mm256_set1_epi32(j.out_zp));
      const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
      const __m128i q8 = std::is_same_v<TC, uint8_t> ? _mm_packus_epi16(q16, q16) : _mm_packs_epi16(q16, q16);
      if (full) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(c), q8);
      } else {
        alignas(16) uint8_t buf[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(buf), q8);
        std::memcpy(c, buf, size_t(valid));
      }
    }
  }
}

QF_AVXVNNI_FN int32_t load4(const uint8_t* p) {
  int32_t x;
  std::memcpy(&x, p, 4);
  return x;
}
QF_AVXVNNI_FN int32_t load_partial(const uint8_t* p, int n) {
  uint32_t x = 0;
  std::memcpy(&x, p, size_t(n));
  return int32_t(x);
}

template <int MR, int NV, bool S8, class TC>
QF_AVXVNNI_KERNEL void tile(const uint8_t* const* rows, int taps, int seg, const int8_t* w, const GemmJob& j, int n0,
                        int valid, TC* c, int64_t ldc) {
  __m256i acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_si256();
  const __m256i flip = _mm256_set1_epi32(int32_t(0x80808080u));
  const int seg4 = seg & ~3, tail = seg & 3;
  for (int t = 0; t < taps; ++t) {
    const uint8_t* a[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) a[r] = rows[r * taps + t];
    for (int k = 0; k < seg4; k += 4) {
      __m256i b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) b[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32 * v));
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        __m256i av = _mm256_set1_epi32(load4(a[r] + k));
        if constexpr (S8) av = _mm256_xor_si256(av, flip);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_dpbusd_avx_epi32(acc[r][v], av, b[v]);
      }
      w += 32 * NV;
    }
    if (tail) {
      __m256i b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) b[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32 * v));
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        __m256i av = _mm256_set1_epi32(load_partial(a[r] + seg4, tail));
        if constexpr (S8) av = _mm256_xor_si256(av, flip);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_dpbusd_avx_epi32(acc[r][v], av, b[v]);
      }
      w += 32 * NV;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) store8<TC>(acc[r][v], j, n0 + 8 * v, valid - 8 * v, c + r * ldc + 8 * v);
}

template <int P, bool S8, class TC>
QF_AVXVNNI_KERNEL void gemv_tile(const uint8_t* a, int seg, const int8_t* w, size_t pstride, const GemmJob& j, int n0,
                             TC* c) {
  __m256i acc[P][kNV];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) acc[p][v] = _mm256_setzero_si256();
  const __m256i flip = _mm256_set1_epi32(int32_t(0x80808080u));
  const int seg4 = seg & ~3, tail = seg & 3;
  for (int k = 0; k < seg4 + (tail ? 4 : 0); k += 4) {
    __m256i av = _mm256_set1_epi32(k < seg4 ? load4(a + k) : load_partial(a + k, tail));
    if constexpr (S8) av = _mm256_xor_si256(av, flip);
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v)
        acc[p][v] = _mm256_dpbusd_avx_epi32(
            acc[p][v], av, _mm256_load_si256(reinterpret_cast<const __m256i*>(w + p * pstride + 32 * v)));
    w += 32 * kNV;
  }
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) store8<TC>(acc[p][v], j, n0 + 24 * p + 8 * v, 8, c + 24 * p + 8 * v);
}

template <int MR, bool S8, class TC>
QF_AVXVNNI_FN void tile_nv(int nv, const uint8_t* const* rows, int taps, int seg, const int8_t* w,
                           const GemmJob& j, int n0, int valid, TC* c, int64_t ldc) {
  switch (nv) {
    case 1: tile<MR, 1, S8, TC>(rows, taps, seg, w, j, n0, valid, c, ldc); break;
    case 2: tile<MR, 2, S8, TC>(rows, taps, seg, w, j, n0, valid, c, ldc); break;
    default: tile<MR, 3, S8, TC>(rows, taps, seg, w, j, n0, valid, c, ldc); break;
  }
}

template <class TC, bool S8>
QF_AVXVNNI_FN void block(const GemmJob& j, int m0, int m1, int p0, int p1) {
  const PackedWeights& W = *j.W;
  const int taps = W.taps, seg = W.seg, nr = W.layout.nr;
  TC* C = static_cast<TC*>(j.C);
  if (m1 - m0 == 1 && taps == 1) {
    const uint8_t* a = nullptr;  // via rows(): a 1×1 strided conv comes here too (a one-row chunk), with A unset
    j.rows(m0, 1, &a);
    TC* c = C + int64_t(m0) * j.ldc;
    const size_t pstride = size_t(nr) * size_t(W.kp);
    int p = p0;
    for (; p + kGemvPanels <= p1 && W.panel_valid(p + kGemvPanels - 1) == nr; p += kGemvPanels)
      gemv_tile<kGemvPanels, S8, TC>(a, seg, W.panel(p), pstride, j, p * nr, c + p * nr);
    for (; p < p1; ++p) {
      const uint8_t* rows[1] = {a};
      tile_nv<1, S8, TC>(W.panel_cols(p) / 8, rows, 1, seg, W.panel(p), j, p * nr, W.panel_valid(p), c + p * nr,
                         j.ldc);
    }
    return;
  }
  std::vector<const uint8_t*> rows(size_t(kMR) * size_t(taps));
  // Same traversal as the AVX-512 kernels: L2-sized panel groups, row tile outer, panels inner.
  const size_t panel_bytes = size_t(nr) * size_t(W.kp);
  const int group = std::max(1, int((512 * 1024) / panel_bytes));
  for (int g0 = p0; g0 < p1; g0 += group) {
    const int g1 = std::min(p1, g0 + group);
    for (int m = m0; m < m1; m += kMR) {
      const int mr = m1 - m < kMR ? m1 - m : kMR;
      j.rows(m, mr, rows.data());
      for (int p = g0; p < g1; ++p) {
        const int8_t* wp = W.panel(p);
        const int nv = W.panel_cols(p) / 8, valid = W.panel_valid(p), n0 = p * nr;
        TC* c = C + int64_t(m) * j.ldc + n0;
        switch (mr) {
          case 1: tile_nv<1, S8, TC>(nv, rows.data(), taps, seg, wp, j, n0, valid, c, j.ldc); break;
          case 2: tile_nv<2, S8, TC>(nv, rows.data(), taps, seg, wp, j, n0, valid, c, j.ldc); break;
          case 3: tile_nv<3, S8, TC>(nv, rows.data(), taps, seg, wp, j, n0, valid, c, j.ldc); break;
          default: tile_nv<4, S8, TC>(nv, rows.data(), taps, seg, wp, j, n0, valid, c, j.ldc); break;
        }
      }
    }
  }
}

}  // namespace qforge::kernels::avxvnni

#endif  // __x86_64__
