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
