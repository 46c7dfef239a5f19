// kernels/qconv.hpp — int8 NHWC convolution: weights packed once per ISA, then run as an implicit GEMM (the
// kernels read the input through tap addresses: no im2col copy; a conv of ≤ 3 channels per tap copies each row's
// taps into one K segment) or, for depthwise convolutions, by a dedicated depthwise kernel. A padded implicit-GEMM
// conv first copies its input with the padding made explicit, so that every window lies inside it.
//
// Contract: qconv2d_nhwc(p, x, x_zp, packed, ep, y) gives bit for bit ref::qconv2d_nhwc(p, x, x_zp, w, ep, y)
// (kernels/ref/qconv_ref.hpp) for the weights w that pack_conv_weights(p, w, isa) was given, on every ISA and
// thread count. x: NHWC u8 or s8 with zero point x_zp; w: OIHW int8 [out_c][in_c/groups][kh][kw]; y: dense NHWC
// (batch, out_h, out_w, out_c) of int32/float/u8/s8 with the Epilogue of kernels/ref/qgemm_ref.hpp (bias and
// scale per output channel). Padding reads as the zero point. The call's ConvParams may differ from the packing
// ones only in batch and spatial size (in_h, in_w, pads, strides, dilations); channel counts, kernel size and
// groups must match (checked). Paths: depthwise (groups = in_c = out_c, any kernel size) → depthwise kernel;
// otherwise one implicit GEMM per group with M = batch·out_h·out_w, N = out_c/groups, K = kh·kw·(in_c/groups)
// read tap by tap; a 1×1/stride 1/no-pad conv is a plain GEMM over the input rows.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "qforge/core/cpu.hpp"
#include "qforge/core/error.hpp"
#include <kernels/gemm_job.hpp>
#include <kernels/packed_weights.hpp>
#include <kernels/qgemm.hpp>
#include <kernels/ref/qconv_ref.hpp>
#if defined(__x86_64__)
#include <kernels/x86/avx2/dwconv_block.hpp>
#include <kernels/x86/avx512vnni/dwconv_block.hpp>
#endif
#if defined(__aarch64__)
#include <kernels/arm/neon/dwconv_block.hpp>
#endif

namespace qforge::kernels {

// Depthwise layers with padding, at most this many output columns and at most this many channels run the AVX-512
// VNNI kernel on a padded copy of their input (see qconv2d_nhwc). Variables so that the tests can send every
// depthwise shape down either path.
inline int dw_padded_copy_max_width = 16;
inline int dw_padded_copy_max_channels = 128;

// How the depthwise weights are laid out for an ISA's kernel.
enum class DwLayout {
  none,  // no dedicated kernel: raw OIHW weights, reference loop
  x64,   // AVX-512 VNNI: [C/64][tap group g][q=0..3][64 bytes]: byte 4·(4L + i) + s = w[64b + 16L + 4q + i][4g + s]
  x8,    // AVX2: int32 [tap][round_up(C, 8)], low 16 bits = w[c][t] (int16), high 16 bits 0
  n16,   // NEON: int16 [tap][round_up(C, 16)] = w[c][t]
};

inline DwLayout dw_layout(Isa isa) {
  switch (isa) {
    case Isa::avx512vnni:
    case Isa::amx: return DwLayout::x64;
    case Isa::avx2:
    case Isa::avxvnni: return DwLayout::x8;
    case Isa::neon:
    case Isa::dotprod:
    case Isa::i8mm: return DwLayout::n16;
    case Isa::ref: break;
  }
  return DwLayout::none;
}

struct PackedConv {
  ConvParams p;                       // the geometry the weights were packed for
  Isa isa = Isa::ref;
  bool depthwise = false;
  std::vector<PackedWeights> groups;  // implicit-GEMM path: one per group (K ordered kh, kw, c)
  bool gathered = false;              // groups packed as one K segment: rows are gathered (see gather_pays)
  DwLayout dw = DwLayout::none;       // depthwise path
  std::shared_ptr<int8_t> dw_data;
  std::vector<int32_t> dw_colsum;     // Σ_t w[c][t], C entries
  std::vector<int8_t> raw;            // OIHW copy when no kernel applies (isa = ref, or dw = none)
};

// Whether a k×k conv reads its rows gathered (each row's taps copied into one contiguous K segment) rather than
// tap by tap. With few channels per tap, the tap-by-tap kernels spend more on per-tap addresses, loop set-up
// and partial loads (a 1-channel stem runs 1-byte segments) than on vpdpbusd; a copy of K bytes per row is
// cheaper. QFORGE_GATHER_MAX_CHANNELS overrides the limit (0: never gather).
inline int gather_max_channels() {
  static const int v = [] {
    const char* e = std::getenv("QFORGE_GATHER_MAX_CHANNELS");
    return e && *e ? std::atoi(e) : 3;
  }();
  return v;
}
inline bool gather_pays(const ConvParams& p) {
  return p.kernel_h * p.kernel_w > 1 && p.in_c / p.groups <= gather_max_channels();
}

// Packs OIHW weights for `isa`. Programmer errors (invalid geometry) abort through QF_CHECK.
inline PackedConv pack_conv_weights(const ConvParams& p, const int8_t* w, Isa isa) {
  QF_CHECK(p.valid(), "pack_conv_weights: invalid conv geometry (in_c=", p.in_c, " out_c=", p.out_c,
           " groups=", p.groups, ")");
  PackedConv pc;
  pc.p = p;
  pc.isa = isa;
  const int taps = p.kernel_h * p.kernel_w, cpg = p.in_c / p.groups, opg = p.out_c / p.groups;
  const size_t wcount = size_t(p.out_c) * cpg * taps;
  pc.depthwise = p.is_depthwise();
  if (isa == Isa::ref || (pc.depthwise && dw_layout(isa) == DwLayout::none)) {
    pc.raw.assign(w, w + wcount);
    return pc;
  }
  if (pc.depthwise) {
    const int C = p.in_c;
    pc.dw = dw_layout(isa);
    pc.dw_colsum.assign(size_t(C), 0);
    for (int c = 0; c < C; ++c)
      for (int t = 0; t < taps; ++t) pc.dw_colsum[size_t(c)] += w[size_t(c) * taps + t];
    if (pc.dw == DwLayout::x64) {
      const int nblk = (C + 63) / 64, ngroups = (taps + 3) / 4;
      pc.dw_data = pack_detail::aligned_bytes(size_t(nblk) * ngroups * 4 * 64);
      int8_t* d = pc.dw_data.get();
      for (int c = 0; c < C; ++c) {
        const int b = c / 64, cc = c % 64, L = cc / 16, q = (cc % 16) / 4, i = cc % 4;
        for (int t = 0; t < taps; ++t)
          d[((size_t(b) * ngroups + t / 4) * 4 + q) * 64 + 4 * (4 * L + i) + t % 4] = w[size_t(c) * taps + t];
      }
    } else if (pc.dw == DwLayout::x8) {
      const size_t cp = size_t(C + 7) / 8 * 8;
      pc.dw_data = pack_detail::aligned_bytes(size_t(taps) * cp * 4);
      int32_t* d = reinterpret_cast<int32_t*>(pc.dw_data.get());
      for (int c = 0; c < C; ++c)
        for (int t = 0; t < taps; ++t) d[size_t(t) * cp + c] = int32_t(uint16_t(int16_t(w[size_t(c) * taps + t])));
    } else {  // n16
      const size_t cp = size_t(C + 15) / 16 * 16;
      pc.dw_data = pack_detail::aligned_bytes(size_t(taps) * cp * 2);
      int16_t* d = reinterpret_cast<int16_t*>(pc.dw_data.get());
      for (int c = 0; c < C; ++c)
        for (int t = 0; t < taps; ++t) d[size_t(t) * cp + c] = w[size_t(c) * taps + t];
    }
    return pc;
  }
  // Implicit GEMM: reorder each group's OIHW weights to [oc][kh][kw][c] = taps × seg, then pack.
  pc.gathered = gather_pays(p);
  std::vector<int8_t> g(size_t(opg) * taps * cpg);
  for (int gi = 0; gi < p.groups; ++gi) {
    for (int o = 0; o < opg; ++o)
      for (int c = 0; c < cpg; ++c)
        for (int t = 0; t < taps; ++t)
          g[(size_t(o) * taps + t) * cpg + c] = w[((size_t(gi) * opg + o) * cpg + c) * taps + t];
    if (pc.gathered) {
      // One segment of K rounded up to the dot width (zero weights past K): the kernels then never take the
      // partial-load path, and gathered rows carry zero bytes there (ConvRows::gather_rows).
      const int K = taps * cpg, K4 = (K + 3) / 4 * 4;
      std::vector<int8_t> g4(size_t(opg) * size_t(K4), 0);
      for (int o = 0; o < opg; ++o) std::memcpy(&g4[size_t(o) * K4], &g[size_t(o) * K], size_t(K));
      pc.groups.push_back(pack_weights_segmented(opg, 1, K4, g4.data(), K4, isa));
    } else {
      pc.groups.push_back(pack_weights_segmented(opg, taps, cpg, g.data(), taps * cpg, isa));
    }
  }
  return pc;
}

namespace qconv_detail {

using DwFn = void (*)(const DwJob&, int, int);

template <class TC, bool S8>
DwFn dw_fn(DwLayout l) {
  switch (l) {
#if defined(__x86_64__)
    case DwLayout::x64: return &avx512vnni::dw_block<TC, S8>;
    case DwLayout::x8: return &avx2::dw_block<TC, S8>;
#endif
#if defined(__aarch64__)
    case DwLayout::n16: return &neon::dw_block<TC, S8>;
#endif
    default: return nullptr;
  }
}

// The input with the conv's padding made explicit (zero-point bytes), so that every window lies inside it and
// the kernels find a row's taps from one base address (ConvRows::all_interior). *padded gets the geometry of
// the copy: same output size, no padding. The buffer is per thread and reused across calls (it keeps the
// largest padded input seen); the result stays valid until this thread's next call.
inline const uint8_t* pad_input(const ConvParams& p, const uint8_t* x, uint8_t zp, ConvParams* padded) {
  ConvParams q = p;
  q.in_h = p.in_h + p.pad_top + p.pad_bottom;
  q.in_w = p.in_w + p.pad_left + p.pad_right;
  q.pad_top = q.pad_left = q.pad_bottom = q.pad_right = 0;
  const size_t C = size_t(p.in_c), row = size_t(p.in_w) * C, prow = size_t(q.in_w) * C;
  static thread_local std::vector<uint8_t> buf;
  const size_t need = size_t(p.batch) * size_t(q.in_h) * prow;
  if (buf.size() < need) buf.resize(need);
  for (int b = 0; b < p.batch; ++b)
    for (int h = 0; h < q.in_h; ++h) {
      uint8_t* d = buf.data() + (size_t(b) * size_t(q.in_h) + size_t(h)) * prow;
      const int ih = h - p.pad_top;
      if (ih < 0 || ih >= p.in_h) {
        std::memset(d, zp, prow);
        continue;
      }
      std::memset(d, zp, size_t(p.pad_left) * C);
      std::memcpy(d + size_t(p.pad_left) * C, x + (size_t(b) * size_t(p.in_h) + size_t(ih)) * row, row);
      std::memset(d + size_t(p.pad_left) * C + row, zp, size_t(p.pad_right) * C);
    }
  *padded = q;
  return buf.data();
}

inline ConvRows make_rows(const ConvParams& p, const uint8_t* x, const uint8_t* pad_row, int channel_offset) {
  ConvRows r;
  r.x = x + channel_offset;
  r.pad_row = pad_row;
  r.in_h = p.in_h;
  r.in_w = p.in_w;
  r.pixel_stride = p.in_c;
  r.out_h = p.out_h();
  r.out_w = p.out_w();
  r.kernel_h = p.kernel_h;
  r.kernel_w = p.kernel_w;
  r.stride_h = p.stride_h;
  r.stride_w = p.stride_w;
  r.dilation_h = p.dilation_h;
  r.dilation_w = p.dilation_w;
  r.pad_top = p.pad_top;
  r.pad_left = p.pad_left;
  r.prepare();
  return r;
}

}  // namespace qconv_detail

// y = epilogue(conv(x − x_zp, w)) with weights packed by pack_conv_weights; see the header comment.
template <class TA, class TC>
void qconv2d_nhwc(const ConvParams& p, const TA* x, int32_t x_zp, const PackedConv& pc, const Epilogue& ep, TC* y,
                  int threads = 0) {
  static_assert(std::is_same_v<TA, uint8_t> || std::is_same_v<TA, int8_t>, "activations must be uint8_t or int8_t");
  constexpr bool S8 = std::is_same_v<TA, int8_t>;
  QF_CHECK(p.valid() && p.in_c == pc.p.in_c && p.out_c == pc.p.out_c && p.kernel_h == pc.p.kernel_h &&
               p.kernel_w == pc.p.kernel_w && p.groups == pc.p.groups,
           "qconv2d_nhwc: geometry does not match the packed weights");
  if (!pc.raw.empty() || pc.isa == Isa::ref) {
    ref::qconv2d_nhwc<TA, TC>(p, x, x_zp, pc.raw.data(), ep, y);
    return;
  }
  QF_CHECK(isa_available(pc.isa), "qconv2d_nhwc: weights packed for ", isa_name(pc.isa), ", not available here");
  const int M = p.batch * p.out_h() * p.out_w();
  const int taps = p.kernel_h * p.kernel_w, cpg = p.in_c / p.groups, opg = p.out_c / p.groups;
  const uint8_t* xb = reinterpret_cast<const uint8_t*>(x);
  uint8_t zp_byte;
  {
    const TA z = TA(x_zp);
    std::memcpy(&zp_byte, &z, 1);
  }
  if (pc.depthwise) {
    const int C = p.in_c;
    std::vector<uint8_t> pad_row(size_t(C) + 64, zp_byte);
    // Read in place: at 9 multiply-adds per input byte, a padded copy costs more than it saves on most layers
    // (144-960 channels at 14-56 pixels lost 16-20 %; bm_conv 1 thread, three alternating runs, median GOPS:
    // dw 384c14x14 70.8 -> 65.2, dw 960c7x7 69.6 -> 65.9 with the copy). On narrow
    // layers of few channels most tiles touch the border or span two output rows, and the per-tap address work
    // of such a tile, the same whatever the channel count, outweighs the copy: there the AVX-512 VNNI kernel reads
    // a padded copy through base addresses.
    ConvParams pp = p;
    const uint8_t* xr = xb;
    if (pc.dw == DwLayout::x64 && (p.pad_top | p.pad_left | p.pad_bottom | p.pad_right) != 0 &&
        p.out_w() <= dw_padded_copy_max_width && C <= dw_padded_copy_max_channels)
      xr = qconv_detail::pad_input(p, xb, zp_byte, &pp);
    const ConvRows rows = qconv_detail::make_rows(pp, xr, pad_row.data(), 0);
    // Kernels that flip int8 activations to u8 (XOR 0x80) see zero point x_zp + 128.
    const int32_t zp = (S8 && pc.dw == DwLayout::x64) ? x_zp + 128 : x_zp;
    std::vector<int32_t> cbias(size_t(C) + 64, 0);
    for (int c = 0; c < C; ++c)
      cbias[size_t(c)] =
          int32_t((ep.bias ? uint32_t(ep.bias[c]) : 0u) - uint32_t(zp) * uint32_t(pc.dw_colsum[size_t(c)]));
    DwJob j;
    j.conv = &rows;
    j.C = C;
    j.w = pc.dw_data.get();
    j.cbias = cbias.data();
    j.scale = ep.scale;
    j.lo = float(ep.qmin - ep.out_zp);
    j.hi = float(ep.qmax - ep.out_zp);
    j.out_zp = ep.out_zp;
    j.y = y;
    const auto fn = qconv_detail::dw_fn<TC, S8>(pc.dw);
    QF_CHECK(fn != nullptr, "qconv2d_nhwc: no depthwise kernel for ", isa_name(pc.isa), " in this build");
    // A depthwise MAC costs ~8x a GEMM MAC here (it cannot reuse loaded activations across output channels;
    // bench/bm_conv, AVX-512 VNNI, 1 thread: 75-100 GOPS depthwise, 880-930 for 3x3 and 1x1 convs).
    const int64_t dw_work = 8 * int64_t(M) * C * p.kernel_h * p.kernel_w;
    const int T = std::max(1, std::min(qgemm_detail::threads_for_work(qgemm_detail::resolve_threads(threads), dw_work),
                                       (M + 7) / 8));
    // Contiguous pixel ranges, multiples of 4 so every thread runs full register tiles.
    auto part = [&](int t) {
      const int q = (M + 3) / 4;
      const int a = std::min(M, int(int64_t(q) * t / T) * 4), b = std::min(M, int(int64_t(q) * (t + 1) / T) * 4);
      if (a < b) fn(j, a, b);
    };
    run_parts(T, part);
    return;
  }
  const bool pointwise = taps == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 && p.pad_left == 0 &&
                         p.pad_bottom == 0 && p.pad_right == 0;
  std::vector<uint8_t> pad_row(size_t(cpg) + 64, zp_byte);
  std::vector<int32_t> scratch;
  ConvParams pp = p;  // the geometry the rows are read in: padding made explicit
  const uint8_t* xr = xb;
  if (!pointwise && (p.pad_top | p.pad_left | p.pad_bottom | p.pad_right) != 0)
    xr = qconv_detail::pad_input(p, xb, zp_byte, &pp);
  for (int g = 0; g < p.groups; ++g) {
    const PackedWeights& W = pc.groups[size_t(g)];
    ConvRows rows = qconv_detail::make_rows(pp, xr, pad_row.data(), g * cpg);
    if (pc.gathered) rows.gather_seg = cpg;
    if (xr != xb) {  // the padded copy: where the image lies in it
      rows.real_h0 = p.pad_top;
      rows.real_h1 = p.pad_top + p.in_h;
      rows.real_w0 = p.pad_left;
      rows.real_w1 = p.pad_left + p.in_w;
    }
    Epilogue eg = ep;
    if (ep.bias) eg.bias = ep.bias + size_t(g) * opg;
    if (ep.scale) eg.scale = ep.scale + size_t(g) * opg;
    GemmJob j;
    j.M = M;
    j.W = &W;
    j.C = y + size_t(g) * opg;
    j.ldc = p.out_c;
    if (pointwise) {
      j.A = xb + size_t(g) * cpg;
      j.lda = p.in_c;
    } else {
      j.conv = &rows;
    }
    run_qgemm_job<TA, TC>(j, x_zp, eg, scratch, threads);
  }
}

// The depthwise path alone (p.is_depthwise() must hold): same as qconv2d_nhwc.
template <class TA, class TC>
void qdwconv_nhwc(const ConvParams& p, const TA* x, int32_t x_zp, const PackedConv& pc, const Epilogue& ep, TC* y,
                  int threads = 0) {
  QF_CHECK(p.is_depthwise() && pc.p.is_depthwise(), "qdwconv_nhwc: not a depthwise convolution");
  qconv2d_nhwc<TA, TC>(p, x, x_zp, pc, ep, y, threads);
}

}  // namespace qforge::kernels
