// qforge/graph/ops/norm.hpp — normalisations and softmax-like ops on float32.
//
// Contract (ONNX): BatchNormalization in inference form only (training_mode = 1, extra outputs or spatial = 0 are
// rejected at prepare): y = (x - mean) / sqrt(var + eps) * scale + B over channel axis 1, computed as x * a + b
// with per-channel a, b. InstanceNormalization, LayerNormalization (optional Mean / InvStdDev outputs), LRN.
// Softmax / LogSoftmax / Hardmax: opset >= 13 reduce along `axis` (default -1); older opsets flatten the input to
// 2-D at `axis` (default 1) and reduce over the second dim. Softmax subtracts the max first (no overflow).
#pragma once
#include <cmath>
#include <vector>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace norm_detail {

inline Result<KernelPtr> build_batchnorm(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 5, 5));
  for (size_t k = 0; k < 5; ++k) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::f32}));
  if (c.node.get_int("training_mode", 0) != 0) return make_error("training_mode = 1 is not supported (inference only)");
  if (c.opset < 9 && c.node.get_int("spatial", 1) == 0) return make_error("spatial = 0 is not supported");
  for (size_t k = 1; k < c.node.outputs.size(); ++k)
    if (!c.node.outputs[k].empty()) return make_error("training outputs (mean/var) are not supported");
  float eps = c.node.get_float("epsilon", 1e-5f);
  c.outputs_as(DType::f32);
  return make_kernel([eps](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() < 2) return make_error("input has shape ", shape_str(x.shape()), ", expected rank >= 2");
    int64_t N = x.dim(0), C = x.dim(1), inner = dims_product(x.shape(), 2, x.rank());
    const char* names[] = {"", "scale", "B", "mean", "var"};
    for (size_t k = 1; k < 5; ++k)
      if (in[k]->numel() != C)
        return make_error("input ", names[k], " has ", in[k]->numel(), " values for ", C, " channels");
    std::vector<float> a(static_cast<size_t>(C)), b(static_cast<size_t>(C));
    for (int64_t ch = 0; ch < C; ++ch) {
      float s = in[1]->data<float>()[ch] / std::sqrt(in[4]->data<float>()[ch] + eps);
      a[size_t(ch)] = s;
      b[size_t(ch)] = in[2]->data<float>()[ch] - in[3]->data<float>()[ch] * s;
    }
    Tensor y(DType::f32, x.shape());
    const float* px = x.data<float>();
    float* py = y.data<float>();
    parallel_for(rc, N * C, grain_for(inner), [&](int64_t s0, int64_t e0) {
      for (int64_t t = s0; t < e0; ++t) {
        float av = a[size_t(t % C)], bv = b[size_t(t % C)];
        const float* xp = px + t * inner;
        float* yp = py + t * inner;
        for (int64_t i = 0; i < inner; ++i) yp[i] = xp[i] * av + bv;
      }
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_instancenorm(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 3, 3));
  for (size_t k = 0; k < 3; ++k) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::f32}));
  float eps = c.node.get_float("epsilon", 1e-5f);
  c.outputs_as(DType::f32);
  return make_kernel([eps](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() < 3) return make_error("input has shape ", shape_str(x.shape()), ", expected rank >= 3");
    int64_t N = x.dim(0), C = x.dim(1), inner = dims_product(x.shape(), 2, x.rank());
    if (in[1]->numel() != C || in[2]->numel() != C)
      return make_error("scale/B must have ", C, " values");
    Tensor y(DType::f32, x.shape());
    const float* px = x.data<float>();
    float* py = y.data<float>();
    const float* sc = in[1]->data<float>();
    const float* bb = in[2]->data<float>();
    parallel_for(rc, N * C, 1, [&](int64_t s0, int64_t e0) {
      for (int64_t t = s0; t < e0; ++t) {
        const float* xp = px + t * inner;
        float* yp = py + t * inner;
        double m = 0, v = 0;
        for (int64_t i = 0; i < inner; ++i) m += xp[i];
        m /= double(inner);
        for (int64_t i = 0; i < inner; ++i) v += (xp[i] - m) * (xp[i] - m);
        v /= double(inner);
        float a = float(sc[t % C] / std::sqrt(v + eps)), b = float(bb[t % C] - m * a);
        for (int64_t i = 0; i < inner; ++i) yp[i] = xp[i] * a + b;
      }
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_layernorm(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 3));
  for (size_t k = 0; k < 3; ++k) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::f32}));
  int64_t axis = c.node.get_int("axis", -1);
  float eps = c.node.get_float("epsilon", 1e-5f);
  c.outputs_as(DType::f32);
  return make_kernel([axis, eps](const RunContext& rc, const std::vector<const Tensor*>& in,
                                 std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, int64_t(x.rank())));
    int64_t outer = dims_product(x.shape(), 0, size_t(ax)), inner = dims_product(x.shape(), size_t(ax), x.rank());
    Shape norm_shape(x.shape().begin() + ax, x.shape().end());
    for (size_t k = 1; k < 3; ++k) {
      if (k >= in.size() || !in[k]) continue;
      QF_ASSIGN_OR_RETURN(Shape bs, broadcast_shapes(norm_shape, in[k]->shape()));
      if (bs != norm_shape)
        return make_error("input ", k, " shape ", shape_str(in[k]->shape()), " does not broadcast to ",
                          shape_str(norm_shape));
    }
    // Scale/bias expanded to the normalised block.
    auto expand = [&](const Tensor* t, float dflt) {
      std::vector<float> v(size_t(inner), dflt);
      if (!t) return v;
      Tensor full(DType::f32, norm_shape), tt = *t;
      Tensor zero(DType::f32, norm_shape);
      broadcast_binary<float, float, float>(rc, zero, tt, full, [](float, float b) { return b; });
      std::copy(full.data<float>(), full.data<float>() + inner, v.begin());
      return v;
    };
    std::vector<float> sc = expand(in[1], 1.f), bb = expand(in.size() > 2 ? in[2] : nullptr, 0.f);
    Tensor y(DType::f32, x.shape());
    Shape ss(x.shape().begin(), x.shape().begin() + ax);
    ss.resize(x.rank(), 1);
    Tensor mean(DType::f32, ss), inv(DType::f32, ss);
    const float* px = x.data<float>();
    float* py = y.data<float>();
    parallel_for(rc, outer, 1, [&](int64_t s0, int64_t e0) {
      for (int64_t t = s0; t < e0; ++t) {
        const float* xp = px + t * inner;
        float* yp = py + t * inner;
        float m = 0;
        for (int64_t i = 0; i < inner; ++i) m += xp[i];
        m /= float(inner);
        float v = 0;
        for (int64_t i = 0; i < inner; ++i) v += (xp[i] - m) * (xp[i] - m);
        v /= float(inner);
        float is = 1.f / std::sqrt(v + eps);
        for (int64_t i = 0; i < inner; ++i) yp[i] = (xp[i] - m) * is * sc[size_t(i)] + bb[size_t(i)];
        mean.data<float>()[t] = m;
        inv.data<float>()[t] = is;
      }
    });
    out[0] = std::move(y);
    if (out.size() > 1) out[1] = mean;
    if (out.size() > 2) out[2] = inv;
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_lrn(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  if (!c.node.has("size")) return make_error("attribute 'size' is required");
  int64_t size = c.node.get_int("size", 1);
  if (size < 1) return make_error("attribute 'size' must be >= 1");
  float alpha = c.node.get_float("alpha", 1e-4f), beta = c.node.get_float("beta", 0.75f),
        bias = c.node.get_float("bias", 1.f);
  c.outputs_as(DType::f32);
  return make_kernel([=](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() < 3) return make_error("input has shape ", shape_str(x.shape()), ", expected rank >= 3");
    int64_t N = x.dim(0), C = x.dim(1), inner = dims_product(x.shape(), 2, x.rank());
    Tensor y(DType::f32, x.shape());
    const float* px = x.data<float>();
    float* py = y.data<float>();
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    parallel_for(rc, N * C, 1, [&](int64_t s0, int64_t e0) {
      for (int64_t t = s0; t < e0; ++t) {
        int64_t n = t / C, ch = t % C;
        int64_t c0 = std::max<int64_t>(0, ch - lo), c1 = std::min<int64_t>(C - 1, ch + hi);
        for (int64_t i = 0; i < inner; ++i) {
          float sq = 0;
          for (int64_t cc = c0; cc <= c1; ++cc) {
            float v = px[(n * C + cc) * inner + i];
            sq += v * v;
          }
          py[t * inner + i] = px[t * inner + i] / std::pow(bias + alpha / float(size) * sq, beta);
        }
      }
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

enum class SoftKind { Softmax, LogSoftmax, Hardmax };

template <SoftKind kKind>
Result<KernelPtr> build_softmax(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  bool legacy = c.opset < 13;
  int64_t axis = c.node.get_int("axis", legacy ? 1 : -1);
  c.outputs_as(DType::f32);
  return make_kernel([legacy, axis](const RunContext& rc, const std::vector<const Tensor*>& in,
                                    std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    int64_t r = int64_t(x.rank());
    if (r == 0) return make_error("input must have rank >= 1");
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, r));
    int64_t outer, n, inner;
    if (legacy) {
      outer = dims_product(x.shape(), 0, size_t(ax));
      n = dims_product(x.shape(), size_t(ax), size_t(r));
      inner = 1;
    } else {
      outer = dims_product(x.shape(), 0, size_t(ax));
      n = x.dim(size_t(ax));
      inner = dims_product(x.shape(), size_t(ax) + 1, size_t(r));
    }
    Tensor y(DType::f32, x.shape());
    const float* px = x.data<float>();
    float* py = y.data<float>();
    parallel_for(rc, outer * inner, grain_for(n, 4096), [&](int64_t s0, int64_t e0) {
      for (int64_t t = s0; t < e0; ++t) {
        int64_t o = t / inner, i = t % inner;
        const float* xp = px + o * n * inner + i;
        float* yp = py + o * n * inner + i;
        float m = -INFINITY;
        int64_t am = 0;
        for (int64_t j = 0; j < n; ++j)
          if (xp[j * inner] > m) { m = xp[j * inner]; am = j; }
        if (kKind == SoftKind::Hardmax) {
          for (int64_t j = 0; j < n; ++j) yp[j * inner] = j == am ? 1.f : 0.f;
          continue;
        }
        float s = 0;
        for (int64_t j = 0; j < n; ++j) {
          float e = std::exp(xp[j * inner] - m);
          s += e;
          yp[j * inner] = e;
        }
        if (kKind == SoftKind::Softmax) {
          float inv = 1.f / s;
          for (int64_t j = 0; j < n; ++j) yp[j * inner] *= inv;
        } else {
          float ls = std::log(s);
          for (int64_t j = 0; j < n; ++j) yp[j * inner] = xp[j * inner] - m - ls;
        }
      }
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

}  // namespace norm_detail

inline void add_norm_ops(OpTable& t) {
  using namespace norm_detail;
  t["BatchNormalization"] = {&build_batchnorm};
  t["InstanceNormalization"] = {&build_instancenorm};
  t["LayerNormalization"] = {&build_layernorm};
  t["LRN"] = {&build_lrn};
  t["Softmax"] = {&build_softmax<SoftKind::Softmax>};
  t["LogSoftmax"] = {&build_softmax<SoftKind::LogSoftmax>};
  t["Hardmax"] = {&build_softmax<SoftKind::Hardmax>};
}

}  // namespace qforge::ops
