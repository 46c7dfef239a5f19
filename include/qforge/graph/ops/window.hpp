// qforge/graph/ops/window.hpp — sliding-window geometry shared by Conv and the pools (ONNX rules).
//
// Contract: spatial attributes are normalised to 3 spatial dims (D, H, W): a 1-D or 2-D op gets leading unit
// dims (kernel 1, stride 1, pad 0, dilation 1), so one loop nest serves 1-D, 2-D and 3-D. Output size per dim:
// floor((in + pb + pe - ((k-1)*d + 1)) / s) + 1 (ceil with ceil_mode, dropping a last window that would start
// in the end padding); auto_pad SAME_UPPER/SAME_LOWER give out = ceil(in / s) with the odd pad at the end/begin,
// VALID gives no padding.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ir.hpp"

namespace qforge::ops {

struct WindowAttrs {
  int nsp = 0;                           // spatial rank of the node (1..3)
  std::vector<int64_t> kernel, strides, dilations, pads;  // pads: begins then ends (2*nsp); as given
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;
};

// Resolved geometry for one input shape, normalised to 3 dims.
struct Window {
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0}, pe{0, 0, 0};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
};

// Reads kernel_shape/strides/dilations/pads/auto_pad/ceil_mode; kernel may come from elsewhere (Conv weights).
inline Result<WindowAttrs> read_window_attrs(const Node& n, int nsp, bool need_kernel_attr) {
  WindowAttrs w;
  if (nsp < 1 || nsp > 3) return make_error("only 1-D, 2-D and 3-D windows are supported (got ", nsp, " spatial dims)");
  w.nsp = nsp;
  w.kernel = n.get_ints("kernel_shape");
  if (need_kernel_attr && w.kernel.empty()) return make_error("attribute 'kernel_shape' is required");
  if (!w.kernel.empty() && int(w.kernel.size()) != nsp)
    return make_error("attribute 'kernel_shape' has ", w.kernel.size(), " values for ", nsp, " spatial dims");
  w.strides = n.get_ints("strides", std::vector<int64_t>(size_t(nsp), 1));
  w.dilations = n.get_ints("dilations", std::vector<int64_t>(size_t(nsp), 1));
  w.pads = n.get_ints("pads", std::vector<int64_t>(size_t(2 * nsp), 0));
  w.auto_pad = n.get_string("auto_pad", "NOTSET");
  w.ceil_mode = n.get_int("ceil_mode", 0) != 0;
  if (int(w.strides.size()) != nsp) return make_error("attribute 'strides' has ", w.strides.size(), " values, expected ", nsp);
  if (int(w.dilations.size()) != nsp)
    return make_error("attribute 'dilations' has ", w.dilations.size(), " values, expected ", nsp);
  if (int(w.pads.size()) != 2 * nsp) return make_error("attribute 'pads' has ", w.pads.size(), " values, expected ", 2 * nsp);
  for (auto v : w.strides) if (v < 1) return make_error("attribute 'strides' must be >= 1");
  for (auto v : w.dilations) if (v < 1) return make_error("attribute 'dilations' must be >= 1");
  for (auto v : w.pads) if (v < 0) return make_error("attribute 'pads' must be >= 0");
  for (auto v : w.kernel) if (v < 1) return make_error("attribute 'kernel_shape' must be >= 1");
  if (w.auto_pad != "NOTSET" && w.auto_pad != "SAME_UPPER" && w.auto_pad != "SAME_LOWER" && w.auto_pad != "VALID")
    return make_error("attribute 'auto_pad' has unknown value '", w.auto_pad, "'");
  return w;
}

// Geometry for spatial input dims `in` (size nsp) with kernel `kernel` (size nsp).
inline Result<Window> resolve_window(const WindowAttrs& a, const int64_t* in, const std::vector<int64_t>& kernel) {
  Window w;
  int off = 3 - a.nsp;
  for (int i = 0; i < a.nsp; ++i) {
    int j = off + i;
    int64_t n = in[i], k = kernel[size_t(i)], s = a.strides[size_t(i)], d = a.dilations[size_t(i)];
    int64_t ext = (k - 1) * d + 1;
    int64_t pb = a.pads[size_t(i)], pe = a.pads[size_t(i + a.nsp)], o = 0;
    if (a.auto_pad == "VALID") {
      pb = pe = 0;
      o = n >= ext ? (n - ext) / s + 1 : 0;
    } else if (a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
      o = (n + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (o - 1) * s + ext - n);
      if (a.auto_pad == "SAME_UPPER") { pb = total / 2; pe = total - pb; }
      else { pe = total / 2; pb = total - pe; }
    } else {
      int64_t span = n + pb + pe - ext;
      if (span < 0) return make_error("window ", ext, " is larger than padded input ", n + pb + pe, " at spatial dim ", i);
      if (a.ceil_mode) {
        o = (span + s - 1) / s + 1;
        if ((o - 1) * s >= n + pb) --o;  // the last window must start inside the input or the begin padding
      } else {
        o = span / s + 1;
      }
    }
    if (o < 1) return make_error("output size ", o, " at spatial dim ", i, " (input ", n, ", window ", ext, ")");
    w.in[size_t(j)] = n; w.out[size_t(j)] = o; w.k[size_t(j)] = k; w.s[size_t(j)] = s; w.d[size_t(j)] = d;
    w.pb[size_t(j)] = pb; w.pe[size_t(j)] = pe;
  }
  return w;
}

}  // namespace qforge::ops
