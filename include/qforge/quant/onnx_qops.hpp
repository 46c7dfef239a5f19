// qforge/quant/onnx_qops.hpp — the ONNX quantization operators as fp32-executor ops (graph/ops/op.hpp factories):
// QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger.
//
// Contract (ONNX opset 10..13 semantics, what the ONNX node tests pin):
//   QuantizeLinear   y = saturate(round_half_even(x / s) + zp); s, zp scalar or 1-D along `axis` (default 1);
//                    y dtype = zp dtype (uint8 when zp is absent); float32 or int32 x.
//   DequantizeLinear y = (x - zp) · s, same broadcasting; x uint8/int8/int32.
//   ConvInteger      y(int32) = conv(x - x_zp, w - w_zp); w_zp scalar or per output channel; 2-D, NCHW, groups,
//                    strides, pads, dilations, auto_pad.
//   QLinearConv      acc = conv(x - x_zp, w - w_zp) + B (int32); y = saturate(round(float(acc)·(x_s·w_s[m]/y_s))
//                    + y_zp) — the float32 multiplier and rounding of kernels/ref/qgemm_ref.hpp.
//   MatMulInteger    y(int32) = matmul(a - a_zp, b - b_zp), numpy batch broadcasting; a_zp scalar or per row,
//                    b_zp scalar or per column.
//   QLinearMatMul    y = saturate(round(float(acc)·(a_s·b_s[n]/y_s)) + y_zp).
// These are scalar reference implementations (the int8 executor uses the fast kernels); they exist so ONNX
// QOperator/QDQ models run through the fp32 executor and so the int8 semantics are checked against ONNX.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ops/op.hpp"
#include "qforge/graph/ops/window.hpp"
#include "qforge/quant/qparams.hpp"

namespace qforge::quant {

namespace qops_detail {

inline int32_t int_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::u8: return t.data<uint8_t>()[i];
    case DType::i8: return t.data<int8_t>()[i];
    case DType::i32: return t.data<int32_t>()[i];
    default: return 0;
  }
}
inline void range_of(DType t, int32_t& lo, int32_t& hi) {
  if (t == DType::u8) { lo = 0; hi = 255; }
  else if (t == DType::i8) { lo = -128; hi = 127; }
  else { lo = INT32_MIN; hi = INT32_MAX; }
}
inline void store_int(Tensor& t, int64_t i, int32_t v) {
  if (t.dtype() == DType::u8) t.data<uint8_t>()[i] = uint8_t(v);
  else if (t.dtype() == DType::i8) t.data<int8_t>()[i] = int8_t(v);
  else t.data<int32_t>()[i] = v;
}

// Per-axis parameter index of flat element i of a tensor of shape `s`: axis < 0 means per tensor.
struct AxisIndex {
  int64_t inner = 1, dim = 1;
  bool per_axis = false;
  int64_t operator()(int64_t i) const { return per_axis ? (i / inner) % dim : 0; }
};
inline Result<AxisIndex> axis_index(const Shape& s, int64_t axis, int64_t nparams, const char* what) {
  AxisIndex a;
  if (nparams == 1) return a;
  QF_ASSIGN_OR_RETURN(int64_t ax, ops::norm_axis(axis, int64_t(s.size())));
  if (s[size_t(ax)] != nparams)
    return make_error(what, " has ", nparams, " values but axis ", ax, " of ", shape_str(s), " has ", s[size_t(ax)]);
  a.per_axis = true;
  a.dim = nparams;
  for (size_t d = size_t(ax) + 1; d < s.size(); ++d) a.inner *= s[d];
  return a;
}

inline Status need_scalar_or_1d(const Tensor* t, const char* what) {
  if (t && t->rank() > 1) return make_error(what, " must be a scalar or 1-D, got ", shape_str(t->shape()));
  return Status::Ok();
}

// ---- QuantizeLinear / DequantizeLinear -----------------------------------------------------------------------
inline Result<ops::KernelPtr> build_quantize_linear(ops::BuildContext& c) {
  QF_RETURN_IF_ERROR(ops::expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 0, {DType::f32, DType::i32}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 1, {DType::f32}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 2, {DType::u8, DType::i8}));
  const DType out = c.has(2) ? c.dtype(2) : DType::u8;
  c.outputs_as(out);
  const int64_t axis = c.node.get_int("axis", 1);
  return ops::make_kernel([out, axis](const ops::RunContext&, const std::vector<const Tensor*>& in,
                                      std::vector<Tensor>& o) -> Status {
    const Tensor& x = *in[0];
    const Tensor& s = *in[1];
    const Tensor* z = in.size() > 2 ? in[2] : nullptr;
    QF_RETURN_IF_ERROR(need_scalar_or_1d(&s, "y_scale"));
    QF_RETURN_IF_ERROR(need_scalar_or_1d(z, "y_zero_point"));
    if (z && z->numel() != s.numel()) return make_error("y_zero_point and y_scale differ in size");
    QF_ASSIGN_OR_RETURN(AxisIndex ai, axis_index(x.shape(), axis, s.numel(), "y_scale"));
    int32_t lo, hi;
    range_of(out, lo, hi);
    Tensor y(out, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t p = ai(i);
      const float xv = x.dtype() == DType::f32 ? x.data<float>()[i] : float(x.data<int32_t>()[i]);
      store_int(y, i, quantize_value(xv, s.data<float>()[p], z ? int_at(*z, p) : 0, lo, hi));
    }
    o[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<ops::KernelPtr> build_dequantize_linear(ops::BuildContext& c) {
  QF_RETURN_IF_ERROR(ops::expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 0, {DType::u8, DType::i8, DType::i32}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 1, {DType::f32}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 2, {DType::u8, DType::i8, DType::i32}));
  if (c.has(2) && c.dtype(2) != c.dtype(0)) return make_error("x_zero_point must have the dtype of x");
  c.outputs_as(DType::f32);
  const int64_t axis = c.node.get_int("axis", 1);
  return ops::make_kernel([axis](const ops::RunContext&, const std::vector<const Tensor*>& in,
                                 std::vector<Tensor>& o) -> Status {
    const Tensor& x = *in[0];
    const Tensor& s = *in[1];
    const Tensor* z = in.size() > 2 ? in[2] : nullptr;
    QF_RETURN_IF_ERROR(need_scalar_or_1d(&s, "x_scale"));
    QF_RETURN_IF_ERROR(need_scalar_or_1d(z, "x_zero_point"));
    if (z && z->numel() != s.numel()) return make_error("x_zero_point and x_scale differ in size");
    QF_ASSIGN_OR_RETURN(AxisIndex ai, axis_index(x.shape(), axis, s.numel(), "x_scale"));
    Tensor y(DType::f32, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t p = ai(i);
      y.data<float>()[i] = dequantize_value(int_at(x, i), s.data<float>()[p], z ? int_at(*z, p) : 0);
    }
    o[0] = std::move(y);
    return Status::Ok();
  });
}

// ---- integer convolution (NCHW, 2-D) ---------------------------------------------------------------------------
// acc[n][m][oh][ow] = Σ (x - x_zp) · (w - w_zp[m]) (+ bias[m]).
inline Result<Tensor> conv_int32(const ops::WindowAttrs& wa, int64_t group, const Tensor& x, int32_t x_zp, const Tensor& w,
                                 const Tensor* w_zp, const Tensor* bias) {
  if (x.rank() != 4 || w.rank() != 4)
    return make_error("only 2-D convolution is supported: x ", shape_str(x.shape()), ", w ", shape_str(w.shape()));
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), M = w.dim(0), Cg = w.dim(1);
  if (group < 1 || C != Cg * group || M % group)
    return make_error("x has ", C, " channels, w ", shape_str(w.shape()), " with group ", group, " does not fit");
  if (w_zp && w_zp->numel() != 1 && w_zp->numel() != M) return make_error("w_zero_point must have 1 or ", M, " values");
  if (bias && bias->numel() != M) return make_error("B must have ", M, " values");
  std::vector<int64_t> kernel = wa.kernel.empty() ? std::vector<int64_t>{w.dim(2), w.dim(3)} : wa.kernel;
  if (kernel[0] != w.dim(2) || kernel[1] != w.dim(3)) return make_error("kernel_shape does not match w");
  const int64_t in_sp[2] = {H, W};
  QF_ASSIGN_OR_RETURN(ops::Window win, ops::resolve_window(wa, in_sp, kernel));
  const int64_t OH = win.out[1], OW = win.out[2], KH = kernel[0], KW = kernel[1], Mg = M / group;
  Tensor y(DType::i32, {N, M, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      const int32_t wz = w_zp ? int_at(*w_zp, w_zp->numel() == 1 ? 0 : m) : 0;
      const int64_t g = m / Mg;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          int32_t acc = bias ? int_at(*bias, m) : 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t ih = oh * win.s[1] - win.pb[1] + kh * win.d[1];
              if (ih < 0 || ih >= H) continue;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t iw = ow * win.s[2] - win.pb[2] + kw * win.d[2];
                if (iw < 0 || iw >= W) continue;
                const int32_t xv = int_at(x, ((n * C + g * Cg + c) * H + ih) * W + iw) - x_zp;
                const int32_t wv = int_at(w, ((m * Cg + c) * KH + kh) * KW + kw) - wz;
                acc += xv * wv;
              }
            }
          y.data<int32_t>()[((n * M + m) * OH + oh) * OW + ow] = acc;
        }
    }
  return y;
}

inline Result<ops::KernelPtr> build_conv_integer(ops::BuildContext& c) {
  QF_RETURN_IF_ERROR(ops::expect_inputs(c, 2, 4));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 0, {DType::u8, DType::i8}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 1, {DType::u8, DType::i8}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 2, {DType::u8, DType::i8}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 3, {DType::u8, DType::i8}));
  QF_ASSIGN_OR_RETURN(ops::WindowAttrs wa, ops::read_window_attrs(c.node, 2, false));
  const int64_t group = c.node.get_int("group", 1);
  c.outputs_as(DType::i32);
  return ops::make_kernel([wa, group](const ops::RunContext&, const std::vector<const Tensor*>& in,
                                      std::vector<Tensor>& o) -> Status {
    const Tensor* xz = in.size() > 2 ? in[2] : nullptr;
    if (xz && xz->numel() != 1) return make_error("x_zero_point must be a scalar");
    QF_ASSIGN_OR_RETURN(o[0], conv_int32(wa, group, *in[0], xz ? int_at(*xz, 0) : 0, *in[1],
                                         in.size() > 3 ? in[3] : nullptr, nullptr));
    return Status::Ok();
  });
}

inline Result<ops::KernelPtr> build_qlinear_conv(ops::BuildContext& c) {
  QF_RETURN_IF_ERROR(ops::expect_inputs(c, 8, 9));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 0, {DType::u8, DType::i8}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 3, {DType::u8, DType::i8}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 7, {DType::u8, DType::i8}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 8, {DType::i32}));
  for (size_t k : {1, 4, 6}) QF_RETURN_IF_ERROR(ops::expect_dtype(c, k, {DType::f32}));
  QF_ASSIGN_OR_RETURN(ops::WindowAttrs wa, ops::read_window_attrs(c.node, 2, false));
  const int64_t group = c.node.get_int("group", 1);
  const DType out = c.dtype(7);
  c.outputs_as(out);
  return ops::make_kernel([wa, group, out](const ops::RunContext&, const std::vector<const Tensor*>& in,
                                           std::vector<Tensor>& o) -> Status {
    const Tensor &xs = *in[1], &xz = *in[2], &ws = *in[4], &ys = *in[6], &yz = *in[7];
    if (xs.numel() != 1 || xz.numel() != 1 || ys.numel() != 1 || yz.numel() != 1)
      return make_error("x and y scales/zero points must be scalars");
    QF_ASSIGN_OR_RETURN(Tensor acc, conv_int32(wa, group, *in[0], int_at(xz, 0), *in[3], in[5],
                                               in.size() > 8 ? in[8] : nullptr));
    const int64_t M = acc.dim(1), plane = acc.dim(2) * acc.dim(3);
    if (ws.numel() != 1 && ws.numel() != M) return make_error("w_scale must have 1 or ", M, " values");
    int32_t lo, hi;
    range_of(out, lo, hi);
    Tensor y(out, acc.shape());
    const float x_s = xs.data<float>()[0], y_s = ys.data<float>()[0];
    const int32_t y_zp = int_at(yz, 0);
    for (int64_t i = 0; i < acc.numel(); ++i) {
      const int64_t m = (i / plane) % M;
      const float mult = x_s * ws.data<float>()[ws.numel() == 1 ? 0 : m] / y_s;
      store_int(y, i, quantize_value(float(acc.data<int32_t>()[i]) * mult, 1.0f, y_zp, lo, hi));
    }
    o[0] = std::move(y);
    return Status::Ok();
  });
}

// ---- integer matmul (numpy broadcasting) -----------------------------------------------------------------------
inline Result<Tensor> matmul_int32(const Tensor& a, const Tensor& b, const Tensor* a_zp, const Tensor* b_zp) {
  if (a.rank() < 1 || b.rank() < 1) return make_error("MatMul operands must have rank >= 1");
  Shape as = a.shape(), bs = b.shape();
  const bool a1 = as.size() == 1, b1 = bs.size() == 1;
  if (a1) as.insert(as.begin(), 1);
  if (b1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), K2 = bs[bs.size() - 2], N = bs.back();
  if (K != K2) return make_error("shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()), " do not multiply");
  if (a_zp && a_zp->numel() != 1 && a_zp->numel() != M) return make_error("a_zero_point must have 1 or ", M, " values");
  if (b_zp && b_zp->numel() != 1 && b_zp->numel() != N) return make_error("b_zero_point must have 1 or ", N, " values");
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  QF_ASSIGN_OR_RETURN(Shape batch, ops::broadcast_shapes(ab, bb));
  int64_t B = 1;
  for (auto d : batch) B *= d;
  auto batch_offset = [&](const Shape& own, int64_t bi) {
    // index of broadcast batch bi inside an operand with batch dims `own`
    int64_t off = 0, stride = 1, rem = bi;
    std::vector<int64_t> idx(batch.size());
    for (size_t d = batch.size(); d-- > 0;) {
      idx[d] = rem % batch[d];
      rem /= batch[d];
    }
    for (size_t d = own.size(); d-- > 0;) {
      const size_t bd = d + batch.size() - own.size();
      off += (own[d] == 1 ? 0 : idx[bd]) * stride;
      stride *= own[d];
    }
    return off;
  };
  Shape os = batch;
  if (!a1) os.push_back(M);
  if (!b1) os.push_back(N);
  Tensor y(DType::i32, os);
  int32_t* py = y.data<int32_t>();
  for (int64_t bi = 0; bi < B; ++bi) {
    const int64_t ao = batch_offset(ab, bi) * M * K, bo = batch_offset(bb, bi) * K * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const int32_t az = a_zp ? int_at(*a_zp, a_zp->numel() == 1 ? 0 : m) : 0;
        const int32_t bz = b_zp ? int_at(*b_zp, b_zp->numel() == 1 ? 0 : n) : 0;
        int32_t acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += (int_at(a, ao + m * K + k) - az) * (int_at(b, bo + k * N + n) - bz);
        py[(bi * M + m) * N + n] = acc;
      }
  }
  return y;
}

inline Result<ops::KernelPtr> build_matmul_integer(ops::BuildContext& c) {
  QF_RETURN_IF_ERROR(ops::expect_inputs(c, 2, 4));
  for (size_t k = 0; k < 4; ++k) QF_RETURN_IF_ERROR(ops::expect_dtype(c, k, {DType::u8, DType::i8}));
  c.outputs_as(DType::i32);
  return ops::make_kernel([](const ops::RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& o) -> Status {
    QF_ASSIGN_OR_RETURN(o[0], matmul_int32(*in[0], *in[1], in.size() > 2 ? in[2] : nullptr, in.size() > 3 ? in[3] : nullptr));
    return Status::Ok();
  });
}

inline Result<ops::KernelPtr> build_qlinear_matmul(ops::BuildContext& c) {
  QF_RETURN_IF_ERROR(ops::expect_inputs(c, 8, 8));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 0, {DType::u8, DType::i8}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 3, {DType::u8, DType::i8}));
  QF_RETURN_IF_ERROR(ops::expect_dtype(c, 7, {DType::u8, DType::i8}));
  for (size_t k : {1, 4, 6}) QF_RETURN_IF_ERROR(ops::expect_dtype(c, k, {DType::f32}));
  const DType out = c.dtype(7);
  c.outputs_as(out);
  return ops::make_kernel([out](const ops::RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& o) -> Status {
    const Tensor &as = *in[1], &bs = *in[4], &ys = *in[6], &yz = *in[7];
    if (as.numel() != 1 || ys.numel() != 1 || yz.numel() != 1) return make_error("a/y scales and y_zero_point must be scalars");
    QF_ASSIGN_OR_RETURN(Tensor acc, matmul_int32(*in[0], *in[3], in[2], in[5]));
    const int64_t N = acc.rank() ? acc.shape().back() : 1;
    if (bs.numel() != 1 && bs.numel() != N) return make_error("b_scale must have 1 or ", N, " values");
    int32_t lo, hi;
    range_of(out, lo, hi);
    Tensor y(out, acc.shape());
    const int32_t y_zp = int_at(yz, 0);
    for (int64_t i = 0; i < acc.numel(); ++i) {
      const float mult = as.data<float>()[0] * bs.data<float>()[bs.numel() == 1 ? 0 : i % N] / ys.data<float>()[0];
      store_int(y, i, quantize_value(float(acc.data<int32_t>()[i]) * mult, 1.0f, y_zp, lo, hi));
    }
    o[0] = std::move(y);
    return Status::Ok();
  });
}

}  // namespace qops_detail

// Registers the six ops in an fp32 op table.
inline void add_onnx_quant_ops(ops::OpTable& t) {
  t["QuantizeLinear"] = {&qops_detail::build_quantize_linear};
  t["DequantizeLinear"] = {&qops_detail::build_dequantize_linear};
  t["ConvInteger"] = {&qops_detail::build_conv_integer};
  t["QLinearConv"] = {&qops_detail::build_qlinear_conv};
  t["MatMulInteger"] = {&qops_detail::build_matmul_integer};
  t["QLinearMatMul"] = {&qops_detail::build_qlinear_matmul};
}

}  // namespace qforge::quant
