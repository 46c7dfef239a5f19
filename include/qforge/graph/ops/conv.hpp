// qforge/graph/ops/conv.hpp — fp32 Conv (1-D/2-D/3-D, groups incl. depthwise, strides, dilations, pads,
// auto_pad, optional bias, fused activation from passes.hpp) and ConvTranspose (GEMM + col2im).
//
// Contract: ONNX Conv on float32 NC[D]HW input and M x C/group x k... weights. Paths: 1x1/stride-1/no-pad convs
// feed the input planes straight to the GEMM; other convs go through im2col + kernels/f32_gemm.hpp per image and
// group; convs with one input channel per group (depthwise, with or without a channel multiplier) use a direct
// loop. Bias and the fused activation are applied in one pass after the GEMM. Results do not depend on the thread
// count. Shapes that don't fit (channels vs weights, kernel_shape vs weights, bias length) are errors.
#pragma once
#include <cstring>
#include <vector>

#include <kernels/f32_gemm.hpp>

#include "qforge/graph/ops/activation.hpp"
#include "qforge/graph/ops/op.hpp"
#include "qforge/graph/ops/window.hpp"

namespace qforge::ops {

namespace conv_detail {

// Column matrix of one group: rows (c, kd, kh, kw), columns (od, oh, ow).
inline void im2col(const RunContext& rc, const float* x, int64_t Cg, const Window& w, float* col) {
  int64_t ks = w.k_size(), ncol = w.out_size(), ins = w.in_size();
  int64_t rows = Cg * ks;
  // ~256K floats per chunk: a 28x28 image's columns are copied faster than a parked thread wakes up.
  parallel_for(rc, rows, std::max<int64_t>(4, grain_for(ncol, 262144)), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      int64_t c = r / ks, rem = r % ks;
      int64_t kd = rem / (w.k[1] * w.k[2]), kh = (rem / w.k[2]) % w.k[1], kw = rem % w.k[2];
      const float* xc = x + c * ins;
      float* dst = col + r * ncol;
      int64_t base = kw * w.d[2] - w.pb[2];
      int64_t lo = base >= 0 ? 0 : (-base + w.s[2] - 1) / w.s[2];
      int64_t hi = (w.in[2] - 1 - base) >= 0 ? std::min(w.out[2], (w.in[2] - 1 - base) / w.s[2] + 1) : 0;
      if (hi < lo) hi = lo;
      for (int64_t od = 0; od < w.out[0]; ++od) {
        int64_t id = od * w.s[0] - w.pb[0] + kd * w.d[0];
        for (int64_t oh = 0; oh < w.out[1]; ++oh) {
          int64_t ih = oh * w.s[1] - w.pb[1] + kh * w.d[1];
          float* drow = dst + (od * w.out[1] + oh) * w.out[2];
          if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1]) {
            std::memset(drow, 0, sizeof(float) * size_t(w.out[2]));
            continue;
          }
          const float* xrow = xc + (id * w.in[1] + ih) * w.in[2];
          for (int64_t ow = 0; ow < lo; ++ow) drow[ow] = 0.f;
          if (w.s[2] == 1) {
            std::memcpy(drow + lo, xrow + base + lo, sizeof(float) * size_t(hi - lo));
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) drow[ow] = xrow[base + ow * w.s[2]];
          }
          for (int64_t ow = hi; ow < w.out[2]; ++ow) drow[ow] = 0.f;
        }
      }
    }
  });
}

// Direct conv for one output plane reading one input plane (depthwise): y = bias + sum over taps.
inline void depthwise_plane(const float* x, const float* wt, float bias, const Window& w, float* y) {
  int64_t outs = w.out_size();
  for (int64_t i = 0; i < outs; ++i) y[i] = bias;
  for (int64_t kd = 0; kd < w.k[0]; ++kd)
    for (int64_t kh = 0; kh < w.k[1]; ++kh)
      for (int64_t kw = 0; kw < w.k[2]; ++kw) {
        float wv = wt[(kd * w.k[1] + kh) * w.k[2] + kw];
        int64_t base = kw * w.d[2] - w.pb[2];
        int64_t lo = base >= 0 ? 0 : (-base + w.s[2] - 1) / w.s[2];
        int64_t hi = (w.in[2] - 1 - base) >= 0 ? std::min(w.out[2], (w.in[2] - 1 - base) / w.s[2] + 1) : 0;
        if (hi <= lo) continue;
        for (int64_t od = 0; od < w.out[0]; ++od) {
          int64_t id = od * w.s[0] - w.pb[0] + kd * w.d[0];
          if (id < 0 || id >= w.in[0]) continue;
          for (int64_t oh = 0; oh < w.out[1]; ++oh) {
            int64_t ih = oh * w.s[1] - w.pb[1] + kh * w.d[1];
            if (ih < 0 || ih >= w.in[1]) continue;
            const float* xrow = x + (id * w.in[1] + ih) * w.in[2];
            float* yrow = y + (od * w.out[1] + oh) * w.out[2];
            if (w.s[2] == 1) {
              for (int64_t ow = lo; ow < hi; ++ow) yrow[ow] += wv * xrow[base + ow];
            } else {
              int64_t s = w.s[2];
              for (int64_t ow = lo; ow < hi; ++ow) yrow[ow] += wv * xrow[base + ow * s];
            }
          }
        }
      }
}

struct ConvAttrs {
  WindowAttrs wa;
  int64_t group = 1;
  Activation act;
};

inline Status conv_forward(const RunContext& rc, const ConvAttrs& p, const Tensor& x, const Tensor& wt,
                           const Tensor* bias, Tensor& out) {
  int nsp = p.wa.nsp;
  if (int(x.rank()) != nsp + 2)
    return make_error("input 0 has shape ", shape_str(x.shape()), ", expected rank ", nsp + 2);
  if (int(wt.rank()) != nsp + 2)
    return make_error("weights have shape ", shape_str(wt.shape()), ", expected rank ", nsp + 2);
  int64_t N = x.dim(0), C = x.dim(1), M = wt.dim(0), Cg = wt.dim(1), G = p.group;
  if (Cg * G != C)
    return make_error("input has ", C, " channels but weights ", shape_str(wt.shape()), " with group ", G, " expect ",
                      Cg * G);
  if (M % G != 0) return make_error(M, " output channels are not divisible by group ", G);
  std::vector<int64_t> kernel(wt.shape().begin() + 2, wt.shape().end());
  if (!p.wa.kernel.empty() && p.wa.kernel != kernel)
    return make_error("attribute 'kernel_shape' ", shape_str(p.wa.kernel), " does not match weights ",
                      shape_str(wt.shape()));
  if (bias && bias->numel() != M)
    return make_error("bias has ", bias->numel(), " values for ", M, " output channels");
  QF_ASSIGN_OR_RETURN(Window w, resolve_window(p.wa, x.shape().data() + 2, kernel));
  Shape os{N, M};
  for (int i = 0; i < nsp; ++i) os.push_back(w.out[size_t(3 - nsp + i)]);
  QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::f32, os));
  int64_t Mg = M / G, ins = w.in_size(), outs = w.out_size(), ks = w.k_size(), Kg = Cg * ks;
  const float* px = x.data<float>();
  const float* pw = wt.data<float>();
  const float* pbias = bias ? bias->data<float>() : nullptr;
  float* py = y.data<float>();
  if (N == 0 || M == 0 || outs == 0) {
    out = std::move(y);
    return Status::Ok();
  }

  if (Cg == 1 && G > 1) {  // depthwise (possibly with a channel multiplier Mg)
    parallel_for(rc, N * M, grain_for(ks * outs), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t n = t / M, m = t % M, g = m / Mg;
        float* yp = py + t * outs;
        depthwise_plane(px + (n * C + g) * ins, pw + m * ks, pbias ? pbias[m] : 0.f, w, yp);
        p.act.apply(yp, outs);
      }
    });
    out = std::move(y);
    return Status::Ok();
  }

  bool pointwise = ks == 1;
  for (int i = 0; i < 3; ++i) pointwise = pointwise && w.s[size_t(i)] == 1 && w.pb[size_t(i)] == 0 && w.pe[size_t(i)] == 0;
  // One (image, group) at a time: im2col then GEMM. With several of them and threads, the threads take whole
  // (image, group) items, each run serially: forking inside every image's im2col and GEMM cost more than the
  // work at 28x28. The GEMM's bits do not depend on its thread count, so neither do the results.
  auto conv_items = [&](const RunContext& irc, int64_t b, int64_t e) {
    std::vector<float> col;
    if (!pointwise) col.resize(size_t(Kg * outs));
    for (int64_t t = b; t < e; ++t) {
      const int64_t n = t / G, g = t % G;
      const float* xg = px + (n * C + g * Cg) * ins;
      const float* B = xg;
      if (!pointwise) {
        im2col(irc, xg, Cg, w, col.data());
        B = col.data();
      }
      kernels::f32_gemm(Mg, outs, Kg, pw + g * Mg * Kg, Kg, 1, B, outs, 1, py + (n * M + g * Mg) * outs, outs, false,
                        irc.threads);
    }
  };
  if (N * G > 1 && thread_count(rc) > 1) {
    const RunContext serial{1};
    parallel_for(rc, N * G, 1, [&](int64_t b, int64_t e) { conv_items(serial, b, e); });
  } else {
    conv_items(rc, 0, N * G);
  }
  if (pbias || p.act.kind != Activation::Kind::None) {
    parallel_for(rc, N * M, grain_for(outs), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        float* yp = py + t * outs;
        if (pbias) {
          float bv = pbias[t % M];
          for (int64_t i = 0; i < outs; ++i) yp[i] += bv;
        }
        p.act.apply(yp, outs);
      }
    });
  }
  out = std::move(y);
  return Status::Ok();
}

inline Result<KernelPtr> build_conv(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  for (size_t k = 0; k < 3; ++k) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::f32}));
  // Spatial rank from the weights or the input when known, else from the attributes.
  int nsp = -1;
  if (c.constant(1)) nsp = int(c.constant(1)->rank()) - 2;
  else if (c.in[1]->has_shape) nsp = int(c.in[1]->shape.size()) - 2;
  else if (c.in[0]->has_shape) nsp = int(c.in[0]->shape.size()) - 2;
  else if (c.node.has("kernel_shape")) nsp = int(c.node.get_ints("kernel_shape").size());
  if (nsp < 1) return make_error("cannot tell the spatial rank (need weights of rank >= 3)");
  ConvAttrs p;
  QF_ASSIGN_OR_RETURN(p.wa, read_window_attrs(c.node, nsp, false));
  p.group = c.node.get_int("group", 1);
  if (p.group < 1) return make_error("attribute 'group' must be >= 1");
  QF_ASSIGN_OR_RETURN(p.act, Activation::from_node(c.node));
  if (const Tensor* wt = c.constant(1)) {
    if (!p.wa.kernel.empty() && !std::equal(p.wa.kernel.begin(), p.wa.kernel.end(), wt->shape().begin() + 2))
      return make_error("attribute 'kernel_shape' ", shape_str(p.wa.kernel), " does not match weights ",
                        shape_str(wt->shape()));
    if (wt->dim(0) % p.group != 0) return make_error(wt->dim(0), " output channels are not divisible by group ", p.group);
  }
  c.outputs_as(DType::f32);
  return make_kernel([p](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    return conv_forward(rc, p, *in[0], *in[1], in.size() > 2 ? in[2] : nullptr, out[0]);
  });
}


// ---- ConvTranspose ------------------------------------------------------------------------------------------------
// y = col2im(W_g^T . x_g) per image and group, + bias. Geometry per spatial dim (normalised to 3):
// out = s*(in-1) + output_padding + ((k-1)*d+1) - pb - pe, or output_shape with the pads derived from it.

struct ConvTAttrs {
  int nsp = 0;
  int64_t group = 1;
  std::vector<int64_t> kernel, strides, dilations, pads, output_padding, output_shape;
  std::string auto_pad = "NOTSET";
};

inline Status convt_forward(const RunContext& rc, const ConvTAttrs& p, const Tensor& x, const Tensor& wt,
                            const Tensor* bias, Tensor& out) {
  int nsp = p.nsp;
  if (int(x.rank()) != nsp + 2) return make_error("input 0 has shape ", shape_str(x.shape()), ", expected rank ", nsp + 2);
  if (int(wt.rank()) != nsp + 2) return make_error("weights have shape ", shape_str(wt.shape()), ", expected rank ", nsp + 2);
  int64_t N = x.dim(0), C = x.dim(1), G = p.group, Mg = wt.dim(1), M = Mg * G;
  if (wt.dim(0) != C || C % G != 0)
    return make_error("input has ", C, " channels, weights ", shape_str(wt.shape()), " with group ", G);
  int64_t Cg = C / G;
  if (bias && bias->numel() != M) return make_error("bias has ", bias->numel(), " values for ", M, " output channels");
  std::vector<int64_t> kernel(wt.shape().begin() + 2, wt.shape().end());
  if (!p.kernel.empty() && p.kernel != kernel)
    return make_error("attribute 'kernel_shape' ", shape_str(p.kernel), " does not match weights ", shape_str(wt.shape()));
  std::array<int64_t, 3> in{1, 1, 1}, o{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0};
  Shape os{N, M};
  for (int i = 0; i < nsp; ++i) {
    size_t j = size_t(3 - nsp + i);
    in[j] = x.dim(size_t(2 + i));
    k[j] = kernel[size_t(i)];
    s[j] = p.strides[size_t(i)];
    d[j] = p.dilations[size_t(i)];
    int64_t op = p.output_padding[size_t(i)];
    int64_t full = s[j] * (in[j] - 1) + op + (k[j] - 1) * d[j] + 1;
    int64_t b = p.pads[size_t(i)], e = p.pads[size_t(i + nsp)];
    int64_t target = -1;
    if (!p.output_shape.empty()) target = p.output_shape[size_t(i)];
    else if (p.auto_pad == "SAME_UPPER" || p.auto_pad == "SAME_LOWER") target = in[j] * s[j];
    if (target >= 0) {
      int64_t total = full - target;  // may be negative: the output grows at the end
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);  // floor(total / 2)
      if (p.auto_pad == "SAME_UPPER") { b = half; e = total - half; }
      else { b = total - half; e = half; }
    } else if (p.auto_pad == "VALID") {
      b = e = 0;
    }
    o[j] = full - b - e;
    pb[j] = b;
    if (o[j] < 1) return make_error("output size ", o[j], " at spatial dim ", i);
    os.push_back(o[j]);
  }
  QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::f32, os));
  int64_t ins = in[0] * in[1] * in[2], outs = o[0] * o[1] * o[2], ks = k[0] * k[1] * k[2];
  const float* px = x.data<float>();
  const float* pw = wt.data<float>();
  float* py = y.data<float>();
  std::vector<float> col(static_cast<size_t>(Mg * ks * ins));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) {
      // col[Mg*ks, ins] = W_g^T . x_g, W_g = [Cg, Mg*ks] rows of the weights.
      const float* wg = pw + g * Cg * Mg * ks;
      kernels::f32_gemm(Mg * ks, ins, Cg, wg, 1, Mg * ks, px + (n * C + g * Cg) * ins, ins, 1, col.data(), ins, false,
                        rc.threads);
      float* yg = py + (n * M + g * Mg) * outs;
      parallel_for(rc, Mg, 1, [&](int64_t mb, int64_t me) {
        for (int64_t m = mb; m < me; ++m) {
          float* yp = yg + m * outs;
          for (int64_t r = 0; r < ks; ++r) {
            int64_t kd = r / (k[1] * k[2]), kh = (r / k[2]) % k[1], kw = r % k[2];
            const float* cp = col.data() + (m * ks + r) * ins;
            for (int64_t id = 0; id < in[0]; ++id) {
              int64_t od = id * s[0] - pb[0] + kd * d[0];
              if (od < 0 || od >= o[0]) continue;
              for (int64_t ih = 0; ih < in[1]; ++ih) {
                int64_t oh = ih * s[1] - pb[1] + kh * d[1];
                if (oh < 0 || oh >= o[1]) continue;
                const float* crow = cp + (id * in[1] + ih) * in[2];
                float* yrow = yp + (od * o[1] + oh) * o[2];
                for (int64_t iw = 0; iw < in[2]; ++iw) {
                  int64_t ow = iw * s[2] - pb[2] + kw * d[2];
                  if (ow >= 0 && ow < o[2]) yrow[ow] += crow[iw];
                }
              }
            }
          }
          if (bias) {
            float bv = bias->data<float>()[g * Mg + m];
            for (int64_t i = 0; i < outs; ++i) yp[i] += bv;
          }
        }
      });
    }
  out = std::move(y);
  return Status::Ok();
}

inline Result<KernelPtr> build_convtranspose(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  for (size_t k = 0; k < 3; ++k) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::f32}));
  int nsp = -1;
  if (c.in[1]->has_shape) nsp = int(c.in[1]->shape.size()) - 2;
  else if (c.in[0]->has_shape) nsp = int(c.in[0]->shape.size()) - 2;
  else if (c.node.has("kernel_shape")) nsp = int(c.node.get_ints("kernel_shape").size());
  if (nsp < 1 || nsp > 3) return make_error("only 1-D, 2-D and 3-D ConvTranspose are supported");
  ConvTAttrs p;
  p.nsp = nsp;
  p.group = c.node.get_int("group", 1);
  if (p.group < 1) return make_error("attribute 'group' must be >= 1");
  p.kernel = c.node.get_ints("kernel_shape");
  p.strides = c.node.get_ints("strides", std::vector<int64_t>(size_t(nsp), 1));
  p.dilations = c.node.get_ints("dilations", std::vector<int64_t>(size_t(nsp), 1));
  p.pads = c.node.get_ints("pads", std::vector<int64_t>(size_t(2 * nsp), 0));
  p.output_padding = c.node.get_ints("output_padding", std::vector<int64_t>(size_t(nsp), 0));
  p.output_shape = c.node.get_ints("output_shape");
  p.auto_pad = c.node.get_string("auto_pad", "NOTSET");
  if (p.output_shape.size() > size_t(nsp)) p.output_shape.erase(p.output_shape.begin(), p.output_shape.end() - nsp);
  if (int(p.strides.size()) != nsp || int(p.dilations.size()) != nsp || int(p.pads.size()) != 2 * nsp ||
      int(p.output_padding.size()) != nsp || (!p.output_shape.empty() && int(p.output_shape.size()) != nsp) ||
      (!p.kernel.empty() && int(p.kernel.size()) != nsp))
    return make_error("spatial attributes do not match ", nsp, " spatial dims");
  for (auto v : p.strides) if (v < 1) return make_error("attribute 'strides' must be >= 1");
  for (auto v : p.dilations) if (v < 1) return make_error("attribute 'dilations' must be >= 1");
  if (p.auto_pad != "NOTSET" && p.auto_pad != "SAME_UPPER" && p.auto_pad != "SAME_LOWER" && p.auto_pad != "VALID")
    return make_error("attribute 'auto_pad' has unknown value '", p.auto_pad, "'");
  c.outputs_as(DType::f32);
  return make_kernel([p](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    return convt_forward(rc, p, *in[0], *in[1], in.size() > 2 ? in[2] : nullptr, out[0]);
  });
}

}  // namespace conv_detail

inline void add_conv_ops(OpTable& t) {
  t["Conv"] = {&conv_detail::build_conv};
  t["ConvTranspose"] = {&conv_detail::build_convtranspose};
}

}  // namespace qforge::ops
