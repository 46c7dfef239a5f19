// The graph container (.qf): JSON schema, exact round trips (incl. the ONNX corpus), kind checks, format
// detection, and the `qforge convert` / `qforge info` verbs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "qforge/io/model_file.hpp"
#include "test_io_common.hpp"

using namespace qforge;
using qforge::testing::contains;
using qforge::testing::graph_diff;
namespace fs = std::filesystem;

TEST_CASE("model file: graph JSON in metadata, initializers and tensor attributes as tensors") {
  Graph g = qforge::testing::sample_graph();
  REQUIRE(g.validate_and_sort().ok());
  auto f = model_to_tensor_file(g);
  REQUIRE_MESSAGE(f.ok(), f.error().message);
  CHECK(f->metadata.at("qforge.kind") == "graph");
  // 9 initializers + 1 Constant value tensor.
  CHECK(f->tensors.size() == 10);
  CHECK(f->tensors.count("conv.w") == 1);
  CHECK(f->tensors.count("qforge.attr/4/value") == 1);
  auto j = Json::parse(f->metadata.at("qforge.graph"));
  REQUIRE(j.ok());
  CHECK(j->get_string("name").value() == "sample");
  CHECK(j->get_int("opset").value() == 13);
  CHECK(j->find("metadata")->get_string("qforge.mean").value() == "0.2860");
  CHECK(j->find("inputs")->dump() == R"([{"name":"x","dtype":"F32","shape":[-1,1,4,4]}])");
  const Json& conv = (*j->find("nodes"))[0];
  CHECK(conv.dump() ==
        R"({"name":"conv1","op":"Conv","inputs":["x","conv.w","conv.b"],"outputs":["c"],"attrs":{"auto_pad":{"s":"NOTSET"},"kernel_shape":{"ints":[3,3]},"pads":{"ints":[1,1,1,1]},"strides":{"ints":[2,2]}}})");
  const Json& relu = (*j->find("nodes"))[1];
  CHECK(relu.find("attrs")->dump() == R"({"alpha":{"f":0.10000000149011612}})");
  const Json& custom = (*j->find("nodes"))[5];
  CHECK(custom.get_string("domain").value() == "com.qforge.test");
  CHECK(custom.find("attrs")->find("neg")->dump() == R"({"ints":[-1,9223372036854775807,-9223372036854775808]})");
  CHECK((*j->find("nodes"))[4].find("attrs")->dump() == R"({"value":{"t":"qforge.attr/4/value"}})");
  auto back = model_from_tensor_file(*f);
  REQUIRE_MESSAGE(back.ok(), back.error().message);
  CHECK(graph_diff(g, *back) == "");
}

TEST_CASE("model file: save/load on disk is exact, including non-finite floats") {
  Graph g = qforge::testing::sample_graph();
  g.nodes[1].attrs["alpha"] = Attribute::make_float(std::nanf(""));
  g.nodes[5].attrs["scales"] = Attribute::make_floats({INFINITY, -INFINITY, 1e-45f, 3.4028235e38f});
  REQUIRE(g.validate_and_sort().ok());
  std::string path = "/tmp/qforge_test_io_model.qf";
  REQUIRE(save_model(path, g).ok());
  auto back = load_model(path);
  REQUIRE_MESSAGE(back.ok(), back.error().message);
  CHECK(graph_diff(g, *back) == "");
  CHECK(std::isnan(back->nodes[1].attrs.at("alpha").f));
  // load_graph recognises both formats by content.
  auto any = load_graph(path);
  REQUIRE(any.ok());
  CHECK(graph_diff(g, *any) == "");
  std::string onnx_path = "/tmp/qforge_test_io_model.bin";  // no telling extension
  g.nodes[1].attrs["alpha"] = Attribute::make_float(0.5f);
  REQUIRE(save_onnx(onnx_path, g).ok());
  auto any2 = load_graph(onnx_path);
  REQUIRE_MESSAGE(any2.ok(), any2.error().message);
  CHECK(graph_diff(g, *any2) == "");
  std::remove(path.c_str());
  std::remove(onnx_path.c_str());
}

TEST_CASE("model file: wrong kinds and broken graph JSON are named") {
  Graph g = qforge::testing::sample_graph();
  auto f = model_to_tensor_file(g);
  REQUIRE(f.ok());
  TensorFile k = *f;
  k.metadata["qforge.kind"] = "int8";
  CHECK(contains(model_from_tensor_file(k).error().message, "holds a 'int8' model, not an fp32 graph"));
  k.metadata.erase("qforge.kind");
  CHECK(contains(model_from_tensor_file(k).error().message, "not a qforge model"));
  auto with_graph = [&](const std::string& json) {
    TensorFile t = *f;
    t.metadata["qforge.graph"] = json;
    auto r = model_from_tensor_file(t);
    return r.ok() ? std::string("<ok>") : r.error().message;
  };
  CHECK(contains(with_graph("{"), "qforge.graph: JSON error at byte 1"));
  CHECK(contains(with_graph("{}"), "qforge.graph: missing key 'opset'"));
  CHECK(with_graph(R"({"opset":13})") == "<ok>");  // an empty graph is valid
  CHECK(contains(with_graph(R"({"opset":13,"initializers":["nope"]})"), "initializer 'nope' is listed but the file has no such tensor"));
  CHECK(contains(with_graph(R"({"opset":13,"nodes":[{"name":"a","inputs":[]}]})"), "nodes[0]: missing key 'op'"));
  CHECK(contains(with_graph(R"({"opset":13,"nodes":[{"op":"Relu","inputs":["ghost"],"outputs":["y"]}]})"),
                 "node '' (Relu): input 'ghost' is never produced"));
  CHECK(contains(with_graph(R"({"opset":13,"nodes":[{"op":"Relu","inputs":["b"],"outputs":["a"]},{"op":"Relu","inputs":["a"],"outputs":["b"]}]})"),
                 "is part of a cycle"));
  CHECK(contains(with_graph(R"({"opset":13,"nodes":[{"name":"n","op":"Relu","attrs":{"k":{"q":1}}}]})"),
                 "node #0 'n' (Relu): attribute 'k': unknown attribute kind 'q'"));
  CHECK(contains(with_graph(R"({"opset":13,"nodes":[{"name":"n","op":"Relu","attrs":{"k":{"i":1.5}}}]})"),
                 "'i' must be an integer"));
  CHECK(contains(with_graph(R"({"opset":13,"nodes":[{"name":"n","op":"C","attrs":{"k":{"t":"missing"}}}]})"),
                 "attribute 'k': the file has no tensor 'missing'"));
  CHECK(contains(with_graph(R"({"opset":13,"inputs":[{"name":"x","dtype":"F64","shape":[1]}]})"),
                 "inputs[0]: unsupported dtype 'F64'"));
  CHECK(contains(with_graph(R"({"opset":13,"inputs":[{"name":"x","dtype":"F32","shape":[-2]}]})"),
                 "inputs[0]: dimension -2 (use -1 for unknown)"));
  // Saving refuses strings JSON cannot carry.
  Graph bad = g;
  bad.nodes[0].attrs["auto_pad"] = Attribute::make_string("\xff\xfe");
  auto st = save_model("/tmp/qforge_test_io_bad_model.qf", bad);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.error().message, "/tmp/qforge_test_io_bad_model.qf: node #0 'conv1' (Conv): attribute 'auto_pad' is not valid UTF-8"));
  CHECK_FALSE(fs::exists("/tmp/qforge_test_io_bad_model.qf"));
  // Format detection.
  const uint8_t junk[] = {0xFF, 0xFF};
  CHECK(guess_model_format(junk, 2) == ModelFormat::unknown);
  std::ofstream("/tmp/qforge_test_io_junk.bin") << "\xff\xff\xff";
  CHECK(contains(load_graph("/tmp/qforge_test_io_junk.bin").error().message, "neither an ONNX model nor a qforge container"));
  std::remove("/tmp/qforge_test_io_junk.bin");
}

TEST_CASE("model file: every loadable ONNX test model round-trips through the container") {
  const char* root = "/usr/share/libonnx-testdata/data";
  REQUIRE_MESSAGE(fs::exists(root), root, " not installed (scripts/deps.sh test installs libonnx-testdata)");
  int n = 0;
  for (auto& suite : fs::directory_iterator(root))
    for (auto& test : fs::directory_iterator(suite.path())) {
      fs::path p = test.path() / "model.onnx";
      if (!fs::exists(p)) continue;
      auto g = load_onnx(p.string());
      if (!g.ok()) continue;
      auto f = model_to_tensor_file(*g);
      REQUIRE_MESSAGE(f.ok(), p.string(), ": ", f.error().message);
      auto bytes = serialize_tensor_file(*f);
      REQUIRE(bytes.ok());
      auto f2 = parse_tensor_file(bytes->data(), bytes->size(), "mem");
      REQUIRE_MESSAGE(f2.ok(), p.string(), ": ", f2.error().message);
      auto back = model_from_tensor_file(*f2);
      REQUIRE_MESSAGE(back.ok(), p.string(), ": ", back.error().message);
      std::string d = graph_diff(*g, *back);
      CHECK_MESSAGE(d == "", p.string(), ": ", d);
      ++n;
    }
  MESSAGE(n, " ONNX test models round-tripped through the container");
  CHECK(n > 700);
}

#ifdef QFORGE_EXE
static std::string run_cli(const std::string& args, int* rc) {
  std::string out = "/tmp/qforge_test_io_cli.txt";
  std::string cmd = std::string(QFORGE_EXE) + " " + args + " > " + out + " 2>&1";
  int r = std::system(cmd.c_str());
  *rc = WIFEXITED(r) ? WEXITSTATUS(r) : -1;
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::remove(out.c_str());
  return text;
}

TEST_CASE("qforge convert and qforge info") {
  REQUIRE_MESSAGE(fs::exists(QFORGE_EXE), "the qforge CLI is not built (", QFORGE_EXE, ")");
  Graph g = qforge::testing::sample_graph();
  REQUIRE(g.validate_and_sort().ok());
  std::string onnx = "/tmp/qforge_test_io_cli.onnx", qf = "/tmp/qforge_test_io_cli.qf", onnx2 = "/tmp/qforge_test_io_cli2.onnx";
  REQUIRE(save_onnx(onnx, g).ok());
  int rc = 0;
  std::string out = run_cli("convert " + onnx + " -o " + qf, &rc);
  CHECK(rc == 0);
  CHECK(contains(out, "wrote " + qf + " (qforge container): 6 nodes, 9 initializers, 1 inputs, 1 outputs"));
  out = run_cli("convert " + qf + " -o " + onnx2, &rc);
  CHECK(rc == 0);
  auto back = load_onnx(onnx2);
  REQUIRE(back.ok());
  CHECK(graph_diff(g, *back) == "");
  out = run_cli("info " + qf, &rc);
  CHECK(rc == 0);
  CHECK(contains(out, qf + ": qforge model, graph 'sample', producer 'qforge-test', opset 13"));
  CHECK(contains(out, "  x                        F32  [?,1,4,4]"));
  CHECK(contains(out, "ops (6 nodes):"));
  CHECK(contains(out, "  Conv                     1"));
  CHECK(contains(out, "  com.qforge.test.Custom   1"));
  // 18 + 2 + 24 + 3 + 3 + 2 + 2 + 2 + 2 = 58 values; bytes 72+8+96+12+3+2+8+16+2 = 219
  CHECK(contains(out, "parameters: 58 in 9 initializers (219 B)"));
  CHECK(contains(out, "  qforge.mean = 0.2860"));
  out = run_cli("info " + onnx + " --json", &rc);
  CHECK(rc == 0);
  auto j = Json::parse(out);
  REQUIRE_MESSAGE(j.ok(), out);
  CHECK(j->get_string("format").value() == "ONNX");
  CHECK(j->get_int("parameters").value() == 58);
  CHECK(j->find("ops")->get_int("Gemm").value() == 1);
  CHECK(j->find("metadata")->get_string("qforge.std").value() == "0.3530");
  // A container that is not a graph.
  TensorFile tf;
  tf.metadata["qforge.kind"] = "stylegan2";
  tf.tensors["mapping.fc0.weight"] = Tensor(DType::f32, {512, 512});
  tf.tensors["synthesis.b4.const"] = Tensor(DType::f32, {512, 4, 4});
  REQUIRE(save_tensor_file(qf, tf).ok());
  out = run_cli("info " + qf, &rc);
  CHECK(rc == 0);
  CHECK(contains(out, "qforge container, kind 'stylegan2'"));
  CHECK(contains(out, "tensors: 2 (2 F32), 270,336 values, 1.03 MiB"));
  CHECK(contains(out, "  mapping.fc0.weight                       F32  [512,512]"));
  // Errors.
  out = run_cli("convert " + onnx + " -o /tmp/x.txt", &rc);
  CHECK(rc == 2);
  CHECK(contains(out, "cannot tell the output format"));
  out = run_cli("convert /tmp/qforge_no_such_file.onnx -o /tmp/x.qf", &rc);
  CHECK(rc == 1);
  CHECK(contains(out, "cannot open '/tmp/qforge_no_such_file.onnx'"));
  out = run_cli("info", &rc);
  CHECK(rc == 2);
  for (auto* p : {&onnx, &qf, &onnx2}) std::remove(p->c_str());
}
#endif
