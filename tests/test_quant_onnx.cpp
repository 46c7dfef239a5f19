// ONNX quantization operators against the ONNX node tests (/usr/share/libonnx-testdata), and the int8 executor's
// QConv/QGemm against QLinearConv/QLinearMatMul on random data (the executor must give what ONNX gives).
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "qforge/io/onnx.hpp"
#include "qforge/quant/float_ops.hpp"
#include "qforge/quant/onnx_qops.hpp"
#include "qforge/quant/qexecutor.hpp"

using namespace qforge;
using namespace qforge::quant;

namespace {

const char* kNodeTests = "/usr/share/libonnx-testdata/data/node/";

// Runs a one-node-per-step graph through the fp32 op kernels (the op table the fp32 executor uses).
Result<std::vector<Tensor>> run_graph(const Graph& g, const std::vector<Tensor>& inputs) {
  std::map<std::string, Tensor> vals = g.initializers;
  for (size_t i = 0; i < g.inputs.size(); ++i) vals[g.inputs[i].name] = inputs.at(i);
  for (auto& n : g.nodes) {
    // build with the actual input dtypes known
    std::map<std::string, Tensor> consts = g.initializers;
    auto k = build_float_kernel(n, consts, g.opset);
    if (!k.ok()) return k.error().wrap(n.label());
    std::vector<const Tensor*> in;
    for (auto& i : n.inputs) in.push_back(i.empty() ? nullptr : &vals.at(i));
    std::vector<Tensor> out(n.outputs.size());
    auto s = k.value()->run(ops::RunContext{}, in, out);
    if (!s.ok()) return s.error().wrap(n.label());
    for (size_t o = 0; o < out.size(); ++o) vals[n.outputs[o]] = out[o];
  }
  std::vector<Tensor> r;
  for (auto& o : g.outputs) r.push_back(vals.at(o.name));
  return r;
}

void check_node_test(const std::string& name) {
  CAPTURE(name);
  const std::string dir = std::string(kNodeTests) + name;
  REQUIRE_MESSAGE(std::filesystem::exists(dir), dir, " not installed (apt-get install libonnx-testdata)");
  auto g = load_onnx(dir + "/model.onnx");
  REQUIRE(g.ok());
  // The fp32 op factories see every input as float32 unless constant: feed the real dtypes as constants.
  Graph gc = g.value();
  std::vector<Tensor> ins;
  for (size_t i = 0; i < gc.inputs.size(); ++i) {
    auto t = load_tensor_proto(dir + "/test_data_set_0/input_" + std::to_string(i) + ".pb");
    REQUIRE(t.ok());
    gc.initializers[gc.inputs[i].name] = t.value();
    ins.push_back(t.value());
  }
  auto out = run_graph(gc, ins);
  if (!out.ok()) FAIL(out.error().message);
  for (size_t o = 0; o < gc.outputs.size(); ++o) {
    auto ref = load_tensor_proto(dir + "/test_data_set_0/output_" + std::to_string(o) + ".pb");
    REQUIRE(ref.ok());
    const Tensor& a = out.value()[o];
    const Tensor& b = ref.value();
    REQUIRE(a.dtype() == b.dtype());
    REQUIRE(a.shape() == b.shape());
    if (a.dtype() == DType::f32) {
      for (int64_t i = 0; i < a.numel(); ++i) CHECK(a.data<float>()[i] == doctest::Approx(b.data<float>()[i]).epsilon(1e-6));
    } else {
      CHECK(std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
    }
  }
}

}  // namespace

TEST_CASE("ONNX node tests: QuantizeLinear, DequantizeLinear") {
  for (auto t : {"test_quantizelinear", "test_quantizelinear_axis", "test_dequantizelinear", "test_dequantizelinear_axis"})
    check_node_test(t);
}

TEST_CASE("ONNX node tests: QLinearConv, ConvInteger") {
  for (auto t : {"test_qlinearconv", "test_basic_convinteger", "test_convinteger_with_padding",
                 "test_convinteger_without_padding"})
    check_node_test(t);
}

TEST_CASE("ONNX node tests: QLinearMatMul, MatMulInteger") {
  for (auto t : {"test_qlinearmatmul_2D", "test_qlinearmatmul_3D", "test_matmulinteger"}) check_node_test(t);
}

namespace {
template <class T>
Tensor rand_int(Shape s, int lo, int hi, uint32_t seed) {
  Tensor t(dtype_of<T>::value, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = T(d(rng));
  return t;
}

// Output 0 of one ONNX node run by the fp32 op table, every input a constant from c.
Tensor run_onnx_node(const Node& n, std::map<std::string, Tensor> c) {
  auto k = build_float_kernel(n, c, 13);
  REQUIRE(k.ok());
  std::vector<const Tensor*> in;
  for (auto& nm : n.inputs) in.push_back(&c.at(nm));
  std::vector<Tensor> out(1);
  REQUIRE(k.value()->run(ops::RunContext{}, in, out).ok());
  return out[0];
}

QNode qnode(const char* name, QOp op, const std::string& in = "", const std::string& out = "") {
  QNode n;
  n.name = name;
  n.op = op;
  n.inputs = {in};
  n.outputs = {out};
  return n;
}

// Float input xf -> Quantize (pin) -> xq -> op -> yq (pout) -> Dequantize -> yf.
QGraph one_op_graph(QNode op, const Shape& in_shape, const QParams& pin, const QParams& pout) {
  const int rank = int(in_shape.size());
  QGraph g;
  g.inputs = {{"xf", DType::f32, in_shape}};
  g.outputs = {{"yf", DType::f32, {}}};
  g.values["xf"] = QValue{"xf", false, {}, rank, "xf"};
  g.values["xq"] = QValue{"xq", true, pin, rank, "xf"};
  g.values["yq"] = QValue{"yq", true, pout, rank, "y"};
  g.values["yf"] = QValue{"yf", false, {}, rank, "y"};
  op.inputs = {"xq"};
  op.outputs = {"yq"};
  g.nodes = {qnode("q", QOp::Quantize, "xf", "xq"), op, qnode("dq", QOp::Dequantize, "yq", "yf")};
  return g;
}

// Runs g (one_op_graph) on every ISA this CPU has and checks the op's int8 output yq against ref, byte for byte.
void check_every_isa(const QGraph& g, const Tensor& input, const Tensor& ref) {
  for (Isa isa : available_isas()) {
    CAPTURE(isa_name(isa));
    QExecOptions xo;
    xo.use_env_isa = false;
    xo.isa = isa;
    auto ex = QExecutor::prepare(g, xo);
    if (!ex.ok()) FAIL(ex.error().message);
    Tensor yq;
    QExecutor::Observer obs = [&](const std::string& n, const QValue& v, const Tensor& t) {
      if (n == "yq") yq = qdetail::logical(t, v);
    };
    REQUIRE(ex->run({input}, &obs).ok());
    REQUIRE(yq.shape() == ref.shape());
    CHECK(std::memcmp(yq.raw(), ref.raw(), yq.nbytes()) == 0);
  }
}
}  // namespace

TEST_CASE("int8 executor QConv == ONNX QLinearConv, QGemm == QLinearMatMul, bit for bit, every ISA, u8 and s8") {
  for (int sgn = 0; sgn < 2; ++sgn)
    for (int cfg = 0; cfg < 3; ++cfg) {
      CAPTURE(sgn);
      CAPTURE(cfg);
      // cfg 0: 3x3 pad 1 stride 1; cfg 1: 3x3 stride 2 pad 1 groups 2; cfg 2: depthwise 3x3
      const int64_t N = 2, C = cfg == 2 ? 6 : 4, H = 7, W = 9, M = cfg == 2 ? 6 : 8, group = cfg == 0 ? 1 : (cfg == 1 ? 2 : 6);
      const int64_t stride = cfg == 1 ? 2 : 1;
      QParams pin = sgn ? QParams{0.05f, -3, -128, 127, DType::i8, 8} : QParams{0.05f, 120, 0, 255, DType::u8, 8};
      QParams pout = sgn ? QParams{0.11f, 7, -128, 127, DType::i8, 8} : QParams{0.11f, 131, 0, 255, DType::u8, 8};
      Tensor x = sgn ? rand_int<int8_t>({N, C, H, W}, -128, 127, 1) : rand_int<uint8_t>({N, C, H, W}, 0, 255, 1);
      Tensor w = rand_int<int8_t>({M, C / group, 3, 3}, -127, 127, 2);
      Tensor b = rand_int<int32_t>({M}, -3000, 3000, 3);
      std::vector<float> ws(static_cast<size_t>(M));
      for (int64_t m = 0; m < M; ++m) ws[size_t(m)] = 0.001f * float(m + 3);
      // ONNX QLinearConv
      Node qn;
      qn.name = "qc";
      qn.op_type = "QLinearConv";
      qn.inputs = {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"};
      qn.outputs = {"y"};
      qn.attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
      qn.attrs["strides"] = Attribute::make_ints({stride, stride});
      qn.attrs["group"] = Attribute::make_int(group);
      std::map<std::string, Tensor> c;
      c["x"] = x;
      c["xs"] = Tensor::scalar<float>(pin.scale);
      c["xz"] = sgn ? Tensor::scalar<int8_t>(int8_t(pin.zero_point)) : Tensor::scalar<uint8_t>(uint8_t(pin.zero_point));
      c["w"] = w;
      c["ws"] = Tensor::from_vector<float>({M}, ws);
      c["wz"] = Tensor(DType::i8, {M});
      c["ys"] = Tensor::scalar<float>(pout.scale);
      c["yz"] = sgn ? Tensor::scalar<int8_t>(int8_t(pout.zero_point)) : Tensor::scalar<uint8_t>(uint8_t(pout.zero_point));
      c["b"] = b;
      const Tensor ref = run_onnx_node(qn, c);
      // qforge: the same conv as a QGraph node between a Quantize and a Dequantize
      QNode cv = qnode("conv", QOp::Conv);
      cv.weight = w;
      cv.bias = b;
      cv.w_scale = ws;
      cv.clamp_lo = pout.qmin;
      cv.clamp_hi = pout.qmax;
      cv.attrs = qn.attrs;
      const QGraph g = one_op_graph(cv, {N, C, H, W}, pin, pout);
      // float input that quantizes exactly to x
      Tensor xf(DType::f32, x.shape());
      for (int64_t i = 0; i < x.numel(); ++i)
        xf.data<float>()[i] = float((sgn ? int(x.data<int8_t>()[i]) : int(x.data<uint8_t>()[i])) - pin.zero_point) * pin.scale;
      check_every_isa(g, xf, ref);
    }

  // QGemm vs QLinearMatMul (per-column b scale, s8 weights = transposed B)
  const int64_t M = 5, K = 37, N = 11;
  Tensor a = rand_int<uint8_t>({M, K}, 0, 255, 7);
  Tensor bm = rand_int<int8_t>({K, N}, -127, 127, 8);
  std::vector<float> bsc(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) bsc[size_t(n)] = 0.002f + 0.0003f * float(n);
  Node mm;
  mm.name = "mm";
  mm.op_type = "QLinearMatMul";
  mm.inputs = {"a", "as", "az", "b", "bs", "bz", "ys", "yz"};
  mm.outputs = {"y"};
  std::map<std::string, Tensor> c;
  c["a"] = a;
  c["as"] = Tensor::scalar<float>(0.02f);
  c["az"] = Tensor::scalar<uint8_t>(100);
  c["b"] = bm;
  c["bs"] = Tensor::from_vector<float>({N}, bsc);
  c["bz"] = Tensor(DType::i8, {N});
  c["ys"] = Tensor::scalar<float>(0.07f);
  c["yz"] = Tensor::scalar<uint8_t>(90);
  const Tensor ref = run_onnx_node(mm, c);
  QNode gm = qnode("gemm", QOp::Gemm);
  Tensor wt(DType::i8, {N, K});
  for (int64_t kk = 0; kk < K; ++kk)
    for (int64_t n = 0; n < N; ++n) wt.data<int8_t>()[n * K + kk] = bm.data<int8_t>()[kk * N + n];
  gm.weight = wt;
  gm.w_scale = bsc;
  const QGraph g = one_op_graph(gm, {M, K}, QParams{0.02f, 100, 0, 255, DType::u8, 8}, QParams{0.07f, 90, 0, 255, DType::u8, 8});
  Tensor af(DType::f32, {M, K});
  for (int64_t i = 0; i < a.numel(); ++i) af.data<float>()[i] = float(int(a.data<uint8_t>()[i]) - 100) * 0.02f;
  check_every_isa(g, af, ref);
}
