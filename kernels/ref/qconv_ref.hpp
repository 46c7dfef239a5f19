// kernels/ref/qconv_ref.hpp — scalar reference of the int8 NHWC convolutions (general k×k with groups, and
// depthwise), the truth the fast conv kernels are tested against bit for bit.
//
// Layouts: input x is NHWC (batch, in_h, in_w, in_c), u8 or s8 activations with zero point x_zp; weights are in
// ONNX order OIHW: w[out_c][in_c / groups][kernel_h][kernel_w], int8, symmetric; output y is NHWC
// (batch, out_h, out_w, out_c), dense. Padding reads as the zero point (contributes 0 to the sum). Output channel
// oc of group g = oc / (out_c / groups) sees input channels [g·in_c/groups, (g+1)·in_c/groups).
// The epilogue (bias, scale per output channel, out_zp, clamp) is the one of qgemm_ref.hpp.
#pragma once
#include <cstddef>
#include <cstdint>

#include <kernels/ref/qgemm_ref.hpp>

namespace qforge::kernels {

// Geometry of a 2-D convolution on NHWC tensors (same meaning as ONNX Conv attributes).
struct ConvParams {
  int batch = 1, in_h = 0, in_w = 0, in_c = 0;
  int out_c = 0;
  int kernel_h = 1, kernel_w = 1;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int groups = 1;

  int out_h() const { return (in_h + pad_top + pad_bottom - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  int out_w() const { return (in_w + pad_left + pad_right - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
  // Positive sizes, groups dividing both channel counts, an output of at least 1×1.
  bool valid() const {
    return batch > 0 && in_h > 0 && in_w > 0 && in_c > 0 && out_c > 0 && kernel_h > 0 && kernel_w > 0 &&
           stride_h > 0 && stride_w > 0 && dilation_h > 0 && dilation_w > 0 && pad_top >= 0 && pad_left >= 0 &&
           pad_bottom >= 0 && pad_right >= 0 && groups > 0 && in_c % groups == 0 && out_c % groups == 0 &&
           in_h + pad_top + pad_bottom >= dilation_h * (kernel_h - 1) + 1 &&
           in_w + pad_left + pad_right >= dilation_w * (kernel_w - 1) + 1;
  }
  bool is_depthwise() const { return groups == in_c && out_c == in_c; }
};

namespace ref {

// y = epilogue(conv(x - x_zp, w)), see the header comment.
template <class TA, class TC>
void qconv2d_nhwc(const ConvParams& p, const TA* x, int32_t x_zp, const int8_t* w, const Epilogue& ep, TC* y) {
  const int OH = p.out_h(), OW = p.out_w();
  const int cpg = p.in_c / p.groups, opg = p.out_c / p.groups;
  for (int b = 0; b < p.batch; ++b)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow)
        for (int oc = 0; oc < p.out_c; ++oc) {
          const int g = oc / opg;
          int32_t acc = 0;
          for (int ic = 0; ic < cpg; ++ic)
            for (int kh = 0; kh < p.kernel_h; ++kh) {
              const int ih = oh * p.stride_h - p.pad_top + kh * p.dilation_h;
              if (ih < 0 || ih >= p.in_h) continue;
              for (int kw = 0; kw < p.kernel_w; ++kw) {
                const int iw = ow * p.stride_w - p.pad_left + kw * p.dilation_w;
                if (iw < 0 || iw >= p.in_w) continue;
                const int32_t xv =
                    int32_t(x[((size_t(b) * p.in_h + ih) * p.in_w + iw) * p.in_c + size_t(g) * cpg + ic]) - x_zp;
                const int32_t wv = w[((size_t(oc) * cpg + ic) * p.kernel_h + kh) * p.kernel_w + kw];
                acc += xv * wv;
              }
            }
          y[((size_t(b) * OH + oh) * OW + ow) * p.out_c + oc] = apply_epilogue<TC>(acc, oc, ep);
        }
}

// Depthwise (groups = in_c = out_c, any kernel size, stride, pad, dilation): the twin of the fast depthwise
// kernels. w is [C][kernel_h][kernel_w] (ONNX [C][1][kh][kw]).
template <class TA, class TC>
void qdwconv_nhwc(const ConvParams& p, const TA* x, int32_t x_zp, const int8_t* w, const Epilogue& ep, TC* y) {
  qconv2d_nhwc<TA, TC>(p, x, x_zp, w, ep, y);
}

}  // namespace ref
}  // namespace qforge::kernels
