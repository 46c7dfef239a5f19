// generators/stylegan2/upfirdn.hpp — upfirdn2d (upsample by zero insertion, pad/crop, FIR) for one image plane,
// with a separable filter, as StyleGAN2 uses it (down = 1 only: the generator never downsamples).
//
// Contract (the official `upfirdn2d` reference semantics, per axis): U = input with up-1 zeros inserted after
// every sample (length in*up); pad p0 zeros before and p1 after (negative = crop); a TRUE convolution (the
// filter is flipped) with the taps f/sum(f) times `gain_per_axis`; output length in*up + p0 + p1 - taps + 1.
// The 2-D filter is the outer product of the 1-D taps, i.e. setup_filter([..]) normalised to sum 1; the
// official 2-D gain g corresponds to gain_per_axis = sqrt(g) (up^2 -> up, 4 -> 2).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace qforge::gen::sg2 {

// A separable FIR: flipped, normalised taps (sum 1).
struct Fir {
  std::vector<float> flipped;  // flipped[t] = f[taps-1-t] / sum(f)
  int64_t taps() const { return int64_t(flipped.size()); }

  static Fir from_taps(const std::vector<double>& f) {
    Fir r;
    double s = 0;
    for (double v : f) s += v;
    for (size_t t = 0; t < f.size(); ++t) r.flipped.push_back(float(f[f.size() - 1 - t] / s));
    return r;
  }
};

// Python's a // b (floor division), used for the official padding formulas.
inline int64_t floordiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

inline int64_t upfirdn_out_len(int64_t in, int64_t up, int64_t p0, int64_t p1, int64_t taps) {
  return in * up + p0 + p1 - taps + 1;
}

// One axis: out[x] = gain * sum_t flipped[t] * Upad[x + t], Upad[j] = U[j - p0] (0 outside), for x < out_len.
// in: `len` samples with stride `is`; out: stride `os`. Written tap by tap over the x range where the tap reads
// a (non-inserted) input sample, so the inner loops have no branches.
inline void upfir_1d(const float* in, int64_t len, int64_t is, int64_t up, int64_t p0, const Fir& fir, float gain,
                     float* out, int64_t out_len, int64_t os) {
  const int64_t taps = fir.taps();
  for (int64_t x = 0; x < out_len; ++x) out[x * os] = 0.f;
  for (int64_t t = 0; t < taps; ++t) {
    const float c = fir.flipped[size_t(t)] * gain;
    // x + t - p0 = up * m  for input sample m in [0, len)
    const int64_t shift = t - p0;
    if (up == 1) {
      const int64_t x0 = std::max<int64_t>(0, -shift), x1 = std::min<int64_t>(out_len, len - shift);
      if (os == 1 && is == 1) {
        const float* src = in + shift;
        for (int64_t x = x0; x < x1; ++x) out[x] += c * src[x];
      } else {
        for (int64_t x = x0; x < x1; ++x) out[x * os] += c * in[(x + shift) * is];
      }
    } else {
      for (int64_t m = 0; m < len; ++m) {
        const int64_t x = up * m - shift;
        if (x >= 0 && x < out_len) out[x * os] += c * in[m * is];
      }
    }
  }
}

// Full 2-D upfirdn on one plane: in [H][W] (row stride ldi) -> out [Ho][Wo] (row stride ldo), with
// Ho = upfirdn_out_len(H, up, py0, py1, taps), Wo likewise. `tmp` must hold H * Wo floats.
inline void upfirdn2d_plane(const float* in, int64_t H, int64_t W, int64_t ldi, int64_t up, int64_t px0,
                            int64_t px1, int64_t py0, int64_t py1, const Fir& fir, float gain_per_axis, float* out,
                            int64_t ldo, float* tmp) {
  const int64_t taps = fir.taps();
  const int64_t Wo = upfirdn_out_len(W, up, px0, px1, taps);
  const int64_t Ho = upfirdn_out_len(H, up, py0, py1, taps);
  if (Wo <= 0 || Ho <= 0) return;
  // horizontal pass on the H input rows
  for (int64_t y = 0; y < H; ++y) upfir_1d(in + y * ldi, W, 1, up, px0, fir, gain_per_axis, tmp + y * Wo, Wo, 1);
  // vertical pass, all columns of a row at once (vectorisable)
  const int64_t ulen = H * up;
  for (int64_t y = 0; y < Ho; ++y) {
    float* o = out + y * ldo;
    std::fill(o, o + Wo, 0.f);
    for (int64_t t = 0; t < taps; ++t) {
      int64_t j = y + t - py0;
      if (j < 0 || j >= ulen || j % up) continue;
      const float c = fir.flipped[size_t(t)] * gain_per_axis;
      const float* r = tmp + (j / up) * Wo;
      for (int64_t x = 0; x < Wo; ++x) o[x] += c * r[x];
    }
  }
}

// upsample2d(x, f, up=2) of the official code: pad ((taps+1)/2, (taps-2)/2), gain 4 -> [2H][2W].
inline void upsample2x_plane(const float* in, int64_t H, int64_t W, int64_t ldi, const Fir& fir, float* out,
                             int64_t ldo, float* tmp) {
  const int64_t taps = fir.taps();
  const int64_t p0 = floordiv(taps + 1, 2), p1 = floordiv(taps - 2, 2);
  upfirdn2d_plane(in, H, W, ldi, 2, p0, p1, p0, p1, fir, 2.0f, out, ldo, tmp);
}

}  // namespace qforge::gen::sg2
