// kernels/x86/amx/qgemm_block.hpp — u8×s8 GEMM on AMX-INT8 tiles (tdpbusd), AVX-512 epilogue.
//
// Scheme: weights packed for Isa::amx (panels of 32 columns, 4 K bytes per column per row, K padded to 64), so a
// B tile (16 K-groups × 16 columns × 4 bytes) is 16 rows of 64 bytes with stride 128 inside a panel. A is packed per
// block of 32 rows into a buffer (row stride kp, K laid out like the weights: taps × seg_pad, zero padded; int8
// activations flipped to u8 with XOR 0x80), so an A tile is 16 rows × 64 bytes. Each 32×32 output block keeps
// 2×2 int32 C tiles (tmm0-3) over the whole K loop with A in tmm4-5 and B in tmm6-7, then stores them to a
// buffer that the AVX-512 VNNI epilogue (zero-point/bias, scale, clamp, narrow) reads. Panels of 16 columns use
// 2×1 tiles. Rows past M are zero in the A buffer and never stored.
//
// Contract: block<TC, S8>(job, m0, m1, p0, p1) gives bit for bit ref::qgemm; it runs only after
// isa_available(Isa::amx) (CPUID AMX-TILE/INT8, OS XTILEDATA state granted by arch_prctl). The same code runs on
// an exact scalar model of the four tile instructions (TileOps = EmulatedTiles, see emulated_block), which is how
// the layout, packing and epilogue are tested on CPUs without AMX.
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

#define QF_AMX_FN                                                                                           \
  __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,bmi,bmi2"))) \
  inline

namespace qforge::kernels::amx {

constexpr int kMR = 32;  // rows per block (two A tiles)

// The 64-byte tile configuration (palette 1): tiles 0-3 = C (16 rows × 64 bytes of int32), 4-5 = A, 6-7 = B.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

inline TileConfig tile_config() {
  TileConfig c;
  for (int t = 0; t < 8; ++t) {
    c.colsb[t] = 64;
    c.rows[t] = 16;
  }
  return c;
}

// The four tile operations on real AMX registers. GCC's tile intrinsics paste the tile number into the asm
// text, so it must be a literal: the templates expand to one literal per case.
#define QF_AMX_TILE_CASES(OP) \
  if constexpr (T == 0) OP(0); \
  else if constexpr (T == 1) OP(1); \
  else if constexpr (T == 2) OP(2); \
  else if constexpr (T == 3) OP(3); \
  else if constexpr (T == 4) OP(4); \
  else if constexpr (T == 5) OP(5); \
  else if constexpr (T == 6) OP(6); \
  else OP(7)
struct HardwareTiles {
  QF_AMX_FN static void configure() {
    static const TileConfig cfg = tile_config();
    _tile_loadconfig(&cfg);
  }
  QF_AMX_FN static void release() { _tile_release(); }
  template <int T>
  QF_AMX_FN static void zero() {
#define QF_AMX_ZERO(n) _tile_zero(n)
    QF_AMX_TILE_CASES(QF_AMX_ZERO);
#undef QF_AMX_ZERO
  }
  template <int T>
  QF_AMX_FN static void load(const void* p, int64_t stride) {
#define QF_AMX_LOAD(n) _tile_loadd(n, p, stride)
    QF_AMX_TILE_CASES(QF_AMX_LOAD);
#undef QF_AMX_LOAD
  }
  template <int C, int A, int B>
  QF_AMX_FN static void dpbusd() {
    static_assert((C == 0 && A == 4 && B == 6) || (C == 1 && A == 5 && B == 6) || (C == 2 && A == 4 && B == 7) ||
                      (C == 3 && A == 5 && B == 7),
                  "tile combination not instantiated");
    if constexpr (C == 0) _tile_dpbusd(0, 4, 6);
    else if constexpr (C == 1) _tile_dpbusd(1, 5, 6);
    else if constexpr (C == 2) _tile_dpbusd(2, 4, 7);
    else _tile_dpbusd(3, 5, 7);
  }
  template <int T>
  QF_AMX_FN static void store(void* p, int64_t stride) {
#define QF_AMX_STORE(n) _tile_stored(n, p, stride)
    QF_AMX_TILE_CASES(QF_AMX_STORE);
#undef QF_AMX_STORE
  }
};
#undef QF_AMX_TILE_CASES

// An exact scalar model of the same operations (per thread): tdpbusd C[m][n] += Σ_r Σ_i A[m][4r+i]·B[r][4n+i],
// A unsigned, B signed, 16×64-byte tiles.
struct EmulatedTiles {
  struct State {
    alignas(64) uint8_t t[8][16][64];
  };
  static State& state() {
    static thread_local State s;
    return s;
  }
  static void configure() {}
  static void release() {}
  template <int T>
  static void zero() { std::memset(state().t[T], 0, sizeof(state().t[T])); }
  template <int T>
  static void load(const void* p, int64_t stride) {
    for (int r = 0; r < 16; ++r) std::memcpy(state().t[T][r], static_cast<const uint8_t*>(p) + r * stride, 64);
  }
  template <int C, int A, int B>
  static void dpbusd() {
    State& s = state();
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 16; ++n) {
        int32_t acc;
        std::memcpy(&acc, &s.t[C][m][4 * n], 4);
        uint32_t sum = uint32_t(acc);
        for (int r = 0; r < 16; ++r)
          for (int i = 0; i < 4; ++i) sum += uint32_t(int32_t(s.t[A][m][4 * r + i]) * int32_t(int8_t(s.t[B][r][4 * n + i])));
        acc = int32_t(sum);
        std::memcpy(&s.t[C][m][4 * n], &acc, 4);
      }
  }
  template <int T>
  static void store(void* p, int64_t stride) {
    for (int r = 0; r < 16; ++r) std::memcpy(static_cast<uint8_t*>(p) + r * stride, state().t[T][r], 64);
  }
};

// Packs rows [m, m + mr) into abuf (kMR rows of kp bytes; rows past mr zero), K laid out as the weights.
template <bool S8>
QF_AMX_FN void pack_rows(const GemmJob& j, int m, int mr, std::vector<const uint8_t*>& rows, uint8_t* abuf) {
  const PackedWeights& W = *j.W;
  const int taps = W.taps, seg = W.seg, seg_pad = W.seg_pad, kp = W.kp;
  j.rows(m, mr, rows.data());
  const __m512i flip = _mm512_set1_epi8(char(0x80));
  for (int r = 0; r < kMR; ++r) {
    uint8_t* d = abuf + size_t(r) * size_t(kp);
    if (r >= mr) {
      std::memset(d, 0, size_t(kp));
      continue;
    }
    for (int t = 0; t < taps; ++t) {
      const uint8_t* s = rows[size_t(r) * taps + t];
      uint8_t* dt = d + size_t(t) * seg_pad;
      int k = 0;
      for (; k + 64 <= seg; k += 64) {
        __m512i x = _mm512_loadu_si512(s + k);
        if constexpr (S8) x = _mm512_xor_si512(x, flip);
        _mm512_storeu_si512(dt + k, x);
      }
      if (k < seg) {
        const __mmask64 mk = (__mmask64(1) << (seg - k)) - 1;
        __m512i x = _mm512_maskz_loadu_epi8(mk, s + k);
        if constexpr (S8) x = _mm512_xor_si512(x, flip);
        _mm512_mask_storeu_epi8(dt + k, mk, x);
      }
      // zero padding (and for int8 input, zeros stay zeros: they multiply zero weights anyway)
      for (int q = seg; q < seg_pad; ++q) dt[q] = 0;
    }
    for (int q = taps * seg_pad; q < kp; ++q) d[q] = 0;
  }
}

// One 32-row block × one panel (32 or 16 columns): 2×2 (or 2×1) C tiles over the whole K.
template <class Tiles, bool TwoCols>
QF_AMX_FN void panel_tiles(const uint8_t* abuf, int kp, const int8_t* w, int32_t* cbuf) {
  Tiles::template zero<0>();
  Tiles::template zero<1>();
  if (TwoCols) {
    Tiles::template zero<2>();
    Tiles::template zero<3>();
  }
  const int64_t bstride = TwoCols ? 128 : 64;
  for (int k = 0; k < kp; k += 64) {
    Tiles::template load<4>(abuf + k, kp);
    Tiles::template load<5>(abuf + size_t(16) * kp + k, kp);
    const int8_t* wk = w + size_t(k / 4) * size_t(bstride);
    Tiles::template load<6>(wk, bstride);
    Tiles::template dpbusd<0, 4, 6>();
    Tiles::template dpbusd<1, 5, 6>();
    if (TwoCols) {
      Tiles::template load<7>(wk + 64, bstride);
      Tiles::template dpbusd<2, 4, 7>();
      Tiles::template dpbusd<3, 5, 7>();
    }
  }
  // cbuf: 32 rows × 32 int32 (row stride 128 bytes)
  Tiles::template store<0>(cbuf, 128);
  Tiles::template store<1>(cbuf + 16 * 32, 128);
  if (TwoCols) {
    Tiles::template store<2>(cbuf + 16, 128);
    Tiles::template store<3>(cbuf + 16 * 32 + 16, 128);
  }
}

template <class TC, bool S8, class Tiles>
QF_AMX_FN void block_impl(const GemmJob& j, int m0, int m1, int p0, int p1) {
  const PackedWeights& W = *j.W;
  const int kp = W.kp, nr = W.layout.nr;
  TC* C = static_cast<TC*>(j.C);
  std::vector<const uint8_t*> rows(size_t(kMR) * size_t(W.taps));
  std::vector<uint8_t> abuf_v(size_t(kMR) * size_t(kp) + 64);
  uint8_t* abuf = abuf_v.data();
  alignas(64) int32_t cbuf[32 * 32];
  Tiles::configure();
  for (int m = m0; m < m1; m += kMR) {
    const int mr = std::min(kMR, m1 - m);
    pack_rows<S8>(j, m, mr, rows, abuf);
    for (int p = p0; p < p1; ++p) {
      const int cols = W.panel_cols(p), valid = W.panel_valid(p), n0 = p * nr;
      if (cols == 32)
        panel_tiles<Tiles, true>(abuf, kp, W.panel(p), cbuf);
      else
        panel_tiles<Tiles, false>(abuf, kp, W.panel(p), cbuf);
      for (int r = 0; r < mr; ++r) {
        TC* c = C + int64_t(m + r) * j.ldc + n0;
        for (int v = 0; v * 16 < valid; ++v)
          avx512vnni::store16<TC>(_mm512_load_si512(cbuf + r * 32 + 16 * v), j, n0 + 16 * v, valid - 16 * v,
                                  c + 16 * v);
      }
    }
  }
  Tiles::release();
}

template <class TC, bool S8>
QF_AMX_FN void block(const GemmJob& j, int m0, int m1, int p0, int p1) {
  block_impl<TC, S8, HardwareTiles>(j, m0, m1, p0, p1);
}

// The same kernel on the scalar tile model (needs only AVX-512 VNNI): for tests on CPUs without AMX.
template <class TC, bool S8>
QF_AVX512VNNI_FN void emulated_block(const GemmJob& j, int m0, int m1, int p0, int p1) {
  block_impl<TC, S8, EmulatedTiles>(j, m0, m1, p0, p1);
}

}  // namespace qforge::kernels::amx

#endif  // __x86_64__
