// kernels/x86/avx2/dwconv_block.hpp — depthwise NHWC convolution (any kernel size) on AVX2 (also used for
// AVX-VNNI CPUs: the multiply is 16-bit, so VNNI would not help this layout).
//
// Scheme: 8 channels per vector in natural order; each tap's bytes are widened to int32 lanes (vpmovzxbd /
// vpmovsxbd for int8) and multiplied with vpmaddwd against packed weights that hold w[c][t] in the low 16 bits
// of lane c (high half zero), so each lane gets exactly x·w; sums in int32. Zero point: Σ_t x·w − zp·Σ_t w with
// the second term folded into the per-channel bias; padding taps read a row of zero-point bytes.
//
// Contract: dw_block<TC, S8>(job, m0, m1) computes output pixels [m0, m1), bit for bit ref::qdwconv_nhwc, for
// weights packed by pack_dw_weights (kernels/qconv.hpp, layout "x8"). Never reads past a pixel's C channels.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <kernels/gemm_job.hpp>
#include <kernels/x86/avx2/qgemm_block.hpp>

namespace qforge::kernels::avx2 {

constexpr int kDwPixels = 2;  // output pixels per register tile
constexpr int kDwVecs = 4;    // 8-channel vectors per register tile (32 channels)

template <bool S8>
QF_AVX2_FN __m256i widen8(const uint8_t* p, int n) {  // n (1..8) bytes → 8 int32 lanes (zeros past n)
  __m128i b;
  if (n >= 8) {
    b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  } else {
    uint64_t v = 0;
    std::memcpy(&v, p, size_t(n));
    b = _mm_cvtsi64_si128(int64_t(v));
  }
  return S8 ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
}

// MR pixels × NVEC vectors (8 channels each) starting at channel c0, over all taps; `valid` channels from c0.
template <int MR, int NVEC, bool S8, class TC>
QF_AVX2_KERNEL void dw_tile(const uint8_t* const* rows, int taps, int c0, int valid, const int32_t* w, int C,
                            const DwJob& j, TC* y, int64_t ystride) {
  __m256i acc[MR][NVEC];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NVEC; ++v) acc[r][v] = _mm256_setzero_si256();
  const bool full = valid >= 8 * NVEC;
  for (int t = 0; t < taps; ++t) {
    const int32_t* wt = w + size_t(t) * (size_t(C + 7) / 8 * 8) + c0;
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const uint8_t* p = rows[r * taps + t] + c0;
#pragma GCC unroll 4
      for (int v = 0; v < NVEC; ++v) {
        const __m256i x = widen8<S8>(p + 8 * v, full ? 8 : valid - 8 * v);
        const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wt + 8 * v));
        acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(x, wv));
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NVEC; ++v) store8<TC>(acc[r][v], j, c0 + 8 * v, valid - 8 * v, y + r * ystride + 8 * v);
}

template <int MR, bool S8, class TC>
QF_AVX2_FN void dw_row(const uint8_t* const* rows, int taps, const int32_t* w, int C, const DwJob& j, TC* y) {
  int c0 = 0;
  for (; c0 + 8 * kDwVecs <= C; c0 += 8 * kDwVecs)
    dw_tile<MR, kDwVecs, S8, TC>(rows, taps, c0, 8 * kDwVecs, w, C, j, y + c0, C);
  for (; c0 < C; c0 += 8) dw_tile<MR, 1, S8, TC>(rows, taps, c0, C - c0, w, C, j, y + c0, C);
}

template <class TC, bool S8>
QF_AVX2_FN void dw_block(const DwJob& j, int m0, int m1) {
  const int C = j.C, taps = j.conv->kernel_h * j.conv->kernel_w;
  const int32_t* w = reinterpret_cast<const int32_t*>(j.w);
  TC* Y = static_cast<TC*>(j.y);
  std::vector<const uint8_t*> rows(size_t(kDwPixels) * size_t(taps));
  for (int m = m0; m < m1; m += kDwPixels) {
    const int mr = m1 - m < kDwPixels ? m1 - m : kDwPixels;
    j.conv->rows(m, mr, rows.data());
    if (mr == kDwPixels)
      dw_row<kDwPixels, S8, TC>(rows.data(), taps, w, C, j, Y + int64_t(m) * C);
    else
      dw_row<1, S8, TC>(rows.data(), taps, w, C, j, Y + int64_t(m) * C);
  }
}

}  // namespace qforge::kernels::avx2

#endif  // __x86_64__
