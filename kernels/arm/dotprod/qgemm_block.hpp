// kernels/arm/dotprod/qgemm_block.hpp — int8 GEMM micro-kernels on AArch64 with the dot-product extension (sdot).
//
// Scheme: activations in the int8 domain (u8 XOR 0x80 = A − 128, zero point shifted by −128); weights packed as
// 4 columns × 4 K bytes per 16-byte vector. Each row loads 16 K bytes at once and vdotq_laneq_s32 multiplies
// lane i (4 K bytes) by the weight vectors of K group i: 16 exact int8 products summed into 4 int32 per sdot.
// Register tile: 4 rows × 4 vectors (16 columns), 16 accumulators over the whole K loop.
//
// Contract: block<TC, S8>(job, m0, m1, p0, p1) computes rows [m0, m1) × panels [p0, p1) of a GemmJob whose weights
// were packed for Isa::dotprod (panels of 16 columns), bit for bit ref::qgemm. Functions carry the target
// attribute armv8.2-a+dotprod and run only after isa_available(Isa::dotprod).
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <kernels/gemm_job.hpp>

#define QF_DOTPROD_FN __attribute__((target("arch=armv8.2-a+dotprod"))) inline
#define QF_DOTPROD_KERNEL QF_DOTPROD_FN __attribute__((noinline))

namespace qforge::kernels::dotprod {

constexpr int kMR = 4;

template <class TC>
QF_DOTPROD_FN void store4(int32x4_t acc, const GemmJob& j, int n, int valid, TC* c) {
  const int32x4_t v = vaddq_s32(acc, vld1q_s32(j.cbias + n));
  if constexpr (std::is_same_v<TC, int32_t>) {
    if (valid >= 4) {
      vst1q_s32(c, v);
    } else {
      int32_t t[4];
      vst1q_s32(t, v);
      std::memcpy(c, t, size_t(std::max(0, std::min(valid, 4))) * 4);
    }
  } else {
    float s[4] = {1.f, 1.f, 1.f, 1.f};
    if (j.scale) std::memcpy(s, j.scale + n, size_t(std::max(0, std::min(valid, 4))) * 4);
    float32x4_t x = vmulq_f32(vcvtq_f32_s32(v), vld1q_f32(s));
    if constexpr (std::is_same_v<TC, float>) {
      if (valid >= 4) {
        vst1q_f32(c, x);
      } else {
        float t[4];
        vst1q_f32(t, x);
        std::memcpy(c, t, size_t(std::max(0, std::min(valid, 4))) * 4);
      }
    } else {
      x = vmaxnmq_f32(x, vdupq_n_f32(j.lo));  // maxNum: NaN → lo, like the reference
      x = vminnmq_f32(x, vdupq_n_f32(j.hi));
      const int32x4_t q = vaddq_s32(vcvtnq_s32_f32(x), vdupq_n_s32(j.out_zp));
      const int16x8_t q16 = vcombine_s16(vqmovn_s32(q), vqmovn_s32(q));
      uint8_t t[8];
      if constexpr (std::is_same_v<TC, uint8_t>)
        vst1_u8(t, vqmovun_s16(q16));
      else
        vst1_s8(reinterpret_cast<int8_t*>(t), vqmovn_s16(q16));
      std::memcpy(c, t, size_t(std::max(0, std::min(valid, 4))));
    }
  }
}

QF_DOTPROD_FN uint32_t load_partial(const uint8_t* p, int n) {  // n in 1..4, zero-extended
  uint32_t x = 0;
  std::memcpy(&x, p, size_t(n));
  return x;
}

template <int MR, int NV, bool S8, class TC>
QF_DOTPROD_KERNEL void tile(const uint8_t* const* rows, int taps, int seg, const int8_t* w, const GemmJob& j, int n0,
                            int valid, TC* c, int64_t ldc) {
  int32x4_t acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = vdupq_n_s32(0);
  const uint8x16_t flip = vdupq_n_u8(S8 ? 0x00 : 0x80);  // u8 → s8 domain
  const int seg16 = seg & ~15;
  const int gstride = 16 * NV;  // bytes per K group of 4 in this panel
  for (int t = 0; t < taps; ++t) {
    const uint8_t* a[MR];
    for (int r = 0; r < MR; ++r) a[r] = rows[r * taps + t];
    int k = 0;
    for (; k < seg16; k += 16) {
      int8x16_t av[MR];
      for (int r = 0; r < MR; ++r) av[r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a[r] + k), flip));
      for (int v = 0; v < NV; ++v) {
        const int8x16_t b0 = vld1q_s8(w + 16 * v), b1 = vld1q_s8(w + gstride + 16 * v);
        const int8x16_t b2 = vld1q_s8(w + 2 * gstride + 16 * v), b3 = vld1q_s8(w + 3 * gstride + 16 * v);
        for (int r = 0; r < MR; ++r) {
          acc[r][v] = vdotq_laneq_s32(acc[r][v], b0, av[r], 0);
          acc[r][v] = vdotq_laneq_s32(acc[r][v], b1, av[r], 1);
          acc[r][v] = vdotq_laneq_s32(acc[r][v], b2, av[r], 2);
          acc[r][v] = vdotq_laneq_s32(acc[r][v], b3, av[r], 3);
        }
      }
      w += 4 * gstride;
    }
    for (; k < seg; k += 4) {  // remaining K groups of 4 (the last one maybe partial)
      int8x16_t av[MR];
      for (int r = 0; r < MR; ++r)
        av[r] = vreinterpretq_s8_u8(
            veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(load_partial(a[r] + k, std::min(4, seg - k)))), flip));
      for (int v = 0; v < NV; ++v) {
        const int8x16_t b = vld1q_s8(w + 16 * v);
        for (int r = 0; r < MR; ++r) acc[r][v] = vdotq_s32(acc[r][v], b, av[r]);
      }
      w += gstride;
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) store4<TC>(acc[r][v], j, n0 + 4 * v, valid - 4 * v, c + r * ldc + 4 * v);
}

template <int MR, bool S8, class TC>
QF_DOTPROD_FN void tile_nv(int nv, const uint8_t* const* rows, int taps, int seg, const int8_t* w, const GemmJob& j,
                           int n0, int valid, TC* c, int64_t ldc) {
  switch (nv) {
    case 1: tile<MR, 1, S8, TC>(rows, taps, seg, w, j, n0, valid, c, ldc); break;
    case 2: tile<MR, 2, S8, TC>(rows, taps, seg, w, j, n0, valid, c, ldc); break;
    case 3: tile<MR, 3, S8, TC>(rows, taps, seg, w, j, n0, valid, c, ldc); break;
    default: tile<MR, 4, S8, TC>(rows, taps, seg, w, j, n0, valid, c, ldc); break;
  }
}

template <class TC, bool S8>
QF_DOTPROD_FN void block(const GemmJob& j, int m0, int m1, int p0, int p1) {
  const PackedWeights& W = *j.W;
  const int taps = W.taps, seg = W.seg, nr = W.layout.nr;
  TC* C = static_cast<TC*>(j.C);
  std::vector<const uint8_t*> rows(size_t(kMR) * size_t(taps));
  for (int m = m0; m < m1; m += kMR) {
    const int mr = std::min(kMR, m1 - m);
    j.rows(m, mr, rows.data());
    for (int p = p0; p < p1; ++p) {
      const int nv = W.panel_cols(p) / 4, valid = W.panel_valid(p), n0 = p * nr;
      TC* c = C + int64_t(m) * j.ldc + n0;
      switch (mr) {
        case 1: tile_nv<1, S8, TC>(nv, rows.data(), taps, seg, W.panel(p), j, n0, valid, c, j.ldc); break;
        case 2: tile_nv<2, S8, TC>(nv, rows.data(), taps, seg, W.panel(p), j, n0, valid, c, j.ldc); break;
        case 3: tile_nv<3, S8, TC>(nv, rows.data(), taps, seg, W.panel(p), j, n0, valid, c, j.ldc); break;
        default: tile_nv<4, S8, TC>(nv, rows.data(), taps, seg, W.panel(p), j, n0, valid, c, j.ldc); break;
      }
    }
  }
}

}  // namespace qforge::kernels::dotprod

#endif  // __aarch64__
