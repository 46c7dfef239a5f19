// qforge/graph/ir.hpp — the fp32 graph IR: an ONNX-shaped list of nodes over named values.
//
// Contract: a Graph is a plain value (copyable, printable). Nodes name their inputs and outputs by value name;
// an empty input name means "optional input absent" (as in ONNX). Initializers hold constant tensors (weights).
// Nodes are kept in topological order once a graph has passed validate(); importers call it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"

namespace qforge {

struct Attribute {
  enum class Kind : uint8_t { Float, Int, String, Tensor, Floats, Ints, Strings };
  Kind kind = Kind::Int;
  float f = 0;
  int64_t i = 0;
  std::string s;
  qforge::Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;

  static Attribute make_int(int64_t v) { Attribute a; a.kind = Kind::Int; a.i = v; return a; }
  static Attribute make_float(float v) { Attribute a; a.kind = Kind::Float; a.f = v; return a; }
  static Attribute make_string(std::string v) { Attribute a; a.kind = Kind::String; a.s = std::move(v); return a; }
  static Attribute make_ints(std::vector<int64_t> v) { Attribute a; a.kind = Kind::Ints; a.ints = std::move(v); return a; }
  static Attribute make_floats(std::vector<float> v) { Attribute a; a.kind = Kind::Floats; a.floats = std::move(v); return a; }
  static Attribute make_tensor(qforge::Tensor v) { Attribute a; a.kind = Kind::Tensor; a.t = std::move(v); return a; }
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" = ai.onnx
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;

  bool has(const std::string& a) const { return attrs.count(a) != 0; }
  int64_t get_int(const std::string& a, int64_t dflt) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.i;
  }
  float get_float(const std::string& a, float dflt) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.f;
  }
  std::string get_string(const std::string& a, const std::string& dflt) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.s;
  }
  std::vector<int64_t> get_ints(const std::string& a, std::vector<int64_t> dflt = {}) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.ints;
  }
  std::vector<float> get_floats(const std::string& a, std::vector<float> dflt = {}) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? dflt : it->second.floats;
  }
  // "node 'name' (Op)" for error messages.
  std::string label() const { return "node '" + name + "' (" + op_type + ")"; }
  // Number of present (non-empty) inputs and whether input k is present.
  bool has_input(size_t k) const { return k < inputs.size() && !inputs[k].empty(); }
};

// Shape entries < 0 are unknown/dynamic (dim_param or missing).
struct ValueInfo {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;
  std::map<std::string, Tensor> initializers;
  std::vector<ValueInfo> inputs;   // graph inputs that are not initializers
  std::vector<ValueInfo> outputs;
  std::map<std::string, std::string> metadata;  // ONNX metadata_props (qforge.mean, qforge.std, ...)
  int64_t opset = 13;
  std::string producer;

  const Tensor* initializer(const std::string& n) const {
    auto it = initializers.find(n);
    return it == initializers.end() ? nullptr : &it->second;
  }

  // Checks that every node input is produced (graph input, initializer or an earlier node), that value
  // names are produced once, and orders nodes topologically. Errors name the node and value.
  Status validate_and_sort() {
    std::set<std::string> known;
    for (auto& v : inputs) known.insert(v.name);
    for (auto& kv : initializers) known.insert(kv.first);
    std::set<std::string> produced;
    for (auto& n : nodes)
      for (auto& o : n.outputs) {
        if (o.empty()) continue;
        if (known.count(o) || !produced.insert(o).second)
          return make_error(n.label(), ": value '", o, "' is produced more than once");
      }
    std::vector<Node> sorted;
    sorted.reserve(nodes.size());
    std::vector<bool> done(nodes.size(), false);
    size_t remaining = nodes.size();
    while (remaining) {
      bool progress = false;
      for (size_t k = 0; k < nodes.size(); ++k) {
        if (done[k]) continue;
        bool ready = std::all_of(nodes[k].inputs.begin(), nodes[k].inputs.end(),
                                 [&](const std::string& in) { return in.empty() || known.count(in); });
        if (!ready) continue;
        for (auto& o : nodes[k].outputs) if (!o.empty()) known.insert(o);
        sorted.push_back(nodes[k]);
        done[k] = true;
        --remaining;
        progress = true;
      }
      if (!progress) {
        for (size_t k = 0; k < nodes.size(); ++k) {
          if (done[k]) continue;
          for (auto& in : nodes[k].inputs)
            if (!in.empty() && !known.count(in)) {
              bool made_later = produced.count(in) != 0;
              return make_error(nodes[k].label(), ": input '", in, "' ",
                                made_later ? "is part of a cycle" : "is never produced");
            }
        }
      }
    }
    nodes = std::move(sorted);
    for (auto& o : outputs)
      if (!known.count(o.name)) return make_error("graph output '", o.name, "' is never produced");
    return Status::Ok();
  }
};

}  // namespace qforge
