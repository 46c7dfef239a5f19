// qforge/graph/ops/vision.hpp — detection/sampling ops on float32: NonMaxSuppression, RoiAlign, GridSample.
//
// Contract (ONNX opset 16 semantics):
// - NonMaxSuppression: boxes [B, S, 4] (corners y1,x1,y2,x2 in any order, or center_point_box = 1: xc,yc,w,h),
//   scores [B, C, S]; optional max_output_boxes_per_class (default 0 = none), iou_threshold (0), score_threshold
//   (keep scores strictly above it). Per batch and class, greedy in descending score (ties: lower index first),
//   a box is dropped when its IoU with a kept box exceeds iou_threshold. Output int64 [K, 3] (batch, class, box).
// - RoiAlign: mode avg only (max is rejected at prepare); coordinate_transformation_mode half_pixel (shift by
//   -0.5) or output_half_pixel (no shift, ROI size at least 1); sampling_ratio 0 = ceil(roi size / output size).
//   Bilinear samples outside [-1, size] contribute 0; others are clamped into the map.
// - GridSample: 4-D input, grid [N, Ho, Wo, 2] of normalised (x, y); modes bilinear, nearest (round half to
//   even), bicubic (A = -0.75); padding zeros, border, reflection; align_corners.
#pragma once
#include <algorithm>
#include <cmath>
#include <numeric>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace vision_detail {

inline Result<KernelPtr> build_nms(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 5));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 2, {DType::i64}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 3, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 4, {DType::f32}));
  bool center = c.node.get_int("center_point_box", 0) != 0;
  c.outputs_as(DType::i64);
  return make_kernel([center](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& boxes = *in[0];
    const Tensor& scores = *in[1];
    if (boxes.rank() != 3 || boxes.dim(2) != 4) return make_error("boxes must be [B, S, 4], got ", shape_str(boxes.shape()));
    if (scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1))
      return make_error("scores must be [B, C, S] matching boxes, got ", shape_str(scores.shape()));
    int64_t max_out = 0;
    float iou_th = 0.f, score_th = -INFINITY;
    bool has_score_th = false;
    if (in.size() > 2 && in[2] && in[2]->numel() > 0) max_out = in[2]->data<int64_t>()[0];
    if (in.size() > 3 && in[3] && in[3]->numel() > 0) iou_th = in[3]->data<float>()[0];
    if (in.size() > 4 && in[4] && in[4]->numel() > 0) { score_th = in[4]->data<float>()[0]; has_score_th = true; }
    int64_t B = boxes.dim(0), S = boxes.dim(1), C = scores.dim(1);
    const float* pb = boxes.data<float>();
    const float* ps = scores.data<float>();
    auto corners = [&](int64_t b, int64_t i, float* r) {  // y1, x1, y2, x2 normalised
      const float* p = pb + (b * S + i) * 4;
      if (center) {
        r[0] = p[1] - p[3] / 2; r[2] = p[1] + p[3] / 2;
        r[1] = p[0] - p[2] / 2; r[3] = p[0] + p[2] / 2;
      } else {
        r[0] = std::min(p[0], p[2]); r[2] = std::max(p[0], p[2]);
        r[1] = std::min(p[1], p[3]); r[3] = std::max(p[1], p[3]);
      }
    };
    auto iou = [&](int64_t b, int64_t i, int64_t j) {
      float a[4], q[4];
      corners(b, i, a);
      corners(b, j, q);
      float ih = std::max(0.f, std::min(a[2], q[2]) - std::max(a[0], q[0]));
      float iw = std::max(0.f, std::min(a[3], q[3]) - std::max(a[1], q[1]));
      float inter = ih * iw, uni = (a[2] - a[0]) * (a[3] - a[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter;
      return uni > 0.f ? inter / uni : 0.f;
    };
    std::vector<int64_t> sel;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t cl = 0; cl < C; ++cl) {
        const float* sc = ps + (b * C + cl) * S;
        std::vector<int64_t> cand;
        for (int64_t i = 0; i < S; ++i)
          if (!has_score_th || sc[i] > score_th) cand.push_back(i);
        std::stable_sort(cand.begin(), cand.end(), [&](int64_t x, int64_t y) { return sc[x] > sc[y]; });
        std::vector<int64_t> kept;
        for (int64_t i : cand) {
          if (int64_t(kept.size()) >= max_out) break;
          bool ok = true;
          for (int64_t k : kept)
            if (iou(b, i, k) > iou_th) { ok = false; break; }
          if (ok) kept.push_back(i);
        }
        for (int64_t k : kept) sel.insert(sel.end(), {b, cl, k});
      }
    out[0] = Tensor::from_vector<int64_t>({int64_t(sel.size() / 3), 3}, sel);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_roialign(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 3, 3));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 2, {DType::i64, DType::i32}));
  if (c.node.get_string("mode", "avg") != "avg") return make_error("mode '", c.node.get_string("mode", ""), "' is not supported (avg)");
  std::string ct = c.node.get_string("coordinate_transformation_mode", c.opset >= 16 ? "half_pixel" : "output_half_pixel");
  if (ct != "half_pixel" && ct != "output_half_pixel") return make_error("coordinate_transformation_mode '", ct, "' is not supported");
  bool half = ct == "half_pixel";
  int64_t oh = c.node.get_int("output_height", 1), ow = c.node.get_int("output_width", 1);
  int64_t ratio = c.node.get_int("sampling_ratio", 0);
  float scale = c.node.get_float("spatial_scale", 1.f);
  if (oh < 1 || ow < 1 || ratio < 0) return make_error("output_height/output_width must be >= 1, sampling_ratio >= 0");
  c.outputs_as(DType::f32);
  return make_kernel([=](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    const Tensor& rois = *in[1];
    if (x.rank() != 4) return make_error("X must be 4-D");
    if (rois.rank() != 2 || rois.dim(1) != 4) return make_error("rois must be [R, 4]");
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> bi, tensor_to_i64(*in[2], "batch_indices"));
    int64_t R = rois.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    if (int64_t(bi.size()) != R) return make_error("batch_indices must have ", R, " entries");
    Tensor y(DType::f32, {R, C, oh, ow});
    const float* px = x.data<float>();
    float* py = y.data<float>();
    float off = half ? 0.5f : 0.f;
    for (int64_t r = 0; r < R; ++r)
      if (bi[size_t(r)] < 0 || bi[size_t(r)] >= x.dim(0)) return make_error("batch index ", bi[size_t(r)], " is out of range");
    parallel_for(rc, R * C, 1, [&](int64_t b0, int64_t e0) {
      for (int64_t t = b0; t < e0; ++t) {
        int64_t r = t / C, ch = t % C;
        const float* roi = rois.data<float>() + r * 4;
        float x1 = roi[0] * scale - off, y1 = roi[1] * scale - off, x2 = roi[2] * scale - off, y2 = roi[3] * scale - off;
        float rw = x2 - x1, rh = y2 - y1;
        if (!half) { rw = std::max(rw, 1.f); rh = std::max(rh, 1.f); }
        float bh = rh / float(oh), bw = rw / float(ow);
        int64_t gh = ratio > 0 ? ratio : int64_t(std::ceil(rh / float(oh)));
        int64_t gw = ratio > 0 ? ratio : int64_t(std::ceil(rw / float(ow)));
        gh = std::max<int64_t>(gh, 1);
        gw = std::max<int64_t>(gw, 1);
        const float* plane = px + (bi[size_t(r)] * C + ch) * H * W;
        for (int64_t i = 0; i < oh; ++i)
          for (int64_t j = 0; j < ow; ++j) {
            float acc = 0.f;
            for (int64_t iy = 0; iy < gh; ++iy) {
              float yy = y1 + float(i) * bh + (float(iy) + 0.5f) * bh / float(gh);
              for (int64_t ix = 0; ix < gw; ++ix) {
                float xx = x1 + float(j) * bw + (float(ix) + 0.5f) * bw / float(gw);
                if (yy < -1.f || yy > float(H) || xx < -1.f || xx > float(W)) continue;
                float ys = std::max(yy, 0.f), xs = std::max(xx, 0.f);
                int64_t y0 = int64_t(ys), x0 = int64_t(xs), y1i, x1i;
                if (y0 >= H - 1) { y0 = y1i = H - 1; ys = float(y0); } else { y1i = y0 + 1; }
                if (x0 >= W - 1) { x0 = x1i = W - 1; xs = float(x0); } else { x1i = x0 + 1; }
                float ly = ys - float(y0), lx = xs - float(x0), hy = 1.f - ly, hx = 1.f - lx;
                acc += hy * hx * plane[y0 * W + x0] + hy * lx * plane[y0 * W + x1i] + ly * hx * plane[y1i * W + x0] +
                       ly * lx * plane[y1i * W + x1i];
              }
            }
            py[(t * oh + i) * ow + j] = acc / float(gh * gw);
          }
      }
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

// Reflects x into [lo, hi] (GridSample reflection padding).
inline float reflect(float x, float lo, float hi) {
  float span = hi - lo;
  if (span <= 0.f) return lo;
  if (x < lo) {
    float d = lo - x;
    int64_t flips = int64_t(d / span);
    float extra = d - float(flips) * span;
    return flips % 2 == 0 ? lo + extra : hi - extra;
  }
  if (x > hi) {
    float d = x - hi;
    int64_t flips = int64_t(d / span);
    float extra = d - float(flips) * span;
    return flips % 2 == 0 ? hi - extra : lo + extra;
  }
  return x;
}

inline Result<KernelPtr> build_gridsample(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::f32}));
  std::string mode = c.node.get_string("mode", "bilinear"), pad = c.node.get_string("padding_mode", "zeros");
  if (mode != "bilinear" && mode != "nearest" && mode != "bicubic") return make_error("mode '", mode, "' is not supported");
  if (pad != "zeros" && pad != "border" && pad != "reflection") return make_error("padding_mode '", pad, "' is not supported");
  bool ac = c.node.get_int("align_corners", 0) != 0;
  int m = mode == "bilinear" ? 0 : mode == "nearest" ? 1 : 2, p = pad == "zeros" ? 0 : pad == "border" ? 1 : 2;
  c.outputs_as(DType::f32);
  return make_kernel([m, p, ac](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    const Tensor& g = *in[1];
    if (x.rank() != 4) return make_error("only 4-D input is supported");
    if (g.rank() != 4 || g.dim(0) != x.dim(0) || g.dim(3) != 2) return make_error("grid must be [N, Ho, Wo, 2]");
    int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), Ho = g.dim(1), Wo = g.dim(2);
    Tensor y(DType::f32, {N, C, Ho, Wo});
    const float* px = x.data<float>();
    const float* pg = g.data<float>();
    float* py = y.data<float>();
    auto denorm = [ac](float v, int64_t len) {
      return ac ? (v + 1.f) / 2.f * float(len - 1) : ((v + 1.f) * float(len) - 1.f) / 2.f;
    };
    auto pixel = [&](const float* plane, int64_t yy, int64_t xx) -> float {
      if (p == 0) return (yy < 0 || yy >= H || xx < 0 || xx >= W) ? 0.f : plane[yy * W + xx];
      yy = std::clamp<int64_t>(yy, 0, H - 1);
      xx = std::clamp<int64_t>(xx, 0, W - 1);
      return plane[yy * W + xx];
    };
    auto cubic = [](float t, float* w) {
      const float A = -0.75f;
      auto c1 = [A](float d) { return ((A + 2.f) * d - (A + 3.f)) * d * d + 1.f; };
      auto c2 = [A](float d) { return ((A * d - 5.f * A) * d + 8.f * A) * d - 4.f * A; };
      w[0] = c2(t + 1.f);
      w[1] = c1(t);
      w[2] = c1(1.f - t);
      w[3] = c2(2.f - t);
    };
    parallel_for(rc, N * C, 1, [&](int64_t b0, int64_t e0) {
      for (int64_t t = b0; t < e0; ++t) {
        int64_t n = t / C;
        const float* plane = px + t * H * W;
        for (int64_t i = 0; i < Ho * Wo; ++i) {
          float gx = denorm(pg[(n * Ho * Wo + i) * 2], W), gy = denorm(pg[(n * Ho * Wo + i) * 2 + 1], H);
          if (p == 1 && m != 2) {
            gx = std::clamp(gx, 0.f, float(W - 1));
            gy = std::clamp(gy, 0.f, float(H - 1));
          } else if (p == 2) {
            gx = ac ? reflect(gx, 0.f, float(W - 1)) : reflect(gx, -0.5f, float(W) - 0.5f);
            gy = ac ? reflect(gy, 0.f, float(H - 1)) : reflect(gy, -0.5f, float(H) - 0.5f);
            if (m != 2) {
              gx = std::clamp(gx, 0.f, float(W - 1));
              gy = std::clamp(gy, 0.f, float(H - 1));
            }
          }
          float v;
          if (m == 1) {
            v = pixel(plane, int64_t(std::nearbyint(gy)), int64_t(std::nearbyint(gx)));
          } else if (m == 0) {
            float fx = std::floor(gx), fy = std::floor(gy);
            int64_t x0 = int64_t(fx), y0 = int64_t(fy);
            float lx = gx - fx, ly = gy - fy;
            v = (1 - ly) * ((1 - lx) * pixel(plane, y0, x0) + lx * pixel(plane, y0, x0 + 1)) +
                ly * ((1 - lx) * pixel(plane, y0 + 1, x0) + lx * pixel(plane, y0 + 1, x0 + 1));
          } else {
            float fx = std::floor(gx), fy = std::floor(gy);
            int64_t x0 = int64_t(fx) - 1, y0 = int64_t(fy) - 1;
            float wx[4], wy[4];
            cubic(gx - fx, wx);
            cubic(gy - fy, wy);
            v = 0.f;
            for (int a = 0; a < 4; ++a) {
              float row = 0.f;
              for (int b = 0; b < 4; ++b) row += wx[b] * pixel(plane, y0 + a, x0 + b);
              v += wy[a] * row;
            }
          }
          py[t * Ho * Wo + i] = v;
        }
      }
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

}  // namespace vision_detail

inline void add_vision_ops(OpTable& t) {
  t["NonMaxSuppression"] = {&vision_detail::build_nms, 0x1Fu};  // output size depends on every input
  t["RoiAlign"] = {&vision_detail::build_roialign};
  t["GridSample"] = {&vision_detail::build_gridsample};
}

}  // namespace qforge::ops
