// kernels/arm/neon/dwconv_block.hpp — depthwise NHWC convolution (any kernel size) on baseline AArch64 NEON
// (used by the dotprod CPUs too: depthwise has no K dimension for sdot to reduce over).
//
// Scheme: 16 channels per step in natural order; each tap's bytes are widened to int16 (zero- or sign-extended)
// and vmlal_s16 multiplies them with int16 weights into four int32x4 accumulators — exact. Zero point:
// Σ_t x·w − zp·Σ_t w, the second term folded into the per-channel bias; padding taps read zero-point bytes.
//
// Contract: dw_block<TC, S8>(job, m0, m1) computes output pixels [m0, m1), bit for bit ref::qdwconv_nhwc, for
// weights packed by pack_conv_weights (kernels/qconv.hpp, layout n16). Never reads past a pixel's C channels.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <kernels/arm/neon/qgemm_block.hpp>
#include <kernels/gemm_job.hpp>

namespace qforge::kernels::neon {

constexpr int kDwPixels = 2;

template <bool S8>
inline void widen16(const uint8_t* p, int n, int16x8_t& lo, int16x8_t& hi) {  // n (1..16) bytes, zeros past n
  uint8x16_t b;
  if (n >= 16) {
    b = vld1q_u8(p);
  } else {
    uint8_t t[16] = {0};
    std::memcpy(t, p, size_t(n));
    b = vld1q_u8(t);
  }
  if constexpr (S8) {
    const int8x16_t s = vreinterpretq_s8_u8(b);
    lo = vmovl_s8(vget_low_s8(s));
    hi = vmovl_high_s8(s);
  } else {
    lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(b)));
    hi = vreinterpretq_s16_u16(vmovl_high_u8(b));
  }
}

template <int MR, bool S8, class TC>
__attribute__((noinline)) void dw_tile(const uint8_t* const* rows, int taps, int c0, int valid, const int16_t* w,
                                       size_t cp, const DwJob& j, TC* y, int64_t ystride) {
  int32x4_t acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < 4; ++q) acc[r][q] = vdupq_n_s32(0);
  for (int t = 0; t < taps; ++t) {
    const int16_t* wt = w + size_t(t) * cp + c0;
    const int16x8_t w0 = vld1q_s16(wt), w1 = vld1q_s16(wt + 8);
    for (int r = 0; r < MR; ++r) {
      int16x8_t lo, hi;
      widen16<S8>(rows[r * taps + t] + c0, valid, lo, hi);
      acc[r][0] = vmlal_s16(acc[r][0], vget_low_s16(lo), vget_low_s16(w0));
      acc[r][1] = vmlal_high_s16(acc[r][1], lo, w0);
      acc[r][2] = vmlal_s16(acc[r][2], vget_low_s16(hi), vget_low_s16(w1));
      acc[r][3] = vmlal_high_s16(acc[r][3], hi, w1);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < 4 && 4 * q < valid; ++q)
      store4<TC>(acc[r][q], j, c0 + 4 * q, valid - 4 * q, y + r * ystride + 4 * q);
}

template <class TC, bool S8>
inline void dw_block(const DwJob& j, int m0, int m1) {
  const int C = j.C, taps = j.conv->kernel_h * j.conv->kernel_w;
  const size_t cp = size_t(C + 15) / 16 * 16;
  const int16_t* w = reinterpret_cast<const int16_t*>(j.w);
  TC* Y = static_cast<TC*>(j.y);
  std::vector<const uint8_t*> rows(size_t(kDwPixels) * size_t(taps));
  for (int m = m0; m < m1; m += kDwPixels) {
    const int mr = std::min(kDwPixels, m1 - m);
    j.conv->rows(m, mr, rows.data());
    for (int c0 = 0; c0 < C; c0 += 16) {
      const int valid = std::min(16, C - c0);
      TC* y = Y + int64_t(m) * C + c0;
      if (mr == 2)
        dw_tile<2, S8, TC>(rows.data(), taps, c0, valid, w, cp, j, y, C);
      else
        dw_tile<1, S8, TC>(rows.data(), taps, c0, valid, w, cp, j, y, C);
    }
  }
}

}  // namespace qforge::kernels::neon

#endif  // __aarch64__
