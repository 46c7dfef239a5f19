// kernels/packed_weights.hpp — int8 weights packed once (at prepare time) into the order an ISA's GEMM
// micro-kernel reads, plus the per-column sums used for the activation zero-point term.
//
// Contract: a weight matrix W (N×K, row n = output channel n, int8, symmetric) is seen by the kernels as `taps`
// segments of `seg` K-values each (K = taps·seg; a plain GEMM has taps = 1, a k×k conv has taps = kh·kw and
// seg = channels per group, K ordered (kh, kw, c)). Each segment is zero-padded to seg_pad = round_up(seg, 4) and
// the whole K to kp (a multiple of the ISA's K block). Columns are cut into panels of nr columns (the last one
// narrower, rounded up to the ISA's vector width); panel p starts at byte p·nr·kp·elem_bytes and stores, for each
// group of kgroup K values, its `width` columns × kgroup values contiguously (the "VNNI" order: kgroup = 4 for
// vpdpbusd/sdot, 2 for the 16-bit vpmaddwd path, elem_bytes = 2 there). colsum[n] = Σ_k W[n][k] (0 past N).
// isa = ref keeps W unpacked (row-major N×K in `data`). Packed weights are immutable and cheap to copy (shared).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "qforge/core/cpu.hpp"
#include "qforge/core/error.hpp"

namespace qforge::kernels {

// Geometry of a packed layout for one ISA.
struct PackLayout {
  int nr = 16;          // columns per full panel
  int vec_cols = 16;    // the last panel's width is rounded up to this
  int kgroup = 4;       // K values stored together per column (dot width)
  int kblock = 4;       // kp is a multiple of this
  int elem_bytes = 1;   // 1: int8, 2: int16 (sign-extended)
  bool colsums = true;  // kernel needs Σ_k W (zero-point term) — false when A is packed as (A - zp)
  // The kernel multiplies A + shift instead of A (XOR 0x80 moves u8 to s8 or back): zp' = a_zp + shift.
  int32_t shift_u8 = 0, shift_s8 = 128;
};

inline PackLayout pack_layout(Isa isa) {
  switch (isa) {
    case Isa::avx512vnni: return {64, 16, 4, 4, 1, true, 0, 128};  // u8 domain (vpdpbusd)
    case Isa::amx: return {32, 16, 4, 64, 1, true, 0, 128};
    case Isa::avxvnni: return {24, 8, 4, 4, 1, true, 0, 128};
    case Isa::avx2: return {24, 8, 2, 4, 2, false, 0, 0};         // A packed as (A − zp) in int16
    case Isa::dotprod:
    case Isa::i8mm:
    case Isa::neon: return {16, 4, 4, 4, 1, true, -128, 0};       // s8 domain (sdot / smull)
    case Isa::ref: break;
  }
  return {1, 1, 1, 1, 1, false, 0, 0};
}

struct PackedWeights {
  Isa isa = Isa::ref;
  int N = 0, K = 0;
  int taps = 1, seg = 0, seg_pad = 0, kp = 0;
  PackLayout layout;
  int npanels = 0;
  std::shared_ptr<int8_t> data;          // 64-byte aligned
  size_t bytes = 0;
  std::shared_ptr<const int32_t> colsum;  // npanels·nr entries (zero past N); null when !layout.colsums
  // Per-tap column sums, tapsum[t·npanels·nr + n] = Σ_s W[n][t·seg + s], for avx512vnni convs (taps > 1), whose
  // kernel skips taps of padding and adds back their zero-point term (ConvRows::row_padded_taps).
  std::shared_ptr<const int32_t> tapsum;

  bool empty() const { return !data; }
  int panel_cols(int p) const {  // columns stored in panel p (≥ valid columns)
    const int rem = N - p * layout.nr;
    const int w = std::min(rem, layout.nr);
    return (w + layout.vec_cols - 1) / layout.vec_cols * layout.vec_cols;
  }
  int panel_valid(int p) const { return std::min(N - p * layout.nr, layout.nr); }
  const int8_t* panel(int p) const {
    return data.get() + size_t(p) * size_t(layout.nr) * size_t(kp) * size_t(layout.elem_bytes);
  }
};

namespace pack_detail {
inline std::shared_ptr<int8_t> aligned_bytes(size_t n) {
  const size_t sz = (std::max<size_t>(n, 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, sz);
  QF_CHECK(p != nullptr, "out of memory packing ", n, " bytes of weights");
  std::memset(p, 0, sz);
  return std::shared_ptr<int8_t>(static_cast<int8_t*>(p), [](int8_t* q) { std::free(q); });
}
}  // namespace pack_detail

// Packs W (N×K, row stride ldw) for `isa`, seen as taps × seg (K = taps·seg). Programmer errors (bad sizes)
// abort through QF_CHECK.
inline PackedWeights pack_weights_segmented(int N, int taps, int seg, const int8_t* W, int ldw, Isa isa) {
  QF_CHECK(N > 0 && taps > 0 && seg > 0 && ldw >= taps * seg, "pack_weights: N=", N, " taps=", taps, " seg=", seg,
           " ldw=", ldw);
  PackedWeights pw;
  pw.isa = isa;
  pw.N = N;
  pw.K = taps * seg;
  pw.taps = taps;
  pw.seg = seg;
  pw.layout = pack_layout(isa);
  const PackLayout& L = pw.layout;
  if (isa == Isa::ref) {
    pw.seg_pad = seg;
    pw.kp = pw.K;
    pw.npanels = 1;
    pw.bytes = size_t(N) * size_t(pw.K);
    pw.data = pack_detail::aligned_bytes(pw.bytes);
    for (int n = 0; n < N; ++n) std::memcpy(pw.data.get() + size_t(n) * pw.K, W + size_t(n) * ldw, size_t(pw.K));
    return pw;
  }
  pw.seg_pad = (seg + 3) / 4 * 4;
  pw.kp = (taps * pw.seg_pad + L.kblock - 1) / L.kblock * L.kblock;
  pw.npanels = (N + L.nr - 1) / L.nr;
  pw.bytes = size_t(pw.npanels) * size_t(L.nr) * size_t(pw.kp) * size_t(L.elem_bytes);
  pw.data = pack_detail::aligned_bytes(pw.bytes);
  const size_t ncols = size_t(pw.npanels) * size_t(L.nr);
  std::vector<int32_t> cs(ncols, 0);
  std::vector<int32_t> ts(taps > 1 && isa == Isa::avx512vnni ? size_t(taps) * ncols : 0, 0);
  for (int p = 0; p < pw.npanels; ++p) {
    const int width = pw.panel_cols(p), valid = pw.panel_valid(p);
    int8_t* dst8 = pw.data.get() + size_t(p) * size_t(L.nr) * size_t(pw.kp) * size_t(L.elem_bytes);
    for (int j = 0; j < valid; ++j) {
      const int n = p * L.nr + j;
      const int8_t* src = W + size_t(n) * size_t(ldw);
      int32_t sum = 0;
      for (int t = 0; t < taps; ++t)
        for (int s = 0; s < seg; ++s) {
          const int8_t v = src[t * seg + s];
          sum += v;
          if (!ts.empty()) ts[size_t(t) * ncols + size_t(n)] += v;
          const int kk = t * pw.seg_pad + s;  // padded K index
          const size_t idx = (size_t(kk / L.kgroup) * size_t(width) + size_t(j)) * size_t(L.kgroup) + kk % L.kgroup;
          if (L.elem_bytes == 1) {
            dst8[idx] = v;
          } else {
            const int16_t v16 = v;
            std::memcpy(dst8 + idx * 2, &v16, 2);
          }
        }
      cs[size_t(n)] = sum;
    }
  }
  if (L.colsums) {
    auto* c = new int32_t[cs.size()];
    std::copy(cs.begin(), cs.end(), c);
    pw.colsum = std::shared_ptr<const int32_t>(c, [](const int32_t* q) { delete[] q; });
  }
  if (!ts.empty()) {
    auto* c = new int32_t[ts.size()];
    std::copy(ts.begin(), ts.end(), c);
    pw.tapsum = std::shared_ptr<const int32_t>(c, [](const int32_t* q) { delete[] q; });
  }
  return pw;
}

// Packs a GEMM weight matrix W (N×K row-major, row stride ldw) for `isa` (must be available on this CPU to run).
inline PackedWeights pack_weights(int N, int K, const int8_t* W, int ldw, Isa isa) {
  return pack_weights_segmented(N, 1, K, W, ldw, isa);
}

}  // namespace qforge::kernels
