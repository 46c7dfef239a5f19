// fp32 Conv (im2col+GEMM, 1x1, depthwise) against the reference direct convolution. The GEMM itself is tested in
// test_kernels_f32.cpp (no op table, so it also runs for aarch64).
#include <kernels/ref/f32_conv_ref.hpp>

#include "test_exec_common.hpp"

using namespace qft;
namespace k = qforge::kernels;

namespace {

struct ConvCase {
  k::ref::Conv2dShape s;
  bool bias;
};

void check_conv(const ConvCase& cc, int threads) {
  const auto& s = cc.s;
  Tensor x = randn({s.N, s.C, s.H, s.W}, uint64_t(s.C * 7 + s.H));
  Tensor w = randn({s.M, s.C / s.group, s.KH, s.KW}, uint64_t(s.M * 3 + s.KW), 0.5f);
  Tensor b = randn({s.M}, 5);
  Graph g;
  g.inputs = {vi("x", {-1, s.C, -1, -1})};
  g.initializers["w"] = w;
  std::vector<std::string> ins = {"x", "w"};
  if (cc.bias) {
    g.initializers["b"] = b;
    ins.push_back("b");
  }
  g.nodes = {node("Conv", ins, {"y"},
                  {{"group", Attribute::make_int(s.group)},
                   {"strides", Attribute::make_ints({s.sh, s.sw})},
                   {"dilations", Attribute::make_ints({s.dh, s.dw})},
                   {"pads", Attribute::make_ints({s.pt, s.pl, s.pb, s.pr})}})};
  g.outputs = {vi("y", {})};
  ExecOptions o;
  o.threads = threads;
  auto y = run_ok(g, {x}, o)[0];
  Tensor ref(DType::f32, {s.N, s.M, s.OH(), s.OW()});
  k::ref::f32_conv2d(s, x.data<float>(), w.data<float>(), cc.bias ? b.data<float>() : nullptr, ref.data<float>());
  CAPTURE(s.C); CAPTURE(s.M); CAPTURE(s.group); CAPTURE(s.KH); CAPTURE(s.sh); CAPTURE(s.dh); CAPTURE(s.pt);
  CHECK(max_rel_diff(y, ref) < 1e-4f);
}

}  // namespace

TEST_CASE("Conv matches the reference convolution (im2col, 1x1, groups, depthwise)") {
  using S = k::ref::Conv2dShape;
  std::vector<ConvCase> cases;
  auto mk = [](int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t KH, int64_t KW) {
    S s{N, C, H, W, M, KH, KW};
    return s;
  };
  S a = mk(2, 3, 11, 13, 5, 3, 3);
  a.pt = a.pl = a.pb = a.pr = 1;
  cases.push_back({a, true});
  S b = mk(1, 8, 9, 7, 17, 1, 1);  // pointwise
  cases.push_back({b, true});
  S c = mk(1, 6, 12, 10, 6, 3, 3);  // depthwise, stride 2, asymmetric pads
  c.group = 6; c.sh = 2; c.sw = 2; c.pt = 1; c.pl = 0; c.pb = 2; c.pr = 1;
  cases.push_back({c, true});
  S d = mk(2, 4, 10, 9, 8, 3, 2);  // depthwise with multiplier 2, dilation
  d.group = 4; d.dh = 2; d.dw = 3; d.pt = 2; d.pb = 2;
  cases.push_back({d, false});
  S e = mk(1, 8, 15, 14, 12, 5, 3);  // grouped, stride 3x2, dilation
  e.group = 4; e.sh = 3; e.sw = 2; e.dh = 2; e.pl = 1; e.pr = 2;
  cases.push_back({e, true});
  S f = mk(3, 1, 28, 28, 7, 5, 5);  // one input channel, big stride
  f.sh = f.sw = 4; f.pt = f.pl = 2;
  cases.push_back({f, false});
  S h = mk(1, 16, 30, 31, 33, 3, 3);  // enough work to go parallel
  h.pt = h.pl = h.pb = h.pr = 1;
  cases.push_back({h, true});
  for (auto& cc : cases) {
    check_conv(cc, 1);
    check_conv(cc, 2);
  }
}

TEST_CASE("Conv auto_pad SAME_UPPER / SAME_LOWER / VALID output shapes and values") {
  Tensor x = randn({1, 2, 7, 8}, 3), w = randn({3, 2, 4, 3}, 4);
  for (std::string mode : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    Graph g;
    g.inputs = {vi("x", {1, 2, 7, 8})};
    g.initializers["w"] = w;
    g.nodes = {node("Conv", {"x", "w"}, {"y"},
                    {{"auto_pad", Attribute::make_string(mode)}, {"strides", Attribute::make_ints({2, 2})}})};
    g.outputs = {vi("y", {})};
    auto y = run_ok(g, {x})[0];
    k::ref::Conv2dShape s{1, 2, 7, 8, 3, 4, 3};
    s.sh = s.sw = 2;
    if (mode == "VALID") {
      CHECK(y.shape() == Shape{1, 3, 2, 3});
    } else {
      CHECK(y.shape() == Shape{1, 3, 4, 4});
      // total pad: H: (4-1)*2+4-7 = 3, W: (4-1)*2+3-8 = 1
      if (mode == "SAME_UPPER") { s.pt = 1; s.pb = 2; s.pl = 0; s.pr = 1; }
      else { s.pt = 2; s.pb = 1; s.pl = 1; s.pr = 0; }
    }
    Tensor ref(DType::f32, {1, 3, s.OH(), s.OW()});
    k::ref::f32_conv2d(s, x.data<float>(), w.data<float>(), nullptr, ref.data<float>());
    CAPTURE(mode);
    CHECK(max_rel_diff(y, ref) < 1e-5f);
  }
}
