// kernels/x86/avx512vnni/dwconv_block.hpp — depthwise NHWC convolution (any kernel size) on AVX-512 VNNI.
//
// Scheme: 64 channels per block, taps in groups of 4. The 64-byte rows of 4 taps are interleaved with two rounds
// of byte/word unpacks (8 shuffles) so that dword lane 4L + i of vector q holds the 4 taps' bytes of channel
// 16L + 4q + i; one vpdpbusd per q against weights packed in the same order then adds 4 taps × 16 channels.
// A single leftover tap (3×3 = 4 + 4 + 1) is spread with one vpshufb per q instead (byte 0 of each lane).
// Per pixel and 64 channels of a 3×3 conv: 9 loads, 20 shuffles, 12 vpdpbusd. The epilogue works in that lane
// order (per-channel constants permuted the same way); its saturating packs land the bytes in channel order.
// Half blocks: when the last block holds ≤ 32 channels (C = 32, 96, 144, …) a register row carries two pixels,
// channels in the low 256 bits and the next pixel's in the high 256 bits, against weights and per-channel
// constants repeated in both halves: no lane is idle and the tile covers 8 pixels.
// Zero point: Σ_t (x − zp)·w = Σ_t x·w − zp·Σ_t w, the second term folded into the per-channel bias; padding taps
// read a row of zero-point bytes. int8 activations are flipped to u8 with XOR 0x80 (zp + 128).
//
// Contract: dw_block<TC, S8>(job, m0, m1) computes output pixels [m0, m1) (all channels), bit for bit what
// ref::qdwconv_nhwc gives, for weights packed by pack_conv_weights (kernels/qconv.hpp, layout x64). The last
// channel block uses masked (fault-free) loads; no load reads past a pixel's C channels.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
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
// Weight vectors per block: one group of 4 taps (or a single leftover tap) takes 4 vectors of 64 bytes.
constexpr int dw_groups(int taps) { return (taps + 3) / 4; }

// 64 results of one pixel and block (accumulator q lane 4L + i = channel 16L + 4q + i) in channel order.
// Paired rows (y2 set, valid ≤ 32): lane channels 0..31 go to y, 32..63 to y2; y2 == y skips the second pixel.
template <class TC, bool PAIR = false>
QF_AVX512VNNI_FN void dw_store(const __m512i acc[4], const int32_t* cb, const float* sc, const DwJob& j, int valid,
                               TC* y, TC* y2 = nullptr) {
  const __mmask16 all = 0xFFFF;
  if constexpr (std::is_same_v<TC, uint8_t> || std::is_same_v<TC, int8_t>) {
    // pack4 lands the permuted accumulator lanes in channel order: byte 16L + 4q + i is channel 16L + 4q + i.
    const __m512 lo = _mm512_set1_ps(j.lo), hi = _mm512_set1_ps(j.hi);
    __m512i v[4];
#pragma GCC unroll 4
    for (int jj = 0; jj < 4; ++jj)
      v[jj] = requant_i32(acc[jj], _mm512_loadu_si512(cb + 16 * jj), _mm512_loadu_ps(sc + 16 * jj), lo, hi);
    const __m512i o = pack4<TC>(v, _mm512_set1_epi16(int16_t(j.out_zp)));
    if constexpr (PAIR) {
      if (valid == 32 && y2 == y + 32) {  // C = 32: the two pixels' outputs are neighbours
        _mm512_storeu_si512(y, o);
        return;
      }
      const __mmask64 m = valid >= 32 ? __mmask64(0xFFFFFFFFu) : (__mmask64(1) << valid) - 1;
      _mm512_mask_storeu_epi8(y, m, o);
      if (y2 != y) _mm256_mask_storeu_epi8(y2, __mmask32(m), _mm512_maskz_extracti64x4_epi64(0xF, o, 1));  // second pixel
    } else if (valid == 64) {
      _mm512_storeu_si512(y, o);
    } else {
      _mm512_mask_storeu_epi8(y, (__mmask64(1) << valid) - 1, o);
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
    for (int ch = 0; ch < valid; ++ch) y[ch] = tmp[(ch >> 2) & 3][4 * (ch >> 4) + (ch & 3)];
    if (PAIR && y2 != y)
      for (int ch = 0; ch < valid; ++ch) y2[ch] = tmp[(ch >> 2) & 3][4 * ((ch + 32) >> 4) + (ch & 3)];
  }
}

// A half block of C = 32 channels over a run of neighbouring windows with stride 1: pixel 2r + 1's bytes follow
// pixel 2r's, so one 64-byte load fills a paired register row instead of two loads and two shuffles (bm_conv,
// 1 thread: dw 32c112x112 66-68 -> 75-78 GOPS).
struct PairRunRows {
  const uint8_t* base;
  const int64_t* off;
};

// The 64 bytes register row r reads for tap t: pixel r's channels c0.. (masked to the block's valid ones), or for
// PAIR pixel 2r's ≤ 32 channels low and pixel 2r + 1's high (pixel 2r again when 2r + 1 == npix, an odd tail).
template <bool PAIR, class Rows>
QF_AVX512VNNI_FN __m512i dw_load(Rows rows, int r, int t, int c0, bool masked, __mmask64 mk, int npix) {
  if constexpr (std::is_same_v<Rows, PairRunRows>) {
    (void)c0, (void)masked, (void)mk, (void)npix;
    return _mm512_loadu_si512(rows.base + 64 * r + rows.off[t]);
  } else if constexpr (PAIR) {
    const uint8_t* a = rows.at(2 * r, t) + c0;
    const uint8_t* b = rows.at(2 * r + 1 < npix ? 2 * r + 1 : 2 * r, t) + c0;
    const __mmask32 m = __mmask32(mk);
    const __m256i lo = masked ? _mm256_maskz_loadu_epi8(m, a) : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
    const __m256i hi = masked ? _mm256_maskz_loadu_epi8(m, b) : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    // Masked broadcasts rather than insert/cast, whose undefined upper half GCC 12 flags as uninitialised.
    return _mm512_mask_broadcast_i64x4(_mm512_maskz_broadcast_i64x4(0x0F, lo), 0xF0, hi);
  } else {
    (void)npix;
    const uint8_t* p = rows.at(r, t) + c0;
    return masked ? _mm512_maskz_loadu_epi8(mk, p) : _mm512_loadu_si512(p);
  }
}

// acc[r][q] += one group of NT (2..4) taps of register row r, interleaved as in the header comment.
template <int MR, int NT, bool S8, bool PAIR, class Rows>
QF_AVX512VNNI_FN void dw_group(__m512i (&acc)[MR][4], Rows rows, int t, int c0, bool masked, __mmask64 mk, int npix,
                               const int8_t* w) {
  const __m512i flip = _mm512_set1_epi32(int32_t(0x80808080u));
  __m512i wv[4];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) wv[q] = _mm512_load_si512(w + q * 64);
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) {
    __m512i x[4];
#pragma GCC unroll 4
    for (int s = 0; s < 4; ++s) {
      if (s < NT) {
        x[s] = dw_load<PAIR>(rows, r, t + s, c0, masked, mk, npix);
        if constexpr (S8) x[s] = _mm512_xor_si512(x[s], flip);
      } else {
        x[s] = _mm512_setzero_si512();
      }
    }
    const __m512i lo01 = _mm512_unpacklo_epi8(x[0], x[1]), hi01 = _mm512_unpackhi_epi8(x[0], x[1]);
    const __m512i lo23 = _mm512_unpacklo_epi8(x[2], x[3]), hi23 = _mm512_unpackhi_epi8(x[2], x[3]);
    acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], _mm512_unpacklo_epi16(lo01, lo23), wv[0]);
    acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], _mm512_unpackhi_epi16(lo01, lo23), wv[1]);
    acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], _mm512_unpacklo_epi16(hi01, hi23), wv[2]);
    acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], _mm512_unpackhi_epi16(hi01, hi23), wv[3]);
  }
}

// MR register rows × one 64-channel block over all taps: MR output pixels, or for PAIR npix ≤ 2·MR pixels two
// to a row (a half block). rows.at(p, t) = tap t of pixel p (channel 0), a TapRows or RunRows (qgemm_block.hpp).
// `masked`: the last block of the row — loads are masked to the block's real channels.
template <int MR, bool S8, class TC, bool PAIR, class Rows>
QF_AVX512VNNI_FN void dw_tile_block(Rows rows, int taps, int c0, int valid, bool masked, const int8_t* w,
                                    const int32_t* cb, const float* sc, const DwJob& j, TC* y, int64_t ystride,
                                    int npix) {
  __m512i acc[MR][4];
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) acc[r][q] = _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi32(int32_t(0x80808080u));
  const __mmask64 mk = valid >= 64 ? ~__mmask64(0) : (__mmask64(1) << valid) - 1;
  int t = 0;
  for (; t + 4 <= taps; t += 4) {  // full groups of 4 taps
    dw_group<MR, 4, S8, PAIR, Rows>(acc, rows, t, c0, masked, mk, npix, w);
    w += 4 * 64;
  }
  if (taps - t == 3) {  // a last group of 2 or 3 taps is padded with zero rows
    dw_group<MR, 3, S8, PAIR, Rows>(acc, rows, t, c0, masked, mk, npix, w);
    w += 4 * 64;
    t += 3;
  } else if (taps - t == 2) {
    dw_group<MR, 2, S8, PAIR, Rows>(acc, rows, t, c0, masked, mk, npix, w);
    w += 4 * 64;
    t += 2;
  }
  if (t < taps) {  // one leftover tap: byte 4q + i of each 16-byte lane to byte 0 of dword lane i
    // vpshufb control for q: in every 16-byte lane, byte 4i ← byte 4q + i, the other bytes ← 0 (index −1).
    const int32_t f = int32_t(0xFFFFFF00u);
    const __m512i base = _mm512_setr_epi32(f, f + 1, f + 2, f + 3, f, f + 1, f + 2, f + 3, f, f + 1, f + 2, f + 3, f,
                                           f + 1, f + 2, f + 3);
    __m512i wv[4], sh[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      wv[q] = _mm512_load_si512(w + q * 64);
      sh[q] = _mm512_add_epi32(base, _mm512_set1_epi32(4 * q));
    }
#pragma GCC unroll 4
    for (int r = 0; r < MR; ++r) {
      __m512i x = dw_load<PAIR>(rows, r, t, c0, masked, mk, npix);
      if constexpr (S8) x = _mm512_xor_si512(x, flip);
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) acc[r][q] = _mm512_dpbusd_epi32(acc[r][q], _mm512_shuffle_epi8(x, sh[q]), wv[q]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < MR; ++r) {
    if constexpr (PAIR) {
      TC* ya = y + 2 * r * ystride;
      dw_store<TC, true>(acc[r], cb, sc, j, valid, ya, 2 * r + 1 < npix ? ya + ystride : ya);
    } else {
      dw_store<TC>(acc[r], cb, sc, j, valid, y + r * ystride);
    }
  }
}

// The same MR rows over nb consecutive 64-channel blocks from c0: one call per tile, not one per block (the
// calls took about half of dw_block's own 11 % of a 960c 7×7 layer, perf). Single rows take each block's valid
// channels and mask from C; PAIR rows run the one half block they are given (nb = 1).
template <int MR, bool S8, class TC, bool PAIR, class Rows>
QF_AVX512VNNI_KERNEL void dw_tile(Rows rows, int taps, int nb, int C, int c0, int valid, bool masked,
                                  const int8_t* w, const int32_t* cb, const float* sc, const DwJob& j, TC* y,
                                  int64_t ystride, int npix) {
  const size_t wblk = size_t(dw_groups(taps)) * 4 * 64;
  for (int b = 0; b < nb; ++b) {
    const int cb0 = c0 + b * kDwBlock;
    const int vb = PAIR ? valid : std::min(kDwBlock, C - cb0);
    const bool mb = PAIR ? masked : cb0 + kDwBlock >= C;
    dw_tile_block<MR, S8, TC, PAIR, Rows>(rows, taps, cb0, vb, mb, w + size_t(b) * wblk, cb + b * kDwBlock,
                                          sc + b * kDwBlock, j, y + b * kDwBlock, ystride, npix);
  }
}

// mr register rows (1..4) of npix pixels: npix = mr, or for PAIR 2·mr − 1 or 2·mr.
template <bool S8, class TC, bool PAIR, class Rows>
QF_AVX512VNNI_FN void dw_tile_rows(int mr, Rows rows, int taps, int nb, int C, int c0, int valid, bool masked,
                                   const int8_t* w, const int32_t* cb, const float* sc, const DwJob& j, TC* y,
                                   int64_t ystride, int npix) {
  switch (mr) {
    case 1: dw_tile<1, S8, TC, PAIR, Rows>(rows, taps, nb, C, c0, valid, masked, w, cb, sc, j, y, ystride, npix); break;
    case 2: dw_tile<2, S8, TC, PAIR, Rows>(rows, taps, nb, C, c0, valid, masked, w, cb, sc, j, y, ystride, npix); break;
    case 3: dw_tile<3, S8, TC, PAIR, Rows>(rows, taps, nb, C, c0, valid, masked, w, cb, sc, j, y, ystride, npix); break;
    default:
      dw_tile<4, S8, TC, PAIR, Rows>(rows, taps, nb, C, c0, valid, masked, w, cb, sc, j, y, ystride, npix);
      break;
  }
}

// The accumulator order of a block's per-channel constants: lane group L of vector q ← group q of vector L (4
// dwords each; channels 16L + 4q ..), a 4 × 4 transpose of 128-bit lane groups.
QF_AVX512VNNI_FN void transpose_groups(__m512i (&v)[4]) {
  const __mmask16 all = 0xFFFF;  // maskz forms: the unmasked ones start from an undefined vector GCC 12 flags
  const __m512i t0 = _mm512_maskz_shuffle_i32x4(all, v[0], v[1], 0x44);  // groups 0, 1 of v0 and v1
  const __m512i t1 = _mm512_maskz_shuffle_i32x4(all, v[0], v[1], 0xEE);  // groups 2, 3
  const __m512i t2 = _mm512_maskz_shuffle_i32x4(all, v[2], v[3], 0x44);
  const __m512i t3 = _mm512_maskz_shuffle_i32x4(all, v[2], v[3], 0xEE);
  v[0] = _mm512_maskz_shuffle_i32x4(all, t0, t2, 0x88);
  v[1] = _mm512_maskz_shuffle_i32x4(all, t0, t2, 0xDD);
  v[2] = _mm512_maskz_shuffle_i32x4(all, t1, t3, 0x88);
  v[3] = _mm512_maskz_shuffle_i32x4(all, t1, t3, 0xDD);
}

// Output pixels [m0, m1) of the job.
template <class TC, bool S8>
QF_AVX512VNNI_FN void dw_block(const DwJob& j, int m0, int m1) {
  const int C = j.C, taps = j.conv->kernel_h * j.conv->kernel_w;
  const int nblk = (C + kDwBlock - 1) / kDwBlock;
  const int tail = C - (nblk - 1) * kDwBlock;  // channels of the last block
  const bool half = tail <= kDwBlock / 2;      // the last block runs two pixels to a register row
  const int nsingle = half ? nblk - 1 : nblk;  // blocks run one pixel to a row
  const size_t wblk = size_t(dw_groups(taps)) * 4 * 64;
  // Per-channel constants in the accumulator order: entry blk·64 + 16q + 4L + i is channel blk·64 + 16L + 4q + i;
  // in a half block lane channel 32 + k is channel k again (the second pixel). Its weights are repeated likewise:
  // bytes 32..63 of each packed vector ← bytes 0..31 (lanes L = 2, 3 ← L = 0, 1).
  std::vector<int32_t> cb(size_t(nblk) * kDwBlock, 0);
  std::vector<float> sc(size_t(nblk) * kDwBlock, 1.0f);
  for (int b = 0; b < nblk; ++b) {
    const int c0 = b * kDwBlock;
    if (half && b == nblk - 1) {
      for (int q = 0; q < 4; ++q)
        for (int L = 0; L < 4; ++L)
          for (int i = 0; i < 4; ++i) {
            const int ch = c0 + 16 * (L & 1) + 4 * q + i;
            if (ch >= C) continue;
            const size_t e = size_t(c0) + 16 * q + 4 * L + i;
            cb[e] = j.cbias[ch];
            if (j.scale) sc[e] = j.scale[ch];
          }
      continue;
    }
    // Full and partial blocks in vectors (the scalar loop above took ~4 % of a 960c 7×7 layer, perf).
    __m512i v[4], f[4];
#pragma GCC unroll 4
    for (int L = 0; L < 4; ++L) {
      const __mmask16 mk = lanes(std::max(0, C - c0 - 16 * L));
      v[L] = _mm512_maskz_loadu_epi32(mk, j.cbias + c0 + 16 * L);
      f[L] = _mm512_castps_si512(j.scale ? _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), mk, j.scale + c0 + 16 * L)
                                         : _mm512_set1_ps(1.0f));
    }
    transpose_groups(v);
    transpose_groups(f);
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      _mm512_storeu_si512(cb.data() + c0 + 16 * q, v[q]);
      _mm512_storeu_si512(sc.data() + c0 + 16 * q, f[q]);
    }
  }
  struct alignas(64) Vec64 { int8_t b[64]; };  // one packed weight vector (aligned loads)
  std::vector<Vec64> wpair;
  if (half) {
    wpair.resize(wblk / 64);
    int8_t* d = reinterpret_cast<int8_t*>(wpair.data());
    std::memcpy(d, j.w + size_t(nblk - 1) * wblk, wblk);
    for (size_t v = 0; v < wblk; v += 64) std::memcpy(d + v + 32, d + v, 32);
  }
  TC* Y = static_cast<TC*>(j.y);
  constexpr int kChunk = 2 * kDwPixels;  // pixels per step: two single tiles, one paired tile
  std::vector<const uint8_t*> rows(size_t(kChunk) * size_t(taps));
  const uint8_t* bases[kChunk];
  // Every window inside the input (qconv's padded copy of a narrow layer): a tile that is not one run (it spans
  // two output rows) still needs only its pixels' base addresses, not pixels × taps clamped ones.
  const bool interior = j.conv->all_interior();
  // Calls tile(rows) with the addressing of pixels [ms, ms + npix): a run of neighbouring interior windows
  // (addresses computed), their base addresses, or a table of every tap's address.
  auto with_rows = [&](int ms, int npix, auto&& tile) {
    RunRows run{nullptr, 0, j.conv->tap_off.data()};
    if (j.conv->run_at(ms, npix, &run.base, &run.step)) return tile(run);
    if (interior) {
      j.conv->bases(ms, npix, bases);
      return tile(BaseRows{bases, j.conv->tap_off.data()});
    }
    j.conv->rows(ms, npix, rows.data());
    return tile(TapRows{rows.data(), taps});
  };
  for (int m = m0; m < m1; m += kChunk) {
    const int chunk = m1 - m < kChunk ? m1 - m : kChunk;
    for (int s = 0; s < chunk && nsingle > 0; s += kDwPixels) {
      const int ms = m + s, mr = chunk - s < kDwPixels ? chunk - s : kDwPixels;
      TC* y = Y + int64_t(ms) * C;
      with_rows(ms, mr, [&](auto rws) {
        dw_tile_rows<S8, TC, false>(mr, rws, taps, nsingle, C, 0, 0, false, j.w, cb.data(), sc.data(), j, y, C, mr);
      });
    }
    if (half) {
      const int c0 = (nblk - 1) * kDwBlock;
      const int8_t* w = reinterpret_cast<const int8_t*>(wpair.data());
      const int32_t* cbb = cb.data() + size_t(nblk - 1) * kDwBlock;
      const float* scb = sc.data() + size_t(nblk - 1) * kDwBlock;
      const bool masked = tail < kDwBlock / 2;
      TC* y = Y + int64_t(m) * C + c0;
      const int mr = (chunk + 1) / 2;
      with_rows(m, chunk, [&](auto rws) {
        if constexpr (std::is_same_v<decltype(rws), RunRows>) {
          if (rws.step == 32 && C == 32 && chunk % 2 == 0) {
            dw_tile_rows<S8, TC, true>(mr, PairRunRows{rws.base, rws.off}, taps, 1, C, c0, tail, masked, w, cbb, scb,
                                       j, y, C, chunk);
            return;
          }
        }
        dw_tile_rows<S8, TC, true>(mr, rws, taps, 1, C, c0, tail, masked, w, cbb, scb, j, y, C, chunk);
      });
    }
  }
}

}  // namespace avx512vnni
}  // namespace qforge::kernels

#endif  // __x86_64__
