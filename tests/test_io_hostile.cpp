// Hostile input: every prefix of valid files, byte mutations, and crafted bad ONNX / container / JSON files.
// Each must fail cleanly (no crash, no huge allocation) with an error that says what is wrong.
// Set QFORGE_WRITE_BAD_DIR=<dir> to (re)write the crafted cases as files (tests/data/bad/ holds them, with
// expected.txt mapping file -> expected error substring); the last test checks those files through the file APIs.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "qforge/io/model_file.hpp"
#include "test_io_common.hpp"

using namespace qforge;
using qforge::testing::contains;
namespace fs = std::filesystem;

using Bytes = std::vector<uint8_t>;

static Bytes onnx_bytes(const Graph& g) {
  auto b = serialize_onnx(g);
  REQUIRE(b.ok());
  return *b;
}

static Graph tiny_graph() {
  // Small but complete: initializer, attributes, metadata, two nodes.
  Graph g;
  g.name = "tiny";
  g.opset = 13;
  g.metadata["qforge.mean"] = "0.5";
  g.inputs.push_back({"x", DType::f32, {-1, 2}});
  g.outputs.push_back({"y", DType::f32, {-1, 2}});
  g.initializers["s"] = Tensor::from_vector<float>({2}, {2.0f, -1.0f});
  Node mul;
  mul.name = "mul";
  mul.op_type = "Mul";
  mul.inputs = {"x", "s"};
  mul.outputs = {"m"};
  Node clip;
  clip.name = "clip";
  clip.op_type = "LeakyRelu";
  clip.inputs = {"m"};
  clip.outputs = {"y"};
  clip.attrs["alpha"] = Attribute::make_float(0.2f);
  g.nodes = {mul, clip};
  return g;
}

static std::string onnx_error(const Bytes& b) {
  auto r = parse_onnx(b.data(), b.size(), "bad.onnx");
  return r.ok() ? std::string("<ok>") : r.error().message;
}

static std::string container_error(const Bytes& b) {
  auto r = parse_tensor_file(b.data(), b.size(), "bad.qf");
  return r.ok() ? std::string("<ok>") : r.error().message;
}

TEST_CASE("hostile: every strict prefix of a valid ONNX model fails cleanly") {
  Bytes full = onnx_bytes(tiny_graph());
  REQUIRE(onnx_error(full) == "<ok>");
  for (size_t n = 0; n < full.size(); ++n) {
    Bytes prefix(full.begin(), full.begin() + long(n));
    std::string e = onnx_error(prefix);
    CHECK_MESSAGE(e != "<ok>", "prefix of ", n, " bytes loaded");
    CHECK_MESSAGE(contains(e, "bad.onnx: "), e);
  }
  MESSAGE("checked ", full.size(), " ONNX prefixes");
}

TEST_CASE("hostile: every strict prefix of a container and of a .qf model fails cleanly") {
  TensorFile f;
  f.metadata["k"] = "v";
  f.tensors["a"] = Tensor::from_vector<float>({3}, {1, 2, 3});
  f.tensors["b"] = Tensor::from_vector<int64_t>({2}, {4, 5});
  auto full = serialize_tensor_file(f);
  REQUIRE(full.ok());
  auto model = model_to_tensor_file(tiny_graph());
  REQUIRE(model.ok());
  auto full_model = serialize_tensor_file(*model);
  REQUIRE(full_model.ok());
  for (const Bytes* b : {&*full, &*full_model}) {
    REQUIRE(container_error(*b) == "<ok>");
    for (size_t n = 0; n < b->size(); ++n) {
      Bytes prefix(b->begin(), b->begin() + long(n));
      std::string e = container_error(prefix);
      CHECK_MESSAGE(e != "<ok>", "prefix of ", n, " bytes loaded");
      CHECK_MESSAGE(contains(e, "bad.qf: "), e);
    }
  }
  // The streaming file loader agrees on a few truncations.
  std::string path = "/tmp/qforge_test_io_trunc.qf";
  for (size_t n : {size_t(0), size_t(7), size_t(8), size_t(40), full->size() - 1}) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(full->data()), long(n));
    auto r = load_tensor_file(path);
    REQUIRE_FALSE(r.ok());
    CHECK(contains(r.error().message, path));
  }
  std::remove(path.c_str());
}

TEST_CASE("hostile: single-byte mutations of valid files never crash") {
  // Every byte replaced by a few interesting values: results may load or fail, but must not crash, hang or
  // allocate absurdly (AddressSanitizer/UBSan builds check the rest).
  Bytes onnx = onnx_bytes(tiny_graph());
  auto model = model_to_tensor_file(tiny_graph());
  REQUIRE(model.ok());
  auto qf = serialize_tensor_file(*model);
  REQUIRE(qf.ok());
  const uint8_t values[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, '"', '{', ']'};
  int loaded = 0, failed = 0;
  for (int which = 0; which < 2; ++which) {
    const Bytes& base = which == 0 ? onnx : *qf;
    for (size_t i = 0; i < base.size(); ++i)
      for (uint8_t v : values) {
        if (base[i] == v) continue;
        Bytes m = base;
        m[i] = v;
        bool ok = which == 0 ? parse_onnx(m.data(), m.size(), "m").ok()
                             : [&] {
                                 auto f = parse_tensor_file(m.data(), m.size(), "m");
                                 return f.ok() && model_from_tensor_file(*f).ok();
                               }();
        (ok ? loaded : failed)++;
      }
  }
  MESSAGE("mutations: ", loaded, " still loaded, ", failed, " failed cleanly");
  CHECK(failed > 0);
}

// ---- crafted cases --------------------------------------------------------------------------------------------

struct BadCase {
  std::string file;      // name under tests/data/bad/
  Bytes bytes;
  std::string expected;  // substring of the error
};

static Bytes value_info_bytes(const std::string& name, std::vector<int64_t> dims) {
  pb::Writer shape;
  for (auto d : dims) {
    pb::Writer dim;
    dim.int64_field(1, d);
    shape.message_field(1, dim);
  }
  pb::Writer tt;
  tt.int32_field(1, 1);
  tt.message_field(2, shape);
  pb::Writer type;
  type.message_field(1, tt);
  pb::Writer v;
  v.string_field(1, name);
  v.message_field(2, type);
  return v.bytes();
}

static pb::Writer raw_message(const Bytes& b) {
  pb::Writer w;
  w.bytes() = b;
  return w;
}

static Bytes model_around(const pb::Writer& graph) {
  pb::Writer m;
  m.int64_field(1, 8);
  pb::Writer op;
  op.string_field(1, "");
  op.int64_field(2, 13);
  m.message_field(8, op);
  m.message_field(7, graph);
  return m.bytes();
}

static Bytes model_with_initializer(const pb::Writer& tensor) {
  pb::Writer g;
  g.string_field(2, "g");
  g.message_field(5, tensor);
  return model_around(g);
}

static pb::Writer tensor_proto(std::vector<int64_t> dims, int type, size_t raw_bytes) {
  pb::Writer t;
  for (auto d : dims) t.int64_field(1, d);
  t.int32_field(2, type);
  t.string_field(8, "w");
  Bytes raw(raw_bytes, 0);
  t.bytes_field(9, raw.data(), raw.size());
  return t;
}

static Bytes node_graph(std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> nodes) {
  pb::Writer g;
  int k = 0;
  for (auto& n : nodes) {
    pb::Writer node;
    for (auto& i : n.first) node.string_field(1, i);
    for (auto& o : n.second) node.string_field(2, o);
    node.string_field(3, "n" + std::to_string(k++));
    node.string_field(4, "Relu");
    g.message_field(1, node);
  }
  g.string_field(2, "g");
  g.message_field(11, raw_message(value_info_bytes("x", {1})));
  g.message_field(12, raw_message(value_info_bytes("y", {1})));
  return model_around(g);
}

static Bytes container_with_header(const std::string& json, size_t data_bytes) {
  Bytes b(8 + json.size() + data_bytes, 0);
  uint64_t n = json.size();
  for (int k = 0; k < 8; ++k) b[k] = uint8_t(n >> (8 * k));
  if (!json.empty()) std::memcpy(b.data() + 8, json.data(), json.size());
  return b;
}

static std::vector<BadCase> onnx_cases() {
  std::vector<BadCase> c;
  {
    Bytes b = {0x08};
    for (int k = 0; k < 10; ++k) b.push_back(0xFF);
    b.push_back(0x01);  // 11-byte varint for ir_version
    c.push_back({"varint_11_bytes.onnx", b, "varint longer than 10 bytes"});
  }
  {
    Bytes b = {0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x0A};  // graph: length 2^32-1, 1 byte present
    c.push_back({"length_past_end.onnx", b, "field 7 has length 4294967295 but only 1 bytes remain"});
  }
  c.push_back({"huge_dims.onnx", model_with_initializer(tensor_proto({int64_t(1) << 40, int64_t(1) << 40}, 1, 0)),
               "tensor 'w': shape [1099511627776,1099511627776] has more than 4294967296 elements"});
  c.push_back({"negative_dims.onnx", model_with_initializer(tensor_proto({4, -3}, 1, 0)),
               "tensor 'w': negative dimension -3 at axis 1"});
  c.push_back({"overflow_dims.onnx",
               model_with_initializer(tensor_proto({int64_t(1) << 32, int64_t(1) << 32, int64_t(1) << 32}, 1, 0)),
               "has more than 4294967296 elements"});
  c.push_back({"wrong_dtype.onnx", model_with_initializer(tensor_proto({2}, 99, 8)), "unknown data type 99"});
  c.push_back({"dtype_undefined.onnx", model_with_initializer(tensor_proto({2}, 0, 8)), "data type is UNDEFINED"});
  c.push_back({"raw_size_mismatch.onnx", model_with_initializer(tensor_proto({2, 3}, 1, 20)),
               "tensor 'w': raw_data has 20 bytes but dims [2,3] of FLOAT need 24"});
  c.push_back({"input_never_produced.onnx", node_graph({{{"ghost"}, {"y"}}}),
               "node 'n0' (Relu): input 'ghost' is never produced"});
  c.push_back({"cycle.onnx", node_graph({{{"b"}, {"a"}}, {{"a"}, {"b"}}, {{"x"}, {"y"}}}), "is part of a cycle"});
  c.push_back({"produced_twice.onnx", node_graph({{{"x"}, {"y"}}, {{"x"}, {"y"}}}), "value 'y' is produced more than once"});
  {
    pb::Writer g;
    g.string_field(2, "g");
    g.message_field(11, raw_message(value_info_bytes("x", {-5})));
    c.push_back({"negative_dim_value.onnx", model_around(g), "graph input: negative dim_value -5 at axis 0"});
  }
  {
    Bytes b = {0x0F};  // wire type 7
    c.push_back({"bad_wire_type.onnx", b, "invalid wire type 7 for field 1"});
  }
  {
    pb::Writer g;
    g.string_field(2, "g");
    g.tag(3, pb::kStartGroup);  // unterminated group inside the graph
    c.push_back({"open_group.onnx", model_around(g), "group field 3 is not closed"});
  }
  {
    pb::Writer t;
    t.packed_int64_field(1, {3});
    t.int32_field(2, 1);
    t.string_field(8, "w");
    Bytes odd = {1, 2, 3, 4, 5, 6};  // packed float_data with 6 bytes
    t.bytes_field(4, odd.data(), odd.size());
    c.push_back({"packed_floats_ragged.onnx", model_with_initializer(t), "packed field 'float_data' has 6 bytes"});
  }
  {
    pb::Writer t;
    t.packed_int64_field(1, {1});
    t.int32_field(2, 1);
    t.string_field(8, "w");
    t.int64_field(9, 5);  // raw_data with varint wire type
    c.push_back({"raw_data_wrong_wire.onnx", model_with_initializer(t),
                 "field 'raw_data' (9) has wire type varint, expected length-delimited"});
  }
  {
    pb::Writer t;
    std::vector<int64_t> dims(100, 1);
    t.packed_int64_field(1, dims);
    t.int32_field(2, 1);
    t.string_field(8, "w");
    c.push_back({"rank_100.onnx", model_with_initializer(t), "rank 100 is more than 64"});
  }
  c.push_back({"empty.onnx", {}, "model has no graph"});
  return c;
}

static std::vector<BadCase> container_cases() {
  std::vector<BadCase> c;
  c.push_back({"too_short.qf", {1, 2, 3}, "file is 3 bytes, too short"});
  {
    Bytes b = container_with_header("{}", 0);
    b[0] = 0xFF;
    c.push_back({"header_past_end.qf", b, "header length 255 runs past the end of the 10-byte file"});
  }
  {
    Bytes b = container_with_header("{}", 0);
    for (int k = 0; k < 8; ++k) b[k] = 0xFF;
    c.push_back({"header_huge.qf", b, "header length 18446744073709551615 is more than the limit"});
  }
  c.push_back({"bad_json.qf", container_with_header("{\"a\": {\"dtype\": \"F32\",}}", 0), "header: JSON error at byte 22"});
  c.push_back({"not_object.qf", container_with_header("[1,2]", 0), "header: must be a JSON object"});
  c.push_back({"unknown_major.qf",
               container_with_header(R"({"__metadata__":{"format":"qforge","qforge.version":"2.1"}})", 0),
               "unsupported qforge container version '2.1'"});
  c.push_back({"duplicate_name.qf",
               container_with_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2),
               "duplicate key 'a'"});
  c.push_back({"size_mismatch.qf", container_with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               "tensor 'a': data_offsets [0,8] span 8 bytes but F32 [3] needs 12"});
  c.push_back({"offsets_past_end.qf",
               container_with_header(R"({"a":{"dtype":"U8","shape":[1000000],"data_offsets":[0,1000000]}})", 4),
               "reach past the data section of 4 bytes"});
  c.push_back({"huge_shape.qf",
               container_with_header(R"({"a":{"dtype":"F32","shape":[65536,65536,65536],"data_offsets":[0,4]}})", 4),
               "has more than 4294967296 elements"});
  c.push_back({"negative_shape.qf",
               container_with_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               "tensor 'a': negative dimension -1"});
  c.push_back({"overlap.qf",
               container_with_header(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", 3),
               "overlap tensor 'a'"});
  c.push_back({"hole.qf", container_with_header(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4),
               "hole of 2 bytes in the data section before tensor 'a'"});
  c.push_back({"wrong_dtype.qf", container_with_header(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8),
               "tensor 'a': unsupported dtype 'F64'"});
  c.push_back({"deep_json.qf", container_with_header(std::string(5000, '[') + std::string(5000, ']'), 0),
               "nesting deeper than 128 levels"});
  {
    // A graph container whose graph JSON has a cycle.
    std::string graph = R"({"opset":13,"nodes":[{"op":"Relu","inputs":["b"],"outputs":["a"]},{"op":"Relu","inputs":["a"],"outputs":["b"]}]})";
    Json meta = Json::object();
    meta.set("qforge.kind", "graph");
    meta.set("qforge.graph", graph);
    Json h = Json::object();
    h.set("__metadata__", meta);
    c.push_back({"graph_cycle.qf", container_with_header(h.dump(), 0), "qforge.graph: node '' (Relu): input 'b' is part of a cycle"});
  }
  return c;
}

TEST_CASE("hostile: crafted ONNX files give clear errors") {
  for (auto& c : onnx_cases()) {
    std::string e = onnx_error(c.bytes);
    CHECK_MESSAGE(contains(e, c.expected), c.file, ": got '", e, "'");
    CHECK_MESSAGE(contains(e, "bad.onnx: "), c.file);
  }
}

TEST_CASE("hostile: crafted containers give clear errors") {
  for (auto& c : container_cases()) {
    std::string e = container_error(c.bytes);
    if (e == "<ok>") {  // graph-level problems show when the graph is read
      auto f = parse_tensor_file(c.bytes.data(), c.bytes.size(), "bad.qf");
      e = model_from_tensor_file(*f).error().message;
    }
    CHECK_MESSAGE(contains(e, c.expected), c.file, ": got '", e, "'");
  }
}

TEST_CASE("hostile: the committed files in tests/data/bad fail through the file APIs and the CLI") {
  fs::path dir = fs::path(QFORGE_SOURCE_DIR) / "tests" / "data" / "bad";
  if (const char* w = std::getenv("QFORGE_WRITE_BAD_DIR")) {
    fs::create_directories(w);
    std::ofstream manifest(fs::path(w) / "expected.txt");
    manifest << "# file<TAB>substring of the error qforge must report (written by tests/test_io_hostile.cpp)\n";
    for (auto* cases : {new std::vector<BadCase>(onnx_cases()), new std::vector<BadCase>(container_cases())}) {
      for (auto& c : *cases) {
        std::ofstream(fs::path(w) / c.file, std::ios::binary)
            .write(reinterpret_cast<const char*>(c.bytes.data()), long(c.bytes.size()));
        manifest << c.file << "\t" << c.expected << "\n";
      }
      delete cases;
    }
    MESSAGE("wrote hostile files to ", std::string(w));
  }
  std::ifstream manifest(dir / "expected.txt");
  REQUIRE_MESSAGE(manifest.good(), "missing ", (dir / "expected.txt").string());
  std::string line;
  int n = 0, cli_runs = 0;
  while (std::getline(manifest, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto tab = line.find('\t');
    REQUIRE(tab != std::string::npos);
    std::string file = line.substr(0, tab), expected = line.substr(tab + 1);
    std::string path = (dir / file).string();
    std::string e;
    if (file.size() > 5 && file.substr(file.size() - 5) == ".onnx") {
      auto r = load_onnx(path);
      e = r.ok() ? "<ok>" : r.error().message;
    } else {
      auto r = load_tensor_file(path);
      if (!r.ok()) e = r.error().message;
      else {
        auto g = load_model(path);
        e = g.ok() ? "<ok>" : g.error().message;
      }
    }
    CHECK_MESSAGE(contains(e, expected), file, ": got '", e, "'");
    CHECK_MESSAGE(contains(e, path), file, ": error does not name the file: ", e);
    ++n;
#ifdef QFORGE_EXE
    if (fs::exists(QFORGE_EXE)) {
      std::string cmd = std::string(QFORGE_EXE) + " info '" + path + "' > /dev/null 2>&1";
      int r = std::system(cmd.c_str());
      CHECK_MESSAGE((WIFEXITED(r) && WEXITSTATUS(r) == 1), "qforge info ", file, " -> status ", r);
      ++cli_runs;
    }
#endif
  }
  MESSAGE(n, " hostile files checked (", cli_runs, " through qforge info)");
  CHECK(n >= 30);
}
