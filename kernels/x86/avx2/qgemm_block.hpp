// kernels/x86/avx2/qgemm_block.hpp — exact u8/s8 × s8 GEMM micro-kernels on plain AVX2 (no VNNI).
//
// Why not vpmaddubsw: it adds two u8×s8 products in a saturating int16, and 255·(−128)·2 does not fit, so the
// usual AVX2 int8 scheme is wrong for full-range operands. Here both operands are 16-bit: A is packed per row
// tile as (A − a_zp) in int16 (range [−255, 255]), W is packed sign-extended to int16, and vpmaddwd adds two
// products of at most 255·128 = 32,640 each into int32 — exact for every input, and no zero-point column sums
// are needed. It costs some speed: 16 MAC per vpmaddwd + vpaddd against 32 per vpmaddubsw + vpmaddwd + vpaddd;
// bench/bm_isa_peaks measures the two ceilings on this core at ~200 and ~229 GOPS (docs/kernels.md).
//
// Contract: block<TC, S8>(job, m0, m1, p0, p1) computes rows [m0, m1) × panels [p0, p1) of a GemmJob whose
// weights were packed for Isa::avx2 (panels of 24 columns, K pairs of int16 per column), bit for bit what
// ref::qgemm gives. Register tile: up to 4 rows × 3 ymm (24 columns); batch-1 rows run 4 panels at once.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <kernels/block_loops.hpp>
#include <kernels/gemm_job.hpp>

#define QF_AVX2_FN __attribute__((target("avx2,fma,bmi,bmi2,lzcnt,popcnt"))) inline
// Register-tile kernels are never inlined into their callers: inlined into the block loop, GCC spills the
// accumulators.
#define QF_AVX2_KERNEL QF_AVX2_FN __attribute__((noinline))

namespace qforge::kernels::avx2 {

constexpr int kMR = 4;
constexpr int kNV = 3;
constexpr int kGemvPanels = 4;

QF_AVX2_FN __m256i tail_mask(int valid) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), idx);
}

// Epilogue of one vector of 8 columns (n .. n+7, `valid` of them real) of one output row. J: GemmJob or DwJob.
template <class TC, class J>
QF_AVX2_FN void store8(__m256i acc, const J& j, int n, int valid, TC* c) {
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

// Packs mr rows (taps segments of seg bytes each) as int16 (A − zp), row r at out + r·kp, K index t·seg_pad + s,
// zeros in the padding.
template <bool S8>
QF_AVX2_FN void pack_rows(const uint8_t* const* rows, int mr, int taps, int seg, int seg_pad, int kp, int32_t zp,
                          int16_t* out) {
  const __m256i vzp = _mm256_set1_epi16(int16_t(zp));
  for (int r = 0; r < mr; ++r) {
    int16_t* d = out + size_t(r) * size_t(kp);
    for (int t = 0; t < taps; ++t) {
      const uint8_t* s = rows[r * taps + t];
      int16_t* dt = d + size_t(t) * size_t(seg_pad);
      int k = 0;
      for (; k + 16 <= seg; k += 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + k));
        const __m256i y = S8 ? _mm256_cvtepi8_epi16(x) : _mm256_cvtepu8_epi16(x);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dt + k), _mm256_sub_epi16(y, vzp));
      }
      for (; k < seg; ++k) dt[k] = int16_t((S8 ? int32_t(int8_t(s[k])) : int32_t(s[k])) - zp);
      for (; k < seg_pad; ++k) dt[k] = 0;
    }
    for (int k = taps * seg_pad; k < kp; ++k) d[k] = 0;
  }
}

// acc += vpmaddwd(a, *w). Written as one asm statement so the compiler keeps madd and add together: left to
// itself GCC 12 issues all madds of a step first and spills the accumulators (a 4×3 tile then runs at half speed).
QF_AVX2_FN void madd_acc(__m256i& acc, __m256i a, const int16_t* w) {
#if defined(__GNUC__)
  __m256i t;
  __asm__("vpmaddwd %[b], %[a], %[t]\n\tvpaddd %[t], %[c], %[c]"
          : [c] "+x"(acc), [t] "=&x"(t)
          : [a] "x"(a), [b] "m"(*reinterpret_cast<const __m256i*>(w)));
#else
  acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(w))));
#endif
}

QF_AVX2_FN int32_t load4(const int16_t* p) {
  int32_t x;
  std::memcpy(&x, p, 4);
  return x;
}

// MR packed rows (stride kp int16) × NV ymm columns over the whole K.
template <int MR, int NV, class TC>
QF_AVX2_KERNEL void tile(const int16_t* a, int kp, const int8_t* w8, const GemmJob& j, int n0, int valid, TC* c,
                     int64_t ldc) {
  __m256i acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_si256();
  const int16_t* w = reinterpret_cast<const int16_t*>(w8);
  for (int k = 0; k < kp; k += 2) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256i av = _mm256_set1_epi32(load4(a + size_t(r) * size_t(kp) + k));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) madd_acc(acc[r][v], av, w + 16 * v);
    }
    w += 16 * NV;
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) store8<TC>(acc[r][v], j, n0 + 8 * v, valid - 8 * v, c + r * ldc + 8 * v);
}

// One packed row against P full panels (pstride bytes apart).
template <int P, class TC>
QF_AVX2_KERNEL void gemv_tile(const int16_t* a, int kp, const int8_t* w8, size_t pstride, const GemmJob& j, int n0,
                          TC* c) {
  __m256i acc[P][kNV];
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) acc[p][v] = _mm256_setzero_si256();
  for (int k = 0; k < kp; k += 2) {
    const __m256i av = _mm256_set1_epi32(load4(a + k));
    const int8_t* wk = w8 + size_t(k) * 24 * 2;
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) madd_acc(acc[p][v], av, reinterpret_cast<const int16_t*>(wk + p * pstride + 32 * v));
  }
#pragma GCC unroll 8
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) store8<TC>(acc[p][v], j, n0 + 24 * p + 8 * v, 8, c + 24 * p + 8 * v);
}

template <class TC, bool S8>
QF_AVX2_FN void block(const GemmJob& j, int m0, int m1, int p0, int p1) {
  const PackedWeights& W = *j.W;
  const int taps = W.taps, seg = W.seg, nr = W.layout.nr, kp = W.kp;
  TC* C = static_cast<TC*>(j.C);
  std::vector<const uint8_t*> rows(size_t(kMR) * size_t(taps));
  std::vector<int16_t> abuf(size_t(kMR) * size_t(kp) + 16);
  const size_t panel_bytes = size_t(nr) * size_t(kp) * 2;  // int16 weights
  auto run = [&](int mr, int p, TC* c) {
    with_tile<kMR, kNV>(mr, W.panel_cols(p) / 8, [&](auto r, auto v) {
      tile<r.value, v.value, TC>(abuf.data(), kp, W.panel(p), j, p * nr, W.panel_valid(p), c, j.ldc);
    });
  };
  if (m1 - m0 == 1) {
    j.rows(m0, 1, rows.data());
    pack_rows<S8>(rows.data(), 1, taps, seg, W.seg_pad, kp, j.a_zp, abuf.data());
    TC* c = C + int64_t(m0) * j.ldc;
    gemv_panels<kGemvPanels>(
        W, p0, p1,
        [&](int p) { gemv_tile<kGemvPanels, TC>(abuf.data(), kp, W.panel(p), panel_bytes, j, p * nr, c + p * nr); },
        [&](int p) { run(1, p, c + p * nr); });
    return;
  }
  row_tiles(
      m0, m1, p0, p1, kMR, l2_panel_group(panel_bytes),
      [&](int m, int mr) {
        j.rows(m, mr, rows.data());
        pack_rows<S8>(rows.data(), mr, taps, seg, W.seg_pad, kp, j.a_zp, abuf.data());
      },
      [&](int m, int mr, int p) { run(mr, p, C + int64_t(m) * j.ldc + p * nr); });
}

}  // namespace qforge::kernels::avx2

#endif  // __x86_64__
