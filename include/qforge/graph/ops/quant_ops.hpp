// qforge/graph/ops/quant_ops.hpp — ONNX QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear in the fp32
// executor, so QDQ graphs (e.g. qforge's own QDQ export) run here as ONNX defines them.
//
// Contract (opset 10..17): QuantizeLinear y = saturate(round_half_to_even(x / scale) + zero_point) to uint8
// (default, or when zero_point is uint8) or int8; scale and zero_point are scalars (per tensor) or 1-D along
// `axis` (default 1, per channel). DequantizeLinear x = (q - zero_point) * scale for uint8/int8/int32 q.
// DynamicQuantizeLinear: uint8 with scale = (max(0, max x) - min(0, min x)) / 255, zero_point = saturate(
// round(-min / scale)); outputs y, scale, zero_point. MatMulInteger / ConvInteger (int32 results, zero points
// per tensor or per row / per output channel) and QLinearMatMul / QLinearConv (int32 accumulation of
// (q - zp) products, then y = saturate(rint(acc * float(s_a * s_b / s_y)) + zp_y), the multiplier rounded to
// float first as ONNX's reference does) are exact integer references — simple loops, not fast kernels.
#pragma once
#include <cmath>

#include "qforge/graph/ops/op.hpp"
#include "qforge/graph/ops/window.hpp"

namespace qforge::ops {

namespace quant_detail {

// Per-element parameter index: 0 for per-tensor, else the coordinate along axis.
struct ParamIndex {
  int64_t inner = 1, n = 1;
  bool per_axis = false;
  int64_t at(int64_t e) const { return per_axis ? (e / inner) % n : 0; }
};

inline Result<ParamIndex> param_index(const Tensor& x, const Tensor& scale, int64_t axis) {
  ParamIndex p;
  if (scale.numel() == 1 && scale.rank() <= 1) return p;
  if (scale.rank() != 1) return make_error("scale must be a scalar or 1-D, got ", shape_str(scale.shape()));
  QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, int64_t(x.rank())));
  if (x.dim(size_t(ax)) != scale.dim(0))
    return make_error("scale has ", scale.dim(0), " values for axis ", ax, " of size ", x.dim(size_t(ax)));
  p.per_axis = true;
  p.n = scale.dim(0);
  p.inner = dims_product(x.shape(), size_t(ax) + 1, x.rank());
  return p;
}

template <class Q>
Q saturate_round(float v) {
  float r = std::nearbyint(v);
  if (!(r >= float(std::numeric_limits<Q>::lowest()))) return std::numeric_limits<Q>::lowest();
  if (r > float(std::numeric_limits<Q>::max())) return std::numeric_limits<Q>::max();
  return Q(r);
}

inline Result<KernelPtr> build_quantize(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 2, {DType::u8, DType::i8}));
  DType qt = c.has(2) ? c.dtype(2) : DType::u8;
  int64_t axis = c.node.get_int("axis", 1);
  c.outputs_as(qt);
  return make_kernel([qt, axis](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    const Tensor& s = *in[1];
    const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
    QF_ASSIGN_OR_RETURN(ParamIndex pi, param_index(x, s, axis));
    if (zp && zp->numel() != s.numel()) return make_error("zero_point and scale have different sizes");
    Tensor y(qt, x.shape());
    const float* px = x.data<float>();
    const float* ps = s.data<float>();
    auto go = [&](auto tag) {
      using Q = decltype(tag);
      const Q* pz = zp ? zp->data<Q>() : nullptr;
      Q* py = y.data<Q>();
      parallel_for(rc, x.numel(), 16384, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          int64_t k = pi.at(i);
          float z = pz ? float(pz[k]) : 0.f;
          py[i] = saturate_round<Q>(std::nearbyint(px[i] / ps[k]) + z);
        }
      });
    };
    if (qt == DType::u8) go(uint8_t{}); else go(int8_t{});
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_dequantize(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::u8, DType::i8, DType::i32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::f32}));
  if (c.has(2) && c.dtype(2) != c.dtype(0)) return make_error("zero_point dtype differs from x");
  int64_t axis = c.node.get_int("axis", 1);
  DType qt = c.dtype(0);
  c.outputs_as(DType::f32);
  return make_kernel([qt, axis](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    const Tensor& s = *in[1];
    const Tensor* zp = in.size() > 2 ? in[2] : nullptr;
    QF_ASSIGN_OR_RETURN(ParamIndex pi, param_index(x, s, axis));
    if (zp && zp->numel() != s.numel()) return make_error("zero_point and scale have different sizes");
    Tensor y(DType::f32, x.shape());
    const float* ps = s.data<float>();
    float* py = y.data<float>();
    auto go = [&](auto tag) {
      using Q = decltype(tag);
      const Q* px = x.data<Q>();
      const Q* pz = zp ? zp->data<Q>() : nullptr;
      parallel_for(rc, x.numel(), 16384, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          int64_t k = pi.at(i);
          py[i] = float(int64_t(px[i]) - (pz ? int64_t(pz[k]) : 0)) * ps[k];
        }
      });
    };
    if (qt == DType::u8) go(uint8_t{}); else if (qt == DType::i8) go(int8_t{}); else go(int32_t{});
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_dynamic_quantize(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 3, 3));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  c.out_dtypes = {DType::u8, DType::f32, DType::u8};
  return make_kernel([](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    const float* px = x.data<float>();
    float lo = 0.f, hi = 0.f;
    for (int64_t i = 0; i < x.numel(); ++i) {
      lo = std::min(lo, px[i]);
      hi = std::max(hi, px[i]);
    }
    float scale = (hi - lo) / 255.f;
    uint8_t zp = scale > 0.f ? saturate_round<uint8_t>(-lo / scale) : 0;
    Tensor y(DType::u8, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i)
      y.data<uint8_t>()[i] = scale > 0.f ? saturate_round<uint8_t>(std::nearbyint(px[i] / scale) + float(zp)) : zp;
    out[0] = std::move(y);
    out[1] = Tensor::scalar<float>(scale);
    out[2] = Tensor::scalar<uint8_t>(zp);
    return Status::Ok();
  });
}


// ---- integer matmul / conv references ---------------------------------------------------------------------------

// q - zp as int32; zp broadcast per `axis` of x (scalar zp: per tensor).
inline Result<std::vector<int32_t>> centered(const Tensor& q, const Tensor* zp, int64_t axis, const char* what) {
  std::vector<int32_t> v(static_cast<size_t>(q.numel()));
  auto read = [](const Tensor& t, int64_t i) -> int32_t {
    switch (t.dtype()) {
      case DType::u8: return t.data<uint8_t>()[i];
      case DType::i8: return t.data<int8_t>()[i];
      case DType::i32: return t.data<int32_t>()[i];
      default: return 0;
    }
  };
  int64_t inner = 1, n = 1;
  bool per = zp && zp->numel() > 1;
  if (per) {
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, int64_t(q.rank())));
    if (q.dim(size_t(ax)) != zp->numel()) return make_error(what, " zero point has ", zp->numel(), " values for dim ", q.dim(size_t(ax)));
    n = zp->numel();
    inner = dims_product(q.shape(), size_t(ax) + 1, q.rank());
  }
  for (int64_t i = 0; i < q.numel(); ++i) {
    int32_t z = zp ? read(*zp, per ? (i / inner) % n : 0) : 0;
    v[size_t(i)] = read(q, i) - z;
  }
  return v;
}

// Batched numpy matmul on int32 (rank-1 operands promoted like MatMul).
inline Result<Tensor> int_matmul(const Shape& as, const std::vector<int32_t>& a, const Shape& bs, const std::vector<int32_t>& b) {
  QF_ASSIGN_OR_RETURN(MatMulShape m, MatMulShape::make(as, bs));
  const int64_t M = m.M, K = m.K, N = m.N;
  QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::i32, m.out));
  int32_t* py = y.data<int32_t>();
  for (int64_t t = 0; t < m.nb; ++t) {
    const auto [ao, bo] = m.offsets(t);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        int64_t acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += int64_t(a[size_t(ao * M * K + i * K + k)]) * b[size_t(bo * K * N + k * N + j)];
        py[(t * M + i) * N + j] = int32_t(acc);
      }
  }
  return y;
}

struct IntConvAttrs {
  WindowAttrs wa;
  int64_t group = 1;
};

inline Result<IntConvAttrs> read_int_conv(const BuildContext& c, size_t w_input) {
  IntConvAttrs p;
  int nsp = -1;
  if (c.in[w_input]->has_shape) nsp = int(c.in[w_input]->shape.size()) - 2;
  else if (c.in[0]->has_shape) nsp = int(c.in[0]->shape.size()) - 2;
  else if (c.node.has("kernel_shape")) nsp = int(c.node.get_ints("kernel_shape").size());
  if (nsp < 1) return make_error("cannot tell the spatial rank");
  QF_ASSIGN_OR_RETURN(p.wa, read_window_attrs(c.node, nsp, false));
  p.group = c.node.get_int("group", 1);
  if (p.group < 1) return make_error("attribute 'group' must be >= 1");
  return p;
}

// Direct integer convolution (exact int32 accumulation); bias optional (int32 per output channel).
inline Result<Tensor> int_conv(const IntConvAttrs& p, const Shape& xs, const std::vector<int32_t>& x, const Shape& ws,
                               const std::vector<int32_t>& w, const Tensor* bias) {
  int nsp = p.wa.nsp;
  if (int(xs.size()) != nsp + 2 || int(ws.size()) != nsp + 2) return make_error("input/weights rank must be ", nsp + 2);
  int64_t N = xs[0], C = xs[1], M = ws[0], Cg = ws[1], G = p.group;
  if (Cg * G != C || M % G != 0) return make_error("channels ", C, " do not match weights ", shape_str(ws), " with group ", G);
  if (bias && bias->numel() != M) return make_error("bias must have ", M, " values");
  std::vector<int64_t> kernel(ws.begin() + 2, ws.end());
  QF_ASSIGN_OR_RETURN(Window win, resolve_window(p.wa, xs.data() + 2, kernel));
  Shape os{N, M};
  for (int i = 0; i < nsp; ++i) os.push_back(win.out[size_t(3 - nsp + i)]);
  QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::i32, os));
  int64_t Mg = M / G, ins = win.in_size(), outs = win.out_size(), ks = win.k_size();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      int64_t g = m / Mg;
      for (int64_t o = 0; o < outs; ++o) {
        int64_t od = o / (win.out[1] * win.out[2]), oh = (o / win.out[2]) % win.out[1], ow = o % win.out[2];
        int64_t acc = bias ? int64_t(bias->data<int32_t>()[m]) : 0;
        for (int64_t c2 = 0; c2 < Cg; ++c2)
          for (int64_t r = 0; r < ks; ++r) {
            int64_t kd = r / (win.k[1] * win.k[2]), kh = (r / win.k[2]) % win.k[1], kw = r % win.k[2];
            int64_t id = od * win.s[0] - win.pb[0] + kd * win.d[0], ih = oh * win.s[1] - win.pb[1] + kh * win.d[1],
                    iw = ow * win.s[2] - win.pb[2] + kw * win.d[2];
            if (id < 0 || id >= win.in[0] || ih < 0 || ih >= win.in[1] || iw < 0 || iw >= win.in[2]) continue;
            acc += int64_t(x[size_t((n * C + g * Cg + c2) * ins + (id * win.in[1] + ih) * win.in[2] + iw)]) *
                   w[size_t((m * Cg + c2) * ks + r)];
          }
        y.data<int32_t>()[(n * M + m) * outs + o] = int32_t(acc);
      }
    }
  return y;
}

inline Status int8_inputs(const BuildContext& c, std::initializer_list<size_t> ks) {
  for (size_t k : ks) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::u8, DType::i8}));
  return Status::Ok();
}

inline Result<KernelPtr> build_matmul_integer(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 4));
  QF_RETURN_IF_ERROR(int8_inputs(c, {0, 1, 2, 3}));
  c.outputs_as(DType::i32);
  return make_kernel([](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor* azp = in.size() > 2 ? in[2] : nullptr;
    const Tensor* bzp = in.size() > 3 ? in[3] : nullptr;
    QF_ASSIGN_OR_RETURN(auto a, centered(*in[0], azp, -2, "A"));
    QF_ASSIGN_OR_RETURN(auto b, centered(*in[1], bzp, -1, "B"));
    QF_ASSIGN_OR_RETURN(out[0], int_matmul(in[0]->shape(), a, in[1]->shape(), b));
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_conv_integer(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 4));
  QF_RETURN_IF_ERROR(int8_inputs(c, {0, 1, 2, 3}));
  QF_ASSIGN_OR_RETURN(IntConvAttrs p, read_int_conv(c, 1));
  c.outputs_as(DType::i32);
  return make_kernel([p](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor* xzp = in.size() > 2 ? in[2] : nullptr;
    const Tensor* wzp = in.size() > 3 ? in[3] : nullptr;
    if (xzp && xzp->numel() != 1) return make_error("x_zero_point must be a scalar");
    QF_ASSIGN_OR_RETURN(auto x, centered(*in[0], xzp, 1, "x"));
    QF_ASSIGN_OR_RETURN(auto w, centered(*in[1], wzp, 0, "w"));
    QF_ASSIGN_OR_RETURN(out[0], int_conv(p, in[0]->shape(), x, in[1]->shape(), w, nullptr));
    return Status::Ok();
  });
}

// Requantises int32 accumulators: per-column (matmul, axis -1) or per-channel (conv, axis 1) weight scales.
inline Result<Tensor> requantize(const Tensor& acc, float s_in, const Tensor& s_w, int64_t w_axis, const Tensor& s_y,
                                 const Tensor& zp_y) {
  if (s_y.numel() != 1 || zp_y.numel() != 1) return make_error("y_scale and y_zero_point must be scalars");
  int64_t n = s_w.numel(), inner = 1;
  if (n > 1) {
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(w_axis, int64_t(acc.rank())));
    if (acc.dim(size_t(ax)) != n) return make_error("weight scale has ", n, " values for dim ", acc.dim(size_t(ax)));
    inner = dims_product(acc.shape(), size_t(ax) + 1, acc.rank());
  }
  DType qt = zp_y.dtype();
  Tensor y(qt, acc.shape());
  float ys = s_y.data<float>()[0];
  double z = qt == DType::u8 ? double(zp_y.data<uint8_t>()[0]) : double(zp_y.data<int8_t>()[0]);
  for (int64_t i = 0; i < acc.numel(); ++i) {
    float m = s_in * s_w.data<float>()[n > 1 ? (i / inner) % n : 0] / ys;
    double r = std::nearbyint(double(acc.data<int32_t>()[i]) * double(m) + z);
    if (qt == DType::u8) y.data<uint8_t>()[i] = uint8_t(std::min(255.0, std::max(0.0, r)));
    else y.data<int8_t>()[i] = int8_t(std::min(127.0, std::max(-128.0, r)));
  }
  return y;
}

inline Result<KernelPtr> build_qlinear_matmul(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 8, 8));
  QF_RETURN_IF_ERROR(int8_inputs(c, {0, 2, 3, 5, 7}));
  for (size_t k : {1, 4, 6}) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::f32}));
  c.outputs_as(c.dtype(7));
  return make_kernel([](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    if (in[1]->numel() != 1) return make_error("a_scale must be a scalar");
    QF_ASSIGN_OR_RETURN(auto a, centered(*in[0], in[2], -2, "a"));
    QF_ASSIGN_OR_RETURN(auto b, centered(*in[3], in[5], -1, "b"));
    QF_ASSIGN_OR_RETURN(Tensor acc, int_matmul(in[0]->shape(), a, in[3]->shape(), b));
    QF_ASSIGN_OR_RETURN(out[0], requantize(acc, in[1]->data<float>()[0], *in[4], -1, *in[6], *in[7]));
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_qlinear_conv(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 8, 9));
  QF_RETURN_IF_ERROR(int8_inputs(c, {0, 2, 3, 5, 7}));
  for (size_t k : {1, 4, 6}) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 8, {DType::i32}));
  QF_ASSIGN_OR_RETURN(IntConvAttrs p, read_int_conv(c, 3));
  c.outputs_as(c.dtype(7));
  return make_kernel([p](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    if (in[1]->numel() != 1 || in[2]->numel() != 1) return make_error("x_scale and x_zero_point must be scalars");
    QF_ASSIGN_OR_RETURN(auto x, centered(*in[0], in[2], 1, "x"));
    QF_ASSIGN_OR_RETURN(auto w, centered(*in[3], in[5], 0, "w"));
    QF_ASSIGN_OR_RETURN(Tensor acc, int_conv(p, in[0]->shape(), x, in[3]->shape(), w, in.size() > 8 ? in[8] : nullptr));
    QF_ASSIGN_OR_RETURN(out[0], requantize(acc, in[1]->data<float>()[0], *in[4], 1, *in[6], *in[7]));
    return Status::Ok();
  });
}

}  // namespace quant_detail

inline void add_quant_ops(OpTable& t) {
  t["QuantizeLinear"] = {&quant_detail::build_quantize};
  t["DequantizeLinear"] = {&quant_detail::build_dequantize};
  t["DynamicQuantizeLinear"] = {&quant_detail::build_dynamic_quantize};
  t["MatMulInteger"] = {&quant_detail::build_matmul_integer};
  t["ConvInteger"] = {&quant_detail::build_conv_integer};
  t["QLinearMatMul"] = {&quant_detail::build_qlinear_matmul};
  t["QLinearConv"] = {&quant_detail::build_qlinear_conv};
}

}  // namespace qforge::ops
