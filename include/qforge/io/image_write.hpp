// qforge/io/image_write.hpp — PNG writing for generated images, and image grids.
//
// Contract: float images are NCHW/CHW in [-1, 1] (the Generator convention) and become uint8 by the official
// StyleGAN conversion: pixel = trunc(clamp(x·127.5 + 128, 0, 255)). PNGs hold 1 (gray), 2 (gray+alpha),
// 3 (RGB) or 4 (RGBA) channels. Files are written to a temporary name and renamed into place, so an error never
// leaves a half-written file. stb_image_write is compiled into the including translation unit as static
// functions (header-only, no clash with an application's own copy).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/io/file_util.hpp"

#ifndef QFORGE_STB_IMAGE_WRITE_INCLUDED
#define QFORGE_STB_IMAGE_WRITE_INCLUDED
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

namespace qforge::io {

// StyleGAN's float → uint8 conversion (generate.py): trunc(clamp(x·127.5 + 128, 0, 255)). NaN → 0.
inline uint8_t to_u8_pixel(float x) {
  float v = x * 127.5f + 128.0f;
  if (!(v > 0.0f)) return 0;
  if (v >= 255.0f) return 255;
  return uint8_t(v);
}

// Image k of a float [N, C, H, W] tensor (or a [C, H, W] tensor with k = 0) as interleaved HWC uint8.
inline Result<std::vector<uint8_t>> to_u8_hwc(const Tensor& t, int64_t k = 0) {
  if (t.dtype() != DType::f32) return make_error("image tensor is ", dtype_name(t.dtype()), ", expected float32");
  Shape s = t.shape();
  if (s.size() == 3) s.insert(s.begin(), 1);
  if (s.size() != 4) return make_error("image tensor has shape ", shape_str(t.shape()), ", expected [N,C,H,W]");
  if (k < 0 || k >= s[0]) return make_error("image ", k, " of a batch of ", s[0]);
  const int64_t C = s[1], H = s[2], W = s[3];
  const float* src = t.data<float>() + k * C * H * W;
  std::vector<uint8_t> out(size_t(C * H * W));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i) out[size_t(i * C + c)] = to_u8_pixel(src[c * H * W + i]);
  return out;
}

// Encode interleaved uint8 pixels as PNG bytes.
inline Result<std::vector<uint8_t>> encode_png(const uint8_t* hwc, int64_t h, int64_t w, int64_t c) {
  if (c < 1 || c > 4) return make_error("PNG needs 1..4 channels, got ", c);
  if (h < 1 || w < 1 || h > 65535 || w > 65535) return make_error("PNG size ", h, "x", w, " out of range");
  std::vector<uint8_t> bytes;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  int ok = stbi_write_png_to_func(sink, &bytes, int(w), int(h), int(c), hwc, int(w * c));
  if (!ok || bytes.empty()) return make_error("PNG encoding failed (", h, "x", w, "x", c, ")");
  return bytes;
}

// Write interleaved uint8 pixels to `path` (temp + rename).
inline Status write_png_u8(const std::string& path, const uint8_t* hwc, int64_t h, int64_t w, int64_t c) {
  auto png = encode_png(hwc, h, w, c);
  if (!png.ok()) return png.error().wrap(path);
  return write_file_atomic(path, png->data(), png->size());
}

// Write image k of a float [N, C, H, W] (or [C, H, W]) tensor in [-1, 1] to `path`.
inline Status write_png(const std::string& path, const Tensor& t, int64_t k = 0) {
  auto px = to_u8_hwc(t, k);
  if (!px.ok()) return px.error().wrap(path);
  Shape s = t.shape();
  if (s.size() == 3) s.insert(s.begin(), 1);
  return write_png_u8(path, px->data(), s[2], s[3], s[1]);
}

// Tile images [N, C, H, W] into one [C, rows·(H+pad)+pad, cols·(W+pad)+pad] image, row-major, with `pad`
// pixels of value `pad_value` between and around the tiles. cols <= 0 picks ceil(sqrt(N)). Empty cells at the
// end are pad_value.
inline Result<Tensor> make_grid(const Tensor& batch, int64_t cols = 0, int64_t pad = 2, float pad_value = -1.0f) {
  if (batch.dtype() != DType::f32 || batch.rank() != 4)
    return make_error("make_grid: expected float32 [N,C,H,W], got ", dtype_name(batch.dtype()), " ",
                      shape_str(batch.shape()));
  const int64_t N = batch.dim(0), C = batch.dim(1), H = batch.dim(2), W = batch.dim(3);
  if (N < 1) return make_error("make_grid: empty batch");
  if (pad < 0 || pad > 64) return make_error("make_grid: pad ", pad, " out of range 0..64");
  if (cols <= 0) cols = int64_t(std::ceil(std::sqrt(double(N))));
  cols = std::min(cols, N);
  const int64_t rows = (N + cols - 1) / cols;
  const int64_t GH = rows * (H + pad) + pad, GW = cols * (W + pad) + pad;
  QF_ASSIGN_OR_RETURN(Tensor g, Tensor::create(DType::f32, {C, GH, GW}));
  float* d = g.data<float>();
  std::fill(d, d + g.numel(), pad_value);
  const float* s = batch.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    int64_t r = n / cols, c = n % cols;
    int64_t y0 = pad + r * (H + pad), x0 = pad + c * (W + pad);
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t y = 0; y < H; ++y) {
        const float* src = s + ((n * C + ch) * H + y) * W;
        std::copy(src, src + W, d + (ch * GH + y0 + y) * GW + x0);
      }
  }
  return g;
}

}  // namespace qforge::io
