// generators/stylegan2/synthesis.hpp — StyleGAN2-ADA SynthesisNetwork forward on a chunk of samples.
//
// Contract (official SynthesisNetwork / SynthesisBlock in eval mode, fp32): blocks b4 .. b{img_resolution};
// b4 starts from `const`; block r > 4 runs conv0 (up 2) then conv1; 'resnet' adds skip(x) (1x1 conv, up 2, gain
// sqrt(0.5)) to conv1's output (conv1 gain sqrt(0.5)); 'skip' accumulates img = upsample2d(img) + torgb(x) in
// every block, 'orig'/'resnet' run torgb in the last block only. Block r consumes ws[w_idx : w_idx + num_conv +
// num_torgb] and advances w_idx by num_conv (the torgb w is shared with the next conv0).
// Noise per SynthesisLayer (before bias): 'const' adds noise_const * noise_strength; 'none' nothing; 'random'
// adds strength * N(0,1) drawn from CounterRng(seed, stream kNoiseStream + layer) at counter
// index * res^2 + y * res + x, shared by all channels: a pure function of (seed, image index, layer, pixel).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "generators/stylegan2/config.hpp"
#include "generators/stylegan2/modulated_conv.hpp"
#include "generators/stylegan2/upfirdn.hpp"
#include "qforge/core/rng.hpp"

namespace qforge::gen::sg2 {

enum class NoiseMode { constant, random, none };

inline const char* noise_mode_name(NoiseMode m) {
  return m == NoiseMode::constant ? "const" : m == NoiseMode::random ? "random" : "none";
}

constexpr uint64_t kNoiseStream = 0x5347324E00000000ull;  // "SG2N" << 32

struct NoiseSpec {
  NoiseMode mode = NoiseMode::constant;
  uint64_t seed = 0;
  const int64_t* index = nullptr;  // image index of each sample of the chunk (random mode)
};

struct SynthBlock {
  int64_t res = 0, cin = 0, cout = 0;
  std::vector<float> konst;  // [cout][res][res] (first block)
  bool has_conv0 = false, has_torgb = false, has_skip = false;
  ModConv conv0, conv1;
  ToRgb torgb;
  SkipUp skip;
};

// Per-chunk working memory (one per thread).
struct SynthScratch {
  Frame x, xn, xmod;
  std::vector<float> acc, gemm, add, s, d, img, img2, tmp;
};

struct SynthesisNet {
  int64_t w_dim = 0, num_ws = 0, img_channels = 0, img_resolution = 0, pad = 1;
  Arch arch = Arch::skip;
  Fir fir;
  std::vector<SynthBlock> blocks;

  // Styles s[n][cin] of a layer whose affine reads ws[:, w_index].
  static void styles(const Fc& affine, const float* ws, int64_t nb, int64_t num_ws, int64_t w_dim, int w_index,
                     float scale, std::vector<float>& s) {
    s.resize(size_t(nb * affine.out));
    affine.forward(ws + int64_t(w_index) * w_dim, nb, num_ws * w_dim, s.data(), affine.out);
    if (scale != 1.f)
      for (auto& v : s) v *= scale;
  }

  void run_layer(const ModConv& L, int layer_id, const Frame& x, const float* ws, int64_t nb, const NoiseSpec& noise,
                 const std::vector<float>* add, Frame& out, SynthScratch& sc, int threads) const {
    styles(L.affine, ws, nb, num_ws, w_dim, L.w_index, 1.f, sc.s);
    sc.d.resize(size_t(nb * L.cout));
    L.demod(sc.s.data(), L.cin, nb, sc.d.data());
    modulate(x, sc.s.data(), L.cin, sc.xmod);
    L.conv(sc.xmod, fir, sc.acc, sc.gemm, threads);
    out.reset(L.cout, nb, L.res, pad);
    const int64_t R = L.res, pitch = out.pitch, P = out.P;
    const bool const_noise = L.use_noise && noise.mode == NoiseMode::constant;
    const bool rand_noise = L.use_noise && noise.mode == NoiseMode::random;
    std::vector<float> nz;
    if (rand_noise) {
      nz.resize(size_t(nb * R * R));
      CounterRng rng(noise.seed, kNoiseStream + uint64_t(layer_id));
      for (int64_t n = 0; n < nb; ++n)
        for (int64_t p = 0; p < R * R; ++p)
          nz[size_t(n * R * R + p)] = rng.normal(uint64_t(noise.index[n]) * uint64_t(R * R) + uint64_t(p)) * L.noise_strength;
    }
    std::vector<float> cn;
    if (const_noise) {
      cn.resize(size_t(R * R));
      for (int64_t p = 0; p < R * R; ++p) cn[size_t(p)] = L.noise_const[size_t(p)] * L.noise_strength;
    }
    for (int64_t o = 0; o < L.cout; ++o)
      for (int64_t n = 0; n < nb; ++n) {
        const float dd = sc.d[size_t(n * L.cout + o)], b = L.bias[size_t(o)];
        const float* a = sc.acc.data() + (o * nb + n) * P;
        const float* ad = add ? add->data() + (o * nb + n) * P : nullptr;
        float* dst = out.interior(o, n);
        const float* nzp = rand_noise ? nz.data() + n * R * R : const_noise ? cn.data() : nullptr;
        for (int64_t y = 0; y < R; ++y)
          for (int64_t xx = 0; xx < R; ++xx) {
            float v = a[y * pitch + xx] * dd;
            if (nzp) v += nzp[y * R + xx];
            v = apply_act(L.act, v + b) * L.act_gain;
            if (L.clamp >= 0.f) v = std::min(std::max(v, -L.clamp), L.clamp);
            if (ad) v = ad[y * pitch + xx] + v;
            dst[y * pitch + xx] = v;
          }
      }
  }

  // resnet skip: add [O][nb*Pout] = upfirdn(W x, up 2) * sqrt(0.5)
  void run_skip(const SkipUp& S, const Frame& x, int64_t res_out, std::vector<float>& add, SynthScratch& sc,
                int threads) const {
    const int64_t nb = x.nb, cols = x.cols(), H = x.R;
    sc.gemm.resize(size_t(S.cout * cols));
    const std::vector<int64_t> off = dense_row_offsets(S.cin, x.cs);
    sgemm(S.w, cols, x.data.data(), off.data(), sc.gemm.data(), cols, false, threads);
    const int64_t pitch_out = frame_pitch(res_out, pad), Pout = frame_size(res_out, pad), taps = fir.taps();
    const int64_t p0 = floordiv(taps + 1, 2), p1 = floordiv(taps - 2, 2);
    add.assign(size_t(S.cout * nb * Pout), 0.f);
    sc.tmp.resize(size_t(H * (2 * H + p0 + p1)));
    const float g = float(std::sqrt(0.5));
    for (int64_t o = 0; o < S.cout; ++o)
      for (int64_t n = 0; n < nb; ++n) {
        float* dst = add.data() + (o * nb + n) * Pout;
        upfirdn2d_plane(sc.gemm.data() + (o * nb + n) * x.P + pad * x.pitch + pad, H, H, x.pitch, 2, p0, p1, p0, p1,
                        fir, 2.0f, dst, pitch_out, sc.tmp.data());
        for (int64_t y = 0; y < res_out; ++y)
          for (int64_t xx = 0; xx < res_out; ++xx) dst[y * pitch_out + xx] *= g;
      }
  }

  // img [nb][C][R][R] (+)= torgb(x)
  void run_torgb(const ToRgb& T, const Frame& x, const float* ws, int64_t nb, std::vector<float>& img, bool accumulate,
                 SynthScratch& sc, int threads) const {
    styles(T.affine, ws, nb, num_ws, w_dim, T.w_index, T.weight_gain, sc.s);
    modulate(x, sc.s.data(), T.cin, sc.xmod);
    const int64_t cols = x.cols(), R = x.R;
    sc.gemm.resize(size_t(T.cout * cols));
    const std::vector<int64_t> off = dense_row_offsets(T.cin, x.cs);
    sgemm(T.w, cols, sc.xmod.data.data(), off.data(), sc.gemm.data(), cols, false, threads);
    if (!accumulate) img.assign(size_t(nb * T.cout * R * R), 0.f);
    for (int64_t c = 0; c < T.cout; ++c)
      for (int64_t n = 0; n < nb; ++n) {
        const float* y = sc.gemm.data() + (c * nb + n) * x.P + pad * x.pitch + pad;
        float* dst = img.data() + (n * T.cout + c) * R * R;
        for (int64_t r = 0; r < R; ++r)
          for (int64_t xx = 0; xx < R; ++xx) {
            float v = y[r * x.pitch + xx] + T.bias[size_t(c)];
            if (T.clamp >= 0.f) v = std::min(std::max(v, -T.clamp), T.clamp);
            dst[r * R + xx] = accumulate ? dst[r * R + xx] + v : v;
          }
      }
  }

  // ws [nb][num_ws][w_dim] -> out [nb][img_channels][R][R].
  void forward_chunk(const float* ws, int64_t nb, const NoiseSpec& noise, float* out, SynthScratch& sc,
                     int threads) const {
    int layer_id = 0;
    bool have_img = false;
    int64_t img_res = 0;
    for (const SynthBlock& B : blocks) {
      if (B.cin == 0) {
        sc.x.reset(B.cout, nb, B.res, pad);
        for (int64_t c = 0; c < B.cout; ++c)
          for (int64_t n = 0; n < nb; ++n) {
            float* dst = sc.x.interior(c, n);
            for (int64_t y = 0; y < B.res; ++y)
              for (int64_t xx = 0; xx < B.res; ++xx) dst[y * sc.x.pitch + xx] = B.konst[size_t((c * B.res + y) * B.res + xx)];
          }
        run_layer(B.conv1, layer_id++, sc.x, ws, nb, noise, nullptr, sc.xn, sc, threads);
        std::swap(sc.x, sc.xn);
      } else {
        if (B.has_skip) run_skip(B.skip, sc.x, B.res, sc.add, sc, threads);
        run_layer(B.conv0, layer_id++, sc.x, ws, nb, noise, nullptr, sc.xn, sc, threads);
        std::swap(sc.x, sc.xn);
        run_layer(B.conv1, layer_id++, sc.x, ws, nb, noise, B.has_skip ? &sc.add : nullptr, sc.xn, sc, threads);
        std::swap(sc.x, sc.xn);
      }
      if (have_img) {  // img = upsample2d(img)
        const int64_t R2 = img_res * 2;
        sc.img2.assign(size_t(nb * img_channels * R2 * R2), 0.f);
        sc.tmp.resize(size_t(img_res * (R2 + fir.taps())));
        for (int64_t p = 0; p < nb * img_channels; ++p)
          upsample2x_plane(sc.img.data() + p * img_res * img_res, img_res, img_res, img_res, fir,
                           sc.img2.data() + p * R2 * R2, R2, sc.tmp.data());
        std::swap(sc.img, sc.img2);
        img_res = R2;
      }
      if (B.has_torgb) {
        run_torgb(B.torgb, sc.x, ws, nb, sc.img, have_img, sc, threads);
        have_img = true;
        img_res = B.res;
      }
    }
    std::copy(sc.img.begin(), sc.img.begin() + nb * img_channels * img_resolution * img_resolution, out);
  }

  // Floats of working memory per sample (largest layer), to size chunks.
  int64_t floats_per_sample() const {
    int64_t m = 0;
    for (const SynthBlock& B : blocks) {
      const int64_t pin = frame_size(B.res / (B.cin ? 2 : 1), pad), pout = frame_size(B.res, pad);
      int64_t f = 3 * B.cout * pout;  // x, xn, acc
      if (B.cin) f += 2 * B.cin * pin + B.cout * B.conv0.k * B.conv0.k * pin;  // xmod + up-conv GEMM output
      if (B.has_skip) f += B.cout * pout;
      m = std::max(m, f);
    }
    return m;
  }
};

}  // namespace qforge::gen::sg2
