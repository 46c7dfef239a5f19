// The qforge tensor container: byte layout, round trips for every dtype, validation errors, Python interop.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "qforge/io/tensor_file.hpp"

using namespace qforge;

static bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

static TensorFile sample_file() {
  TensorFile f;
  f.metadata["qforge.kind"] = "test";
  f.metadata["note"] = "caf\xC3\xA9 \"quoted\"";
  std::vector<float> w(2 * 3 * 5);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i) * 0.5f - 3.0f;
  f.tensors["conv.weight"] = Tensor::from_vector<float>({2, 3, 5}, w);
  f.tensors["q"] = Tensor::from_vector<int8_t>({4}, {-128, -1, 0, 127});
  f.tensors["u"] = Tensor::from_vector<uint8_t>({3}, {0, 7, 255});
  f.tensors["i32"] = Tensor::from_vector<int32_t>({2}, {-2147483647 - 1, 123456789});
  f.tensors["i64"] = Tensor::from_vector<int64_t>({1, 2}, {INT64_MIN, INT64_MAX});
  Tensor mask(DType::boolean, {3});
  static_cast<uint8_t*>(mask.raw())[0] = 1;
  static_cast<uint8_t*>(mask.raw())[2] = 1;
  f.tensors["mask"] = mask;
  f.tensors["scalar"] = Tensor::scalar<float>(2.5f);
  f.tensors["empty"] = Tensor(DType::f32, {0, 4});
  return f;
}

static void check_equal(const TensorFile& a, const TensorFile& b) {
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (auto& kv : a.tensors) {
    auto it = b.tensors.find(kv.first);
    REQUIRE_MESSAGE(it != b.tensors.end(), kv.first);
    CHECK(it->second.dtype() == kv.second.dtype());
    CHECK(it->second.shape() == kv.second.shape());
    REQUIRE(it->second.nbytes() == kv.second.nbytes());
    CHECK(std::memcmp(it->second.raw(), kv.second.raw(), kv.second.nbytes()) == 0);
  }
}

TEST_CASE("tensor file layout: u64 header length, JSON header, 64-byte aligned packed data") {
  TensorFile f = sample_file();
  auto bytes = serialize_tensor_file(f);
  REQUIRE(bytes.ok());
  const auto& b = *bytes;
  uint64_t n = detail::read_u64_le(b.data());
  CHECK((8 + n) % 64 == 0);
  std::string header(b.begin() + 8, b.begin() + 8 + long(n));
  CHECK(header.front() == '{');
  auto j = Json::parse(header);
  REQUIRE(j.ok());
  const Json* meta = j->find("__metadata__");
  REQUIRE(meta);
  CHECK(meta->get_string("format").value() == "qforge");
  CHECK(meta->get_string("qforge.version").value() == "1.0");
  CHECK(meta->get_string("qforge.kind").value() == "test");
  const Json* w = j->find("conv.weight");
  REQUIRE(w);
  CHECK(w->get_string("dtype").value() == "F32");
  CHECK(w->find("shape")->dump() == "[2,3,5]");
  // Tensors in name order, packed: conv.weight(120) empty(0) i32(8) i64(16) mask(3) q(4) scalar(4) u(3)
  CHECK(w->find("data_offsets")->dump() == "[0,120]");
  CHECK(j->find("empty")->find("data_offsets")->dump() == "[120,120]");
  CHECK(j->find("i32")->find("data_offsets")->dump() == "[120,128]");
  CHECK(j->find("mask")->get_string("dtype").value() == "BOOL");
  CHECK(j->find("u")->find("data_offsets")->dump() == "[155,158]");
  CHECK(b.size() == 8 + n + 158);
  // First data bytes are conv.weight[0] = -3.0f little-endian.
  float first;
  std::memcpy(&first, b.data() + 8 + n, 4);
  CHECK(first == -3.0f);
  auto back = parse_tensor_file(b.data(), b.size(), "mem");
  REQUIRE(back.ok());
  check_equal(f, *back);
  CHECK(back->metadata.at("note") == f.metadata.at("note"));
  CHECK(back->metadata.at("format") == "qforge");
}

TEST_CASE("tensor file save/load round trip on disk, loaded tensors aligned") {
  std::string path = "/tmp/qforge_test_io_tf.qf";
  TensorFile f = sample_file();
  // A slice (view with an offset) is written as its own elements.
  Tensor big = Tensor::from_vector<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  f.tensors["slice"] = big.slice0(1, 3);
  REQUIRE(save_tensor_file(path, f).ok());
  auto back = load_tensor_file(path);
  REQUIRE(back.ok());
  check_equal(f, *back);
  CHECK(back->tensors.at("slice").at<float>(0) == 3.0f);
  for (auto& kv : back->tensors) CHECK(reinterpret_cast<uintptr_t>(kv.second.raw()) % 64 == 0);
  CHECK(back->metadata.at("qforge.kind") == "test");
  // The writer owns format/version even if the caller sets them.
  f.metadata["qforge.version"] = "7.0";
  REQUIRE(save_tensor_file(path, f).ok());
  CHECK(load_tensor_file(path)->metadata.at("qforge.version") == "1.0");
  std::remove(path.c_str());
}

static std::string header_bytes(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int k = 0; k < 8; ++k) out[k] = char(uint8_t(n >> (8 * k)));
  return out + json + data;
}

static std::string parse_err(const std::string& bytes) {
  auto r = parse_tensor_file(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.qf");
  return r.ok() ? "<ok>" : r.error().message;
}

TEST_CASE("tensor file validation errors name the file, tensor and field") {
  std::string d8(8, '\0');
  // Valid baseline: plain safetensors (no qforge metadata) with unknown keys is accepted.
  CHECK(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", d8)) == "<ok>");
  CHECK(parse_err(header_bytes(R"({"__metadata__":{"format":"other"},"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})", d8)) == "<ok>");
  CHECK(contains(parse_err("abc"), "t.qf: file is 3 bytes, too short"));
  {
    std::string b = header_bytes("{}", "");
    b[0] = 100;
    CHECK(contains(parse_err(b), "t.qf: header length 100 runs past the end of the 10-byte file"));
    b[7] = char(0x80);
    CHECK(contains(parse_err(b), "is more than the limit"));
  }
  CHECK(contains(parse_err(header_bytes("{\"a\":", "")), "t.qf: header: JSON error at byte 5"));
  CHECK(contains(parse_err(header_bytes("[]", "")), "header: must be a JSON object"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8)),
                 "duplicate key 'a'"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})", d8)),
                 "tensor 'a': unsupported dtype 'F16'"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,8]}})", d8)),
                 "tensor 'a': unknown dtype 'Q4'"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"shape":[4],"data_offsets":[0,8]}})", d8)),
                 "tensor 'a': missing key 'dtype'"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8)),
                 "tensor 'a': negative dimension -2"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", d8)),
                 "tensor 'a': shape [4294967296,4294967296] has more than"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}})", d8)),
                 "'shape' entries must be integers"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8)),
                 "tensor 'a': data_offsets [0,8] span 8 bytes but F32 [3] needs 12"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d8)),
                 "reach past the data section of 8 bytes"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", d8)),
                 "end before they begin"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,-8]}})", d8)),
                 "must be non-negative integers"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})", d8)),
                 "overlap tensor 'a'"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8)),
                 "hole of 4 bytes in the data section before tensor 'a'"));
  CHECK(contains(parse_err(header_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d8)),
                 "4 bytes after the last tensor"));
  CHECK(contains(parse_err(header_bytes(R"({"__metadata__":{"k":1}})", "")), "__metadata__ must map strings to strings; 'k'"));
  CHECK(contains(parse_err(header_bytes(R"({"__metadata__":{"qforge.version":"2.0"}})", "")),
                 "t.qf: unsupported qforge container version '2.0' (this reader reads 1.x"));
  CHECK(parse_err(header_bytes(R"({"__metadata__":{"qforge.version":"1.7","future":"x"}})", "")) == "<ok>");
  CHECK(contains(parse_err(header_bytes(R"({"__metadata__":{"qforge.version":"v1"}})", "")), "malformed qforge.version"));
  // Writer-side checks.
  TensorFile bad;
  bad.tensors["x"] = Tensor();
  auto st = save_tensor_file("/tmp/qforge_test_io_bad.qf", bad);
  REQUIRE_FALSE(st.ok());
  CHECK(contains(st.error().message, "/tmp/qforge_test_io_bad.qf: tensor 'x' has no storage"));
  bad.tensors.clear();
  bad.metadata["k"] = "\xff";
  CHECK(contains(save_tensor_file("/tmp/qforge_test_io_bad.qf", bad).error().message, "not valid UTF-8"));
  auto missing = load_tensor_file("/tmp/qforge_definitely_missing.qf");
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.error().message, "cannot open '/tmp/qforge_definitely_missing.qf'"));
}

TEST_CASE("tensor file interop with an independent numpy reader and writer") {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    MESSAGE("skipped: /usr/bin/python3 with numpy not available");
    return;
  }
  std::string qf = "/tmp/qforge_test_io_py.qf";
  std::string py_out = "/tmp/qforge_test_io_py_out.qf";
  std::string script = "/tmp/qforge_test_io_py.py";
  std::string report = "/tmp/qforge_test_io_py.txt";
  REQUIRE(save_tensor_file(qf, sample_file()).ok());
  {
    std::ofstream s(script);
    s << R"PY(
import json, struct, sys
import numpy as np
DT = {"F32": np.float32, "I8": np.int8, "U8": np.uint8, "I32": np.int32, "I64": np.int64, "BOOL": np.bool_}
def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n].decode("utf-8"))
    meta = h.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for k, v in h.items():
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b[base + s:base + e], dtype=DT[v["dtype"]]).reshape(v["shape"])
    return meta, out, base
meta, t, base = read(sys.argv[1])
with open(sys.argv[3], "w") as r:
    r.write("base%%64=%d\n" % (base % 64))
    r.write("meta=%s,%s,%s\n" % (meta["format"], meta["qforge.version"], meta["note"].encode("utf-8").hex()))
    for k in sorted(t):
        a = t[k]
        r.write("%s %s %s %s\n" % (k, a.dtype, list(a.shape), repr(a.astype(np.float64).sum()) if a.size else "-"))
# write a file the way another tool would: 8-byte padding only, tensors in non-name order
tensors = {"z.w": np.arange(6, dtype=np.float32).reshape(2, 3) / 4, "a.b": np.array([-5, 9], dtype=np.int64)}
hdr = {"__metadata__": {"format": "qforge", "qforge.version": "1.0", "qforge.kind": "py"}}
data = b""
for k, v in tensors.items():
    hdr[k] = {"dtype": {np.float32: "F32", np.int64: "I64"}[v.dtype.type], "shape": list(v.shape),
              "data_offsets": [len(data), len(data) + v.nbytes]}
    data += v.tobytes()
hb = json.dumps(hdr).encode()
hb += b" " * ((8 - len(hb) % 8) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb + data)
)PY";
  }
  std::string cmd = "/usr/bin/python3 " + script + " " + qf + " " + py_out + " " + report;
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream r(report);
  std::string text((std::istreambuf_iterator<char>(r)), std::istreambuf_iterator<char>());
  CHECK(contains(text, "base%64=0\n"));
  CHECK(contains(text, "meta=qforge,1.0,636166c3a9202271756f74656422\n"));
  // conv.weight: sum over i of (0.5 i - 3), i < 30 = 0.5*435 - 90 = 127.5
  CHECK(contains(text, "conv.weight float32 [2, 3, 5] 127.5\n"));
  CHECK(contains(text, "q int8 [4] -2.0\n"));
  CHECK(contains(text, "u uint8 [3] 262.0\n"));
  CHECK(contains(text, "i32 int32 [2] -2024026859.0\n"));
  CHECK(contains(text, "mask bool [3] 2.0\n"));
  CHECK(contains(text, "scalar float32 [] 2.5\n"));
  CHECK(contains(text, "empty float32 [0, 4] -\n"));
  auto back = load_tensor_file(py_out);
  REQUIRE(back.ok());
  CHECK(back->metadata.at("qforge.kind") == "py");
  const Tensor& zw = back->tensors.at("z.w");
  CHECK(zw.shape() == Shape{2, 3});
  CHECK(zw.at<float>(5) == 1.25f);
  CHECK(back->tensors.at("a.b").at<int64_t>(0) == -5);
  CHECK(back->tensors.at("a.b").at<int64_t>(1) == 9);
  for (auto* p : {&qf, &py_out, &script, &report}) std::remove(p->c_str());
}
