// int8 NHWC convolutions (implicit GEMM and depthwise) vs the scalar reference, bit for bit, on every ISA this
// CPU has: 3×3/1×1/5×5, strides, dilation, asymmetric padding, groups, channel counts around the vector widths,
// every output type, u8 and s8 activations with extreme values, 1 vs 2 threads.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "qforge/core/cpu.hpp"
#include "qforge/core/rng.hpp"
#include <kernels/qconv.hpp>

using namespace qforge;
using namespace qforge::kernels;

namespace {

template <class T>
std::vector<T> make_operand(size_t n, uint64_t seed) {
  CounterRng rng(seed);
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = rng.u32(i);
    uint8_t b = (r % 100) < 40 ? ((r >> 8) & 1 ? 0xFF : 0x00) : uint8_t(r >> 16);
    if (std::is_signed_v<T>) b ^= 0x80;
    std::memcpy(&v[i], &b, 1);
  }
  return v;
}

ConvParams conv(int batch, int h, int w, int c, int oc, int k, int stride, int pad, int groups = 1, int dil = 1) {
  ConvParams p;
  p.batch = batch;
  p.in_h = h;
  p.in_w = w;
  p.in_c = c;
  p.out_c = oc;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  p.groups = groups;
  p.dilation_h = p.dilation_w = dil;
  return p;
}

template <class TA, class TC>
void check_conv(Isa isa, const ConvParams& p, int32_t zp, uint64_t seed, int threads, bool relu = false) {
  REQUIRE(p.valid());
  const size_t xs = size_t(p.batch) * p.in_h * p.in_w * p.in_c;
  const size_t ws = size_t(p.out_c) * (p.in_c / p.groups) * p.kernel_h * p.kernel_w;
  const size_t ys = size_t(p.batch) * p.out_h() * p.out_w() * p.out_c;
  const auto x = make_operand<TA>(xs, seed);
  const auto w = make_operand<int8_t>(ws, seed + 1);
  std::vector<int32_t> bias(size_t(p.out_c));
  std::vector<float> scale(size_t(p.out_c));
  CounterRng rng(seed + 2);
  const int K = (p.in_c / p.groups) * p.kernel_h * p.kernel_w;
  for (int n = 0; n < p.out_c; ++n) {
    bias[size_t(n)] = int32_t(rng.u32(n) % 20001) - 10000;
    scale[size_t(n)] = (n % 7 == 0) ? 0.5f : 1.0f / float(16 + rng.u32(n + 500) % (K * 48 + 1));
  }
  Epilogue ep;
  ep.bias = bias.data();
  ep.scale = scale.data();
  if constexpr (std::is_same_v<TC, uint8_t>) {
    ep.out_zp = 7;
    ep.qmin = relu ? 7 : 0;
    ep.qmax = 255;
  } else if constexpr (std::is_same_v<TC, int8_t>) {
    ep.out_zp = -3;
    ep.qmin = relu ? -3 : -128;
    ep.qmax = 127;
  }
  std::vector<TC> want(ys), got(ys, TC(1));
  ref::qconv2d_nhwc<TA, TC>(p, x.data(), zp, w.data(), ep, want.data());
  const PackedConv pc = pack_conv_weights(p, w.data(), isa);
  qconv2d_nhwc<TA, TC>(p, x.data(), zp, pc, ep, got.data(), threads);
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < ys; ++i)
    if (std::memcmp(&want[i], &got[i], sizeof(TC)) != 0) {
      if (!bad) first = i;
      ++bad;
    }
  INFO("isa=", std::string(isa_name(isa)), " in=", p.batch, "x", p.in_h, "x", p.in_w, "x", p.in_c, " oc=", p.out_c, " k=",
       p.kernel_h, " s=", p.stride_h, " pad=", p.pad_top, "/", p.pad_left, "/", p.pad_bottom, "/", p.pad_right,
       " g=", p.groups, " d=", p.dilation_h, " zp=", zp, " threads=", threads, " TA=", sizeof(TA) == 1 && std::is_signed_v<TA> ? "s8" : "u8",
       " TC size=", sizeof(TC), " first bad pixel ", first / p.out_c, " ch ", first % p.out_c);
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("qconv: implicit-GEMM convolutions match the reference on every ISA") {
#if defined(__x86_64__)
  // Every padded shape here takes the AVX-512 VNNI padding plan (block_skip_padding), which real layers take
  // from 256K multiply-adds per pixel on.
  struct PlanAll {
    int64_t saved = avx512vnni::plan_min_pixel_macs;
    PlanAll() { avx512vnni::plan_min_pixel_macs = 0; }
    ~PlanAll() { avx512vnni::plan_min_pixel_macs = saved; }
  } plan_all;
#endif
  std::vector<ConvParams> shapes = {
      conv(1, 9, 11, 64, 48, 3, 1, 1),   // channels a multiple of the dot width
      conv(2, 8, 7, 3, 17, 3, 2, 1),     // first-layer style: 3 channels, stride 2
      conv(1, 6, 6, 5, 33, 3, 1, 0),     // odd channels, no padding
      conv(1, 7, 9, 19, 65, 1, 1, 0),    // pointwise (plain GEMM path)
      conv(1, 7, 9, 16, 49, 1, 2, 0),    // 1×1 stride 2 (indirect path)
      conv(1, 9, 9, 12, 20, 3, 1, 2, 2, 2),  // groups 2, dilation 2
      conv(1, 10, 10, 8, 24, 5, 1, 2),   // 5×5
      conv(1, 1, 1, 1280, 100, 1, 1, 0), // batch-1 FC as a conv
      conv(2, 13, 11, 1, 16, 3, 1, 1),   // 1-channel stem: gathered rows, 16 columns (12-row tiles)
      conv(1, 12, 14, 2, 32, 3, 1, 1, 1, 2),  // gathered, dilation 2 (one copy per tap), 32 columns (8-row tiles)
      conv(1, 9, 9, 6, 12, 3, 2, 1, 3),  // gathered, groups 3 (2 channels each)
      conv(2, 15, 13, 16, 16, 3, 1, 1),  // 16 channels: padded copy, base-address rows, 12-row tiles
      conv(1, 11, 17, 24, 32, 3, 2, 1),  // stride 2, 8-row tiles
      // Taps of padding skipped (AVX-512 VNNI): a 7×7 output (edges and corners planned apart), a 5×5 kernel
      // whose two top rows pad different sets of taps (batch 2), stride 2, padding only at the bottom (below).
      conv(1, 7, 7, 64, 128, 3, 1, 1),
      conv(2, 6, 14, 32, 64, 5, 1, 2),
      conv(1, 13, 25, 64, 64, 3, 2, 1),
      conv(1, 40, 40, 16, 64, 3, 1, 1),  // padding 3.3 % of the taps: no plan, tiles in edge rows skip kh
  };
  ConvParams bottom = conv(1, 6, 13, 64, 64, 3, 1, 0);
  bottom.pad_bottom = 2;
  shapes.push_back(bottom);
  ConvParams asym = conv(1, 8, 10, 24, 40, 3, 2, 0);
  asym.pad_top = 0;
  asym.pad_left = 1;
  asym.pad_bottom = 2;
  asym.pad_right = 1;
  shapes.push_back(asym);
  ConvParams stem_asym = conv(1, 9, 12, 1, 20, 3, 1, 0);  // gathered with uneven padding
  stem_asym.pad_top = 2;
  stem_asym.pad_right = 1;
  shapes.push_back(stem_asym);
  uint64_t seed = 100;
  for (Isa isa : available_isas()) {
    for (const ConvParams& p : shapes) {
      check_conv<uint8_t, uint8_t>(isa, p, 128, seed++, 1);
      check_conv<uint8_t, int32_t>(isa, p, 255, seed++, 2);
      check_conv<int8_t, int8_t>(isa, p, -128, seed++, 1, true);
      check_conv<int8_t, float>(isa, p, 5, seed++, 2);
    }
    for (int32_t zp : {0, 1, 128, 255}) check_conv<uint8_t, uint8_t>(isa, shapes[0], zp, seed++, 1, zp == 1);
  }
}

TEST_CASE("qconv: the padded-tap masks name the taps that read padding") {
  // A 7×7 output of a 3×3 conv with padding 1, read from the padded copy (9×9) as qconv2d_nhwc does.
  const ConvParams p = conv(1, 7, 7, 64, 64, 3, 1, 1);
  ConvParams pp;
  std::vector<uint8_t> x(size_t(7) * 7 * 64, 3);
  const uint8_t* xr = qconv_detail::pad_input(p, x.data(), 0, &pp);
  std::vector<uint8_t> pad_row(64, 0);
  ConvRows rows = qconv_detail::make_rows(pp, xr, pad_row.data(), 0);
  CHECK_FALSE(rows.skippable_padding());  // where the image lies is not known yet: nothing may be skipped
  rows.real_h0 = rows.real_w0 = 1;
  rows.real_h1 = rows.real_w1 = 8;
  CHECK(rows.skippable_padding());
  CHECK(rows.row_padded_taps(0) == 0x7);    // kh = 0: taps 0-2
  CHECK(rows.row_padded_taps(3) == 0);
  CHECK(rows.row_padded_taps(6) == 0x1C0);  // kh = 2: taps 6-8
  CHECK(rows.col_padded_taps(0) == 0x49);   // kw = 0: taps 0, 3, 6
  CHECK(rows.col_padded_taps(6) == 0x124);  // kw = 2: taps 2, 5, 8
  CHECK(rows.col_padded_taps(1) == 0);
  // 2·7·3 + 2·7·3 − 4 = 80 of 441 taps.
  CHECK(rows.padded_share() == doctest::Approx(80.0 / 441.0));
  rows.gather_seg = 64;  // gathered rows never skip
  CHECK_FALSE(rows.skippable_padding());
}

TEST_CASE("qconv: depthwise convolutions match the reference on every ISA") {
  std::vector<ConvParams> shapes;
  for (int C : {1, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 130, 200})
    shapes.push_back(conv(1, 7, 6, C, C, 3, 1, 1, C));
  shapes.push_back(conv(2, 9, 8, 96, 96, 3, 2, 1, 96));  // stride 2, batch 2
  // Half last blocks (≤ 32 channels, two pixels per register row): odd pixel counts, rows wide enough for
  // 8-pixel interior runs, a row's end inside a pair, stride 2.
  for (int C : {24, 32, 160}) {
    shapes.push_back(conv(1, 7, 7, C, C, 3, 1, 1, C));      // 49 pixels
    shapes.push_back(conv(1, 5, 21, C, C, 3, 1, 1, C));     // rows of 21
    shapes.push_back(conv(1, 11, 11, C, C, 3, 2, 1, C));    // 6×6 out
  }
  shapes.push_back(conv(1, 11, 11, 72, 72, 5, 1, 2, 72));  // 5×5
  shapes.push_back(conv(1, 8, 8, 40, 40, 3, 1, 2, 40, 2)); // dilation 2
  shapes.push_back(conv(2, 8, 9, 48, 48, 3, 1, 0, 48));    // no padding: read in place, base addresses
  ConvParams asym = conv(1, 6, 9, 64, 64, 3, 2, 0, 64);
  asym.pad_bottom = 1;
  asym.pad_right = 1;
  shapes.push_back(asym);
  uint64_t seed = 900;
  // Padded layers read in place (the border through clamped tap addresses) and, on AVX-512 VNNI, from a padded
  // copy through base addresses: every shape both ways.
  const int saved_width = dw_padded_copy_max_width, saved_channels = dw_padded_copy_max_channels;
  for (int width : {0, 1 << 20}) {
    dw_padded_copy_max_width = dw_padded_copy_max_channels = width;
    for (Isa isa : available_isas()) {
      for (const ConvParams& p : shapes) {
        CAPTURE(width);
        check_conv<uint8_t, uint8_t>(isa, p, 128, seed++, 1);
        check_conv<uint8_t, uint8_t>(isa, p, 0, seed++, 2, true);
        check_conv<uint8_t, int32_t>(isa, p, 255, seed++, 1);
        check_conv<int8_t, int8_t>(isa, p, -128, seed++, 2);
        check_conv<int8_t, float>(isa, p, 127, seed++, 1);
      }
    }
  }
  dw_padded_copy_max_width = saved_width;
  dw_padded_copy_max_channels = saved_channels;
}

TEST_CASE("qconv: results are identical with 1 and 2 threads") {
  for (Isa isa : available_isas()) {
    for (const ConvParams& p : {conv(1, 14, 14, 64, 64, 3, 1, 1), conv(1, 14, 14, 64, 64, 3, 1, 1, 64)}) {
      const auto x = make_operand<uint8_t>(size_t(p.in_h) * p.in_w * p.in_c, 5);
      const auto w = make_operand<int8_t>(size_t(p.out_c) * (p.in_c / p.groups) * 9, 6);
      std::vector<float> scale(size_t(p.out_c), 1.0f / 2048.0f);
      Epilogue ep;
      ep.scale = scale.data();
      ep.out_zp = 128;
      const PackedConv pc = pack_conv_weights(p, w.data(), isa);
      const size_t ys = size_t(p.out_h()) * p.out_w() * p.out_c;
      std::vector<uint8_t> y1(ys), y2(ys);
      qconv2d_nhwc<uint8_t, uint8_t>(p, x.data(), 3, pc, ep, y1.data(), 1);
      qconv2d_nhwc<uint8_t, uint8_t>(p, x.data(), 3, pc, ep, y2.data(), 2);
      INFO("isa=", std::string(isa_name(isa)), " groups=", p.groups);
      CHECK(y1 == y2);
    }
  }
}

TEST_CASE("qconv: a one-row chunk of a strided 1x1 conv (2 threads) reads its row through the conv indirection") {
  // 2 threads split small outputs into chunks of one row tile; when M % tile == 1 the last chunk is one row, which
  // the VNNI kernels once sent down the batch-1 GEMV path reading a plain-GEMM A pointer that a conv job leaves
  // unset (a crash in shipped ResNet's 1x1 stride-2 shortcut at batch 1, 2 threads).
  for (Isa isa : available_isas()) {
    CAPTURE(isa_name(isa));
    for (int out : {5, 7, 11})  // 25, 49, 121 pixels: one more than a multiple of 6 and of 4 (the row tiles)
      for (int threads : {1, 2}) {
        const ConvParams p = conv(1, 2 * out - 1, 2 * out - 1, 32, 64, 1, 2, 0);
        check_conv<uint8_t, uint8_t>(isa, p, 3, 40 + uint64_t(out), threads);
        check_conv<int8_t, float>(isa, p, -5, 50 + uint64_t(out), threads);
      }
  }
}

#if defined(__x86_64__)
// The AMX kernel reading conv taps through the indirection (A packing per tap), on the scalar tile model.
TEST_CASE("qconv: AMX implicit GEMM on the scalar tile model matches the reference") {
  if (!isa_available(Isa::avx512vnni)) return;
  for (const ConvParams& p : {conv(1, 6, 7, 20, 40, 3, 1, 1), conv(2, 5, 5, 3, 17, 3, 2, 1), conv(1, 4, 4, 64, 33, 1, 1, 0)}) {
    const auto x = make_operand<uint8_t>(size_t(p.batch) * p.in_h * p.in_w * p.in_c, 31);
    const auto w = make_operand<int8_t>(size_t(p.out_c) * p.in_c * p.kernel_h * p.kernel_w, 32);
    std::vector<float> scale(size_t(p.out_c), 1.0f / 512.0f);
    Epilogue ep;
    ep.scale = scale.data();
    ep.out_zp = 100;
    const int32_t zp = 77;
    const size_t ys = size_t(p.batch) * p.out_h() * p.out_w() * p.out_c;
    std::vector<uint8_t> want(ys), got(ys);
    ref::qconv2d_nhwc<uint8_t, uint8_t>(p, x.data(), zp, w.data(), ep, want.data());
    const PackedConv pc = pack_conv_weights(p, w.data(), Isa::amx);
    REQUIRE(pc.groups.size() == 1);
    std::vector<uint8_t> pad_row(size_t(p.in_c) + 64, uint8_t(zp));
    ConvRows rows = qconv_detail::make_rows(p, x.data(), pad_row.data(), 0);  // taps read through pad_row
    if (pc.gathered) rows.gather_seg = p.in_c;
    GemmJob j;
    j.M = p.batch * p.out_h() * p.out_w();
    j.W = &pc.groups[0];
    j.conv = &rows;
    j.C = got.data();
    j.ldc = p.out_c;
    std::vector<int32_t> scratch;
    run_qgemm_job<uint8_t, uint8_t>(j, zp, ep, scratch, 1, &amx::emulated_block<uint8_t, false>, amx::kMR);
    INFO("in_c=", p.in_c, " out_c=", p.out_c, " k=", p.kernel_h);
    CHECK(got == want);
  }
}
#endif
