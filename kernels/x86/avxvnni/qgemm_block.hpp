// kernels/x86/avxvnni/qgemm_block.hpp — u8×s8 GEMM micro-kernels on AVX-VNNI (VEX vpdpbusd ymm), for CPUs with
// AVX-VNNI but no AVX-512 (and as a 256-bit variant where AVX-512 exists).
//
// Contract: block<TC, S8>(job, m0, m1, p0, p1) computes rows [m0, m1) × panels [p0, p1) of a GemmJob whose
// weights were packed for Isa::avxvnni (panels of 24 columns, K in groups of 4 bytes per column), bit for bit
// what ref::qgemm gives. Register tile: up to 4 rows × 3 ymm (24 columns) of int32 accumulators over the whole K
// loop; int8 activations flipped to u8 with XOR 0x80; batch-1 rows run 4 panels at once. Uses only AVX2 +
// AVX-VNNI instructions (no AVX-512): the epilogue is the AVX2 kernels' avx2::store8 (its target features are a
// subset of these, so it inlines), column tails go through vpmaskmovd or a small buffer.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include <kernels/block_loops.hpp>
#include <kernels/gemm_job.hpp>
#include <kernels/x86/avx2/qgemm_block.hpp>

#if defined(QFORGE_AVXVNNI_AS_EVEX)
// Test builds only (scripts/test_avxvnni_evex.sh): the same ymm vpdpbusd in its EVEX encoding (AVX512_VNNI +
// AVX512VL, same semantics), so that these kernels run on an AVX-512 VNNI CPU without AVX-VNNI.
#define QF_AVXVNNI_FN __attribute__((target("avx2,fma,avx512f,avx512vl,avx512vnni,bmi,bmi2,lzcnt,popcnt"))) inline
#define QF_DPBUSD_YMM _mm256_dpbusd_epi32
#else
#define QF_AVXVNNI_FN __attribute__((target("avx2,fma,avxvnni,bmi,bmi2,lzcnt,popcnt"))) inline
#define QF_DPBUSD_YMM _mm256_dpbusd_avx_epi32
#endif
// Register-tile kernels are never inlined, as QF_AVX2_KERNEL (GCC would spill the accumulators).
#define QF_AVXVNNI_KERNEL QF_AVXVNNI_FN __attribute__((noinline))

namespace qforge::kernels::avxvnni {

// The AVX2 kernels' register tile and panel width: 12 ymm accumulators, 3 weight vectors, 1 broadcast of A.
constexpr int kMR = avx2::kMR;
constexpr int kNV = avx2::kNV;
constexpr int kGemvPanels = avx2::kGemvPanels;

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
        for (int v = 0; v < NV; ++v) acc[r][v] = QF_DPBUSD_YMM(acc[r][v], av, b[v]);
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
        for (int v = 0; v < NV; ++v) acc[r][v] = QF_DPBUSD_YMM(acc[r][v], av, b[v]);
      }
      w += 32 * NV;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) avx2::store8<TC>(acc[r][v], j, n0 + 8 * v, valid - 8 * v, c + r * ldc + 8 * v);
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
        acc[p][v] = QF_DPBUSD_YMM(
            acc[p][v], av, _mm256_load_si256(reinterpret_cast<const __m256i*>(w + p * pstride + 32 * v)));
    w += 32 * kNV;
  }
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) avx2::store8<TC>(acc[p][v], j, n0 + 24 * p + 8 * v, 8, c + 24 * p + 8 * v);
}

template <class TC, bool S8>
QF_AVXVNNI_FN void block(const GemmJob& j, int m0, int m1, int p0, int p1) {
  const PackedWeights& W = *j.W;
  if (m1 - m0 == 1 && W.taps == 1) {
    gemv_row<kGemvPanels, TC>(
        j, m0, p0, p1, [](const auto&... a) { gemv_tile<kGemvPanels, S8, TC>(a...); },
        [&](const uint8_t* a, int p, TC* c) {
          const uint8_t* rows[1] = {a};
          with_count<1, kNV>(W.panel_cols(p) / 8, [&](auto v) {
            tile<1, v.value, S8, TC>(rows, 1, W.seg, W.panel(p), j, p * W.layout.nr, W.panel_valid(p), c, j.ldc);
          });
        });
    return;
  }
  // Same traversal as the AVX-512 kernels: L2-sized panel groups, row tile outer, panels inner.
  byte_row_tiles<kMR, kNV, 8, TC>(j, m0, m1, p0, p1, l2_panel_group(size_t(W.layout.nr) * size_t(W.kp)),
                                  [](auto r, auto v, const auto&... a) { tile<r.value, v.value, S8, TC>(a...); });
}

}  // namespace qforge::kernels::avxvnni

#endif  // __x86_64__
