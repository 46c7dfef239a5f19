// generators/fractal/color.hpp — colour without a network: HSV conversion, per-image colour schemes for
// fractal points (by map index, by density, random palettes, gray) and random backgrounds (black, solid,
// linear gradient, colourised 1/f noise).
//
// Contract: colours are RGB floats in [0, 1]. A ColorScheme is drawn once per image from a FastRng and then maps
// (density g in [0, 1], map index k) to a colour; a background is written into three H×W planes.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "generators/fractal/ifs.hpp"
#include "generators/noise.hpp"

namespace qforge::gen::fractal {

using Rgb = std::array<float, 3>;

// h, s, v in [0, 1] (h wraps).
inline Rgb hsv_to_rgb(float h, float s, float v) {
  h = h - std::floor(h);
  float hh = h * 6.0f;
  int i = std::min(5, int(hh));
  float f = hh - float(i);
  float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (i) {
    case 0: return {v, t, p};
    case 1: return {q, v, p};
    case 2: return {p, v, t};
    case 3: return {p, q, v};
    case 4: return {t, p, v};
    default: return {v, p, q};
  }
}

enum class ColorMode { Random, Gray, HsvByMap, HsvByDensity, Palette };
enum class BackgroundMode { Random, Black, Solid, Gradient, Noise };

inline const char* color_mode_name(ColorMode m) {
  switch (m) {
    case ColorMode::Random: return "random";
    case ColorMode::Gray: return "gray";
    case ColorMode::HsvByMap: return "map";
    case ColorMode::HsvByDensity: return "density";
    case ColorMode::Palette: return "palette";
  }
  return "?";
}
inline const char* background_mode_name(BackgroundMode m) {
  switch (m) {
    case BackgroundMode::Random: return "random";
    case BackgroundMode::Black: return "black";
    case BackgroundMode::Solid: return "solid";
    case BackgroundMode::Gradient: return "gradient";
    case BackgroundMode::Noise: return "noise";
  }
  return "?";
}

// One image's colouring of fractal pixels.
struct ColorScheme {
  ColorMode mode = ColorMode::Gray;
  float h0 = 0, hstep = 0, hrange = 0, sat = 0, val = 1;
  std::vector<Rgb> palette;  // Palette: 3..5 stops at equal spacing of g

  static ColorScheme draw(FastRng& rng, ColorMode m) {
    ColorScheme c;
    if (m == ColorMode::Random) {
      static const ColorMode pick[4] = {ColorMode::HsvByMap, ColorMode::HsvByDensity, ColorMode::Palette,
                                        ColorMode::Gray};
      // Gray for 10% of images, the three colour schemes 30% each.
      float u = rng.uniform();
      m = u < 0.3f ? pick[0] : u < 0.6f ? pick[1] : u < 0.9f ? pick[2] : pick[3];
    }
    c.mode = m;
    c.h0 = rng.uniform();
    c.hstep = rng.uniform(0.12f, 0.5f);     // hue distance between consecutive maps
    c.hrange = rng.uniform(0.3f, 1.0f);     // hue span over the density range
    c.sat = rng.uniform(0.35f, 1.0f);
    c.val = rng.uniform(0.6f, 1.0f);
    if (m == ColorMode::Palette) {
      int n = rng.range(3, 5);
      for (int i = 0; i < n; ++i) c.palette.push_back(hsv_to_rgb(rng.uniform(), rng.uniform(0.3f, 1.0f),
                                                                 rng.uniform(0.45f, 1.0f)));
    }
    return c;
  }

  // g: normalised log-density of the pixel in [0, 1]; k: index of the last map that hit it.
  Rgb at(float g, int k) const {
    switch (mode) {
      case ColorMode::HsvByMap: return hsv_to_rgb(h0 + hstep * float(k), sat, val * (0.55f + 0.45f * g));
      case ColorMode::HsvByDensity: return hsv_to_rgb(h0 + hrange * g, sat, val * (0.6f + 0.4f * g));
      case ColorMode::Palette: {
        float t = g * float(palette.size() - 1);
        int i = std::min(int(palette.size()) - 2, int(t));
        float f = t - float(i);
        const Rgb &a = palette[size_t(i)], &b = palette[size_t(i) + 1];
        return {a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])};
      }
      default: {
        float v = val * (0.5f + 0.5f * g);
        return {v, v, v};
      }
    }
  }
};

inline Rgb random_background_colour(FastRng& rng) {
  return hsv_to_rgb(rng.uniform(), rng.uniform(0.0f, 0.9f), rng.uniform(0.05f, 0.7f));
}

// Writes an H×W background into planes r, g, b (each h*w floats).
inline void draw_background(FastRng& rng, BackgroundMode m, int64_t h, int64_t w, float* r, float* g, float* b) {
  if (m == BackgroundMode::Random) {
    float u = rng.uniform();
    m = u < 0.25f ? BackgroundMode::Black : u < 0.45f ? BackgroundMode::Solid
        : u < 0.7f ? BackgroundMode::Gradient : BackgroundMode::Noise;
  }
  const int64_t n = h * w;
  float* planes[3] = {r, g, b};
  if (m == BackgroundMode::Black) {
    for (auto* p : planes) std::fill(p, p + n, 0.0f);
    return;
  }
  Rgb c1 = random_background_colour(rng);
  if (m == BackgroundMode::Solid) {
    for (int ch = 0; ch < 3; ++ch) std::fill(planes[ch], planes[ch] + n, c1[size_t(ch)]);
    return;
  }
  Rgb c2 = random_background_colour(rng);
  if (m == BackgroundMode::Gradient) {
    float th = rng.uniform(0.0f, 6.2831853f), cs = std::cos(th), sn = std::sin(th);
    float half = 0.5f * std::sqrt(float(h * h + w * w));
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        float t = ((float(x) - 0.5f * float(w)) * cs + (float(y) - 0.5f * float(h)) * sn) / (2 * half) + 0.5f;
        t = std::clamp(t, 0.0f, 1.0f);
        for (int ch = 0; ch < 3; ++ch)
          planes[ch][y * w + x] = c1[size_t(ch)] + t * (c2[size_t(ch)] - c1[size_t(ch)]);
      }
    return;
  }
  // Noise: smooth 1/f noise (no octaves finer than ~1/8 of the image) mapped between two colours.
  std::fill(r, r + n, 0.0f);
  int min_cell = int(std::max<int64_t>(1, std::max(h, w) / 8));
  pink_plane(rng, r, h, w, 1.0f, min_cell);
  standardise(r, n, 1.0f);
  for (int64_t k = 0; k < n; ++k) {
    float t = std::clamp(0.5f + 0.3f * r[k], 0.0f, 1.0f);
    g[k] = c1[1] + t * (c2[1] - c1[1]);
    b[k] = c1[2] + t * (c2[2] - c1[2]);
    r[k] = c1[0] + t * (c2[0] - c1[0]);
  }
}

}  // namespace qforge::gen::fractal
