// kernels/block_loops.hpp — the ISA-independent loops of the per-ISA int8 block functions (kernels/x86/*,
// kernels/arm/*): which register tile runs where, with the ISA's tile passed in as a callable, and the scalar
// reads of an A row's 4-byte K groups that the tiles broadcast.
//
// Contract: no intrinsics and no target attribute, so a function with any ISA's target features can inline them
// (GCC and Clang inline a callee whose features are a subset of the caller's). The callables run in plain loop
// order; nothing here changes what a tile computes.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <kernels/gemm_job.hpp>
#include <kernels/packed_weights.hpp>

namespace qforge::kernels {

// f(std::integral_constant<int, n>{}) with n = v clamped to [Lo, Hi]: a tile's run-time row or vector count as
// the template argument of its kernel (one instance per count, accumulators in registers).
template <int Lo, int Hi, class F>
inline void with_count(int v, F&& f) {
  if constexpr (Lo < Hi) {
    if (v <= Lo) return f(std::integral_constant<int, Lo>{});
    return with_count<Lo + 1, Hi>(v, f);
  } else {
    f(std::integral_constant<int, Hi>{});
  }
}

// f(rows, vectors) for a tile of mr ∈ [1, MaxR] rows × nv ∈ [1, MaxV] column vectors.
template <int MaxR, int MaxV, class F>
inline void with_tile(int mr, int nv, F&& f) {
  with_count<1, MaxR>(mr, [&](auto r) { with_count<1, MaxV>(nv, [&](auto v) { f(r, v); }); });
}

// Panels [p0, p1) of one batch-1 row: runs of P full panels go to group(p) (P times the independent accumulator
// chains of one panel), the rest to one(p).
template <int P, class Group, class One>
inline void gemv_panels(const PackedWeights& W, int p0, int p1, Group&& group, One&& one) {
  int p = p0;
  for (; p + P <= p1 && W.panel_valid(p + P - 1) == W.layout.nr; p += P) group(p);
  for (; p < p1; ++p) one(p);
}

// Panels per group so that a group's weights (≤ ~512 KB) stay in L2 while every row tile of a block passes over
// them.
inline int l2_panel_group(size_t panel_bytes) { return std::max(1, int((512 * 1024) / panel_bytes)); }

// Rows [m0, m1) × panels [p0, p1): panel groups of `group` outer; within a group, row tiles of ≤ tile_rows
// (rows(m, mr) once per tile), then panels (panel(m, mr, p)). The tile's A rows stay in L1 while the panels
// stream, and consecutive tiles store to neighbouring columns of the same rows (not to 4 KB-aliased rows of one
// column).
template <class Rows, class Panel>
inline void row_tiles(int m0, int m1, int p0, int p1, int tile_rows, int group, Rows&& rows, Panel&& panel) {
  for (int g0 = p0; g0 < p1; g0 += group) {
    const int g1 = std::min(p1, g0 + group);
    for (int m = m0; m < m1; m += tile_rows) {
      const int mr = std::min(tile_rows, m1 - m);
      rows(m, mr);
      for (int p = g0; p < g1; ++p) panel(m, mr, p);
    }
  }
}

// A batch-1 row m of a plain GEMM (taps = 1) over panels [p0, p1): runs of P full panels go to
// group(a, seg, w, pstride, j, n0, c) (the gemv tile's arguments: row, first panel, panel stride in bytes, first
// column and its output), the rest to one(a, p, c).
template <int P, class TC, class Group, class One>
inline void gemv_row(const GemmJob& j, int m, int p0, int p1, Group&& group, One&& one) {
  const PackedWeights& W = *j.W;
  const uint8_t* a = nullptr;  // via rows(): a 1×1 strided conv comes here too (a one-row chunk), with A unset
  j.rows(m, 1, &a);
  TC* c = static_cast<TC*>(j.C) + int64_t(m) * j.ldc;
  const int nr = W.layout.nr;
  const size_t pstride = size_t(nr) * size_t(W.kp);
  gemv_panels<P>(W, p0, p1, [&](int p) { group(a, W.seg, W.panel(p), pstride, j, p * nr, c + p * nr); },
                 [&](int p) { one(a, p, c + p * nr); });
}

// The block of a kernel that reads A in place (rows() per tile): rows [m0, m1) × panels [p0, p1) in row tiles of
// ≤ MR rows and panel groups of `group`; tile(r, v, rows, taps, seg, w, j, n0, valid, c, ldc) with r rows and v
// column vectors of VW columns as std::integral_constant.
template <int MR, int MaxV, int VW, class TC, class Tile>
inline void byte_row_tiles(const GemmJob& j, int m0, int m1, int p0, int p1, int group, Tile&& tile) {
  const PackedWeights& W = *j.W;
  TC* C = static_cast<TC*>(j.C);
  std::vector<const uint8_t*> rows(static_cast<size_t>(MR) * size_t(W.taps));
  row_tiles(m0, m1, p0, p1, MR, group, [&](int m, int mr) { j.rows(m, mr, rows.data()); },
            [&](int m, int mr, int p) {
              const int n0 = p * W.layout.nr;
              with_tile<MR, MaxV>(mr, W.panel_cols(p) / VW, [&](auto r, auto v) {
                tile(r, v, rows.data(), W.taps, W.seg, W.panel(p), j, n0, W.panel_valid(p),
                     C + int64_t(m) * j.ldc + n0, j.ldc);
              });
            });
}

// The 4 K bytes at p as one 32-bit lane value; the first n (≤ 4) bytes at p zero-extended, for a segment's last
// K group (the padded weights are 0 there): no read past the segment.
inline int32_t load4(const uint8_t* p) {
  int32_t x;
  std::memcpy(&x, p, 4);
  return x;
}
inline int32_t load_partial(const uint8_t* p, int n) {
  uint32_t x = 0;
  std::memcpy(&x, p, size_t(n));
  return int32_t(x);
}

}  // namespace qforge::kernels
