// kernels/ref/f32_conv_ref.hpp — scalar truth for fp32 2-D convolution (NCHW, OIHW weights, groups, strides,
// dilations, asymmetric zero padding, optional bias). Used by tests to check the im2col+GEMM and depthwise paths.
//
// Contract: y[n, m, oh, ow] = bias[m] + sum_{c, kh, kw} x[n, g*Cg + c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw] *
// w[m, c, kh, kw] with g = m / (M / group), out-of-range taps contributing 0; OH = (H + pt + pb - ((KH-1)*dh+1))
// / sh + 1 (floor), OW likewise. bias may be null. y must hold N*M*OH*OW floats.
#pragma once
#include <cstdint>

namespace qforge::kernels::ref {

struct Conv2dShape {
  int64_t N, C, H, W, M, KH, KW;
  int64_t group = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
  int64_t OH() const { return (H + pt + pb - ((KH - 1) * dh + 1)) / sh + 1; }
  int64_t OW() const { return (W + pl + pr - ((KW - 1) * dw + 1)) / sw + 1; }
};

inline void f32_conv2d(const Conv2dShape& s, const float* x, const float* w, const float* bias, float* y) {
  int64_t Cg = s.C / s.group, Mg = s.M / s.group, OH = s.OH(), OW = s.OW();
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t m = 0; m < s.M; ++m) {
      int64_t g = m / Mg;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          float acc = 0.f;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t kh = 0; kh < s.KH; ++kh) {
              int64_t ih = oh * s.sh - s.pt + kh * s.dh;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                int64_t iw = ow * s.sw - s.pl + kw * s.dw;
                if (iw < 0 || iw >= s.W) continue;
                acc += x[((n * s.C + g * Cg + c) * s.H + ih) * s.W + iw] * w[((m * Cg + c) * s.KH + kh) * s.KW + kw];
              }
            }
          y[((n * s.M + m) * OH + oh) * OW + ow] = acc + (bias ? bias[m] : 0.f);
        }
    }
}

}  // namespace qforge::kernels::ref
