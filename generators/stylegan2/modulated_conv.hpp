// generators/stylegan2/modulated_conv.hpp — StyleGAN2's layers on a batch chunk: equalised-LR fully connected,
// modulated/demodulated KxK conv (same-size and the up=2 transposed form + FIR), ToRGB, the resnet skip.
//
// Activation layout ("frame"): channel-major; channel c holds the nb samples one after another, P floats each,
// then a zero tail. A sample is R+pad rows of pitch R+pad floats: `pad` (= kernel_size/2) zero rows on top, then
// R rows of [pad zeros, R pixels]; the zeros at the start of a row are also the right border of the row before,
// and the next sample's top rows (or the tail) are the bottom border, so borders cost (R+pad)^2/R^2 - 1 extra
// work instead of (R+2pad)^2/R^2 - 1 (6.6% instead of 13% at 32x32). With this layout
// a KxK conv is ONE fp32 GEMM  acc[O][nb*P] = W[O][(tap,i)] x X[(tap,i)][nb*P], whose B row (tap=(a,b), i) is
// input channel i shifted by a*pitch + b (implicit im2col through sgemm's row-offset table), over the whole chunk
// at once (the conv weights are shared by the batch; modulation scales the input channels per sample and
// demodulation the output channels — the "unfused" form of the official code, the same math as its fused
// grouped conv). Output pixel (y, x) of sample n sits in acc at column n*P + y*pitch + x.
// The up=2 conv is the transposed stride-2 conv (no kernel flip) as one GEMM Y[(o,a,b)][nb*P] = Wt x X, a
// scatter-add into (2H+K-2)^2 planes, then upfirdn with the resample filter (pad per the official formulas,
// gain 4). Numerics: fp32 throughout; sums in a different order from PyTorch (|diff| ~1e-6 on unit-scale data).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "generators/stylegan2/config.hpp"
#include "generators/stylegan2/sgemm.hpp"
#include "generators/stylegan2/upfirdn.hpp"

namespace qforge::gen::sg2 {

// ------------------------------------------------------------------------------------------------ activations

inline float apply_act(Act a, float v) {
  switch (a) {
    case Act::linear: return v;
    case Act::relu: return v > 0.f ? v : 0.f;
    case Act::lrelu: return v > 0.f ? v : v * 0.2f;
  }
  return v;
}

// bias_act on a contiguous run: y = clamp(act(x + b) * gain, -clamp, clamp) (clamp < 0: none).
inline void bias_act_run(float* x, int64_t n, float b, Act act, float gain, float clamp) {
  for (int64_t i = 0; i < n; ++i) {
    float v = apply_act(act, x[i] + b) * gain;
    if (clamp >= 0.f) v = std::min(std::max(v, -clamp), clamp);
    x[i] = v;
  }
}

// ------------------------------------------------------------------------------------------------ FC layer

// FullyConnectedLayer with the equalised-LR gains folded in at load time (weight * lr_mul/sqrt(in) in fp32, as
// the official forward computes it; bias * lr_mul).
struct Fc {
  int64_t in = 0, out = 0;
  std::vector<float> w;  // [out][in], scaled
  std::vector<float> b;  // [out], scaled (empty = no bias)
  Act act = Act::linear;

  void init(const float* weight, const float* bias, int64_t in_f, int64_t out_f, double lr_mul, Act a) {
    in = in_f;
    out = out_f;
    act = a;
    const float wg = float(lr_mul / std::sqrt(double(in_f)));
    const float bg = float(lr_mul);
    w.resize(size_t(in * out));
    for (size_t i = 0; i < w.size(); ++i) w[i] = weight[i] * wg;
    b.clear();
    if (bias) {
      b.resize(size_t(out));
      for (int64_t o = 0; o < out; ++o) b[size_t(o)] = bg != 1.f ? bias[o] * bg : bias[o];
    }
  }

  // y[n][out] = act(x[n][in] . W^T + b) * def_gain, rows of x with stride ldx, of y with stride ldy.
  void forward(const float* x, int64_t n, int64_t ldx, float* y, int64_t ldy) const {
    for (int64_t r = 0; r < n; ++r) {
      const float* xr = x + r * ldx;
      float* yr = y + r * ldy;
      for (int64_t o = 0; o < out; ++o) {
        const float* wr = w.data() + o * in;
        float acc = 0.f;
        for (int64_t i = 0; i < in; ++i) acc += xr[i] * wr[i];
        yr[o] = acc;
      }
      if (act == Act::linear) {
        if (!b.empty())
          for (int64_t o = 0; o < out; ++o) yr[o] += b[size_t(o)];
      } else {
        const float g = act_default_gain(act);
        for (int64_t o = 0; o < out; ++o) yr[o] = apply_act(act, yr[o] + (b.empty() ? 0.f : b[size_t(o)])) * g;
      }
    }
  }
};

// ------------------------------------------------------------------------------------------------ frames

inline int64_t frame_pitch(int64_t R, int64_t pad) { return R + pad; }
inline int64_t frame_size(int64_t R, int64_t pad) { return (R + pad) * (R + pad); }

struct Frame {
  int64_t C = 0, nb = 0, R = 0, pad = 0, pitch = 0, P = 0;
  int64_t cs = 0;  // channel stride: nb * P + zero tail (bottom border of the last sample + conv overreach)
  std::vector<float> data;

  void reset(int64_t c, int64_t n, int64_t r, int64_t p) {
    C = c; nb = n; R = r; pad = p; pitch = frame_pitch(r, p); P = frame_size(r, p);
    cs = nb * P + 2 * pad * pitch + 2 * pad;
    data.assign(size_t(C * cs), 0.f);
  }
  float* plane(int64_t c, int64_t n) { return data.data() + c * cs + n * P; }
  const float* plane(int64_t c, int64_t n) const { return data.data() + c * cs + n * P; }
  // pointer to pixel (0, 0) of sample n's RxR image in channel c (row stride pitch)
  float* interior(int64_t c, int64_t n) { return plane(c, n) + pad * pitch + pad; }
  const float* interior(int64_t c, int64_t n) const { return plane(c, n) + pad * pitch + pad; }
  int64_t cols() const { return nb * P; }  // GEMM columns covering every sample
};

// out = x * s[n][c] (per sample, per channel). The zero border stays zero.
inline void modulate(const Frame& x, const float* s, int64_t lds, Frame& out) {
  if (out.C != x.C || out.nb != x.nb || out.R != x.R || out.pad != x.pad) out.reset(x.C, x.nb, x.R, x.pad);
  for (int64_t c = 0; c < x.C; ++c)
    for (int64_t n = 0; n < x.nb; ++n) {
      const float sc = s[n * lds + c];
      const float* a = x.interior(c, n);
      float* o = out.interior(c, n);
      for (int64_t y = 0; y < x.R; ++y)
        for (int64_t j = 0; j < x.R; ++j) o[y * x.pitch + j] = a[y * x.pitch + j] * sc;
    }
}

// ------------------------------------------------------------------------------------------------ layers

// SynthesisLayer: affine -> styles; modulated KxK conv (up 1 or 2) with demodulation; noise; bias + act + clamp.
struct ModConv {
  int64_t cin = 0, cout = 0, res = 0, k = 3, up = 1;
  int w_index = 0;
  Fc affine;
  PackedA wa;                 // up == 1: A[o][t*I + i] = W[o][i][t]; up == 2: A[o*k*k + t][i] = W[o][i][t]
  std::vector<float> wsq;     // [O][I]: sum over taps of W^2 (demodulation)
  std::vector<float> bias;    // [O]
  bool use_noise = false;
  float noise_strength = 0.f;
  std::vector<float> noise_const;  // [res][res]
  Act act = Act::lrelu;
  float act_gain = 1.f;       // def gain * layer gain (sqrt(0.5) for resnet conv1)
  float clamp = -1.f;         // conv_clamp * layer gain, < 0 = none

  void init_weight(const float* W, SgemmKind kind) {  // W [O][I][k][k]
    const int64_t kk = k * k;
    std::vector<float> wq(static_cast<size_t>(cout * cin * kk));
    wsq.assign(size_t(cout * cin), 0.f);
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t i = 0; i < cin; ++i) {
        float s = 0.f;
        for (int64_t t = 0; t < kk; ++t) {
          float v = W[(o * cin + i) * kk + t];
          s += v * v;
          if (up == 1) wq[size_t(o * kk * cin + t * cin + i)] = v;
          else wq[size_t((o * kk + t) * cin + i)] = v;
        }
        wsq[size_t(o * cin + i)] = s;
      }
    wa = up == 1 ? PackedA::pack(wq.data(), cout, kk * cin, kk * cin, kind)
                 : PackedA::pack(wq.data(), cout * kk, cin, cin, kind);
  }

  // d[n][o] = rsqrt(sum_i wsq[o][i] * s[n][i]^2 + 1e-8)
  void demod(const float* s, int64_t lds, int64_t nb, float* d) const {
    std::vector<float> s2(static_cast<size_t>(cin));
    for (int64_t n = 0; n < nb; ++n) {
      for (int64_t i = 0; i < cin; ++i) s2[size_t(i)] = s[n * lds + i] * s[n * lds + i];
      for (int64_t o = 0; o < cout; ++o) {
        const float* q = wsq.data() + o * cin;
        float acc = 0.f;
        for (int64_t i = 0; i < cin; ++i) acc += q[i] * s2[size_t(i)];
        d[n * cout + o] = 1.0f / std::sqrt(acc + 1e-8f);
      }
    }
  }

  // acc [O][xmod.nb * Pout] <- conv(xmod) where Pout / pitch_out are the frame size / pitch at this layer's output
  // resolution (same pad). Output pixel (y, x) of sample n is at column n*Pout + y*pitch_out + x.
  void conv(const Frame& xmod, const Fir& fir, std::vector<float>& acc, std::vector<float>& scratch,
            int threads) const {
    const int64_t nb = xmod.nb, pad = xmod.pad, kk = k * k;
    const int64_t pitch_out = frame_pitch(res, pad), Pout = frame_size(res, pad);
    acc.resize(size_t(cout * nb * Pout));
    if (up == 1) {
      // top-left-origin columns: j = n*P + y*pitch + x reads input frame position j + a*pitch + b.
      const int64_t R = xmod.R, pitch = xmod.pitch, P = xmod.P;
      const int64_t N = (nb - 1) * P + (R - 1) * pitch + R;
      std::vector<int64_t> off(static_cast<size_t>(kk * cin));
      for (int64_t t = 0; t < kk; ++t)
        for (int64_t i = 0; i < cin; ++i) off[size_t(t * cin + i)] = i * xmod.cs + (t / k) * pitch + (t % k);
      sgemm(wa, N, xmod.data.data(), off.data(), acc.data(), nb * P, false, threads);
      return;
    }
    // up == 2: transposed conv via one GEMM, then scatter + FIR per (o, n) plane.
    const int64_t H = xmod.R, pitch = xmod.pitch, P = xmod.P;
    const int64_t cols = nb * P;
    scratch.resize(size_t(cout * kk * cols));
    const std::vector<int64_t> off = dense_row_offsets(cin, xmod.cs);
    sgemm(wa, cols, xmod.data.data(), off.data(), scratch.data(), cols, false, threads);
    // transposed-conv output T: (H-1)*2 + k per side; FIR padding per conv2d_resample (padding k/2, up 2):
    // p0 = k/2 + (taps+1)//2 - (k-1), p1 = k/2 + (taps-2)//2 - (k-2); out = 2H.
    const int64_t T = (H - 1) * 2 + k, taps = fir.taps();
    const int64_t p0 = k / 2 + floordiv(taps + 1, 2) - (k - 1), p1 = k / 2 + floordiv(taps - 2, 2) - (k - 2);
    std::vector<float> tplane(static_cast<size_t>(T * T));
    std::vector<float> tmp(static_cast<size_t>(T * std::max<int64_t>(1, upfirdn_out_len(T, 1, p0, p1, taps))));
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t n = 0; n < nb; ++n) {
        std::fill(tplane.begin(), tplane.end(), 0.f);
        for (int64_t t = 0; t < kk; ++t) {
          const int64_t a = t / k, b = t % k;
          const float* y = scratch.data() + (o * kk + t) * cols + n * P + pad * pitch + pad;
          for (int64_t h = 0; h < H; ++h) {
            float* trow = tplane.data() + (2 * h + a) * T + b;
            const float* yrow = y + h * pitch;
            for (int64_t w = 0; w < H; ++w) trow[2 * w] += yrow[w];
          }
        }
        upfirdn2d_plane(tplane.data(), T, T, T, 1, p0, p1, p0, p1, fir, 2.0f,
                        acc.data() + o * nb * Pout + n * Pout, pitch_out, tmp.data());
      }
  }
};

struct ToRgb {
  int64_t cin = 0, cout = 0;
  int w_index = 0;
  Fc affine;
  float weight_gain = 1.f;   // 1/sqrt(cin), folded into the styles
  PackedA w;                 // [cout][cin]
  std::vector<float> bias;   // [cout]
  float clamp = -1.f;
};

// Conv2dLayer(kernel 1, up 2, no bias, linear): the resnet skip path.
struct SkipUp {
  int64_t cin = 0, cout = 0;
  PackedA w;  // [cout][cin] * 1/sqrt(cin)
};

}  // namespace qforge::gen::sg2
