// qforge/io/model_file.hpp — a Graph stored in the qforge tensor container (.qf), and format-agnostic loading.
//
// Contract:
// - save_model writes a TensorFile whose metadata holds "qforge.kind":"graph" and "qforge.graph": the graph
//   structure as compact JSON (schema below, documented in docs/formats.md); its tensors are the initializers
//   (under their own names) and every TENSOR attribute (under a generated name the JSON refers to).
// - load_model reads it back exactly (load → save → load is the identity) and validates + topo-sorts the graph.
//   It rejects a container whose "qforge.kind" is not "graph" (e.g. "int8", "stylegan2") with a clear message.
// - graph_to_json / graph_from_json are the building blocks, for other kinds (the int8 model) that embed a graph.
// - load_graph(path) loads .onnx or .qf by looking at the bytes, not the extension.
// Graph JSON schema (keys in this order when written; readers ignore unknown keys):
//   {"name": str, "producer": str, "opset": int, "metadata": {str: str},
//    "inputs": [{"name": str, "dtype": "F32|I8|U8|I32|I64|BOOL", "shape": [int, ...]  (-1 = unknown)}],
//    "outputs": [ same ],
//    "initializers": [tensor name, ...],
//    "nodes": [{"name": str, "op": str, "domain": str (omitted if ""), "inputs": [str], "outputs": [str],
//               "attrs": {attr name: {"f": number} | {"i": int} | {"s": str} | {"t": tensor name} |
//                                    {"floats": [number]} | {"ints": [int]} | {"strings": [str]}}}]}
//   Floats are written as the shortest decimal that reads back to the same float (via double); NaN and ±Inf
//   as the strings "nan", "inf", "-inf". Strings must be valid UTF-8 (saving fails otherwise).
#pragma once
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>

#include "qforge/core/error.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/io/json.hpp"
#include "qforge/io/onnx.hpp"
#include "qforge/io/tensor_file.hpp"

namespace qforge {

constexpr const char* kModelKindGraph = "graph";
constexpr const char* kGraphMetadataKey = "qforge.graph";

namespace model_detail {

inline Json float_json(float f) {
  if (std::isnan(f)) return Json("nan");
  if (std::isinf(f)) return Json(f > 0 ? "inf" : "-inf");
  return Json(double(f));
}

inline Result<float> json_float(const Json& j, const std::string& where) {
  if (j.is_number()) return float(j.as_double());
  if (j.is_string()) {
    const std::string& s = j.as_string();
    if (s == "nan") return std::nanf("");
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
  }
  return make_error(where, ": expected a number (or \"nan\", \"inf\", \"-inf\")");
}

inline Status need_utf8(const std::string& s, const std::string& what) {
  if (!is_valid_utf8(s)) return make_error(what, " is not valid UTF-8");
  return Status::Ok();
}

inline Json string_array(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (auto& s : v) a.push_back(s);
  return a;
}

inline Result<std::vector<std::string>> json_strings(const Json& obj, const char* key, const std::string& where) {
  std::vector<std::string> out;
  const Json* a = obj.find(key);
  if (!a) return out;
  if (!a->is_array()) return make_error(where, ": '", key, "' must be an array of strings");
  for (auto& s : a->as_array()) {
    if (!s.is_string()) return make_error(where, ": '", key, "' must be an array of strings");
    out.push_back(s.as_string());
  }
  return out;
}

inline Result<std::vector<int64_t>> json_ints(const Json& a, const std::string& where) {
  if (!a.is_array()) return make_error(where, ": expected an array of integers");
  std::vector<int64_t> out;
  out.reserve(a.size());
  for (auto& v : a.as_array()) {
    if (!v.is_number() || !v.is_int_valued()) return make_error(where, ": expected an array of integers");
    out.push_back(v.as_int());
  }
  return out;
}

inline Result<Json> value_infos_json(const std::vector<ValueInfo>& vs, const char* what) {
  Json a = Json::array();
  for (auto& v : vs) {
    QF_RETURN_IF_ERROR(need_utf8(v.name, std::string(what) + " name"));
    Json o = Json::object();
    o.set("name", v.name);
    o.set("dtype", tensor_file_dtype_name(v.dtype));
    Json shape = Json::array();
    for (auto d : v.shape) shape.push_back(d);
    o.set("shape", std::move(shape));
    a.push_back(std::move(o));
  }
  return a;
}

inline Result<std::vector<ValueInfo>> value_infos_from_json(const Json& g, const char* key) {
  std::vector<ValueInfo> out;
  const Json* a = g.find(key);
  if (!a) return out;
  if (!a->is_array()) return make_error("'", key, "' must be an array");
  for (size_t k = 0; k < a->size(); ++k) {
    const Json& o = (*a)[k];
    std::string where = std::string(key) + "[" + std::to_string(k) + "]";
    if (!o.is_object()) return make_error(where, ": must be an object");
    ValueInfo v;
    auto name = o.get_string("name");
    if (!name.ok()) return name.error().wrap(where);
    v.name = *name;
    auto dt = o.get_string("dtype");
    if (!dt.ok()) return dt.error().wrap(where);
    auto dtype = parse_tensor_file_dtype(*dt);
    if (!dtype.ok()) return dtype.error().wrap(where);
    v.dtype = *dtype;
    if (const Json* s = o.find("shape")) {
      auto dims = json_ints(*s, where + ".shape");
      if (!dims.ok()) return dims.error();
      if (dims->size() > onnx_detail::kMaxRank) return make_error(where, ": rank ", dims->size(), " is too large");
      for (auto d : *dims)
        if (d < -1) return make_error(where, ": dimension ", d, " (use -1 for unknown)");
      v.shape = std::move(*dims);
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace model_detail

// The graph structure as JSON; initializers and TENSOR attributes are added to `tensors` (names the JSON uses).
inline Result<Json> graph_to_json(const Graph& g, std::map<std::string, Tensor>& tensors) {
  using namespace model_detail;
  Json j = Json::object();
  QF_RETURN_IF_ERROR(need_utf8(g.name, "graph name"));
  QF_RETURN_IF_ERROR(need_utf8(g.producer, "producer"));
  j.set("name", g.name);
  j.set("producer", g.producer);
  j.set("opset", g.opset);
  Json meta = Json::object();
  for (auto& kv : g.metadata) {
    QF_RETURN_IF_ERROR(need_utf8(kv.first, "metadata key"));
    QF_RETURN_IF_ERROR(need_utf8(kv.second, "metadata '" + kv.first + "'"));
    meta.set(kv.first, kv.second);
  }
  j.set("metadata", std::move(meta));
  QF_ASSIGN_OR_RETURN(Json inputs, value_infos_json(g.inputs, "input"));
  QF_ASSIGN_OR_RETURN(Json outputs, value_infos_json(g.outputs, "output"));
  j.set("inputs", std::move(inputs));
  j.set("outputs", std::move(outputs));
  Json inits = Json::array();
  for (auto& kv : g.initializers) {
    if (!kv.second.defined()) return make_error("initializer '", kv.first, "' has no tensor");
    if (tensors.count(kv.first)) return make_error("tensor name '", kv.first, "' is used twice");
    tensors[kv.first] = kv.second;
    inits.push_back(kv.first);
  }
  j.set("initializers", std::move(inits));
  Json nodes = Json::array();
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    std::string where = onnx_detail::node_where(n, k);
    QF_RETURN_IF_ERROR(need_utf8(n.name, where + ": name"));
    QF_RETURN_IF_ERROR(need_utf8(n.op_type, where + ": op_type"));
    QF_RETURN_IF_ERROR(need_utf8(n.domain, where + ": domain"));
    Json o = Json::object();
    o.set("name", n.name);
    o.set("op", n.op_type);
    if (!n.domain.empty()) o.set("domain", n.domain);
    for (auto& s : n.inputs) QF_RETURN_IF_ERROR(need_utf8(s, where + ": input name"));
    for (auto& s : n.outputs) QF_RETURN_IF_ERROR(need_utf8(s, where + ": output name"));
    o.set("inputs", string_array(n.inputs));
    o.set("outputs", string_array(n.outputs));
    Json attrs = Json::object();
    for (auto& kv : n.attrs) {
      const Attribute& a = kv.second;
      std::string aw = where + ": attribute '" + kv.first + "'";
      QF_RETURN_IF_ERROR(need_utf8(kv.first, aw));
      Json v = Json::object();
      switch (a.kind) {
        case Attribute::Kind::Float: v.set("f", float_json(a.f)); break;
        case Attribute::Kind::Int: v.set("i", a.i); break;
        case Attribute::Kind::String:
          QF_RETURN_IF_ERROR(need_utf8(a.s, aw));
          v.set("s", a.s);
          break;
        case Attribute::Kind::Tensor: {
          if (!a.t.defined()) return make_error(aw, ": TENSOR attribute has no tensor");
          std::string base = "qforge.attr/" + std::to_string(k) + "/" + kv.first;
          std::string name = base;
          for (int s = 1; tensors.count(name) || g.initializers.count(name); ++s) name = base + "#" + std::to_string(s);
          tensors[name] = a.t;
          v.set("t", name);
          break;
        }
        case Attribute::Kind::Floats: {
          Json fa = Json::array();
          for (float x : a.floats) fa.push_back(float_json(x));
          v.set("floats", std::move(fa));
          break;
        }
        case Attribute::Kind::Ints: {
          Json ia = Json::array();
          for (auto x : a.ints) ia.push_back(x);
          v.set("ints", std::move(ia));
          break;
        }
        case Attribute::Kind::Strings:
          for (auto& s : a.strings) QF_RETURN_IF_ERROR(need_utf8(s, aw));
          v.set("strings", string_array(a.strings));
          break;
      }
      attrs.set(kv.first, std::move(v));
    }
    o.set("attrs", std::move(attrs));
    nodes.push_back(std::move(o));
  }
  j.set("nodes", std::move(nodes));
  return j;
}

// Rebuilds a Graph from graph_to_json's JSON and the tensors it names; validates and topo-sorts it.
inline Result<Graph> graph_from_json(const Json& j, const std::map<std::string, Tensor>& tensors) {
  using namespace model_detail;
  if (!j.is_object()) return make_error("graph JSON must be an object");
  Graph g;
  if (const Json* v = j.find("name")) {
    if (!v->is_string()) return make_error("'name' must be a string");
    g.name = v->as_string();
  }
  if (const Json* v = j.find("producer")) {
    if (!v->is_string()) return make_error("'producer' must be a string");
    g.producer = v->as_string();
  }
  auto opset = j.get_int("opset");
  if (!opset.ok()) return opset.error();
  g.opset = *opset;
  if (const Json* m = j.find("metadata")) {
    if (!m->is_object()) return make_error("'metadata' must be an object");
    for (auto& kv : m->as_object()) {
      if (!kv.second.is_string()) return make_error("metadata '", kv.first, "' must be a string");
      g.metadata[kv.first] = kv.second.as_string();
    }
  }
  QF_ASSIGN_OR_RETURN(g.inputs, value_infos_from_json(j, "inputs"));
  QF_ASSIGN_OR_RETURN(g.outputs, value_infos_from_json(j, "outputs"));
  QF_ASSIGN_OR_RETURN(auto inits, json_strings(j, "initializers", "graph"));
  for (auto& name : inits) {
    auto it = tensors.find(name);
    if (it == tensors.end()) return make_error("initializer '", name, "' is listed but the file has no such tensor");
    if (!g.initializers.emplace(name, it->second).second) return make_error("initializer '", name, "' is listed twice");
  }
  const Json* nodes = j.find("nodes");
  if (nodes && !nodes->is_array()) return make_error("'nodes' must be an array");
  for (size_t k = 0; nodes && k < nodes->size(); ++k) {
    const Json& o = (*nodes)[k];
    std::string where = "nodes[" + std::to_string(k) + "]";
    if (!o.is_object()) return make_error(where, ": must be an object");
    Node n;
    auto op = o.get_string("op");
    if (!op.ok()) return op.error().wrap(where);
    n.op_type = *op;
    if (n.op_type.empty()) return make_error(where, ": empty 'op'");
    if (const Json* v = o.find("name")) {
      if (!v->is_string()) return make_error(where, ": 'name' must be a string");
      n.name = v->as_string();
    }
    if (const Json* v = o.find("domain")) {
      if (!v->is_string()) return make_error(where, ": 'domain' must be a string");
      n.domain = v->as_string();
    }
    where = onnx_detail::node_where(n, k);
    QF_ASSIGN_OR_RETURN(n.inputs, json_strings(o, "inputs", where));
    QF_ASSIGN_OR_RETURN(n.outputs, json_strings(o, "outputs", where));
    if (const Json* attrs = o.find("attrs")) {
      if (!attrs->is_object()) return make_error(where, ": 'attrs' must be an object");
      for (auto& kv : attrs->as_object()) {
        std::string aw = where + ": attribute '" + kv.first + "'";
        const Json& v = kv.second;
        if (!v.is_object() || v.size() != 1)
          return make_error(aw, ": must be an object with one key (f, i, s, t, floats, ints, strings)");
        const std::string& tag = v.as_object()[0].first;
        const Json& x = v.as_object()[0].second;
        Attribute a;
        if (tag == "f") {
          a.kind = Attribute::Kind::Float;
          QF_ASSIGN_OR_RETURN(a.f, json_float(x, aw));
        } else if (tag == "i") {
          if (!x.is_number() || !x.is_int_valued()) return make_error(aw, ": 'i' must be an integer");
          a.kind = Attribute::Kind::Int;
          a.i = x.as_int();
        } else if (tag == "s") {
          if (!x.is_string()) return make_error(aw, ": 's' must be a string");
          a.kind = Attribute::Kind::String;
          a.s = x.as_string();
        } else if (tag == "t") {
          if (!x.is_string()) return make_error(aw, ": 't' must name a tensor");
          auto it = tensors.find(x.as_string());
          if (it == tensors.end()) return make_error(aw, ": the file has no tensor '", x.as_string(), "'");
          a.kind = Attribute::Kind::Tensor;
          a.t = it->second;
        } else if (tag == "floats") {
          if (!x.is_array()) return make_error(aw, ": 'floats' must be an array");
          a.kind = Attribute::Kind::Floats;
          for (auto& e : x.as_array()) {
            QF_ASSIGN_OR_RETURN(float f, json_float(e, aw));
            a.floats.push_back(f);
          }
        } else if (tag == "ints") {
          a.kind = Attribute::Kind::Ints;
          QF_ASSIGN_OR_RETURN(a.ints, json_ints(x, aw));
        } else if (tag == "strings") {
          a.kind = Attribute::Kind::Strings;
          QF_ASSIGN_OR_RETURN(a.strings, json_strings(v, "strings", aw));
        } else {
          return make_error(aw, ": unknown attribute kind '", tag, "'");
        }
        n.attrs[kv.first] = std::move(a);
      }
    }
    g.nodes.push_back(std::move(n));
  }
  QF_RETURN_IF_ERROR(g.validate_and_sort());
  return g;
}

// The container for a graph (what save_model writes).
inline Result<TensorFile> model_to_tensor_file(const Graph& g) {
  TensorFile f;
  QF_ASSIGN_OR_RETURN(Json j, graph_to_json(g, f.tensors));
  f.metadata["qforge.kind"] = kModelKindGraph;
  f.metadata[kGraphMetadataKey] = j.dump();
  return f;
}

// The graph held in a container (what load_model returns).
inline Result<Graph> model_from_tensor_file(const TensorFile& f) {
  auto kind = f.metadata.find("qforge.kind");
  if (kind == f.metadata.end())
    return make_error("not a qforge model: metadata has no 'qforge.kind' (a plain tensor file?)");
  if (kind->second != kModelKindGraph)
    return make_error("holds a '", kind->second, "' model, not an fp32 graph ('qforge.kind' is '", kind->second, "')");
  auto gj = f.metadata.find(kGraphMetadataKey);
  if (gj == f.metadata.end()) return make_error("metadata has no '", kGraphMetadataKey, "'");
  auto j = Json::parse(gj->second);
  if (!j.ok()) return j.error().wrap(kGraphMetadataKey);
  auto g = graph_from_json(*j, f.tensors);
  if (!g.ok()) return g.error().wrap(kGraphMetadataKey);
  return g;
}

// Writes a Graph as a .qf container (temp file + rename). Errors are prefixed with the path.
inline Status save_model(const std::string& path, const Graph& g) {
  auto f = model_to_tensor_file(g);
  if (!f.ok()) return f.error().wrap(path);
  return save_tensor_file(path, *f);
}

// Reads a Graph from a .qf container. Errors are prefixed with the path.
inline Result<Graph> load_model(const std::string& path) {
  QF_ASSIGN_OR_RETURN(TensorFile f, load_tensor_file(path));
  auto g = model_from_tensor_file(f);
  if (!g.ok()) return g.error().wrap(path);
  return g;
}

enum class ModelFormat { unknown, onnx, container };

// Recognises a qforge/safetensors container by its first 9 bytes (a plausible u64 header length, then '{');
// anything else that starts like a protobuf field is taken for ONNX.
inline ModelFormat guess_model_format(const uint8_t* data, size_t n) {
  if (n >= 9 && data[8] == '{') {
    uint64_t len = detail::read_u64_le(data);
    if (len >= 2 && len <= kMaxTensorFileHeader) return ModelFormat::container;
  }
  if (n >= 1 && (data[0] & 7) <= 5 && (data[0] >> 3) != 0) return ModelFormat::onnx;
  return ModelFormat::unknown;
}

// Loads a Graph from .onnx or .qf, decided by content. Errors are prefixed with the path.
inline Result<Graph> load_graph(const std::string& path) {
  uint8_t head[16] = {0};
  size_t got = 0;
  {
    auto f = io::open_for_reading(path);
    if (!f.ok()) return f.error();
    got = std::fread(head, 1, sizeof head, f->get());
  }
  switch (guess_model_format(head, got)) {
    case ModelFormat::container: return load_model(path);
    case ModelFormat::onnx: return load_onnx(path);
    default: return make_error(path, ": neither an ONNX model nor a qforge container");
  }
}

}  // namespace qforge

// The same API under qforge::io, for callers that spell it io::load_model.
namespace qforge::io {
using qforge::load_graph;
using qforge::load_model;
using qforge::save_model;
}  // namespace qforge::io
