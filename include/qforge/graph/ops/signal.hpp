// qforge/graph/ops/signal.hpp — DFT and STFT (ONNX opset 17) on float32, direct O(n^2) sums in double.
//
// Contract: inputs end in a dim of 1 (real) or 2 (complex: re, im); outputs end in 2. DFT: along `axis` (default
// 1, not the last dim), optional dft_length input (zero-pad or truncate), inverse (conjugate kernel, divided by
// n), onesided (first n/2 + 1 bins; real forward input only). STFT: signal [batch, length, 1|2], frame_step,
// optional window [w] and frame_length (one of them gives the frame length), onesided (default 1): output
// [batch, frames, bins, 2] with frames = (length - frame_length) / frame_step + 1.
#pragma once
#include <cmath>
#include <vector>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace signal_detail {

constexpr double kTwoPi = 6.283185307179586476925286766559;

// X[k] = sum_j x[j] * exp(-+2 pi i j k / n), j over the first min(len, n) samples (stride in complex elements).
inline void dft1(const float* re, const float* im, int64_t stride, int64_t len, int64_t n, int64_t bins, bool inverse,
                 float* out, int64_t ostride) {
  for (int64_t k = 0; k < bins; ++k) {
    double sr = 0, si = 0;
    for (int64_t j = 0; j < std::min(len, n); ++j) {
      double ang = (inverse ? kTwoPi : -kTwoPi) * double((j * k) % n) / double(n);
      double c = std::cos(ang), s = std::sin(ang);
      double xr = re[j * stride], xi = im ? im[j * stride] : 0.0;
      sr += xr * c - xi * s;
      si += xr * s + xi * c;
    }
    if (inverse) { sr /= double(n); si /= double(n); }
    out[k * ostride] = float(sr);
    out[k * ostride + 1] = float(si);
  }
}

inline Result<KernelPtr> build_dft(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 2));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::i64, DType::i32}));
  int64_t axis = c.node.get_int("axis", 1);
  bool inverse = c.node.get_int("inverse", 0) != 0, onesided = c.node.get_int("onesided", 0) != 0;
  c.outputs_as(DType::f32);
  return make_kernel([=](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    int64_t r = int64_t(x.rank());
    if (r < 2 || (x.shape().back() != 1 && x.shape().back() != 2)) return make_error("input must end in a dim of 1 or 2");
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, r - 1));
    int64_t len = x.dim(size_t(ax)), n = len;
    if (in.size() > 1 && in[1]) {
      QF_ASSIGN_OR_RETURN(std::vector<int64_t> dl, tensor_to_i64(*in[1], "dft_length"));
      if (dl.size() != 1 || dl[0] < 1) return make_error("dft_length must be a positive scalar");
      n = dl[0];
    }
    bool cplx = x.shape().back() == 2;
    if (onesided && (inverse || cplx)) return make_error("onesided needs a real forward transform");
    int64_t bins = onesided ? n / 2 + 1 : n;
    Shape os = x.shape();
    os[size_t(ax)] = bins;
    os.back() = 2;
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::f32, os));
    int64_t ch = x.shape().back();
    int64_t outer = dims_product(x.shape(), 0, size_t(ax)), inner = dims_product(x.shape(), size_t(ax) + 1, size_t(r - 1));
    const float* px = x.data<float>();
    float* py = y.data<float>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const float* base = px + (o * len * inner + i) * ch;
        dft1(base, cplx ? base + 1 : nullptr, inner * ch, len, n, bins, inverse, py + (o * bins * inner + i) * 2, inner * 2);
      }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_stft(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 4));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::i64, DType::i32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 2, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 3, {DType::i64, DType::i32}));
  bool onesided = c.node.get_int("onesided", 1) != 0;
  c.outputs_as(DType::f32);
  return make_kernel([onesided](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() != 3 || (x.dim(2) != 1 && x.dim(2) != 2)) return make_error("signal must be [batch, length, 1|2]");
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> stv, tensor_to_i64(*in[1], "frame_step"));
    if (stv.size() != 1 || stv[0] < 1) return make_error("frame_step must be a positive scalar");
    const Tensor* win = in.size() > 2 ? in[2] : nullptr;
    int64_t fl = win ? win->numel() : 0;
    if (in.size() > 3 && in[3]) {
      QF_ASSIGN_OR_RETURN(std::vector<int64_t> flv, tensor_to_i64(*in[3], "frame_length"));
      if (flv.size() != 1 || flv[0] < 1 || (win && flv[0] != fl)) return make_error("frame_length is invalid");
      fl = flv[0];
    }
    if (fl < 1) return make_error("one of window and frame_length is required");
    int64_t B = x.dim(0), L = x.dim(1), ch = x.dim(2), step = stv[0];
    bool cplx = ch == 2;
    if (onesided && cplx) return make_error("onesided needs a real signal");
    if (L < fl) return make_error("signal is shorter than one frame");
    int64_t frames = (L - fl) / step + 1, bins = onesided ? fl / 2 + 1 : fl;
    Tensor y(DType::f32, {B, frames, bins, 2});
    std::vector<float> re(static_cast<size_t>(fl)), im(static_cast<size_t>(fl));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t f = 0; f < frames; ++f) {
        for (int64_t k = 0; k < fl; ++k) {
          const float* p = x.data<float>() + ((b * L) + f * step + k) * ch;
          float w = win ? win->data<float>()[k] : 1.f;
          re[size_t(k)] = p[0] * w;
          im[size_t(k)] = cplx ? p[1] * w : 0.f;
        }
        dft1(re.data(), im.data(), 1, fl, fl, bins, false, y.data<float>() + (b * frames + f) * bins * 2, 2);
      }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

}  // namespace signal_detail

inline void add_signal_ops(OpTable& t) {
  t["DFT"] = {&signal_detail::build_dft, 1u << 1};
  t["STFT"] = {&signal_detail::build_stft, 0xEu};
}

}  // namespace qforge::ops
