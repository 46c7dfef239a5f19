// Helpers shared by the io tests: exact Graph/Tensor comparison with a readable first difference.
#pragma once
#include <cstring>
#include <string>

#include "qforge/graph/ir.hpp"

namespace qforge::testing {

inline bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// "" if equal (dtype, shape, bytes), else what differs.
inline std::string tensor_diff(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return "defined differs";
  if (!a.defined()) return "";
  if (a.dtype() != b.dtype()) return std::string("dtype ") + dtype_name(a.dtype()) + " vs " + dtype_name(b.dtype());
  if (a.shape() != b.shape()) return "shape " + shape_str(a.shape()) + " vs " + shape_str(b.shape());
  if (a.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) != 0) return "bytes differ";
  return "";
}

inline std::string attr_diff(const Attribute& a, const Attribute& b) {
  if (a.kind != b.kind) return "kind differs";
  auto fbits = [](float x) { uint32_t u; std::memcpy(&u, &x, 4); return u; };
  switch (a.kind) {
    case Attribute::Kind::Float: return fbits(a.f) == fbits(b.f) ? "" : "float differs";
    case Attribute::Kind::Int: return a.i == b.i ? "" : "int differs";
    case Attribute::Kind::String: return a.s == b.s ? "" : "string differs";
    case Attribute::Kind::Tensor: return tensor_diff(a.t, b.t);
    case Attribute::Kind::Floats:
      if (a.floats.size() != b.floats.size()) return "floats size differs";
      for (size_t k = 0; k < a.floats.size(); ++k) if (fbits(a.floats[k]) != fbits(b.floats[k])) return "floats differ";
      return "";
    case Attribute::Kind::Ints: return a.ints == b.ints ? "" : "ints differ";
    case Attribute::Kind::Strings: return a.strings == b.strings ? "" : "strings differ";
  }
  return "";
}

inline std::string vi_diff(const std::vector<ValueInfo>& a, const std::vector<ValueInfo>& b, const char* what) {
  if (a.size() != b.size()) return std::string(what) + " count " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k].name != b[k].name) return std::string(what) + " name '" + a[k].name + "' vs '" + b[k].name + "'";
    if (a[k].dtype != b[k].dtype) return std::string(what) + " '" + a[k].name + "' dtype differs";
    if (a[k].shape != b[k].shape)
      return std::string(what) + " '" + a[k].name + "' shape " + shape_str(a[k].shape) + " vs " + shape_str(b[k].shape);
  }
  return "";
}

// "" if the graphs are identical in every field the IR holds.
inline std::string graph_diff(const Graph& a, const Graph& b) {
  if (a.name != b.name) return "name '" + a.name + "' vs '" + b.name + "'";
  if (a.producer != b.producer) return "producer differs";
  if (a.opset != b.opset) return "opset " + std::to_string(a.opset) + " vs " + std::to_string(b.opset);
  if (a.metadata != b.metadata) return "metadata differs";
  auto d = vi_diff(a.inputs, b.inputs, "input");
  if (!d.empty()) return d;
  d = vi_diff(a.outputs, b.outputs, "output");
  if (!d.empty()) return d;
  if (a.initializers.size() != b.initializers.size()) return "initializer count differs";
  for (auto& kv : a.initializers) {
    auto it = b.initializers.find(kv.first);
    if (it == b.initializers.end()) return "initializer '" + kv.first + "' missing";
    d = tensor_diff(kv.second, it->second);
    if (!d.empty()) return "initializer '" + kv.first + "': " + d;
  }
  if (a.nodes.size() != b.nodes.size()) return "node count differs";
  for (size_t k = 0; k < a.nodes.size(); ++k) {
    const Node& x = a.nodes[k];
    const Node& y = b.nodes[k];
    std::string where = "node #" + std::to_string(k) + " " + x.label();
    if (x.name != y.name || x.op_type != y.op_type || x.domain != y.domain) return where + ": name/op/domain differ";
    if (x.inputs != y.inputs) return where + ": inputs differ";
    if (x.outputs != y.outputs) return where + ": outputs differ";
    if (x.attrs.size() != y.attrs.size()) return where + ": attribute count differs";
    for (auto& kv : x.attrs) {
      auto it = y.attrs.find(kv.first);
      if (it == y.attrs.end()) return where + ": attribute '" + kv.first + "' missing";
      d = attr_diff(kv.second, it->second);
      if (!d.empty()) return where + ": attribute '" + kv.first + "': " + d;
    }
  }
  return "";
}

// A small graph that uses every attribute kind, every dtype and metadata (Conv → Relu → Flatten → Gemm).
inline Graph sample_graph() {
  Graph g;
  g.name = "sample";
  g.producer = "qforge-test";
  g.opset = 13;
  g.metadata["qforge.mean"] = "0.2860";
  g.metadata["qforge.std"] = "0.3530";
  g.inputs.push_back({"x", DType::f32, {-1, 1, 4, 4}});
  g.outputs.push_back({"y", DType::f32, {-1, 3}});
  std::vector<float> w(2 * 1 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i) / 7.0f - 1.0f;
  g.initializers["conv.w"] = Tensor::from_vector<float>({2, 1, 3, 3}, w);
  g.initializers["conv.b"] = Tensor::from_vector<float>({2}, {0.5f, -0.25f});
  std::vector<float> fw(3 * 8);
  for (size_t i = 0; i < fw.size(); ++i) fw[i] = float(i % 5) * 0.125f;
  g.initializers["fc.w"] = Tensor::from_vector<float>({3, 8}, fw);
  g.initializers["fc.b"] = Tensor::from_vector<float>({3}, {1, 2, 3});
  g.initializers["q8"] = Tensor::from_vector<int8_t>({3}, {-128, 0, 127});
  g.initializers["u8"] = Tensor::from_vector<uint8_t>({2}, {0, 255});
  g.initializers["i32"] = Tensor::from_vector<int32_t>({2}, {-7, 1 << 30});
  g.initializers["i64"] = Tensor::from_vector<int64_t>({2}, {INT64_MIN, INT64_MAX});
  Tensor flag(DType::boolean, {2});
  static_cast<uint8_t*>(flag.raw())[1] = 1;
  g.initializers["flag"] = flag;
  Node conv;
  conv.name = "conv1";
  conv.op_type = "Conv";
  conv.inputs = {"x", "conv.w", "conv.b"};
  conv.outputs = {"c"};
  conv.attrs["kernel_shape"] = Attribute::make_ints({3, 3});
  conv.attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
  conv.attrs["strides"] = Attribute::make_ints({2, 2});
  conv.attrs["auto_pad"] = Attribute::make_string("NOTSET");
  Node relu;
  relu.name = "relu1";
  relu.op_type = "LeakyRelu";
  relu.inputs = {"c"};
  relu.outputs = {"r"};
  relu.attrs["alpha"] = Attribute::make_float(0.1f);
  Node flat;
  flat.op_type = "Flatten";  // unnamed node
  flat.inputs = {"r"};
  flat.outputs = {"f"};
  flat.attrs["axis"] = Attribute::make_int(1);
  Node gemm;
  gemm.name = "fc";
  gemm.op_type = "Gemm";
  gemm.inputs = {"f", "fc.w", "fc.b"};
  gemm.outputs = {"y"};
  gemm.attrs["transB"] = Attribute::make_int(1);
  gemm.attrs["alpha"] = Attribute::make_float(1.0f);
  Node cst;
  cst.name = "const";
  cst.op_type = "Constant";
  cst.outputs = {"k"};
  cst.attrs["value"] = Attribute::make_tensor(Tensor::from_vector<float>({2, 2}, {1.5f, -2.5f, 1e-30f, 3e30f}));
  Node extra;
  extra.name = "strs";
  extra.op_type = "Custom";  // custom domain: the ONNX checker skips its attributes
  extra.domain = "com.qforge.test";
  extra.inputs = {"k"};
  extra.outputs = {"k2"};
  Attribute s;
  s.kind = Attribute::Kind::Strings;
  s.strings = {"a", "", "caf\xC3\xA9"};
  extra.attrs["names"] = s;
  extra.attrs["scales"] = Attribute::make_floats({0.5f, -1e-3f, 7.0f});
  extra.attrs["neg"] = Attribute::make_ints({-1, INT64_MAX, INT64_MIN});
  g.nodes = {conv, relu, flat, gemm, cst, extra};
  return g;
}

}  // namespace qforge::testing
