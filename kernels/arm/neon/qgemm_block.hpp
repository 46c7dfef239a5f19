// kernels/arm/neon/qgemm_block.hpp — exact int8 GEMM micro-kernels on baseline AArch64 Advanced SIMD (no sdot).
//
// Scheme: activations are moved to the int8 domain (u8 XOR 0x80 = A − 128; zero point shifted by −128), weights
// are packed like the sdot kernels (4 columns × 4 K bytes per 16-byte vector). The 4 K bytes of a row are
// broadcast, vmull_s8 / vmull_high_s8 form 16 exact int16 products (|x| ≤ 128 · 128 = 16,384), and vpadalq_s16
// adds pairs of them into int32 accumulators (2 lanes per column, summed in the epilogue). Exact for every input,
// including −128 · −128 (unlike the two-products-in-int16 trick).
//
// Contract: block<TC, S8>(job, m0, m1, p0, p1) computes rows [m0, m1) × panels [p0, p1) of a GemmJob whose weights
// were packed for Isa::neon (panels of 16 columns), bit for bit ref::qgemm. Epilogue: float32 multiply, vmaxnm /
// vminnm clamp (NaN → lower bound, like the reference), round to nearest even (vcvtnq), saturating narrow.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <kernels/block_loops.hpp>
#include <kernels/gemm_job.hpp>

namespace qforge::kernels::neon {

constexpr int kMR = 2;  // rows per register tile (2 rows × 4 vectors × 2 accumulators = 16 registers)

inline void store_vec(int32_t* p, int32x4_t v) { vst1q_s32(p, v); }
inline void store_vec(float* p, float32x4_t v) { vst1q_f32(p, v); }

// The first `lanes` (≤ 4) lanes of v at c: a column tail never writes past the row.
template <class T, class V>
inline void store_lanes(T* c, V v, size_t lanes) {
  if (lanes == 4) {
    store_vec(c, v);
  } else {
    T t[4];
    store_vec(t, v);
    std::memcpy(c, t, lanes * sizeof(T));
  }
}

// Epilogue of 4 columns (n .. n+3, `valid` of them real). J: GemmJob or DwJob. Also the dotprod kernels' epilogue
// (no target attribute, so it inlines into their armv8.2-a+dotprod functions).
template <class TC, class J>
inline void store4(int32x4_t acc, const J& j, int n, int valid, TC* c) {
  const int32x4_t v = vaddq_s32(acc, vld1q_s32(j.cbias + n));
  const size_t lanes = size_t(std::clamp(valid, 0, 4));  // real columns here
  if constexpr (std::is_same_v<TC, int32_t>) {
    store_lanes(c, v, lanes);
  } else {
    float s[4] = {1.f, 1.f, 1.f, 1.f};
    if (j.scale) std::memcpy(s, j.scale + n, lanes * sizeof(float));
    float32x4_t x = vmulq_f32(vcvtq_f32_s32(v), vld1q_f32(s));
    if constexpr (std::is_same_v<TC, float>) {
      store_lanes(c, x, lanes);
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
      std::memcpy(c, t, lanes);
    }
  }
}

template <int MR, int NV, bool S8, class TC>
__attribute__((noinline)) void tile(const uint8_t* const* rows, int taps, int seg, const int8_t* w, const GemmJob& j,
                                    int n0, int valid, TC* c, int64_t ldc) {
  int32x4_t acc[MR][NV][2];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v][0] = acc[r][v][1] = vdupq_n_s32(0);
  const uint8x16_t flip = vdupq_n_u8(S8 ? 0x00 : 0x80);  // u8 → s8 domain
  const int seg4 = seg & ~3, tail = seg & 3;
  for (int t = 0; t < taps; ++t) {
    const uint8_t* a[MR];
    for (int r = 0; r < MR; ++r) a[r] = rows[r * taps + t];
    for (int k = 0; k < seg4 + (tail ? 4 : 0); k += 4) {
      int8x16_t b[NV];
      for (int v = 0; v < NV; ++v) b[v] = vld1q_s8(w + 16 * v);
      for (int r = 0; r < MR; ++r) {
        const uint32_t bits = k < seg4 ? load4(a[r] + k) : load_partial(a[r] + k, tail);
        const int8x16_t av = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(bits)), flip));
        for (int v = 0; v < NV; ++v) {
          acc[r][v][0] = vpadalq_s16(acc[r][v][0], vmull_s8(vget_low_s8(av), vget_low_s8(b[v])));
          acc[r][v][1] = vpadalq_s16(acc[r][v][1], vmull_high_s8(av, b[v]));
        }
      }
      w += 16 * NV;
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v)
      store4<TC>(vpaddq_s32(acc[r][v][0], acc[r][v][1]), j, n0 + 4 * v, valid - 4 * v, c + r * ldc + 4 * v);
}

// Row tiles of ≤ kMR rows, panels inner; no L2 panel groups (one group of all the block's panels).
template <class TC, bool S8>
inline void block(const GemmJob& j, int m0, int m1, int p0, int p1) {
  byte_row_tiles<kMR, 4, 4, TC>(j, m0, m1, p0, p1, p1 - p0,
                                [](auto r, auto v, const auto&... a) { tile<r.value, v.value, S8, TC>(a...); });
}

}  // namespace qforge::kernels::neon

#endif  // __aarch64__
