// qforge/graph/ops/resize.hpp — Resize (opset 10..17) and Upsample (opset 7..9), modes nearest and linear.
//
// Contract (ONNX): output size per dim = sizes[d] when `sizes` is given, else floor(in * scales[d]). Coordinate
// transforms half_pixel (default from opset 11), asymmetric (opset 10 and Upsample), align_corners,
// pytorch_half_pixel, tf_half_pixel_for_nn, tf_crop_and_resize (roi input, extrapolation_value outside);
// nearest_mode round_prefer_floor (default), round_prefer_ceil, floor, ceil (Upsample and Resize-10 use floor).
// linear interpolates every resized dim (n-linear, source coordinates clamped to the input); cubic uses
// cubic_coeff_a (default -0.75) over 4 taps per dim, edge-clamped, or with exclude_outside the outside taps get
// weight 0 and the rest are renormalised. antialias is rejected at prepare. Any dtype for nearest, float32 for
// linear and cubic.
#pragma once
#include <cmath>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace resize_detail {

enum class Coord { HalfPixel, Asymmetric, AlignCorners, PytorchHalfPixel, TfHalfPixelForNN, TfCropAndResize };
enum class Round { PreferFloor, PreferCeil, Floor, Ceil };

struct ResizeAttrs {
  bool linear = false, cubic = false, exclude_outside = false;
  float cubic_a = -0.75f, extrapolation = 0.f;
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
    case Coord::TfCropAndResize: return x / scale;  // handled by the caller (needs roi)
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
  else if (mode == "cubic" && a.form == 11) a.cubic = true;
  else if (mode != "nearest") return make_error("mode '", mode, "' is not supported (nearest, linear, cubic)");
  if (a.linear || a.cubic) QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  a.cubic_a = c.node.get_float("cubic_coeff_a", -0.75f);
  a.exclude_outside = c.node.get_int("exclude_outside", 0) != 0;
  a.extrapolation = c.node.get_float("extrapolation_value", 0.f);
  if (a.form == 11) {
    std::string ct = c.node.get_string("coordinate_transformation_mode", "half_pixel");
    if (ct == "half_pixel") a.coord = Coord::HalfPixel;
    else if (ct == "asymmetric") a.coord = Coord::Asymmetric;
    else if (ct == "align_corners") a.coord = Coord::AlignCorners;
    else if (ct == "pytorch_half_pixel") a.coord = Coord::PytorchHalfPixel;
    else if (ct == "tf_half_pixel_for_nn") a.coord = Coord::TfHalfPixelForNN;
    else if (ct == "tf_crop_and_resize") a.coord = Coord::TfCropAndResize;
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
      std::vector<float> roi;
      if (a.coord == Coord::TfCropAndResize) {
        if (in.size() < 2 || !in[1] || in[1]->numel() != int64_t(2 * r))
          return make_error("tf_crop_and_resize needs roi with ", 2 * r, " values");
        QF_ASSIGN_OR_RETURN(roi, tensor_to_f32(*in[1], "roi"));
      }
      // Per dim and output coordinate: taps (source indices and weights); `outside` marks extrapolated points.
      int ntap = a.cubic ? 4 : a.linear ? 2 : 1;
      std::vector<std::vector<int64_t>> tidx(r);
      std::vector<std::vector<float>> tw(r);
      std::vector<std::vector<char>> outside(r);
      std::vector<int> dim_taps(r, 1);
      for (size_t d = 0; d < r; ++d) {
        int64_t n_in = x.dim(d), n_out = os[d];
        double out_len = sizes.empty() ? double(n_in) * sc[d] : double(n_out);
        tidx[d].assign(size_t(n_out * ntap), 0);
        tw[d].assign(size_t(n_out * ntap), 0.f);
        outside[d].assign(size_t(n_out), 0);
        // A dim whose source coordinates are exactly 0, 1, 2, ... needs one tap.
        bool identity = n_out == n_in && a.coord != Coord::TfCropAndResize;
        for (int64_t o = 0; identity && o < n_out; ++o)
          identity = source_coord(a.coord, double(o), sc[d], n_in, out_len) == double(o) &&
                     (a.linear || a.cubic || nearest_index(a.round, double(o), n_in) == o);
        for (int64_t o = 0; o < n_out; ++o) {
          double s;
          if (a.coord == Coord::TfCropAndResize) {
            double st = roi[d], en = roi[d + r];
            s = n_out > 1 ? st * double(n_in - 1) + double(o) * (en - st) * double(n_in - 1) / double(n_out - 1)
                          : 0.5 * (st + en) * double(n_in - 1);
            if (s < 0 || s > double(n_in - 1)) outside[d][size_t(o)] = 1;
          } else {
            s = source_coord(a.coord, double(o), sc[d], n_in, out_len);
          }
          int64_t* ti = tidx[d].data() + o * ntap;
          float* w = tw[d].data() + o * ntap;
          if (identity) {
            ti[0] = o;
            w[0] = 1.f;
          } else if (!a.linear && !a.cubic) {
            ti[0] = nearest_index(a.round, s, n_in);
            w[0] = 1.f;
          } else if (a.linear) {
            s = std::clamp(s, 0.0, double(n_in - 1));
            int64_t lo = int64_t(std::floor(s));
            ti[0] = lo;
            ti[1] = std::min<int64_t>(lo + 1, n_in - 1);
            w[1] = float(s - double(lo));
            w[0] = 1.f - w[1];
          } else {
            double fl = std::floor(s), t = s - fl;
            double A = a.cubic_a;
            double cw[4] = {((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A,
                            ((A + 2) * t - (A + 3)) * t * t + 1, ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1,
                            ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A};
            double sum = 0;
            for (int k = 0; k < 4; ++k) {
              int64_t idx = int64_t(fl) - 1 + k;
              if (a.exclude_outside && (idx < 0 || idx >= n_in)) cw[k] = 0;
              sum += cw[k];
              ti[k] = std::clamp<int64_t>(idx, 0, n_in - 1);
            }
            for (int k = 0; k < 4; ++k) w[k] = float(a.exclude_outside && sum != 0 ? cw[k] / sum : cw[k]);
          }
        }
        dim_taps[d] = identity ? 1 : ntap;
      }
      const T* px = x.data<T>();
      T* py = y.data<T>();
      int64_t n = y.numel();
      int64_t combos = 1;
      for (size_t d = 0; d < r; ++d) combos *= dim_taps[d];
      float extrap = a.extrapolation;
      parallel_for(rc, n, 4096, [&](int64_t b, int64_t e) {
        std::vector<int64_t> idx(r);
        for (int64_t k = b; k < e; ++k) {
          int64_t rem = k;
          bool out_of_roi = false;
          for (size_t d = r; d-- > 0;) {
            idx[d] = rem % os[d];
            rem /= os[d];
            out_of_roi = out_of_roi || outside[d][size_t(idx[d])];
          }
          if constexpr (std::is_floating_point<T>::value) {
            if (out_of_roi) {
              py[k] = T(extrap);
              continue;
            }
          }
          if (combos == 1) {
            int64_t off = 0;
            for (size_t d = 0; d < r; ++d) off += tidx[d][size_t(idx[d] * ntap)] * xst[d];
            py[k] = px[off];
            continue;
          }
          if constexpr (std::is_floating_point<T>::value) {
            float v = 0.f;
            for (int64_t cmb = 0; cmb < combos; ++cmb) {
              int64_t cr = cmb, off = 0;
              float w = 1.f;
              for (size_t d = r; d-- > 0;) {
                int64_t tp = cr % dim_taps[d];
                cr /= dim_taps[d];
                size_t at = size_t(idx[d] * ntap + tp);
                w *= tw[d][at];
                off += tidx[d][at] * xst[d];
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
