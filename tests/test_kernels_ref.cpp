// Reference int8 kernels: hand-computed values that pin the integer contract (zero point, bias, requant
// rounding half to even, clamp, output types).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <kernels/ref/qgemm_ref.hpp>

using namespace qforge::kernels;

TEST_CASE("ref qgemm: int32 accumulator with activation zero point and bias") {
  // A 2x3 (u8), W 2x3 (s8).
  const uint8_t A[] = {0, 255, 10, 128, 1, 200};
  const int8_t W[] = {-128, 127, 3, 1, -1, 2};
  const int32_t bias[] = {1000, -7};
  Epilogue ep;
  ep.bias = bias;
  int32_t C[4];
  ref::qgemm<uint8_t, int32_t>(2, 2, 3, A, 3, 128, W, 3, ep, C, 2);
  // row0 - 128 = {-128, 127, -118}
  CHECK(C[0] == (-128 * -128 + 127 * 127 + -118 * 3) + 1000);
  CHECK(C[1] == (-128 * 1 + 127 * -1 + -118 * 2) - 7);
  // row1 - 128 = {0, -127, 72}
  CHECK(C[2] == (0 + -127 * 127 + 72 * 3) + 1000);
  CHECK(C[3] == (0 + 127 + 144) - 7);
}

TEST_CASE("ref qgemm: strides and int8 activations") {
  // lda = 4, ldw = 5, ldc = 3: padding columns must be ignored / untouched.
  const int8_t A[] = {-128, 127, 5, 99, /**/ 0, -1, 1, 99};
  const int8_t W[] = {1, 2, 3, 77, 77, /**/ -1, 0, 1, 77, 77};
  int32_t C[6] = {42, 42, 42, 42, 42, 42};
  ref::qgemm<int8_t, int32_t>(2, 2, 3, A, 4, -3, W, 5, Epilogue{}, C, 3);
  CHECK(C[0] == (-125 * 1 + 130 * 2 + 8 * 3));
  CHECK(C[1] == (125 + 8));
  CHECK(C[2] == 42);
  CHECK(C[3] == (3 * 1 + 2 * 2 + 4 * 3));
  CHECK(C[4] == (-3 + 4));
  CHECK(C[5] == 42);
}

TEST_CASE("ref epilogue: requantization rounds half to even and clamps") {
  Epilogue ep;
  const float scale[] = {0.5f, 0.5f, 0.5f, 0.5f, 1e9f, -1e9f, std::numeric_limits<float>::quiet_NaN()};
  ep.scale = scale;
  ep.out_zp = 10;
  ep.qmin = 0;
  ep.qmax = 255;
  CHECK(ref::apply_epilogue<uint8_t>(5, 0, ep) == 12);    // 2.5 → 2, +10
  CHECK(ref::apply_epilogue<uint8_t>(7, 1, ep) == 14);    // 3.5 → 4
  CHECK(ref::apply_epilogue<uint8_t>(-5, 2, ep) == 8);    // -2.5 → -2
  CHECK(ref::apply_epilogue<uint8_t>(-100, 3, ep) == 0);  // -50 + 10 clamped
  CHECK(ref::apply_epilogue<uint8_t>(3, 4, ep) == 255);   // huge → qmax
  CHECK(ref::apply_epilogue<uint8_t>(3, 5, ep) == 0);     // huge negative → qmin
  CHECK(ref::apply_epilogue<uint8_t>(3, 6, ep) == 0);     // NaN → qmin
  Epilogue relu = ep;
  relu.qmin = relu.out_zp;  // fused ReLU
  CHECK(ref::apply_epilogue<uint8_t>(-5, 0, relu) == 10);
  Epilogue s8;
  s8.scale = scale;
  s8.out_zp = -1;
  s8.qmin = -128;
  s8.qmax = 127;
  CHECK(ref::apply_epilogue<int8_t>(-1000, 0, s8) == -128);
  CHECK(ref::apply_epilogue<int8_t>(5, 0, s8) == 1);
  CHECK(ref::apply_epilogue<int8_t>(1000, 0, s8) == 127);
  // float output: dequantize, no rounding or clamp.
  const float fs[] = {0.25f};
  Epilogue f;
  f.scale = fs;
  const int32_t b[] = {3};
  f.bias = b;
  CHECK(ref::apply_epilogue<float>(-7, 0, f) == -1.0f);
  CHECK(ref::apply_epilogue<float>(1 << 25, 0, Epilogue{}) == float(1 << 25));
  // int32 output ignores the scale.
  CHECK(ref::apply_epilogue<int32_t>(-7, 0, f) == -4);
}

#include <kernels/ref/qconv_ref.hpp>

TEST_CASE("ref conv: 3x3 pad 1 on a 2x2 image, hand-computed") {
  ConvParams p;
  p.in_h = 2; p.in_w = 2; p.in_c = 1; p.out_c = 1;
  p.kernel_h = p.kernel_w = 3;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  REQUIRE(p.valid());
  CHECK(p.out_h() == 2);
  CHECK(p.out_w() == 2);
  const uint8_t x[] = {11, 12, 13, 14};  // zp 10 → {1, 2, 3, 4}
  const int8_t w[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  int32_t y[4];
  ref::qconv2d_nhwc<uint8_t, int32_t>(p, x, 10, w, Epilogue{}, y);
  // out(0,0): taps (1,1)=5*1 (1,2)=6*2 (2,1)=8*3 (2,2)=9*4
  CHECK(y[0] == 5 + 12 + 24 + 36);
  // out(0,1): (1,0)=4*1 (1,1)=5*2 (2,0)=7*3 (2,1)=8*4
  CHECK(y[1] == 4 + 10 + 21 + 32);
  // out(1,0): (0,1)=2*1 (0,2)=3*2 (1,1)=5*3 (1,2)=6*4
  CHECK(y[2] == 2 + 6 + 15 + 24);
  // out(1,1): (0,0)=1 (0,1)=2*2 (1,0)=4*3 (1,1)=5*4
  CHECK(y[3] == 1 + 4 + 12 + 20);
}

TEST_CASE("ref conv: grouped strided conv equals per-group im2col + ref qgemm") {
  ConvParams p;
  p.batch = 2; p.in_h = 7; p.in_w = 6; p.in_c = 6; p.out_c = 4; p.groups = 2;
  p.kernel_h = 3; p.kernel_w = 2; p.stride_h = 2; p.stride_w = 1; p.dilation_h = 1; p.dilation_w = 2;
  p.pad_top = 1; p.pad_left = 0; p.pad_bottom = 2; p.pad_right = 1;
  REQUIRE(p.valid());
  const int OH = p.out_h(), OW = p.out_w(), cpg = 3, opg = 2, K = cpg * 3 * 2;
  std::vector<uint8_t> x(size_t(p.batch) * 7 * 6 * 6);
  for (size_t i = 0; i < x.size(); ++i) x[i] = uint8_t((i * 37 + 11) % 256);
  std::vector<int8_t> w(size_t(p.out_c) * K);
  for (size_t i = 0; i < w.size(); ++i) w[i] = int8_t(int((i * 53 + 7) % 256) - 128);
  const int32_t zp = 77;
  std::vector<int32_t> y(size_t(p.batch) * OH * OW * p.out_c);
  ref::qconv2d_nhwc<uint8_t, int32_t>(p, x.data(), zp, w.data(), Epilogue{}, y.data());
  for (int g = 0; g < 2; ++g) {
    // im2col with k ordered (ic, kh, kw) like OIHW; padding filled with the zero point.
    const int M = p.batch * OH * OW;
    std::vector<uint8_t> col(size_t(M) * K);
    for (int b = 0; b < p.batch; ++b)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow)
          for (int ic = 0; ic < cpg; ++ic)
            for (int kh = 0; kh < 3; ++kh)
              for (int kw = 0; kw < 2; ++kw) {
                const int ih = oh * 2 - 1 + kh, iw = ow - 0 + kw * 2;
                const size_t m = (size_t(b) * OH + oh) * OW + ow;
                const size_t k = (size_t(ic) * 3 + kh) * 2 + kw;
                col[m * K + k] = (ih < 0 || ih >= 7 || iw < 0 || iw >= 6)
                                     ? uint8_t(zp)
                                     : x[((size_t(b) * 7 + ih) * 6 + iw) * 6 + g * cpg + ic];
              }
    std::vector<int32_t> c(size_t(M) * opg);
    ref::qgemm<uint8_t, int32_t>(M, opg, K, col.data(), K, zp, w.data() + size_t(g) * opg * K, K, Epilogue{},
                                 c.data(), opg);
    for (int m = 0; m < M; ++m)
      for (int j = 0; j < opg; ++j) REQUIRE(y[size_t(m) * p.out_c + g * opg + j] == c[size_t(m) * opg + j]);
  }
}
