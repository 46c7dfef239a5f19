// generators/stylegan2/mapping.hpp — StyleGAN2-ADA MappingNetwork: (z, c) -> ws [N, num_ws, w_dim].
//
// Contract (official MappingNetwork.forward in eval mode): x = normalize_2nd_moment(z) (mean of squares over the
// features, eps 1e-8); for c_dim > 0, y = normalize_2nd_moment(embed(c)) (linear FC, lr_mul 1) and
// x = concat(x, y); x = fc_i(x) for each layer (equalised LR with lr_multiplier, activation * def gain);
// broadcast to num_ws rows; truncation when psi != 1: ws[k] = w_avg + psi * (ws[k] - w_avg) for
// k < cutoff (all rows when cutoff < 0). w_avg is never updated here (inference).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "generators/stylegan2/config.hpp"
#include "generators/stylegan2/modulated_conv.hpp"

namespace qforge::gen::sg2 {

inline void normalize_2nd_moment(float* x, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  const float r = 1.0f / std::sqrt(s / float(n) + 1e-8f);
  for (int64_t i = 0; i < n; ++i) x[i] *= r;
}

struct MappingNet {
  int64_t z_dim = 0, c_dim = 0, w_dim = 0, num_ws = 0, embed_features = 0;
  bool has_embed = false;
  Fc embed;
  std::vector<Fc> fcs;
  std::vector<float> w_avg;  // empty when the generator does not track it

  // z [N][z_dim], c [N][c_dim] (either may be null when its dim is 0) -> ws [N][num_ws][w_dim].
  void forward(const float* z, const float* c, int64_t N, float psi, int64_t cutoff, float* ws) const {
    int64_t width = z_dim + embed_features;
    for (auto& f : fcs) width = std::max(width, f.out);
    std::vector<float> a(static_cast<size_t>(width)), b(static_cast<size_t>(width));
    for (int64_t n = 0; n < N; ++n) {
      int64_t cur = 0;
      if (z_dim > 0) {
        for (int64_t i = 0; i < z_dim; ++i) a[size_t(i)] = z[n * z_dim + i];
        normalize_2nd_moment(a.data(), z_dim);
        cur = z_dim;
      }
      if (has_embed) {
        embed.forward(c + n * c_dim, 1, c_dim, a.data() + cur, embed.out);
        normalize_2nd_moment(a.data() + cur, embed.out);
        cur += embed.out;
      }
      for (auto& f : fcs) {
        f.forward(a.data(), 1, f.in, b.data(), f.out);
        std::swap(a, b);
        cur = f.out;
      }
      for (int64_t k = 0; k < num_ws; ++k) {
        float* w = ws + (n * num_ws + k) * w_dim;
        const bool trunc = psi != 1.0f && (cutoff < 0 || k < cutoff);
        for (int64_t i = 0; i < w_dim; ++i)
          w[i] = trunc ? w_avg[size_t(i)] + psi * (a[size_t(i)] - w_avg[size_t(i)]) : a[size_t(i)];
      }
    }
  }
};

}  // namespace qforge::gen::sg2
