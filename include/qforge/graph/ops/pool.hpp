// qforge/graph/ops/pool.hpp — MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (1-D/2-D/3-D).
//
// Contract (ONNX): MaxPool on float32/uint8/int8 with pads (ignored cells), strides, dilations, auto_pad,
// ceil_mode and the optional Indices output (flat over the input tensor; storage_order 1 = spatial dims
// reversed within a plane). AveragePool on float32 with
// count_include_pad: 0 divides by the number of input cells in the window, 1 by the window clipped to the padded
// input (PyTorch's rule, which is what the ONNX tests pin for ceil_mode windows). Global pools reduce all spatial
// dims to 1. Planes (n, c) run in parallel.
#pragma once
#include <limits>

#include "qforge/graph/ops/op.hpp"
#include "qforge/graph/ops/window.hpp"

namespace qforge::ops {

namespace pool_detail {

// Calls f(id, ih, iw, value) for each input cell of the window that starts at (d0, h0, w0), skipping padding.
template <class T, class F>
void for_each_cell(const T* x, const Window& w, int64_t d0, int64_t h0, int64_t w0, F&& f) {
  for (int64_t kd = 0; kd < w.k[0]; ++kd) {
    const int64_t id = d0 + kd * w.d[0];
    if (id < 0 || id >= w.in[0]) continue;
    for (int64_t kh = 0; kh < w.k[1]; ++kh) {
      const int64_t ih = h0 + kh * w.d[1];
      if (ih < 0 || ih >= w.in[1]) continue;
      const T* row = x + (id * w.in[1] + ih) * w.in[2];
      for (int64_t kw = 0; kw < w.k[2]; ++kw) {
        const int64_t iw = w0 + kw * w.d[2];
        if (iw >= 0 && iw < w.in[2]) f(id, ih, iw, row[iw]);
      }
    }
  }
}

// idx (MaxPool only, may be null): flat index of each max within the plane, row-major or (col_major) with the
// spatial dims reversed.
template <class T, bool kMax>
void pool_plane(const T* x, const Window& w, bool count_pad, T* y, int64_t* idx = nullptr, bool col_major = false) {
  for (int64_t od = 0; od < w.out[0]; ++od) {
    int64_t d0 = od * w.s[0] - w.pb[0];
    for (int64_t oh = 0; oh < w.out[1]; ++oh) {
      int64_t h0 = oh * w.s[1] - w.pb[1];
      for (int64_t ow = 0; ow < w.out[2]; ++ow) {
        int64_t w0 = ow * w.s[2] - w.pb[2];
        const int64_t o = (od * w.out[1] + oh) * w.out[2] + ow;
        if constexpr (kMax) {
          T m = std::numeric_limits<T>::lowest();
          int64_t am = 0;
          bool any = false;
          for_each_cell(x, w, d0, h0, w0, [&](int64_t id, int64_t ih, int64_t iw, T v) {
            if (!any || v > m || (std::is_floating_point<T>::value && v != v)) {  // NaN wins, as in ONNX
              m = v;
              am = col_major ? (iw * w.in[1] + ih) * w.in[0] + id : (id * w.in[1] + ih) * w.in[2] + iw;
            }
            any = true;
          });
          y[o] = m;
          if (idx) idx[o] = am;
        } else {
          float s = 0.f;
          int64_t cnt = 0;
          for_each_cell(x, w, d0, h0, w0, [&](int64_t, int64_t, int64_t, T v) {
            s += v;
            ++cnt;
          });
          int64_t div = cnt;
          if (count_pad) {
            // Window clipped to the padded input, counted per dim (dilation 1 as in the ONNX op).
            div = 1;
            int64_t starts[3] = {d0, h0, w0};
            for (int i = 0; i < 3; ++i) {
              int64_t e = std::min(starts[i] + (w.k[size_t(i)] - 1) * w.d[size_t(i)] + 1, w.in[size_t(i)] + w.pe[size_t(i)]);
              div *= (e - starts[i] + w.d[size_t(i)] - 1) / w.d[size_t(i)];
            }
          }
          y[o] = div > 0 ? T(s / float(div)) : T(0);
        }
      }
    }
  }
}

struct PoolAttrs {
  WindowAttrs wa;
  bool count_pad = false;
};

template <bool kMax>
Result<KernelPtr> build_pool(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 2));
  bool want_idx = c.node.outputs.size() > 1 && !c.node.outputs[1].empty();
  if (want_idx && !kMax) return make_error("AveragePool has one output");
  bool col_major = c.node.get_int("storage_order", 0) != 0;
  if (kMax) {
    QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::u8, DType::i8}));
  } else {
    QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  }
  PoolAttrs p;
  if (!c.node.has("kernel_shape")) return make_error("attribute 'kernel_shape' is required");
  int nsp = int(c.node.get_ints("kernel_shape").size());
  QF_ASSIGN_OR_RETURN(p.wa, read_window_attrs(c.node, nsp, true));
  p.count_pad = c.node.get_int("count_include_pad", 0) != 0;
  DType t = c.dtype(0);
  c.out_dtypes.assign(c.node.outputs.size(), t);
  if (c.out_dtypes.size() > 1) c.out_dtypes[1] = DType::i64;
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([p, want_idx, col_major](const RunContext& rc, const std::vector<const Tensor*>& in,
                                                std::vector<Tensor>& out) -> Status {
      const Tensor& x = *in[0];
      int nsp = p.wa.nsp;
      if (int(x.rank()) != nsp + 2)
        return make_error("input has shape ", shape_str(x.shape()), ", expected rank ", nsp + 2);
      QF_ASSIGN_OR_RETURN(Window w, resolve_window(p.wa, x.shape().data() + 2, p.wa.kernel));
      Shape os{x.dim(0), x.dim(1)};
      for (int i = 0; i < nsp; ++i) os.push_back(w.out[size_t(3 - nsp + i)]);
      QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), os));
      int64_t planes = x.dim(0) * x.dim(1), ins = w.in_size(), outs = w.out_size();
      if constexpr (std::is_same<T, bool>::value || std::is_same<T, int32_t>::value || std::is_same<T, int64_t>::value) {
        return make_error("unsupported dtype");
      } else {
        const T* px = x.data<T>();
        T* py = y.data<T>();
        Tensor ind;
        if (want_idx) ind = Tensor(DType::i64, os);
        int64_t* pi = want_idx ? ind.data<int64_t>() : nullptr;
        parallel_for(rc, planes, grain_for(outs), [&](int64_t b, int64_t e) {
          for (int64_t t2 = b; t2 < e; ++t2) {
            pool_plane<T, kMax>(px + t2 * ins, w, p.count_pad, py + t2 * outs, pi ? pi + t2 * outs : nullptr, col_major);
            if (pi)
              for (int64_t k = 0; k < outs; ++k) pi[t2 * outs + k] += t2 * ins;
          }
        });
        if (want_idx) out[1] = std::move(ind);
      }
      out[0] = std::move(y);
      return Status::Ok();
    });
  });
}

template <bool kMax>
Result<KernelPtr> build_global_pool(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  c.outputs_as(DType::f32);
  return make_kernel([](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() < 2) return make_error("input has shape ", shape_str(x.shape()), ", expected rank >= 2");
    Shape os = x.shape();
    for (size_t i = 2; i < os.size(); ++i) os[i] = 1;
    Tensor y(DType::f32, os);
    int64_t planes = x.dim(0) * x.dim(1), inner = dims_product(x.shape(), 2, x.rank());
    const float* px = x.data<float>();
    float* py = y.data<float>();
    parallel_for(rc, planes, grain_for(inner), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const float* xp = px + t * inner;
        if (kMax) {
          float m = -INFINITY;
          for (int64_t i = 0; i < inner; ++i) m = xp[i] > m ? xp[i] : m;
          py[t] = m;
        } else {
          float s = 0.f;
          for (int64_t i = 0; i < inner; ++i) s += xp[i];
          py[t] = inner ? s / float(inner) : 0.f;
        }
      }
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

}  // namespace pool_detail

inline void add_pool_ops(OpTable& t) {
  using namespace pool_detail;
  t["MaxPool"] = {&build_pool<true>};
  t["AveragePool"] = {&build_pool<false>};
  t["GlobalAveragePool"] = {&build_global_pool<false>};
  t["GlobalMaxPool"] = {&build_global_pool<true>};
}

}  // namespace qforge::ops
