// ONNX reader/writer: protobuf wire details, typed tensor fields, round trips, the ONNX node test corpus,
// and the Python onnx checker on what qforge writes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "qforge/io/onnx.hpp"
#include "test_io_common.hpp"

using namespace qforge;
using qforge::testing::contains;
namespace fs = std::filesystem;

static const char* kOnnxTestData = "/usr/share/libonnx-testdata/data";

static bool have_python_onnx() {
  static int r = std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1");
  return r == 0;
}

TEST_CASE("protobuf reader: varints, fixed, length-delimited, groups, unknown fields, offsets") {
  pb::Writer w;
  w.int64_field(1, -1);          // 10-byte varint
  w.int32_field(2, -2);          // int32: also 10 bytes
  w.float_field(3, 1.5f);
  w.string_field(4, "hello");
  // a group (field 5) holding a nested group and a varint, then a fixed64 (field 6)
  w.tag(5, pb::kStartGroup);
  w.tag(7, pb::kStartGroup);
  w.int64_field(8, 300);
  w.tag(7, pb::kEndGroup);
  w.tag(5, pb::kEndGroup);
  w.tag(6, pb::kFixed64);
  for (int k = 0; k < 8; ++k) w.bytes().push_back(uint8_t(k + 1));
  w.int64_field(pb::kMaxFieldNumber, 1);
  pb::Reader r(w.bytes().data(), w.size());
  pb::Field f;
  REQUIRE(r.next(f).ok());
  CHECK(f.number == 1);
  CHECK(f.as_int64() == -1);
  CHECK(f.offset == 0);
  REQUIRE(r.next(f).ok());
  CHECK(f.as_int32() == -2);
  CHECK(f.offset == 11);
  REQUIRE(r.next(f).ok());
  CHECK(f.wire == pb::kFixed32);
  CHECK(f.as_float() == 1.5f);
  REQUIRE(r.next(f).ok());
  CHECK(f.as_string() == "hello");
  REQUIRE(r.next(f).ok());
  CHECK(f.number == 5);
  CHECK(f.wire == pb::kStartGroup);
  CHECK(f.size == 1 + 3 + 1);  // nested start tag, varint field (tag + 2 bytes), nested end tag
  REQUIRE(r.next(f).ok());
  CHECK(f.number == 6);
  CHECK(f.value == 0x0807060504030201ull);
  REQUIRE(r.next(f).ok());
  CHECK(f.number == pb::kMaxFieldNumber);
  CHECK(r.done());
}

TEST_CASE("protobuf reader: malformed input gives errors with offsets") {
  auto err = [](std::vector<uint8_t> b) {
    pb::Reader r(b.data(), b.size());
    pb::Field f;
    while (!r.done()) {
      auto st = r.next(f);
      if (!st.ok()) return st.error().message;
    }
    return std::string("<ok>");
  };
  CHECK(contains(err({0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), "varint longer than 10 bytes"));
  CHECK(contains(err({0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02}), "overflows 64 bits"));
  CHECK(contains(err({0x08, 0xFF}), "truncated varint in field 1 (at byte 0)"));
  CHECK(contains(err({0x08, 0x01, 0x12, 0x05, 'a'}), "field 2 has length 5 but only 1 bytes remain in the message (at byte 2)"));
  CHECK(contains(err({0x0D, 1, 2}), "fixed32 field 1 runs past the end"));
  CHECK(contains(err({0x09, 1, 2, 3}), "fixed64 field 1 runs past the end"));
  CHECK(contains(err({0x00}), "field number 0 is invalid"));
  CHECK(contains(err({0x0E}), "invalid wire type 6"));
  CHECK(contains(err({0x0F}), "invalid wire type 7"));
  CHECK(contains(err({0x0C}), "end-group tag for field 1 without a matching start-group"));
  CHECK(contains(err({0x0B, 0x08, 0x01}), "group field 1 is not closed"));
  CHECK(contains(err({0x0B, 0x14}), "end-group for field 2 closes group 1"));
  std::vector<uint8_t> deep(40, 0x0B);
  CHECK(contains(err(deep), "groups nested deeper than 32"));
  CHECK(contains(err({0x80, 0x80, 0x80, 0x80, 0x80, 0x01}), "does not fit 32 bits"));
}

// --- hand-built ONNX messages -------------------------------------------------------------------------------

static pb::Writer value_info(const std::string& name, int elem, std::vector<int64_t> dims) {
  pb::Writer shape;
  for (auto d : dims) {
    pb::Writer dim;
    if (d >= 0) dim.int64_field(1, d);
    else dim.string_field(2, "N");
    shape.message_field(1, dim);
  }
  pb::Writer tt;
  tt.int32_field(1, elem);
  tt.message_field(2, shape);
  pb::Writer type;
  type.message_field(1, tt);
  pb::Writer v;
  v.string_field(1, name);
  v.message_field(2, type);
  return v;
}

static std::vector<uint8_t> model_with(const pb::Writer& graph, int64_t opset = 13) {
  pb::Writer m;
  m.int64_field(1, 7);
  m.message_field(7, graph);
  pb::Writer op;
  op.string_field(1, "ai.onnx");
  op.int64_field(2, opset);
  m.message_field(8, op);
  return m.bytes();
}

static Result<Graph> parse(const std::vector<uint8_t>& b) { return parse_onnx(b.data(), b.size(), "m.onnx"); }

TEST_CASE("onnx reader: typed data fields, unpacked repeats, old attribute encoding, ir<4 inputs") {
  pb::Writer graph;
  // Node with attributes: ints unpacked, floats unpacked, attribute type UNDEFINED (inferred), domain ai.onnx.
  pb::Writer node;
  node.string_field(1, "x");
  node.string_field(1, "w");
  node.string_field(1, "");  // absent optional input
  node.string_field(2, "y");
  node.string_field(3, "n0");
  node.string_field(4, "Conv");
  node.string_field(7, "ai.onnx");
  {
    pb::Writer a;
    a.string_field(1, "pads");
    for (int64_t v : {0, 1, 0, 1}) a.int64_field(8, v);  // unpacked, no type field
    node.message_field(5, a);
  }
  {
    pb::Writer a;
    a.string_field(1, "fl");
    a.int32_field(20, 6);
    a.float_field(7, 0.5f);
    a.float_field(7, -2.0f);
    node.message_field(5, a);
  }
  {
    pb::Writer a;
    a.string_field(1, "alpha");
    a.float_field(2, 0.25f);  // UNDEFINED type: inferred FLOAT
    a.int64_field(99, 5);     // unknown field
    node.message_field(5, a);
  }
  graph.message_field(1, node);
  graph.string_field(2, "g");
  // Initializer w: FLOAT in float_data, dims unpacked; int8 in int32_data; int64 in packed int64_data; bool.
  {
    pb::Writer t;
    t.int64_field(1, 2);
    t.int64_field(1, 2);
    t.int32_field(2, 1);
    t.packed_float_field(4, {1.0f, 2.0f});
    t.float_field(4, 3.0f);  // mixed packed + unpacked chunks concatenate
    t.float_field(4, 4.0f);
    t.string_field(8, "w");
    graph.message_field(5, t);
  }
  {
    pb::Writer t;
    t.packed_int64_field(1, {3});
    t.int32_field(2, 3);  // INT8
    pb::Writer vals;
    for (int v : {-128, 5, 127}) vals.varint(uint64_t(int64_t(v)));
    t.message_field(5, vals);
    t.string_field(8, "q");
    graph.message_field(5, t);
  }
  {
    pb::Writer t;
    t.packed_int64_field(1, {2});
    t.int32_field(2, 7);
    t.packed_int64_field(7, {-5, INT64_MAX});
    t.string_field(8, "i64");
    graph.message_field(5, t);
  }
  {
    pb::Writer t;
    t.packed_int64_field(1, {3});
    t.int32_field(2, 9);  // BOOL in int32_data
    t.packed_int64_field(5, {0, 1, 7});
    t.string_field(8, "b");
    graph.message_field(5, t);
  }
  {
    pb::Writer t;  // scalar UINT8 in raw_data
    t.int32_field(2, 2);
    uint8_t v = 200;
    t.bytes_field(9, &v, 1);
    t.string_field(8, "u");
    graph.message_field(5, t);
  }
  graph.message_field(11, value_info("x", 1, {-1, 1, 5, 5}));
  graph.message_field(11, value_info("w", 1, {2, 2}));  // initializer listed as input (IR < 4)
  graph.message_field(12, value_info("y", 1, {-1, 2, 5, 5}));
  graph.message_field(13, value_info("tmp", 11, {1}));  // value_info with a DOUBLE type: ignored
  graph.int64_field(1000, 1);                           // unknown graph field
  auto g = parse(model_with(graph, 11));
  REQUIRE_MESSAGE(g.ok(), g.error().message);
  CHECK(g->name == "g");
  CHECK(g->opset == 11);
  REQUIRE(g->inputs.size() == 1);  // w is an initializer
  CHECK(g->inputs[0].name == "x");
  CHECK(g->inputs[0].shape == Shape{-1, 1, 5, 5});
  CHECK(g->outputs[0].shape == Shape{-1, 2, 5, 5});
  REQUIRE(g->nodes.size() == 1);
  const Node& n = g->nodes[0];
  CHECK(n.domain == "");
  CHECK(n.inputs == std::vector<std::string>{"x", "w", ""});
  CHECK(n.get_ints("pads") == std::vector<int64_t>{0, 1, 0, 1});
  CHECK(n.attrs.at("pads").kind == Attribute::Kind::Ints);
  CHECK(n.get_floats("fl") == std::vector<float>{0.5f, -2.0f});
  CHECK(n.attrs.at("alpha").kind == Attribute::Kind::Float);
  CHECK(n.get_float("alpha", 0) == 0.25f);
  const Tensor& w = g->initializers.at("w");
  CHECK(w.shape() == Shape{2, 2});
  CHECK(w.at<float>(3) == 4.0f);
  const Tensor& q = g->initializers.at("q");
  CHECK(q.dtype() == DType::i8);
  CHECK(q.at<int8_t>(0) == -128);
  CHECK(q.at<int8_t>(2) == 127);
  CHECK(g->initializers.at("i64").at<int64_t>(1) == INT64_MAX);
  const Tensor& b = g->initializers.at("b");
  CHECK(static_cast<const uint8_t*>(b.raw())[2] == 1);
  const Tensor& u = g->initializers.at("u");
  CHECK(u.rank() == 0);
  CHECK(u.at<uint8_t>(0) == 200);
}

TEST_CASE("onnx reader: unsupported features fail clearly") {
  auto one_node_graph = [](pb::Writer attr) {
    pb::Writer node;
    node.string_field(1, "x");
    node.string_field(2, "y");
    node.string_field(3, "branchy");
    node.string_field(4, "If");
    node.message_field(5, attr);
    pb::Writer graph;
    graph.message_field(1, node);
    graph.message_field(11, value_info("x", 9, {}));
    graph.message_field(12, value_info("y", 1, {1}));
    return graph;
  };
  {
    pb::Writer a;
    a.string_field(1, "then_branch");
    a.int32_field(20, 5);
    a.message_field(6, pb::Writer());
    auto g = parse(model_with(one_node_graph(a)));
    REQUIRE_FALSE(g.ok());
    CHECK(contains(g.error().message, "m.onnx: node #0 'branchy' (If): attribute 'then_branch': unsupported attribute type GRAPH"));
  }
  {
    pb::Writer a;
    a.string_field(1, "ts");
    a.int32_field(20, 9);
    auto g = parse(model_with(one_node_graph(a)));
    REQUIRE_FALSE(g.ok());
    CHECK(contains(g.error().message, "unsupported attribute type TENSORS"));
  }
  {
    pb::Writer graph;
    graph.message_field(11, value_info("x", 11, {2}));
    auto g = parse(model_with(graph));
    REQUIRE_FALSE(g.ok());
    CHECK(contains(g.error().message, "graph input 'x': unsupported data type DOUBLE (11)"));
  }
  {
    pb::Writer seq_type;
    seq_type.message_field(4, pb::Writer());
    pb::Writer v;
    v.string_field(1, "s");
    v.message_field(2, seq_type);
    pb::Writer graph;
    graph.message_field(12, v);
    auto g = parse(model_with(graph));
    REQUIRE_FALSE(g.ok());
    CHECK(contains(g.error().message, "graph output 's': unsupported type: sequence"));
  }
  {
    pb::Writer t;
    t.packed_int64_field(1, {2});
    t.int32_field(2, 1);
    pb::Writer ext;
    ext.string_field(1, "location");
    ext.string_field(2, "weights.bin");
    t.message_field(13, ext);
    t.int32_field(14, 1);
    t.string_field(8, "big");
    pb::Writer graph;
    graph.message_field(5, t);
    auto g = parse(model_with(graph));
    REQUIRE_FALSE(g.ok());
    CHECK(contains(g.error().message, "initializer #0: tensor 'big': unsupported external data"));
  }
  {
    pb::Writer t;
    t.packed_int64_field(1, {2});
    t.int32_field(2, 8);  // STRING
    t.string_field(6, "a");
    t.string_field(6, "b");
    pb::Writer graph;
    graph.message_field(5, t);
    CHECK(contains(parse(model_with(graph)).error().message, "unsupported data type STRING"));
  }
  {
    pb::Writer graph;
    graph.message_field(15, pb::Writer());
    CHECK(contains(parse(model_with(graph)).error().message, "unsupported sparse_initializer"));
  }
  {
    pb::Writer m;
    m.message_field(7, pb::Writer());
    m.message_field(25, pb::Writer());
    CHECK(contains(parse(m.bytes()).error().message, "unsupported model-local functions"));
  }
  CHECK(contains(parse({}).error().message, "m.onnx: model has no graph"));
}

TEST_CASE("onnx writer: round trip of a graph with every attribute kind and dtype") {
  Graph g = qforge::testing::sample_graph();
  REQUIRE(g.validate_and_sort().ok());
  std::string path = "/tmp/qforge_test_io_onnx_rt.onnx";
  auto st = save_onnx(path, g);
  REQUIRE_MESSAGE(st.ok(), st.error().message);
  auto back = load_onnx(path);
  REQUIRE_MESSAGE(back.ok(), back.error().message);
  CHECK(qforge::testing::graph_diff(g, *back) == "");
  // Second generation is byte-identical to the first.
  auto b1 = serialize_onnx(g);
  auto b2 = serialize_onnx(*back);
  REQUIRE(b1.ok());
  REQUIRE(b2.ok());
  CHECK(*b1 == *b2);
  if (!have_python_onnx()) {
    MESSAGE("skipped Python onnx checks: /usr/bin/python3 has no onnx");
  } else {
    std::string script = "/tmp/qforge_test_io_onnx_check.py";
    std::ofstream(script) << R"PY(
import sys, onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m)
init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
assert init["conv.w"].shape == (2, 1, 3, 3) and abs(float(init["conv.w"][1, 0, 2, 2]) - (17 / 7 - 1)) < 1e-6
assert init["i64"].tolist() == [-2**63, 2**63 - 1]
assert init["q8"].dtype == np.int8 and init["q8"].tolist() == [-128, 0, 127]
assert init["flag"].dtype == np.bool_ and init["flag"].tolist() == [False, True]
props = {p.key: p.value for p in m.metadata_props}
assert props["qforge.mean"] == "0.2860", props
assert [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim][1:] == [1, 4, 4]
conv = [n for n in m.graph.node if n.op_type == "Conv"][0]
assert [a for a in conv.attribute if a.name == "kernel_shape"][0].ints == [3, 3]
cst = [n for n in m.graph.node if n.op_type == "Constant"][0]
assert numpy_helper.to_array(cst.attribute[0].t).tolist() == [[1.5, -2.5], [np.float32(1e-30), np.float32(3e30)]]
print("ok")
)PY";
    std::string cmd = "/usr/bin/python3 " + script + " " + path;
    CHECK(std::system(cmd.c_str()) == 0);
    std::remove(script.c_str());
  }
  std::remove(path.c_str());
}

TEST_CASE("tensor proto files: save/load and validation") {
  std::string path = "/tmp/qforge_test_io_t.pb";
  Tensor t = Tensor::from_vector<int32_t>({2, 3}, {1, -2, 3, -4, 5, -6});
  REQUIRE(save_tensor_proto(path, t, "t").ok());
  auto back = load_tensor_proto(path);
  REQUIRE(back.ok());
  CHECK(qforge::testing::tensor_diff(t, *back) == "");
  pb::Writer bad;
  bad.packed_int64_field(1, {2, 3});
  bad.int32_field(2, 1);
  bad.string_field(8, "w");
  std::vector<uint8_t> raw(20);
  bad.bytes_field(9, raw.data(), raw.size());
  auto r = parse_tensor_proto(bad.bytes().data(), bad.size(), "w.pb");
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.error().message, "w.pb: tensor 'w': raw_data has 20 bytes but dims [2,3] of FLOAT need 24"));
  pb::Writer range;
  range.packed_int64_field(1, {1});
  range.int32_field(2, 2);  // UINT8
  range.packed_int64_field(5, {300});
  CHECK(contains(parse_tensor_proto(range.bytes().data(), range.size(), "r.pb").error().message,
                 "int32_data value 300 at index 0 is out of range for UINT8"));
  pb::Writer wrongfield;
  wrongfield.packed_int64_field(1, {1});
  wrongfield.int32_field(2, 1);
  wrongfield.packed_int64_field(7, {1});
  CHECK(contains(parse_tensor_proto(wrongfield.bytes().data(), wrongfield.size(), "x.pb").error().message,
                 "values in int64_data, which cannot hold FLOAT"));
  pb::Writer nodata;
  nodata.packed_int64_field(1, {4});
  nodata.int32_field(2, 1);
  CHECK(contains(parse_tensor_proto(nodata.bytes().data(), nodata.size(), "x.pb").error().message,
                 "has no data but dims [4] need 4 values"));
  std::remove(path.c_str());
}

// --- the ONNX test corpus -----------------------------------------------------------------------------------

TEST_CASE("onnx corpus: every test model loads or fails as unsupported; loaded ones round-trip") {
  REQUIRE_MESSAGE(fs::exists(kOnnxTestData), kOnnxTestData, " not installed (apt-get install libonnx-testdata)");
  std::vector<fs::path> models;
  for (auto& suite : fs::directory_iterator(kOnnxTestData)) {
    if (!suite.is_directory()) continue;
    for (auto& test : fs::directory_iterator(suite.path()))
      if (fs::exists(test.path() / "model.onnx")) models.push_back(test.path() / "model.onnx");
  }
  std::sort(models.begin(), models.end());
  REQUIRE(models.size() > 900);
  int loaded = 0, unsupported = 0, pb_loaded = 0, pb_unsupported = 0, roundtrip_ok = 0;
  std::vector<std::string> unclear;
  std::string outdir = "/tmp/qforge_test_io_onnx_corpus";
  fs::remove_all(outdir);
  fs::create_directories(outdir);
  std::ofstream list(outdir + "/list.txt");
  for (auto& path : models) {
    auto g = load_onnx(path.string());
    if (!g.ok()) {
      const std::string& m = g.error().message;
      if (contains(m, "unsupported") && contains(m, path.string())) ++unsupported;
      else unclear.push_back(m);
      continue;
    }
    ++loaded;
    // load → save → load is the identity.
    std::string name = path.parent_path().filename().string();
    std::string out = outdir + "/" + path.parent_path().parent_path().filename().string() + "__" + name + ".onnx";
    auto st = save_onnx(out, *g);
    REQUIRE_MESSAGE(st.ok(), st.error().message);
    auto again = load_onnx(out);
    REQUIRE_MESSAGE(again.ok(), again.error().message);
    std::string d = qforge::testing::graph_diff(*g, *again);
    CHECK_MESSAGE(d == "", path.string(), ": ", d);
    if (d.empty()) ++roundtrip_ok;
    list << out << "\n";
    // Test tensors: inputs/outputs match the declared graph inputs/outputs (dtype, known dims).
    fs::path data = path.parent_path() / "test_data_set_0";
    if (!fs::exists(data)) continue;
    for (int io = 0; io < 2; ++io) {
      const auto& decl = io == 0 ? g->inputs : g->outputs;
      for (size_t k = 0;; ++k) {
        fs::path pbf = data / ((io == 0 ? "input_" : "output_") + std::to_string(k) + ".pb");
        if (!fs::exists(pbf)) break;
        auto t = load_tensor_proto(pbf.string());
        if (!t.ok()) {
          if (contains(t.error().message, "unsupported")) ++pb_unsupported;
          else unclear.push_back(t.error().message);
          continue;
        }
        ++pb_loaded;
        if (k >= decl.size()) continue;
        CHECK_MESSAGE(t->dtype() == decl[k].dtype, pbf.string());
        if (decl[k].shape.size() == t->rank())
          for (size_t a = 0; a < t->rank(); ++a)
            if (decl[k].shape[a] >= 0) CHECK_MESSAGE(decl[k].shape[a] == t->dim(a), pbf.string());
      }
    }
  }
  list.close();
  for (auto& u : unclear) MESSAGE("unclear error: ", u);
  CHECK(unclear.empty());
  MESSAGE("ONNX test models: ", models.size(), " total, ", loaded, " loaded (", roundtrip_ok, " round-trip exact), ",
          unsupported, " unsupported; test tensors: ", pb_loaded, " loaded, ", pb_unsupported, " unsupported");
  CHECK(loaded > 700);
  // Everything qforge wrote passes the official checker.
  if (!have_python_onnx()) {
    MESSAGE("skipped Python onnx checker on the corpus: /usr/bin/python3 has no onnx");
  } else {
    std::string script = outdir + "/check.py";
    std::ofstream(script) << R"PY(
import sys, onnx
bad = 0
for line in open(sys.argv[1]):
    p = line.strip()
    try:
        onnx.checker.check_model(onnx.load(p))
    except Exception as e:
        bad += 1
        print("FAIL", p, str(e).splitlines()[0] if str(e) else type(e).__name__)
print("checked, failures:", bad)
sys.exit(1 if bad else 0)
)PY";
    std::string cmd = "/usr/bin/python3 " + script + " " + outdir + "/list.txt";
    CHECK(std::system(cmd.c_str()) == 0);
  }
  fs::remove_all(outdir);
}

TEST_CASE("onnx: shipped weights/*.onnx load and round-trip") {
  fs::path dir = fs::path(QFORGE_SOURCE_DIR) / "weights";
  int n = 0;
  if (fs::exists(dir))
    for (auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() != ".onnx") continue;
      auto g = load_onnx(e.path().string());
      REQUIRE_MESSAGE(g.ok(), g.error().message);
      CHECK(!g->nodes.empty());
      CHECK(!g->inputs.empty());
      auto bytes = serialize_onnx(*g);
      REQUIRE(bytes.ok());
      auto again = parse_onnx(bytes->data(), bytes->size(), "mem");
      REQUIRE(again.ok());
      CHECK_MESSAGE(qforge::testing::graph_diff(*g, *again) == "", e.path().string());
      ++n;
    }
  MESSAGE(n, " shipped ONNX model(s) checked");
}
