// qforge/data/preprocess_gen.hpp — generator output → model input, with the same normalisation as real images.
//
// Contract: generator images are float32 [N, C, H, W] in [-1, 1] (generators/generator.hpp). preprocess_generated
// maps them to pixels p = (x + 1) / 2 in [0, 1], converts channels as data/resize.hpp does for real images
// (3→1 averages R, G, B; 1→3 repeats), resizes to the model's H×W and returns (p − mean[c]) / std[c] with the
// InputSpec from data/preprocess.hpp (model metadata qforge.mean / qforge.std). Real images go through
// preprocess_batch with p = pixel / 255 and the same steps, so both paths agree on a given picture.
// Resizing: bilinear with half-pixel centres (as for real images) unless the image shrinks by 2× or more on an
// axis, where bilinear would alias; then area averaging (exact box-filter overlaps). ResizeMode forces either.
// resize_images does the channel/size conversion alone, staying in [-1, 1] (for `generate --size`).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/data/resize.hpp"

namespace qforge::data {

enum class ResizeMode { Auto, Bilinear, Area };

// Area (box-filter) resize of one plane: each output pixel is the mean of the source area it covers, with
// fractional overlaps at the edges. Works for any ratio (an upscale is a nearest-like box).
inline void resize_plane_area(const float* src, int64_t h, int64_t w, float* dst, int64_t H, int64_t W) {
  if (h == H && w == W) {
    std::copy(src, src + h * w, dst);
    return;
  }
  struct Tap { int64_t i; float wt; };
  auto taps = [](int64_t n_in, int64_t n_out) {
    std::vector<std::vector<Tap>> t(static_cast<size_t>(n_out));
    const double scale = double(n_in) / double(n_out);
    for (int64_t o = 0; o < n_out; ++o) {
      double a = double(o) * scale, b = double(o + 1) * scale;
      for (int64_t i = int64_t(std::floor(a)); i < n_in && double(i) < b; ++i) {
        double ov = std::min(b, double(i + 1)) - std::max(a, double(i));
        if (ov > 1e-9) t[size_t(o)].push_back({i, float(ov / scale)});
      }
    }
    return t;
  };
  auto tx = taps(w, W), ty = taps(h, H);
  std::vector<float> rows(static_cast<size_t>(h * W));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < W; ++x) {
      float s = 0;
      for (auto& t : tx[size_t(x)]) s += t.wt * src[y * w + t.i];
      rows[size_t(y * W + x)] = s;
    }
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      float s = 0;
      for (auto& t : ty[size_t(y)]) s += t.wt * rows[size_t(t.i * W + x)];
      dst[y * W + x] = s;
    }
}

inline bool use_area(ResizeMode m, int64_t h, int64_t w, int64_t H, int64_t W) {
  if (m == ResizeMode::Area) return true;
  if (m == ResizeMode::Bilinear) return false;
  return h >= 2 * H || w >= 2 * W;
}

namespace detail {

// Shared core: per image, planes → affine map (a·x + b) → channels → resize → per-channel (v − m[c]) · k[c].
inline Result<Tensor> convert_images(const Tensor& batch, int64_t C, int64_t H, int64_t W, float a, float b,
                                     const std::vector<float>& m, const std::vector<float>& k, ResizeMode mode) {
  if (batch.dtype() != DType::f32 || batch.rank() != 4)
    return make_error("generated images must be float32 [N,C,H,W], got ", dtype_name(batch.dtype()), " ",
                      shape_str(batch.shape()));
  const int64_t N = batch.dim(0), c0 = batch.dim(1), h = batch.dim(2), w = batch.dim(3);
  if (c0 < 1 || h < 1 || w < 1) return make_error("generated images have an empty shape ", shape_str(batch.shape()));
  if (C < 1 || H < 1 || W < 1) return make_error("target image shape ", C, "x", H, "x", W, " is empty");
  QF_ASSIGN_OR_RETURN(Tensor out, Tensor::create(DType::f32, {N, C, H, W}));
  const int64_t n = h * w;
  const bool area = use_area(mode, h, w, H, W);
  std::vector<float> planes(static_cast<size_t>(c0 * n));
  for (int64_t i = 0; i < N; ++i) {
    const float* src = batch.data<float>() + i * c0 * n;
    for (int64_t j = 0; j < c0 * n; ++j) planes[size_t(j)] = a * src[j] + b;
    auto conv = convert_channels(planes.data(), c0, n, C);
    float* dst = out.data<float>() + i * C * H * W;
    for (int64_t c = 0; c < C; ++c) {
      float* d = dst + c * H * W;
      if (area) resize_plane_area(conv.data() + c * n, h, w, d, H, W);
      else resize_plane_bilinear(conv.data() + c * n, h, w, d, H, W);
      float mc = m.size() == 1 ? m[0] : m[size_t(c)], kc = k.size() == 1 ? k[0] : k[size_t(c)];
      for (int64_t j = 0; j < H * W; ++j) d[j] = (d[j] - mc) * kc;
    }
  }
  return out;
}

}  // namespace detail

// Generator output in [-1, 1] → the model's normalised input [N, spec.channels, spec.height, spec.width].
inline Result<Tensor> preprocess_generated(const Tensor& batch, const InputSpec& spec,
                                           ResizeMode mode = ResizeMode::Auto) {
  QF_RETURN_IF_ERROR(check_norm(spec, "input spec"));
  std::vector<float> inv;
  for (float s : spec.std) inv.push_back(1.0f / s);
  return detail::convert_images(batch, spec.channels, spec.height, spec.width, 0.5f, 0.5f, spec.mean, inv, mode);
}

// Channel and size conversion alone; values stay in [-1, 1].
inline Result<Tensor> resize_images(const Tensor& batch, int64_t channels, int64_t height, int64_t width,
                                    ResizeMode mode = ResizeMode::Auto) {
  return detail::convert_images(batch, channels, height, width, 1.0f, 0.0f, {0.0f}, {1.0f}, mode);
}

}  // namespace qforge::data
