// kernels/gemm_job.hpp — the ISA-neutral description of one int8 GEMM call that the per-ISA block functions
// execute, and how the kernels find the K bytes of an A row (direct rows, or conv taps through an indirection).
//
// Contract: row m of A is `taps` segments of `seg` bytes (see packed_weights.hpp); rows() fills
// out[r·taps + t] with the address of segment t of row m0 + r. For a plain GEMM (conv == nullptr) that is
// A + m·lda. For a conv, row m is output pixel m (NHWC order) and segment t is tap (kh, kw): the address of the
// input pixel's channel group, or of pad_row (seg bytes holding the zero point) when the tap falls in the padding.
// A conv with few channels per tap is "gathered" instead (gather_seg > 0, weights packed as one segment of K =
// kh·kw·channels bytes rounded up to 4): rows() copies each row's taps into a per-thread buffer (zero bytes up to
// the round-up) and gives one address per row, valid until the calling thread's next rows() call (every block
// function uses a tile's rows before it asks for the next tile's).
// The epilogue values are prepared by the driver: cbias[n] = bias[n] − zp'·colsum[n] (wrapping int32) where
// zp' is the zero point of the bytes the kernel multiplies (a_zp, or a_zp + 128 for int8 activations flipped
// with XOR 0x80); for kernels that subtract the zero point while packing A, cbias = bias.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include <kernels/packed_weights.hpp>

namespace qforge::kernels {

struct ConvRows {
  const uint8_t* x = nullptr;        // NHWC input (bytes of u8 or s8), already offset to the channel group
  const uint8_t* pad_row = nullptr;  // ≥ seg bytes of the zero point
  int in_h = 0, in_w = 0;
  int64_t pixel_stride = 0;          // bytes between neighbouring input pixels (= in_c)
  int out_h = 0, out_w = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0;

  int gather_seg = 0;                // > 0: gathered rows of taps × gather_seg bytes (see the header comment)
  // Input rows [real_h0, real_h1) and columns [real_w0, real_w1) hold the image; the rest is padding made
  // explicit (qconv's padded copy, filled with the zero point). The *_padded_taps() masks tell a kernel which
  // taps it may skip.
  int real_h0 = 0, real_h1 = 1 << 30, real_w0 = 0, real_w1 = 1 << 30;

  std::vector<int64_t> tap_off;      // prepare(): byte offset of each tap from the window's top-left pixel

  void prepare() {
    tap_off.resize(size_t(kernel_h) * size_t(kernel_w));
    for (int kh = 0; kh < kernel_h; ++kh)
      for (int kw = 0; kw < kernel_w; ++kw)
        tap_off[size_t(kh * kernel_w + kw)] = (int64_t(kh) * dilation_h * in_w + int64_t(kw) * dilation_w) * pixel_stride;
  }

  void rows(int m0, int mr, const uint8_t** out) const {
    if (gather_seg > 0) return gather_rows(m0, mr, out);
    tap_rows(m0, mr, out);
  }

  // Whether every window lies inside the input (no padding, as after qconv's padded copy) and rows are not
  // gathered: then segment t of row m is at base(m) + tap_off[t], and bases() gives base(m) for a tile's rows,
  // mr addresses instead of mr·taps.
  bool all_interior() const { return gather_seg == 0 && windows_inside(); }
  bool windows_inside() const {
    return !tap_off.empty() && pad_top == 0 && pad_left == 0 &&
           (out_h - 1) * stride_h + (kernel_h - 1) * dilation_h < in_h &&
           (out_w - 1) * stride_w + (kernel_w - 1) * dilation_w < in_w;
  }
  // Whether some windows read explicit padding and a kernel may skip such taps (row_/col_padded_taps).
  bool skippable_padding() const {
    return kernel_h * kernel_w <= 64 && gather_seg == 0 && all_interior() &&
           (real_h0 > 0 || real_h1 < in_h || real_w0 > 0 || real_w1 < in_w);
  }
  // The share of all taps of all windows that read padding (0.18 for a 3×3 conv with padding 1 at 7×7 outputs,
  // 0.024 at 56×56). With KH = Σ_oh (padded kernel rows) and KW = Σ_ow (padded kernel columns), the padded taps are
  // KH·kernel_w·out_w + KW·kernel_h·out_h − KH·KW (the corners counted once).
  double padded_share() const {
    int64_t kh_sum = 0, kw_sum = 0;
    for (int oh = 0; oh < out_h; ++oh) kh_sum += __builtin_popcountll(row_padded_taps(oh)) / kernel_w;
    for (int ow = 0; ow < out_w; ++ow) kw_sum += __builtin_popcountll(col_padded_taps(ow)) / kernel_h;
    const double padded = double(kh_sum) * kernel_w * out_w + double(kw_sum) * kernel_h * out_h - double(kh_sum) * kw_sum;
    return padded / (double(out_h) * out_w * kernel_h * kernel_w);
  }
  // The taps (bit t = kh·kernel_w + kw) of output pixel (oh, ow)'s window that read explicit padding: the union
  // of row_padded_taps(oh) and col_padded_taps(ow). A kernel may skip them if it adds back what the zero-point
  // bytes would have contributed, zp'·Σ_k w[t][k] per column (PackedWeights::tapsum). Needs kernel_h·kernel_w ≤ 64.
  uint64_t row_padded_taps(int oh) const {
    uint64_t mask = 0;
    for (int kh = 0; kh < kernel_h; ++kh) {
      const int ih = oh * stride_h - pad_top + kh * dilation_h;
      if (ih < real_h0 || ih >= real_h1) mask |= ((uint64_t(1) << kernel_w) - 1) << (kh * kernel_w);
    }
    return mask;
  }
  uint64_t col_padded_taps(int ow) const {
    uint64_t mask = 0;
    for (int kw = 0; kw < kernel_w; ++kw) {
      const int iw = ow * stride_w - pad_left + kw * dilation_w;
      if (iw < real_w0 || iw >= real_w1)
        for (int kh = 0; kh < kernel_h; ++kh) mask |= uint64_t(1) << (kh * kernel_w + kw);
    }
    return mask;
  }

  // Whether rows [m0, m0 + mr) are one run: pixels of one output row whose windows all lie inside the input.
  // Then segment t of row m0 + r is at *base + r·(*step) + tap_off[t] (the depthwise kernels, which read their
  // input in place, use this for the tiles away from the border).
  bool run_at(int m0, int mr, const uint8_t** base, int64_t* step) const {
    if (gather_seg > 0 || tap_off.empty()) return false;
    const int hw = out_h * out_w;
    const int b = m0 / hw, rem = m0 - b * hw;
    const int oh = rem / out_w, ow = rem - oh * out_w;
    if (ow + mr > out_w) return false;
    const int ih0 = oh * stride_h - pad_top, iw0 = ow * stride_w - pad_left;
    const int iw_end = (ow + mr - 1) * stride_w - pad_left + (kernel_w - 1) * dilation_w;
    if (ih0 < 0 || ih0 + (kernel_h - 1) * dilation_h >= in_h || iw0 < 0 || iw_end >= in_w) return false;
    *base = x + (int64_t(b) * in_h * in_w + int64_t(ih0) * in_w + iw0) * pixel_stride;
    *step = int64_t(stride_w) * pixel_stride;
    return true;
  }
  void bases(int m0, int mr, const uint8_t** out) const {
    const int hw = out_h * out_w;
    int b = m0 / hw, rem = m0 - b * hw;
    int oh = rem / out_w, ow = rem - oh * out_w;
    const int64_t step = int64_t(stride_w) * pixel_stride;
    const uint8_t* row = x + (int64_t(b) * in_h * in_w + int64_t(oh) * stride_h * in_w) * pixel_stride;
    for (int r = 0; r < mr; ++r) {
      out[r] = row + ow * step;
      if (++ow == out_w) {
        ow = 0;
        if (++oh == out_h) { oh = 0; ++b; }
        row = x + (int64_t(b) * in_h * in_w + int64_t(oh) * stride_h * in_w) * pixel_stride;
      }
    }
  }

 private:
  // Gathered rows: the tap addresses of each row, then one copy per tap (per kernel row when the kw taps of a
  // window row are adjacent in memory: dilation 1 and the taps' channels span the whole pixel).
  void gather_rows(int m0, int mr, const uint8_t** out) const {
    const int taps = kernel_h * kernel_w, seg = gather_seg;
    const size_t K = size_t(taps) * size_t(seg), ld = (K + 63) / 64 * 64;
    static thread_local std::vector<const uint8_t*> src;
    static thread_local std::vector<uint8_t> buf;
    if (src.size() < size_t(mr) * size_t(taps)) src.resize(size_t(mr) * size_t(taps));
    if (buf.size() < size_t(mr) * ld) buf.resize(size_t(mr) * ld);
    for (int r = 0; r < mr; ++r)  // K's round-up to the dot width meets zero weights: keep the bytes defined
      for (size_t k = K; k < (K + 3) / 4 * 4; ++k) buf[size_t(r) * ld + k] = 0;
    const bool runs = dilation_w == 1 && pixel_stride == seg;
    if (windows_inside()) {  // padding made explicit: each kernel row of a window is one copy when runs
      bases(m0, mr, src.data());
      for (int r = 0; r < mr; ++r) {
        uint8_t* d = buf.data() + size_t(r) * ld;
        for (int kh = 0; kh < kernel_h; ++kh) {
          const int t0 = kh * kernel_w;
          uint8_t* dk = d + size_t(t0) * size_t(seg);
          if (runs) {
            copy_bytes(dk, src[size_t(r)] + tap_off[size_t(t0)], size_t(kernel_w) * size_t(seg));
          } else {
            for (int kw = 0; kw < kernel_w; ++kw)
              copy_bytes(dk + size_t(kw) * size_t(seg), src[size_t(r)] + tap_off[size_t(t0 + kw)], size_t(seg));
          }
        }
        out[r] = d;
      }
      return;
    }
    tap_rows(m0, mr, src.data());
    for (int r = 0; r < mr; ++r) {
      uint8_t* d = buf.data() + size_t(r) * ld;
      const uint8_t* const* s = src.data() + size_t(r) * size_t(taps);
      for (int kh = 0; kh < kernel_h; ++kh) {
        const uint8_t* const* sk = s + kh * kernel_w;
        uint8_t* dk = d + size_t(kh) * size_t(kernel_w) * size_t(seg);
        bool whole = runs;
        for (int kw = 0; whole && kw < kernel_w; ++kw) whole = sk[kw] == sk[0] + int64_t(kw) * seg;
        if (whole) {
          copy_bytes(dk, sk[0], size_t(kernel_w) * size_t(seg));
        } else {
          for (int kw = 0; kw < kernel_w; ++kw) copy_bytes(dk + size_t(kw) * size_t(seg), sk[kw], size_t(seg));
        }
      }
      out[r] = d;
    }
  }

  // Copies of a constant size compile to one or two moves; the stems copy 1-9 bytes per tap or kernel row, so
  // a library call (or a byte loop) per copy would cost more than the row's multiply-adds.
  template <size_t... N>
  static void copy_small(uint8_t* d, const uint8_t* s, size_t n, std::index_sequence<N...>) {
    (void)((n == N + 1 ? (std::memcpy(d, s, N + 1), true) : false) || ...);
  }
  static void copy_bytes(uint8_t* d, const uint8_t* s, size_t n) {
    if (n <= 16)
      copy_small(d, s, n, std::make_index_sequence<16>{});
    else
      std::memcpy(d, s, n);
  }

  void tap_rows(int m0, int mr, const uint8_t** out) const {
    const int taps = kernel_h * kernel_w;
    const int hw = out_h * out_w;
    int b = m0 / hw, rem = m0 - b * hw;
    int oh = rem / out_w, ow = rem - oh * out_w;
    const int span_h = (kernel_h - 1) * dilation_h, span_w = (kernel_w - 1) * dilation_w;
    for (int r = 0; r < mr; ++r) {
      const uint8_t* img = x + int64_t(b) * in_h * in_w * pixel_stride;
      const int ih0 = oh * stride_h - pad_top, iw0 = ow * stride_w - pad_left;
      const uint8_t** o = out + r * taps;
      if (!tap_off.empty() && ih0 >= 0 && ih0 + span_h < in_h && iw0 >= 0 && iw0 + span_w < in_w) {
        const uint8_t* base = img + (int64_t(ih0) * in_w + iw0) * pixel_stride;  // window inside the image
        for (int t = 0; t < taps; ++t) o[t] = base + tap_off[size_t(t)];
      } else {
        for (int kh = 0; kh < kernel_h; ++kh) {
          const int ih = ih0 + kh * dilation_h;
          for (int kw = 0; kw < kernel_w; ++kw) {
            const int iw = iw0 + kw * dilation_w;
            o[kh * kernel_w + kw] = (ih < 0 || ih >= in_h || iw < 0 || iw >= in_w)
                                        ? pad_row
                                        : img + (int64_t(ih) * in_w + iw) * pixel_stride;
          }
        }
      }
      if (++ow == out_w) {
        ow = 0;
        if (++oh == out_h) { oh = 0; ++b; }
      }
    }
  }
};

struct GemmJob {
  int M = 0;
  const uint8_t* A = nullptr;  // plain GEMM: row m at A + m·lda
  int64_t lda = 0;
  const ConvRows* conv = nullptr;
  bool a_signed = false;       // activations are int8 (kernels flip them to u8 with XOR 0x80)
  int32_t a_zp = 0;            // the activation zero point as given (for kernels that pack A − zp)
  const PackedWeights* W = nullptr;
  const int32_t* cbias = nullptr;  // npanels·nr entries, see the header comment
  const float* scale = nullptr;    // N entries or null (= 1)
  float lo = 0.f, hi = 255.f;      // clamp bounds on the scaled value: qmin − out_zp, qmax − out_zp
  int32_t out_zp = 0;
  void* C = nullptr;
  int64_t ldc = 0;                 // in elements of the output type

  void rows(int m0, int mr, const uint8_t** out) const {
    if (conv) {
      conv->rows(m0, mr, out);
    } else {
      for (int r = 0; r < mr; ++r) out[r] = A + int64_t(m0 + r) * lda;
    }
  }
};

// A depthwise conv call as the per-ISA kernels see it. Per-channel constants in natural channel order.
struct DwJob {
  const ConvRows* conv = nullptr;  // taps = kernel_h·kernel_w, pixel_stride = C, x at channel 0
  int C = 0;
  const int8_t* w = nullptr;       // packed by pack_dw_weights for the ISA
  const int32_t* cbias = nullptr;  // bias − zp'·Σ_t w, C entries
  const float* scale = nullptr;    // C entries or null (= 1)
  float lo = 0.f, hi = 255.f;
  int32_t out_zp = 0;
  void* y = nullptr;               // NHWC output, pixel stride C
};

}  // namespace qforge::kernels
