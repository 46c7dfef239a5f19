// kernels/arm/dotprod/qgemm_block.hpp — int8 GEMM micro-kernels on AArch64 with the dot-product extension (sdot).
//
// Scheme: activations in the int8 domain (u8 XOR 0x80 = A − 128, zero point shifted by −128); weights packed as
// 4 columns × 4 K bytes per 16-byte vector. Each row loads 16 K bytes at once and vdotq_laneq_s32 multiplies
// lane i (4 K bytes) by the weight vectors of K group i: 16 exact int8 products summed into 4 int32 per sdot.
// Register tile: 4 rows × 4 vectors (16 columns), 16 accumulators over the whole K loop.
//
// Contract: block<TC, S8>(job, m0, m1, p0, p1) computes rows [m0, m1) × panels [p0, p1) of a GemmJob whose weights
// were packed for Isa::dotprod (panels of 16 columns), bit for bit ref::qgemm. Functions carry the target
// attribute armv8.2-a+dotprod and run only after isa_available(Isa::dotprod). The epilogue is the NEON kernels'
// neon::store4 (baseline Advanced SIMD, inlined here), the block loop byte_row_tiles (kernels/block_loops.hpp).
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>

#include <kernels/arm/neon/qgemm_block.hpp>
#include <kernels/block_loops.hpp>
#include <kernels/gemm_job.hpp>

#define QF_DOTPROD_FN __attribute__((target("arch=armv8.2-a+dotprod"))) inline
#define QF_DOTPROD_KERNEL QF_DOTPROD_FN __attribute__((noinline))

namespace qforge::kernels::dotprod {

constexpr int kMR = 4;

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
    for (int v = 0; v < NV; ++v) neon::store4<TC>(acc[r][v], j, n0 + 4 * v, valid - 4 * v, c + r * ldc + 4 * v);
}

// Row tiles of ≤ kMR rows, panels inner, as the NEON kernels.
template <class TC, bool S8>
QF_DOTPROD_FN void block(const GemmJob& j, int m0, int m1, int p0, int p1) {
  byte_row_tiles<kMR, 4, 4, TC>(j, m0, m1, p0, p1, p1 - p0,
                                [](auto r, auto v, const auto&... a) { tile<r.value, v.value, S8, TC>(a...); });
}

}  // namespace qforge::kernels::dotprod

#endif  // __aarch64__
