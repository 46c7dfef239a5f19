// qforge/experiment/chart.hpp — the PNG bar chart of the drops: one panel per bit width, one group of bars per
// model, one bar per source (its best calibrator), height = mean drop vs fp32 in points (negative = the int8
// model is better). n/a and missing cells have no bar.
//
// Contract: drop_chart() rasterizes into an RGB Canvas (raster.hpp); the y axis of each panel runs from
// min(0, lowest drop) to the highest drop, rounded out to a 1/2/5·10^k tick step. With repeats, a thin black
// whisker shows ± one standard deviation.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "qforge/core/error.hpp"
#include "qforge/experiment/raster.hpp"
#include "qforge/experiment/results.hpp"
#include "qforge/io/image_write.hpp"

namespace qforge::experiment {

inline Rgb source_colour(size_t i) {
  static const Rgb palette[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189},
                                {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return palette[i % (sizeof palette / sizeof palette[0])];
}

// A tick step of 1, 2 or 5 · 10^k giving at most `max_ticks` intervals over `span`.
inline double nice_step(double span, int max_ticks = 6) {
  if (!(span > 0)) return 1;
  const double raw = span / max_ticks, p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

inline Canvas drop_chart(const Results& r, const std::string& title) {
  const int bar_w = 12, group_gap = 18, left = 64, right = 16, panel_h = 230, top_pad = 34, bottom_pad = 30;
  const int nm = std::max<int>(1, int(r.models.size())), ns = std::max<int>(1, int(r.sources.size()));
  const int group_w = ns * bar_w + group_gap;
  int legend_w = 0;
  for (auto& s : r.sources) legend_w += 14 + Canvas::text_width(s) + 12;
  const int plot_w = std::max(nm * group_w, 200);
  const int W = std::max(left + plot_w + right, legend_w + 20);
  const int legend_h = 40;
  const int H = legend_h + int(r.bits.size()) * (panel_h + top_pad + bottom_pad) + 8;
  Canvas c(W, std::max(H, 60));
  const Rgb black{0, 0, 0}, grey{200, 200, 200}, dark{90, 90, 90};
  c.text(8, 6, title, black);
  // legend
  int lx = 8;
  for (size_t i = 0; i < r.sources.size(); ++i) {
    c.fill(lx, 22, lx + 9, 31, source_colour(i));
    c.text(lx + 14, 24, r.sources[i], black);
    lx += 14 + Canvas::text_width(r.sources[i]) + 12;
  }
  const bool multi = r.repeats() > 1;
  for (size_t b = 0; b < r.bits.size(); ++b) {
    const std::string& bw = r.bits[b];
    const int y0 = legend_h + int(b) * (panel_h + top_pad + bottom_pad) + top_pad;  // plot top
    const int y1 = y0 + panel_h;                                                     // plot bottom
    double lo = 0, hi = 0;
    for (auto& m : r.models)
      for (auto& s : r.sources) {
        std::string k;
        Cell x;
        if (!r.unavailable(m, s).empty() || !r.best(m, s, bw, k, x)) continue;
        lo = std::min(lo, x.drop.mean - (multi ? x.drop.std : 0));
        hi = std::max(hi, x.drop.mean + (multi ? x.drop.std : 0));
      }
    if (hi - lo < 0.5) hi = lo + 0.5;
    const double step = nice_step(hi - lo);
    lo = std::floor(lo / step) * step;
    hi = std::ceil(hi / step) * step;
    auto ypix = [&](double v) { return y1 - int(std::lround((v - lo) / (hi - lo) * panel_h)); };
    c.text(left, y0 - 16, Results::upper(bw) + ": DROP VS FP32 (POINTS), BEST CALIBRATOR PER SOURCE", black);
    for (double t = lo; t <= hi + step * 0.5; t += step) {
      const int y = ypix(t);
      c.dashed_hline(left, left + plot_w, y, grey);
      char lab[32];
      std::snprintf(lab, sizeof lab, step < 0.1 ? "%.2f" : step < 1 ? "%.1f" : "%.0f", std::fabs(t) < 1e-9 ? 0.0 : t);
      c.text(left - 6 - Canvas::text_width(lab), y - 3, lab, dark);
    }
    c.vline(left, y0, y1, black);
    c.hline(left, left + plot_w, ypix(0), black);
    for (size_t mi = 0; mi < r.models.size(); ++mi) {
      const int gx = left + group_gap / 2 + int(mi) * group_w;
      for (size_t si = 0; si < r.sources.size(); ++si) {
        std::string k;
        Cell x;
        if (!r.unavailable(r.models[mi], r.sources[si]).empty() || !r.best(r.models[mi], r.sources[si], bw, k, x))
          continue;
        const int bx = gx + int(si) * bar_w;
        c.fill(bx, ypix(0), bx + bar_w - 2, ypix(x.drop.mean), source_colour(si));
        if (multi && x.drop.std > 0) {
          const int cx = bx + bar_w / 2 - 1;
          c.vline(cx, ypix(x.drop.mean - x.drop.std), ypix(x.drop.mean + x.drop.std), black);
          c.hline(cx - 2, cx + 2, ypix(x.drop.mean + x.drop.std), black);
          c.hline(cx - 2, cx + 2, ypix(x.drop.mean - x.drop.std), black);
        }
      }
      const std::string& name = r.models[mi];
      c.text(gx + (ns * bar_w - Canvas::text_width(name)) / 2, y1 + 8, name, black);
    }
  }
  return c;
}

inline Status write_canvas_png(const std::string& path, const Canvas& c) {
  return io::write_png_u8(path, c.data(), c.height(), c.width(), 3);
}

}  // namespace qforge::experiment
