// kernels/x86/avx512vnni/dwconv_block.hpp — depthwise NHWC convolution (any kernel size) on AVX-512 VNNI.
//
// Scheme: 64 channels per block and 4 accumulators per output pixel. A 64-byte load of tap t's channels starting
// at byte c0 + j (j = 0..3) puts channel c0 + 4i + j in the low byte of dword lane i; the packed weight vector
// (t, j) holds w[c0 + 4i + j][t] in that byte and zeros in the other three, so one vpdpbusd adds exactly the
// 16 products of channels c0 + 4i + j into accumulator j — no shuffles in the tap loop, 4 loads and 4 vpdpbusd
// per tap and 64 channels. The epilogue works on the accumulators in that (i, j) order with per-channel
// constants permuted the same way, then interleaves the four 16-byte results back to channel order.
// Zero point: Σ_t (x − zp)·w = Σ_t x·w − zp·Σ_t w, the second term folded into the per-channel bias; padding taps
// read a row of zero-point bytes. int8 activations are flipped to u8 with XOR 0x80 (zp + 128).
//
// Contract: dw_block<TC, S8>(job, m0, m1) computes output pixels [m0, m1) (all channels), bit for bit what
// ref::qdwconv_nhwc gives, for weights packed by pack_dw_weights (kernels/qconv.hpp, layout "x64"). The last
// channel block uses masked (fault-free) loads; other blocks read up to 3 bytes of the next block (× zero weights).
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <kernels/gemm_job.hpp>
#include <kernels/x86/avx512vnni/qgemm_block.hpp>

namespace qforge::kernels {

namespace avx512vnni {

constexpr int kDwPixels = 4;   // output pixels per register tile (4 × 4 accumulators)
constexpr int kDwBlock = 64;   // channels per block

// 64 results of one pixel and block, accumulator j lane i = channel 4i + j, into channel order.
template <class TC>
QF_AVX512VNNI_FN void dw_store(const __m512i acc[4], const int32_t* cb, const float* sc, const DwJob& j, int valid,
                               TC* y) {
  const __mmask16 all = 0xFFFF;
  if constexpr (std::is_same_v<TC, uint8_t> || std::is_same_v<TC, int8_t>) {
    __m128i q[4];
#pragma GCC unroll 4
    for (int jj = 0; jj < 4; ++jj) {
      const __m512i v = _mm512_add_epi32(acc[jj], _mm512_loadu_si512(cb + 16 * jj));
      __m512 x = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, v), _mm512_loadu_ps(sc + 16 * jj));
      x = _mm512_maskz_max_ps(all, x, _mm512_set1_ps(j.lo));
      x = _mm512_maskz_min_ps(all, x, _mm512_set1_ps(j.hi));
      const __m512i qi = _mm512_add_epi32(_mm512_maskz_cvtps_epi32(all, x), _mm512_set1_epi32(j.out_zp));
      q[jj] = std::is_same_v<TC, uint8_t> ? _mm512_maskz_cvtusepi32_epi8(all, qi) : _mm512_maskz_cvtsepi32_epi8(all, qi);
    }
    const __m128i a = _mm_unpacklo_epi8(q[0], q[1]), b = _mm_unpackhi_epi8(q[0], q[1]);
    const __m128i c = _mm_unpacklo_epi8(q[2], q[3]), d = _mm_unpackhi_epi8(q[2], q[3]);
    __m128i o[4] = {_mm_unpacklo_epi16(a, c), _mm_unpackhi_epi16(a, c), _mm_unpacklo_epi16(b, d),
                    _mm_unpackhi_epi16(b, d)};
    if (valid == 64) {
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 16 * k), o[k]);
    } else {
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const int n = valid - 16 * k;
        if (n <= 0) break;
        const __mmask16 mk = n >= 16 ? all : __mmask16((1u << n) - 1u);
        _mm_mask_storeu_epi8(y + 16 * k, mk, o[k]);
      }
    }
  } else {
    alignas(64) TC tmp[4][16];
#pragma GCC unroll 4
    for (int jj = 0; jj < 4; ++jj) {
      const __m512i v = _mm512_add_epi32(acc[jj], _mm512_loadu_si512(cb + 16 * jj));
      if constexpr (std::is_same_v<TC, int32_t>)
        _mm512_store_si512(tmp[jj], v);
      else
        _mm512_store_ps(tmp[jj], _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, v), _mm512_loadu_ps(sc + 16 * jj)));
    }
    for (int ch = 0; ch < valid; ++ch) y[ch] = tmp[ch & 3][ch >> 2];
  }
}

// MR output pixels × one 64-channel block over all taps. rows[r·taps + t] = tap t of pixel r (channel 0).
// `masked`: the last block of the row — loads are masked to the block's real channels (no read past the pixel).
template <int MR, bool S8, class TC>
QF_AVX512VNNI_KERNEL void dw_tile(const uint8_t* const* rows, int taps, int c0, int valid, bool masked,
                                  const int8_t* w, const int32_t* cb, const float* sc, const DwJob& j, TC* y,
                                  int64_t ystride) {
  __m512i acc[MR][4];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int jj = 0; jj < 4; ++jj) acc[r][jj] = _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi32(int32_t(0x80808080u));
  __mmask64 mk[4];
#pragma GCC unroll 4
  for (int jj = 0; jj < 4; ++jj) {
    const int n = valid - jj;  // bytes of this load that are real channels of the block
    mk[jj] = n >= 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1;
  }
  for (int t = 0; t < taps; ++t) {
    __m512i wv[4];
#pragma GCC unroll 4
    for (int jj = 0; jj < 4; ++jj) wv[jj] = _mm512_load_si512(w + (t * 4 + jj) * 64);
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      const uint8_t* p = rows[r * taps + t] + c0;
#pragma GCC unroll 4
      for (int jj = 0; jj < 4; ++jj) {
        __m512i x = masked ? _mm512_maskz_loadu_epi8(mk[jj], p + jj) : _mm512_loadu_si512(p + jj);
        if constexpr (S8) x = _mm512_xor_si512(x, flip);
        acc[r][jj] = _mm512_dpbusd_epi32(acc[r][jj], x, wv[jj]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) dw_store<TC>(acc[r], cb, sc, j, valid, y + r * ystride);
}

// Output pixels [m0, m1) of the job.
template <class TC, bool S8>
QF_AVX512VNNI_FN void dw_block(const DwJob& j, int m0, int m1) {
  const int C = j.C, taps = j.conv->kernel_h * j.conv->kernel_w;
  const int nblk = (C + kDwBlock - 1) / kDwBlock;
  // Per-channel constants in the accumulator order: entry blk·64 + 16·jj + i is channel blk·64 + 4i + jj.
  std::vector<int32_t> cb(size_t(nblk) * kDwBlock, 0);
  std::vector<float> sc(size_t(nblk) * kDwBlock, 1.0f);
  for (int b = 0; b < nblk; ++b)
    for (int jj = 0; jj < 4; ++jj)
      for (int i = 0; i < 16; ++i) {
        const int ch = b * kDwBlock + 4 * i + jj;
        if (ch >= C) continue;
        cb[size_t(b) * kDwBlock + 16 * jj + i] = j.cbias[ch];
        if (j.scale) sc[size_t(b) * kDwBlock + 16 * jj + i] = j.scale[ch];
      }
  TC* Y = static_cast<TC*>(j.y);
  std::vector<const uint8_t*> rows(size_t(kDwPixels) * size_t(taps));
  const size_t wblk = size_t(taps) * 4 * 64;
  for (int m = m0; m < m1; m += kDwPixels) {
    const int mr = m1 - m < kDwPixels ? m1 - m : kDwPixels;
    j.conv->rows(m, mr, rows.data());
    for (int b = 0; b < nblk; ++b) {
      const int c0 = b * kDwBlock, valid = C - c0 < kDwBlock ? C - c0 : kDwBlock;
      const bool masked = b == nblk - 1;
      const int8_t* w = j.w + size_t(b) * wblk;
      const int32_t* cbb = cb.data() + size_t(b) * kDwBlock;
      const float* scb = sc.data() + size_t(b) * kDwBlock;
      TC* y = Y + int64_t(m) * C + c0;
      switch (mr) {
        case 1: dw_tile<1, S8, TC>(rows.data(), taps, c0, valid, masked, w, cbb, scb, j, y, C); break;
        case 2: dw_tile<2, S8, TC>(rows.data(), taps, c0, valid, masked, w, cbb, scb, j, y, C); break;
        case 3: dw_tile<3, S8, TC>(rows.data(), taps, c0, valid, masked, w, cbb, scb, j, y, C); break;
        default: dw_tile<4, S8, TC>(rows.data(), taps, c0, valid, masked, w, cbb, scb, j, y, C); break;
      }
    }
  }
}

}  // namespace avx512vnni
}  // namespace qforge::kernels

#endif  // __x86_64__
