// qforge/data/resize.hpp — channel conversion and bilinear resizing for images entering a model.
//
// Contract: bilinear with half-pixel centres (OpenCV INTER_LINEAR / PyTorch align_corners=False, no antialias);
// channel conversion: 1→3 repeats the plane, 3/4→1 averages R,G,B (alpha dropped), 4→3 drops alpha.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qforge/io/image_read.hpp"

namespace qforge::data {

// Resizes one float plane (h×w → H×W), bilinear, half-pixel centres.
inline void resize_plane_bilinear(const float* src, int64_t h, int64_t w, float* dst, int64_t H, int64_t W) {
  if (h == H && w == W) {
    std::copy(src, src + h * w, dst);
    return;
  }
  const float sy = float(h) / float(H), sx = float(w) / float(W);
  for (int64_t y = 0; y < H; ++y) {
    float fy = std::max(0.0f, (float(y) + 0.5f) * sy - 0.5f);
    int64_t y0 = std::min<int64_t>(int64_t(fy), h - 1), y1 = std::min<int64_t>(y0 + 1, h - 1);
    float ay = fy - float(y0);
    for (int64_t x = 0; x < W; ++x) {
      float fx = std::max(0.0f, (float(x) + 0.5f) * sx - 0.5f);
      int64_t x0 = std::min<int64_t>(int64_t(fx), w - 1), x1 = std::min<int64_t>(x0 + 1, w - 1);
      float ax = fx - float(x0);
      float top = src[y0 * w + x0] * (1 - ax) + src[y0 * w + x1] * ax;
      float bot = src[y1 * w + x0] * (1 - ax) + src[y1 * w + x1] * ax;
      dst[y * W + x] = top * (1 - ay) + bot * ay;
    }
  }
}

// Converts C_in planes to C_out planes in place of a new buffer (planes of n floats each).
inline std::vector<float> convert_channels(const float* src, int64_t cin, int64_t n, int64_t cout) {
  std::vector<float> out(size_t(cout * n));
  if (cin == cout) {
    std::copy(src, src + cin * n, out.begin());
  } else if (cout == 1) {
    int64_t use = std::min<int64_t>(cin, 3);
    for (int64_t i = 0; i < n; ++i) {
      float s = 0;
      for (int64_t c = 0; c < use; ++c) s += src[c * n + i];
      out[size_t(i)] = s / float(use);
    }
  } else {
    for (int64_t c = 0; c < cout; ++c) {
      const float* p = src + (cin == 1 ? 0 : std::min(c, cin - 1)) * n;
      std::copy(p, p + n, out.begin() + c * n);
    }
  }
  return out;
}

// An HWC uint8 image → CHW uint8 of C×H×W (channel conversion, then bilinear resize, rounded).
inline std::vector<uint8_t> image_to_chw_u8(const io::Image8& img, int64_t C, int64_t H, int64_t W) {
  int64_t n = int64_t(img.height) * img.width;
  std::vector<float> planes(size_t(img.channels * n));
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < img.channels; ++c) planes[size_t(c * n + i)] = img.pixels[size_t(i * img.channels + c)];
  auto conv = convert_channels(planes.data(), img.channels, n, C);
  std::vector<uint8_t> out(size_t(C * H * W));
  std::vector<float> tmp(size_t(H * W));
  for (int64_t c = 0; c < C; ++c) {
    resize_plane_bilinear(conv.data() + c * n, img.height, img.width, tmp.data(), H, W);
    for (int64_t i = 0; i < H * W; ++i)
      out[size_t(c * H * W + i)] = uint8_t(std::clamp(std::nearbyint(tmp[size_t(i)]), 0.0f, 255.0f));
  }
  return out;
}

}  // namespace qforge::data
