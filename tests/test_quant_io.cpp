// int8 model files: save/load round trip (bit-identical bytes, identical outputs), corrupted files rejected with
// the field named; ONNX QDQ export re-imported with qforge's ONNX reader and run through the fp32 op kernels
// agrees with the int8 executor to within one LSB on every quantized tensor.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "qforge/io/onnx.hpp"
#include "qforge/quant/qgraph_io.hpp"
#include "test_quant_util.hpp"

namespace {

std::string tmp_path(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("qforge_test_quant_io_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return (d / name).string();
}

std::vector<uint8_t> read_bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

QGraph quantized_small(QuantizeOptions o = {}) {
  Graph g = small_net();
  g.metadata["qforge.mean"] = "0.5";
  auto stats = calibrate(g, randn({16, 1, 8, 8}, 5));
  Graph pg = prepared(g);
  auto q = quantize_graph(pg, stats, o);
  REQUIRE_OK(q);
  return q.value();
}

}  // namespace

TEST_CASE("int8 container: save -> load -> save is byte-identical and runs the same") {
  QuantizeOptions o;
  o.exclude = {"c2"};  // include a Float node
  QGraph q = quantized_small(o);
  const std::string a = tmp_path("a.q.qf"), b = tmp_path("b.q.qf");
  REQUIRE_OK(save_qgraph(a, q));
  auto l = load_qgraph(a);
  REQUIRE_OK(l);
  CHECK(l->metadata.at("qforge.mean") == "0.5");
  REQUIRE_OK(save_qgraph(b, l.value()));
  CHECK(read_bytes(a) == read_bytes(b));
  auto f = load_tensor_file(a);
  REQUIRE_OK(f);
  CHECK(f->metadata.at("qforge.kind") == "int8");
  auto e1 = QExecutor::prepare(q);
  auto e2 = QExecutor::prepare(l.value());
  REQUIRE_OK(e1);
  REQUIRE_OK(e2);
  Tensor x = randn({4, 1, 8, 8}, 9);
  auto y1 = e1->run({x}), y2 = e2->run({x});
  REQUIRE_OK(y1);
  REQUIRE_OK(y2);
  CHECK(std::memcmp(y1.value()[0].raw(), y2.value()[0].raw(), y1.value()[0].nbytes()) == 0);

  // an fp32 model file is not an int8 model; a bad scale is named
  auto fb = f.value();
  fb.metadata["qforge.kind"] = "graph";
  auto r1 = qgraph_from_tensor_file(fb);
  REQUIRE(!r1.ok());
  CHECK(r1.error().message.find("int8") != std::string::npos);
  auto fc = f.value();
  std::string& js = fc.metadata.at(kQGraphMetadataKey);
  auto pos = js.find("\"scale\":");
  REQUIRE(pos != std::string::npos);
  js.replace(pos, 8, "\"scale\":-");
  auto r2 = qgraph_from_tensor_file(fc);
  REQUIRE(!r2.ok());
  CHECK(r2.error().message.find("scale") != std::string::npos);
  // truncated file
  auto bytes = read_bytes(a);
  {
    std::ofstream t(tmp_path("trunc.q.qf"), std::ios::binary);
    t.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size() / 2));
  }
  auto r3 = load_qgraph(tmp_path("trunc.q.qf"));
  REQUIRE(!r3.ok());
  CHECK(r3.error().message.find("trunc.q.qf") != std::string::npos);
}

TEST_CASE("QDQ ONNX export, re-imported, matches the int8 executor within 1 LSB (u8 and s8)") {
  for (int sgn = 0; sgn < 2; ++sgn) {
    CAPTURE(sgn);
    QuantizeOptions o;
    o.act_signed = sgn == 1;
    QGraph q = quantized_small(o);
    const std::string p = tmp_path(sgn ? "m_s8.qdq.onnx" : "m.qdq.onnx");
    REQUIRE_OK(save_qdq_onnx(p, q));
    auto g = load_onnx(p);
    REQUIRE_OK(g);
    int nq = 0, ndq = 0;
    for (auto& n : g->nodes) {
      nq += n.op_type == "QuantizeLinear";
      ndq += n.op_type == "DequantizeLinear";
    }
    CHECK(nq >= 4);
    CHECK(ndq >= 6);
    auto w = wrap_float_graph(g.value());
    REQUIRE_OK(w);
    auto eq = QExecutor::prepare(w.value());
    auto ei = QExecutor::prepare(q);
    REQUIRE_OK(eq);
    REQUIRE_OK(ei);
    Tensor x = randn({8, 1, 8, 8}, 77);
    std::map<std::string, Tensor> qdq_vals, int8_vals;
    QExecutor::Observer oq = [&](const std::string& n, const QValue&, const Tensor& t) { qdq_vals[n] = t; };
    QExecutor::Observer oi = [&](const std::string& n, const QValue& v, const Tensor& t) {
      if (v.quantized) int8_vals[n] = qdetail::logical(t, v);
    };
    auto yq = eq->run({x}, &oq);
    auto yi = ei->run({x}, &oi);
    REQUIRE_OK(yq);
    REQUIRE_OK(yi);
    int compared = 0;
    for (auto& kv : int8_vals) {
      CAPTURE(kv.first);
      auto it = qdq_vals.find(kv.first);
      REQUIRE(it != qdq_vals.end());
      REQUIRE(it->second.shape() == kv.second.shape());
      REQUIRE(it->second.dtype() == kv.second.dtype());
      int worst = 0;
      for (int64_t i = 0; i < kv.second.numel(); ++i)
        worst = std::max(worst, std::abs(qdetail::get_q(it->second, i) - qdetail::get_q(kv.second, i)));
      CHECK(worst <= 1);
      ++compared;
    }
    CHECK(compared >= 6);
    // logits: float; differences come from the float accumulation order only
    const double rel = max_diff(yq.value()[0], yi.value()[0]) / max_abs(yi.value()[0]);
    CHECK(rel < 1e-3);
  }
}
