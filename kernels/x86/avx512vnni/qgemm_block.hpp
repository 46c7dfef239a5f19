// kernels/x86/avx512vnni/qgemm_block.hpp — u8×s8 GEMM micro-kernels on AVX-512 VNNI (vpdpbusd zmm).
//
// Contract: block<TC, S8>(job, m0, m1, p0, p1) computes rows [m0, m1) × panels [p0, p1) of a GemmJob whose
// weights were packed for Isa::avx512vnni (panels of 64 columns, K in groups of 4 bytes per column), bit for bit
// what ref::qgemm gives. Register tile: up to 6 rows × 4 zmm (64 columns) of int32 accumulators held over the
// whole K loop (12 rows × 1 zmm or 8 × 2 when every panel is 16 or 32 columns wide); one 4-byte broadcast of A
// per row and K step, int8 activations flipped to u8 with XOR 0x80.
// Row tails use a smaller tile, column tails masked stores; K tails (seg % 4) a zero-extended partial read that
// never touches bytes past the segment. Batch-1 rows (M = 1) run 4 panels at once (12 independent chains).
// Functions here carry their own target attribute, so this header compiles without -m flags; they are only
// called after isa_available(Isa::avx512vnni).
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

#define QF_AVX512VNNI_FN \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi,bmi2,lzcnt,popcnt"))) inline
// Register-tile kernels are never inlined into their callers: inlined into the block loop, GCC spills the
// accumulators.
#define QF_AVX512VNNI_KERNEL QF_AVX512VNNI_FN __attribute__((noinline))

namespace qforge::kernels::avx512vnni {

constexpr int kMR = 6;   // rows per register tile
constexpr int kNV = 4;   // zmm columns per register tile (64 columns = one packed panel)
constexpr int kGemvPanels = 4;
constexpr int kTallRows1 = 12;  // rows per tile when every panel is 16 columns wide
constexpr int kTallRows2 = 8;   // ... 32 columns wide
// block_skip_padding runs where padding is ≥ 6 % of the taps (a 3×3 conv at 7×7 (0.18) and 14×14 (0.09) outputs,
// not 28×28 (0.047)) and a pixel holds ≥ 256K multiply-adds: its bookkeeping costs tens of cycles per pixel and
// made the 16-64 channel convs of fmnist_resnet slower (batch 1: 6.9k -> 6.3k images/s).
constexpr double kPlanPaddedShare = 0.06;
inline int64_t plan_min_pixel_macs = int64_t(1) << 18;  // a variable: the tests lower it to reach small convs


// The 8-bit requantization of 16 accumulators before the zero point: (acc + cb) · s clamped to [lo, hi] (NaN →
// lo, like the reference) and rounded to int32. The maskz forms with an all-ones mask are the plain instructions;
// GCC 12's unmasked cvt/min/max intrinsics use _mm512_undefined_*() and trip -Wuninitialized in user builds.
QF_AVX512VNNI_FN __m512i requant_i32(__m512i acc, __m512i cb, __m512 s, __m512 lo, __m512 hi) {
  const __mmask16 all = 0xFFFF;
  __m512 x = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(all, _mm512_add_epi32(acc, cb)), s);
  x = _mm512_maskz_max_ps(all, x, lo);
  x = _mm512_maskz_min_ps(all, x, hi);
  return _mm512_maskz_cvtps_epi32(all, x);
}

// Four requantized vectors plus the zero point, narrowed to 64 bytes with saturating packs: in every 128-bit lane
// L, byte 4q + i ← lane 4L + i of q[q]. Every step saturates, so the bytes equal an int32 add of the zero point
// and a saturating vpmov*db of each vector, for any values.
template <class TC>
QF_AVX512VNNI_FN __m512i pack4(const __m512i (&q)[4], __m512i zp16) {
  const __m512i w01 = _mm512_adds_epi16(_mm512_packs_epi32(q[0], q[1]), zp16);
  const __m512i w23 = _mm512_adds_epi16(_mm512_packs_epi32(q[2], q[3]), zp16);
  return std::is_same_v<TC, uint8_t> ? _mm512_packus_epi16(w01, w23) : _mm512_packs_epi16(w01, w23);
}

// Epilogue of one vector of 16 columns: adds the folded bias cb, scales by s, and for 8-bit outputs clamps to
// [e.lo, e.hi], rounds and adds the zero point; stores the lanes of mask mk. A tile loads cb and s once per
// column vector and calls this for each of its rows (stores through a uint8_t* may alias anything, so a helper
// reading them from the job would re-read them after every store).
struct EpiConsts {
  __m512 lo, hi;
  __m512i zp, zp16;  // the output zero point in int32 and in int16 lanes
};
template <class TC>
QF_AVX512VNNI_FN void store16_pre(__m512i acc, __m512i cb, __m512 s, const EpiConsts& e, __mmask16 mk, TC* c) {
  if constexpr (std::is_same_v<TC, int32_t>) {
    _mm512_mask_storeu_epi32(c, mk, _mm512_add_epi32(acc, cb));
  } else if constexpr (std::is_same_v<TC, float>) {
    _mm512_mask_storeu_ps(c, mk, _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_add_epi32(acc, cb)), s));
  } else {
    const __m512i q = _mm512_add_epi32(requant_i32(acc, cb, s, e.lo, e.hi), e.zp);
    if constexpr (std::is_same_v<TC, uint8_t>)
      _mm512_mask_cvtusepi32_storeu_epi8(c, mk, q);
    else
      _mm512_mask_cvtsepi32_storeu_epi8(c, mk, q);
  }
}

QF_AVX512VNNI_FN EpiConsts epi_consts(const GemmJob& j) {
  return {_mm512_set1_ps(j.lo), _mm512_set1_ps(j.hi), _mm512_set1_epi32(j.out_zp), _mm512_set1_epi16(int16_t(j.out_zp))};
}
QF_AVX512VNNI_FN __mmask16 lanes(int valid) {
  return valid >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1u);
}

// The 8-bit epilogue of MR rows × 64 columns (4 column vectors): each row's four vectors requantized and packed
// (pack4 puts dword 4L + q ← columns 16q + 4L .. +3), then one dword permute restores column order: a single
// 64-byte store per row instead of four vpmovusdb stores, the same bytes as store16_pre.
template <int MR, class TC>
QF_AVX512VNNI_FN void store_rows64(const __m512i (&acc)[MR][4], const int32_t* cbias, const float* scale,
                                   const EpiConsts& e, int valid, TC* c, int64_t ldc) {
  __m512i cb[4];
  __m512 s[4];
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) {
    cb[v] = _mm512_loadu_si512(cbias + 16 * v);
    s[v] = scale ? _mm512_maskz_loadu_ps(lanes(valid - 16 * v), scale + 16 * v) : _mm512_set1_ps(1.0f);
  }
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __mmask64 mk = valid >= 64 ? ~__mmask64(0) : (__mmask64(1) << valid) - 1;
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    __m512i q[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) q[v] = requant_i32(acc[r][v], cb[v], s[v], e.lo, e.hi);
    _mm512_mask_storeu_epi8(c + r * ldc, mk, _mm512_maskz_permutexvar_epi32(0xFFFF, order, pack4<TC>(q, e.zp16)));
  }
}

// The epilogue of columns n .. n+15 (`valid` of them real) of one output row, constants read from the job.
template <class TC>
QF_AVX512VNNI_FN void store16(__m512i acc, const GemmJob& j, int n, int valid, TC* c) {
  const __mmask16 mk = lanes(valid);
  const __m512 s = j.scale ? _mm512_maskz_loadu_ps(mk, j.scale + n) : _mm512_set1_ps(1.0f);
  store16_pre<TC>(acc, _mm512_loadu_si512(j.cbias + n), s, epi_consts(j), mk, c);
}

// Where a tile finds segment t of its row r: a table of addresses from GemmJob::rows(), or, for a conv whose
// windows all lie inside the input, one base address per row plus the shared tap offsets (ConvRows::bases).
struct TapRows {
  const uint8_t* const* p;
  int taps;
  const uint8_t* at(int r, int t) const { return p[r * taps + t]; }
};
struct BaseRows {
  const uint8_t* const* base;
  const int64_t* off;
  const uint8_t* at(int r, int t) const { return base[r] + off[t]; }
};
struct RunRows {  // neighbouring windows of one output row (ConvRows::run_at)
  const uint8_t* base;
  int64_t step;
  const int64_t* off;
  const uint8_t* at(int r, int t) const { return base + r * step + off[t]; }
};

// MR rows × NV zmm columns over the whole K (taps × seg).
template <int MR, int NV, bool S8, class TC, class Rows>
QF_AVX512VNNI_KERNEL void tile(Rows rows, int taps, int seg, const int8_t* w, int wstep,
                               const GemmJob& j, int n0, int valid, TC* c, int64_t ldc, uint64_t skip,
                               const int32_t* cb) {
  __m512i acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi32(int32_t(0x80808080u));
  const int seg4 = seg & ~3, tail = seg & 3;
  for (int t = 0; t < taps; ++t) {
    if ((skip >> t) & 1) {  // a tap of padding for every row: cb holds its zero-point term instead
      w += int64_t(wstep) * (seg4 / 4 + (tail ? 1 : 0));
      continue;
    }
    const uint8_t* a[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) a[r] = rows.at(r, t);
    // The next tap's rows are elsewhere in the image: start fetching them now. Not for taps of < 64 channels,
    // where MR prefetches per 1-15 k-steps cost more than they hide (fmnist_resnet int8, 16-64 channels, 1 thread:
    // +4-6 % without them, three alternating runs).
    if (seg >= 64 && t + 1 < taps) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(rows.at(r, t + 1)), _MM_HINT_T0);
    }
    for (int k = 0; k < seg4; k += 4) {
      __m512i b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) b[v] = _mm512_load_si512(w + 64 * v);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        __m512i av = _mm512_set1_epi32(load4(a[r] + k));
        if constexpr (S8) av = _mm512_xor_si512(av, flip);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, b[v]);
      }
      w += wstep;
    }
    if (tail) {
      __m512i b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) b[v] = _mm512_load_si512(w + 64 * v);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        __m512i av = _mm512_set1_epi32(load_partial(a[r] + seg4, tail));
        if constexpr (S8) av = _mm512_xor_si512(av, flip);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, b[v]);
      }
      w += wstep;
    }
  }
  const EpiConsts e = epi_consts(j);
  const int32_t* cbias = cb;
  const float* scale = j.scale;
  if constexpr (NV == 4 && (std::is_same_v<TC, uint8_t> || std::is_same_v<TC, int8_t>)) {
    store_rows64<MR, TC>(acc, cbias + n0, scale ? scale + n0 : nullptr, e, valid, c, ldc);
    return;
  }
  // Column vector by column vector: its bias and scale are loaded once for the MR rows.
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const int n = n0 + 16 * v;
    const __mmask16 mk = lanes(valid - 16 * v);
    const __m512i cb = _mm512_loadu_si512(cbias + n);
    const __m512 s = scale ? _mm512_maskz_loadu_ps(mk, scale + n) : _mm512_set1_ps(1.0f);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) store16_pre<TC>(acc[r][v], cb, s, e, mk, c + r * ldc + 16 * v);
  }
}

// One row against P full panels (P·64 columns, 4·P independent accumulator chains): the batch-1 path.
// Panels are `pstride` bytes apart; a plain GEMM row (taps = 1).
template <int P, bool S8, class TC>
QF_AVX512VNNI_KERNEL void gemv_tile(const uint8_t* a, int seg, const int8_t* w, size_t pstride, const GemmJob& j, int n0,
                                TC* c) {
  __m512i acc[P][kNV];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) acc[p][v] = _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi32(int32_t(0x80808080u));
  const int seg4 = seg & ~3, tail = seg & 3;
  for (int k = 0; k < seg4; k += 4) {
    __m512i av = _mm512_set1_epi32(load4(a + k));
    if constexpr (S8) av = _mm512_xor_si512(av, flip);
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v)
        acc[p][v] = _mm512_dpbusd_epi32(acc[p][v], av, _mm512_load_si512(w + p * pstride + 64 * v));
    w += 64 * kNV;
  }
  if (tail) {
    __m512i av = _mm512_set1_epi32(load_partial(a + seg4, tail));
    if constexpr (S8) av = _mm512_xor_si512(av, flip);
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v)
        acc[p][v] = _mm512_dpbusd_epi32(acc[p][v], av, _mm512_load_si512(w + p * pstride + 64 * v));
  }
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) store16<TC>(acc[p][v], j, n0 + 16 * kNV * p + 16 * v, 16, c + 16 * kNV * p + 16 * v);
}

// A tile of mr rows × nv zmm: up to kMR × kNV, or taller for narrow panels (see block): 7..12 rows × 1 zmm,
// 7..8 rows × 2 zmm. No target attribute (no intrinsics here): the block's loop lambdas, which have none either,
// can inline it.
template <bool S8, class TC, class Rows>
inline void tile_any(int mr, int nv, Rows rows, int taps, int seg, const int8_t* w,
                               int wstep, const GemmJob& j, int n0, int valid, TC* c, int64_t ldc, uint64_t skip,
                               const int32_t* cb) {
  auto run = [&](auto r, auto v) {
    tile<r.value, v.value, S8, TC, Rows>(rows, taps, seg, w, wstep, j, n0, valid, c, ldc, skip, cb);
  };
  if (mr <= kMR)
    with_tile<kMR, kNV>(mr, nv, run);
  else if (nv == 1)
    with_count<kMR + 1, kTallRows1>(mr, [&](auto r) { run(r, std::integral_constant<int, 1>{}); });
  else
    with_count<kMR + 1, kTallRows2>(mr, [&](auto r) { run(r, std::integral_constant<int, 2>{}); });
}

// Skipping padding, as oneDNN does: at 7×7 outputs 18 % of a 3×3 conv's taps read padding, at 14×14 9 %.
// block_skip_padding groups a call's output pixels by the set of taps that read padding (interior, each edge, each
// corner), cuts each group into row tiles that skip those taps, and runs the groups' leftovers together, skipping
// what all their pixels share. The padding bytes are the zero point, so a skipped tap would have added
// zp'·tapsum[t][n]: a tile's epilogue takes that from a bias made for its set of skipped taps (SkipBias, a handful
// per call, made on first use). The tiles' rows are not neighbours, so they are stored through a small buffer.
class SkipBias {
 public:
  SkipBias(const GemmJob& j, int32_t shift) : j_(j), zp_(uint32_t(j.a_zp + shift)) {}
  const int32_t* get(uint64_t skip) {
    for (size_t i = 0; i < masks_.size(); ++i)
      if (masks_[i] == skip) return biases_[i].data();
    const PackedWeights& W = *j_.W;
    const size_t ncols = size_t(W.npanels) * size_t(W.layout.nr);
    std::vector<int32_t> b(j_.cbias, j_.cbias + ncols);
    const int32_t* ts = W.tapsum.get();
    for (int t = 0; t < W.taps; ++t)
      if ((skip >> t) & 1)
        for (size_t n = 0; n < ncols; ++n) b[n] = int32_t(uint32_t(b[n]) + zp_ * uint32_t(ts[size_t(t) * ncols + n]));
    masks_.push_back(skip);
    biases_.push_back(std::move(b));
    return biases_.back().data();
  }

 private:
  const GemmJob& j_;
  uint32_t zp_;  // the byte value the kernel multiplies for a padding tap (wrapping arithmetic, as cbias)
  std::vector<uint64_t> masks_;
  std::vector<std::vector<int32_t>> biases_;
};

// bytes ≤ 256 from a 64-byte aligned buffer, in 64-byte masked moves (no library call for a 16-256 byte row).
QF_AVX512VNNI_FN void copy_row(void* dst, const void* src, int bytes) {
  for (int o = 0; o < bytes; o += 64) {
    const int n = bytes - o < 64 ? bytes - o : 64;
    const __mmask64 m = n == 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1;
    _mm512_mask_storeu_epi8(static_cast<uint8_t*>(dst) + o, m,
                            _mm512_load_si512(static_cast<const uint8_t*>(src) + o));
  }
}

template <class TC, bool S8>
QF_AVX512VNNI_FN void block_skip_padding(const GemmJob& j, int m0, int m1, int p0, int p1, int tile_rows) {
  const PackedWeights& W = *j.W;
  const ConvRows& cv = *j.conv;
  const int taps = W.taps, seg = W.seg, nr = W.layout.nr;
  // The plan: pixels (index, window base, padded taps) grouped by their padded taps, raster order within a group.
  struct Px {
    int m;
    const uint8_t* base;
    uint64_t mask;
  };
  std::vector<uint64_t> col_mask(size_t(cv.out_w)), masks;
  for (int ow = 0; ow < cv.out_w; ++ow) col_mask[size_t(ow)] = cv.col_padded_taps(ow);
  std::vector<std::vector<Px>> groups;
  const int hw = cv.out_h * cv.out_w;
  int b = m0 / hw, oh = (m0 % hw) / cv.out_w, ow = (m0 % hw) % cv.out_w;
  uint64_t row_mask = cv.row_padded_taps(oh);
  const int64_t step = int64_t(cv.stride_w) * cv.pixel_stride;
  auto row_base = [&] {
    return cv.x + (int64_t(b) * cv.in_h * cv.in_w + int64_t(oh) * cv.stride_h * cv.in_w) * cv.pixel_stride;
  };
  const uint8_t* rb = row_base();
  size_t g = 0;
  for (int m = m0; m < m1; ++m) {
    const uint64_t mk = row_mask | col_mask[size_t(ow)];
    if (g >= masks.size() || masks[g] != mk) {
      g = 0;
      while (g < masks.size() && masks[g] != mk) ++g;
      if (g == masks.size()) {
        masks.push_back(mk);
        groups.emplace_back();
      }
    }
    groups[g].push_back({m, rb + ow * step, mk});
    if (++ow == cv.out_w) {
      ow = 0;
      if (++oh == cv.out_h) {
        oh = 0;
        ++b;
      }
      row_mask = cv.row_padded_taps(oh);
      rb = row_base();
    }
  }
  // Full tiles per group, then the group's rest as one shorter tile if it has ≥ 3 rows (still 12+ accumulator
  // chains); rests of 1-2 rows run together, skipping what they share.
  struct Tile {
    int first, n;
    uint64_t skip;
  };
  std::vector<Px> px;
  px.reserve(size_t(m1 - m0));
  std::vector<Tile> tiles;
  std::vector<Px> rest;
  for (size_t k = 0; k < groups.size(); ++k) {
    const std::vector<Px>& v = groups[k];
    for (size_t i = 0; i < v.size(); i += size_t(tile_rows)) {
      const int n = int(std::min(v.size() - i, size_t(tile_rows)));
      if (n < 3) {
        rest.insert(rest.end(), v.begin() + long(i), v.end());
        break;
      }
      tiles.push_back({int(px.size()), n, masks[k]});
      px.insert(px.end(), v.begin() + long(i), v.begin() + long(i) + n);
    }
  }
  for (size_t i = 0; i < rest.size(); i += size_t(tile_rows)) {
    const int n = int(std::min(rest.size() - i, size_t(tile_rows)));
    uint64_t skip = ~uint64_t(0);
    for (int r = 0; r < n; ++r) skip &= rest[i + size_t(r)].mask;
    tiles.push_back({int(px.size()), n, skip});
    px.insert(px.end(), rest.begin() + long(i), rest.begin() + long(i) + n);
  }
  SkipBias skip_bias(j, S8 ? W.layout.shift_s8 : W.layout.shift_u8);
  TC* C = static_cast<TC*>(j.C);
  const uint8_t* rows[kTallRows1];
  alignas(64) TC buf[kTallRows1 * 64];  // a tile's output: ≤ 12 rows × 16 columns, 8 × 32 or 6 × 64
  const int group = l2_panel_group(size_t(nr) * size_t(W.kp));
  for (int g0 = p0; g0 < p1; g0 += group) {
    const int g1 = std::min(p1, g0 + group);
    for (const Tile& t : tiles) {
      for (int r = 0; r < t.n; ++r) rows[r] = px[size_t(t.first + r)].base;
      const int32_t* cb = t.skip ? skip_bias.get(t.skip) : j.cbias;
      for (int p = g0; p < g1; ++p) {
        const int nv = W.panel_cols(p) / 16, valid = W.panel_valid(p), n0 = p * nr;
        tile_any<S8, TC>(t.n, nv, BaseRows{rows, cv.tap_off.data()}, taps, seg, W.panel(p), 64 * nv, j, n0, valid,
                         buf, 64, t.skip, cb);
        for (int r = 0; r < t.n; ++r)
          copy_row(C + int64_t(px[size_t(t.first + r)].m) * j.ldc + n0, buf + r * 64, int(valid * int(sizeof(TC))));
      }
    }
  }
}

// Rows [m0, m1) × panels [p0, p1) of the job.
template <class TC, bool S8>
QF_AVX512VNNI_FN void block(const GemmJob& j, int m0, int m1, int p0, int p1) {
  const PackedWeights& W = *j.W;
  const int taps = W.taps, seg = W.seg, nr = W.layout.nr;
  TC* C = static_cast<TC*>(j.C);
  // Batch-1 rows of a plain GEMM: several panels per pass keep enough independent vpdpbusd chains in flight.
  if (m1 - m0 == 1 && taps == 1) {
    gemv_row<kGemvPanels, TC>(
        j, m0, p0, p1, [](const auto&... a) { gemv_tile<kGemvPanels, S8, TC>(a...); },
        [&](const uint8_t* a, int p, TC* c) {
          const uint8_t* rows[1] = {a};
          tile_any<S8, TC>(1, W.panel_cols(p) / 16, TapRows{rows, 1}, 1, seg, W.panel(p), W.panel_cols(p) * 4, j,
                           p * nr, W.panel_valid(p), c, j.ldc, 0, j.cbias);
        });
    return;
  }
  // A 6 × 64 tile keeps 24 accumulator chains in flight; a panel of 16 or 32 columns (small-channel convs) would
  // keep only 6 or 12, too few to hide vpdpbusd's latency, so such calls take taller row tiles.
  int max_nv = 0;
  for (int p = p0; p < p1; ++p) max_nv = std::max(max_nv, W.panel_cols(p) / 16);
  const int tile_rows = max_nv <= 1 ? kTallRows1 : max_nv == 2 ? kTallRows2 : kMR;
  std::vector<const uint8_t*> rows(size_t(tile_rows) * size_t(taps));
  // Where padding is a large share of the taps, a plan by padded taps (block_skip_padding); elsewhere (its
  // bookkeeping would cost more) only tiles inside one output row at the top or bottom skip their padded rows.
  const bool skippable = j.conv && W.tapsum && j.conv->skippable_padding();
  if (skippable && int64_t(W.N) * W.K >= plan_min_pixel_macs && j.conv->padded_share() >= kPlanPaddedShare)
    return block_skip_padding<TC, S8>(j, m0, m1, p0, p1, tile_rows);
  const ConvRows* cv = skippable ? j.conv : nullptr;
  SkipBias skip_bias(j, S8 ? W.layout.shift_s8 : W.layout.shift_u8);
  const bool interior = j.conv && j.conv->all_interior();
  // L2 panel groups, row tile outer and panels inner (row_tiles); a tile inside one output row at the top or bottom
  // skips its padded rows.
  uint64_t skip = 0;
  const int32_t* cb = j.cbias;
  row_tiles(
      m0, m1, p0, p1, tile_rows, l2_panel_group(size_t(nr) * size_t(W.kp)),
      [&](int m, int mr) {
        if (interior)
          j.conv->bases(m, mr, rows.data());
        else
          j.rows(m, mr, rows.data());
        skip = 0;
        if (cv) {
          const int hw = cv->out_h * cv->out_w, r0 = m % hw, r1 = (m + mr - 1) % hw;
          if (m / hw == (m + mr - 1) / hw && r0 / cv->out_w == r1 / cv->out_w)
            skip = cv->row_padded_taps(r0 / cv->out_w);
        }
        cb = skip ? skip_bias.get(skip) : j.cbias;
      },
      [&](int m, int mr, int p) {
        const int8_t* wp = W.panel(p);
        const int nv = W.panel_cols(p) / 16, valid = W.panel_valid(p), n0 = p * nr;
        TC* c = C + int64_t(m) * j.ldc + n0;
        if (interior)
          tile_any<S8, TC>(mr, nv, BaseRows{rows.data(), j.conv->tap_off.data()}, taps, seg, wp, 64 * nv, j, n0,
                           valid, c, j.ldc, skip, cb);
        else
          tile_any<S8, TC>(mr, nv, TapRows{rows.data(), taps}, taps, seg, wp, 64 * nv, j, n0, valid, c, j.ldc, skip,
                           cb);
      });
}

}  // namespace qforge::kernels::avx512vnni

#endif  // __x86_64__
