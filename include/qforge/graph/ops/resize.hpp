// qforge/graph/ops/resize.hpp — Resize (opset 10..17) and Upsample (opset 7..9), modes nearest and linear.
//
// Contract (ONNX): output size per dim = sizes[d] when `sizes` is given, else floor(in * scales[d]). Coordinate
// transforms half_pixel (default from opset 11), asymmetric (opset 10 and Upsample), align_corners,
// pytorch_half_pixel, tf_half_pixel_for_nn; nearest_mode round_prefer_floor (default), round_prefer_ceil, floor,
// ceil (Upsample and Resize-10 use floor). linear interpolates every resized dim (n-linear), clamping source
// coordinates to the input. cubic, tf_crop_and_resize and antialias are rejected at prepare. Any dtype for
// nearest, float32 for linear.
#pragma once
#include <cmath>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace resize_detail {

enum class Coord { HalfPixel, Asymmetric, AlignCorners, PytorchHalfPixel, TfHalfPixelForNN };
enum class Round { PreferFloor, PreferCeil, Floor, Ceil };

struct ResizeAttrs {
  bool linear = false;
  Coord coord = Coord::HalfPixel;
  Round round = Round::PreferFloor;
  int form = 13;                 // 7: Upsample scales attr, 9: Upsample/Resize-10 (X, scales), 11: (X, roi, scales, sizes)
  std::vector<float> attr_scales;
};

// out is the resized length as ONNX's reference uses it: sizes[d], or in * scales[d] unfloored.
inline double source_coord(Coord c, double x, double scale, int64_t in, double out) {
  switch (c) {
    case Coord::HalfPixel: return (x + 0.5) / scale - 0.5;
    case Coord::PytorchHalfPixel: return out > 1.0 ? (x + 0.5) / scale - 0.5 : 0.0;
    case Coord::AlignCorners: return out == 1.0 ? 0.0 : x * double(in - 1) / (out - 1.0);
    case Coord::Asymmetric: return x / scale;
    case Coord::TfHalfPixelForNN: return (x + 0.5) / scale;
  }
  return x / scale;
}

inline int64_t nearest_index(Round r, double x, int64_t in) {
  double v;
  switch (r) {
    case Round::PreferFloor: v = (x == std::floor(x) + 0.5) ? std::floor(x) : std::round(x); break;
    case Round::PreferCeil: v = (x == std::floor(x) + 0.5) ? std::ceil(x) : std::round(x); break;
    case Round::Floor: v = std::floor(x); break;
    default: v = std::ceil(x); break;
  }
  int64_t i = int64_t(v);
  return std::clamp<int64_t>(i, 0, in - 1);
}

inline Result<KernelPtr> build_resize(BuildContext& c) {
  const std::string& op = c.node.op_type;
  ResizeAttrs a;
  bool upsample = op == "Upsample";
  if (upsample) a.form = c.opset < 9 ? 7 : 9;
  else a.form = c.opset < 11 ? 9 : 11;
  size_t max_in = a.form == 7 ? 1 : a.form == 9 ? 2 : 4;
  QF_RETURN_IF_ERROR(expect_inputs(c, a.form == 9 ? 2 : 1, max_in));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  if (a.form != 7) QF_RETURN_IF_ERROR(expect_dtype(c, a.form == 9 ? 1 : 2, {DType::f32}));
  if (a.form == 11) QF_RETURN_IF_ERROR(expect_dtype(c, 3, {DType::i64}));
  if (a.form == 7) {
    a.attr_scales = c.node.get_floats("scales");
    if (a.attr_scales.empty()) return make_error("attribute 'scales' is required");
  }
  std::string mode = c.node.get_string("mode", "nearest");
  if (mode == "linear" || mode == "bilinear") a.linear = true;
  else if (mode != "nearest") return make_error("mode '", mode, "' is not supported (nearest, linear)");
  if (a.linear) QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  if (a.form == 11) {
    std::string ct = c.node.get_string("coordinate_transformation_mode", "half_pixel");
    if (ct == "half_pixel") a.coord = Coord::HalfPixel;
    else if (ct == "asymmetric") a.coord = Coord::Asymmetric;
    else if (ct == "align_corners") a.coord = Coord::AlignCorners;
    else if (ct == "pytorch_half_pixel") a.coord = Coord::PytorchHalfPixel;
    else if (ct == "tf_half_pixel_for_nn") a.coord = Coord::TfHalfPixelForNN;
    else return make_error("coordinate_transformation_mode '", ct, "' is not supported");
    std::string nm = c.node.get_string("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor") a.round = Round::PreferFloor;
    else if (nm == "round_prefer_ceil") a.round = Round::PreferCeil;
    else if (nm == "floor") a.round = Round::Floor;
    else if (nm == "ceil") a.round = Round::Ceil;
    else return make_error("nearest_mode '", nm, "' is not supported");
    if (c.node.get_int("antialias", 0) != 0) return make_error("antialias is not supported");
    if (c.node.has("axes")) return make_error("attribute 'axes' is not supported");
  } else {
    a.coord = Coord::Asymmetric;
    a.round = Round::Floor;
  }
  DType t = c.dtype(0);
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([a](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
      const Tensor& x = *in[0];
      size_t r = x.rank();
      std::vector<float> scales = a.attr_scales;
      std::vector<int64_t> sizes;
      size_t scale_in = a.form == 9 ? 1 : 2;
      if (a.form != 7 && scale_in < in.size() && in[scale_in] && in[scale_in]->numel() > 0) {
        QF_ASSIGN_OR_RETURN(scales, tensor_to_f32(*in[scale_in], "scales"));
      }
      if (a.form == 11 && in.size() > 3 && in[3] && in[3]->numel() > 0) {
        if (!scales.empty()) return make_error("only one of scales and sizes may be given");
        QF_ASSIGN_OR_RETURN(sizes, tensor_to_i64(*in[3], "sizes"));
      }
      if (scales.empty() && sizes.empty()) return make_error("one of scales and sizes is required");
      if ((!scales.empty() && scales.size() != r) || (!sizes.empty() && sizes.size() != r))
        return make_error("scales/sizes need ", r, " entries");
      Shape os(r);
      std::vector<double> sc(r);
      for (size_t i = 0; i < r; ++i) {
        if (!sizes.empty()) {
          os[i] = sizes[i];
          sc[i] = x.dim(i) ? double(sizes[i]) / double(x.dim(i)) : 1.0;
        } else {
          if (!(scales[i] > 0.f)) return make_error("scales must be > 0");
          os[i] = int64_t(std::floor(double(x.dim(i)) * double(scales[i])));
          sc[i] = scales[i];
        }
        if (os[i] < 0) return make_error("negative output size");
        if (os[i] > 0 && x.dim(i) == 0) return make_error("cannot resize an empty axis");
      }
      QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), os));
      if (y.numel() == 0) { out[0] = std::move(y); return Status::Ok(); }
      std::vector<int64_t> xst(r);
      int64_t acc = 1;
      for (size_t i = r; i-- > 0;) { xst[i] = acc; acc *= x.dim(i); }
      // Per dim and output coordinate: source index pair and weight.
      std::vector<std::vector<int64_t>> i0(r), i1(r);
      std::vector<std::vector<float>> wt(r);
      for (size_t d = 0; d < r; ++d) {
        i0[d].resize(size_t(os[d]));
        i1[d].resize(size_t(os[d]));
        wt[d].resize(size_t(os[d]));
        for (int64_t o = 0; o < os[d]; ++o) {
          double s = source_coord(a.coord, double(o), sc[d], x.dim(d), sizes.empty() ? double(x.dim(d)) * sc[d] : double(os[d]));
          if (!a.linear) {
            i0[d][size_t(o)] = i1[d][size_t(o)] = nearest_index(a.round, s, x.dim(d));
            wt[d][size_t(o)] = 0.f;
          } else {
            s = std::clamp(s, 0.0, double(x.dim(d) - 1));
            int64_t lo = int64_t(std::floor(s));
            int64_t hi = std::min<int64_t>(lo + 1, x.dim(d) - 1);
            i0[d][size_t(o)] = lo;
            i1[d][size_t(o)] = hi;
            wt[d][size_t(o)] = float(s - double(lo));
          }
        }
      }
      const T* px = x.data<T>();
      T* py = y.data<T>();
      int64_t n = y.numel();
      // Dims that actually interpolate (linear only).
      std::vector<size_t> lin_dims;
      if (a.linear)
        for (size_t d = 0; d < r; ++d)
          if (os[d] != x.dim(d) || sc[d] != 1.0) lin_dims.push_back(d);
      parallel_for(rc, n, 4096, [&](int64_t b, int64_t e) {
        std::vector<int64_t> idx(r);
        for (int64_t k = b; k < e; ++k) {
          int64_t rem = k;
          for (size_t d = r; d-- > 0;) { idx[d] = rem % os[d]; rem /= os[d]; }
          if (!a.linear) {
            int64_t off = 0;
            for (size_t d = 0; d < r; ++d) off += i0[d][size_t(idx[d])] * xst[d];
            py[k] = px[off];
            continue;
          }
          if constexpr (std::is_floating_point<T>::value) {
            int64_t base = 0;
            for (size_t d = 0; d < r; ++d) base += i0[d][size_t(idx[d])] * xst[d];
            float v = 0.f;
            size_t nl = lin_dims.size();
            for (size_t corner = 0; corner < (size_t(1) << nl); ++corner) {
              float w = 1.f;
              int64_t off = base;
              for (size_t j = 0; j < nl; ++j) {
                size_t d = lin_dims[j];
                float f = wt[d][size_t(idx[d])];
                if (corner >> j & 1) {
                  w *= f;
                  off += (i1[d][size_t(idx[d])] - i0[d][size_t(idx[d])]) * xst[d];
                } else {
                  w *= 1.f - f;
                }
              }
              if (w != 0.f) v += w * float(px[off]);
            }
            py[k] = T(v);
          }
        }
      });
      out[0] = std::move(y);
      return Status::Ok();
    });
  });
}

}  // namespace resize_detail

inline void add_resize_ops(OpTable& t) {
  t["Resize"] = {&resize_detail::build_resize, 0xEu};
  t["Upsample"] = {&resize_detail::build_resize, 1u << 1};
}

}  // namespace qforge::ops
