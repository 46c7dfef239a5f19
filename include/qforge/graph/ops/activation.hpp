// qforge/graph/ops/activation.hpp — the activation a Conv/Gemm node may carry after fusion (passes.hpp).
//
// Contract: a fused node has attribute "activation" (string: "Relu", "Clip" or "LeakyRelu") and, for Clip and
// LeakyRelu, "activation_params" (floats: {min, max} or {alpha}). No attribute = identity. These attribute
// names are qforge's own (not ONNX); the int8 side reads the same struct.
#pragma once
#include <algorithm>
#include <limits>
#include <string>

#include "qforge/core/error.hpp"
#include "qforge/graph/ir.hpp"

namespace qforge::ops {

constexpr const char* kActivationAttr = "activation";
constexpr const char* kActivationParamsAttr = "activation_params";

struct Activation {
  enum class Kind { None, Relu, Clip, LeakyRelu };
  Kind kind = Kind::None;
  float lo = -std::numeric_limits<float>::infinity();  // Clip min
  float hi = std::numeric_limits<float>::infinity();   // Clip max
  float alpha = 0.01f;                                 // LeakyRelu slope

  float apply(float x) const {
    switch (kind) {
      case Kind::None: return x;
      case Kind::Relu: return x > 0.f ? x : 0.f;
      case Kind::Clip: return std::min(hi, std::max(lo, x));
      case Kind::LeakyRelu: return x < 0.f ? alpha * x : x;
    }
    return x;
  }
  void apply(float* p, int64_t n) const {
    switch (kind) {
      case Kind::None: return;
      case Kind::Relu: for (int64_t i = 0; i < n; ++i) p[i] = p[i] > 0.f ? p[i] : 0.f; return;
      case Kind::Clip: for (int64_t i = 0; i < n; ++i) p[i] = std::min(hi, std::max(lo, p[i])); return;
      case Kind::LeakyRelu: for (int64_t i = 0; i < n; ++i) p[i] = p[i] < 0.f ? alpha * p[i] : p[i]; return;
    }
  }

  // Writes the attributes onto a node (removes them for None).
  void to_node(Node& n) const {
    n.attrs.erase(kActivationAttr);
    n.attrs.erase(kActivationParamsAttr);
    switch (kind) {
      case Kind::None: return;
      case Kind::Relu: n.attrs[kActivationAttr] = Attribute::make_string("Relu"); return;
      case Kind::Clip:
        n.attrs[kActivationAttr] = Attribute::make_string("Clip");
        n.attrs[kActivationParamsAttr] = Attribute::make_floats({lo, hi});
        return;
      case Kind::LeakyRelu:
        n.attrs[kActivationAttr] = Attribute::make_string("LeakyRelu");
        n.attrs[kActivationParamsAttr] = Attribute::make_floats({alpha});
        return;
    }
  }

  static Result<Activation> from_node(const Node& n) {
    Activation a;
    if (!n.has(kActivationAttr)) return a;
    std::string k = n.get_string(kActivationAttr, "");
    std::vector<float> p = n.get_floats(kActivationParamsAttr);
    if (k == "Relu") {
      a.kind = Kind::Relu;
    } else if (k == "Clip") {
      if (p.size() != 2) return make_error("attribute 'activation_params' needs {min, max} for Clip");
      a.kind = Kind::Clip;
      a.lo = p[0];
      a.hi = p[1];
    } else if (k == "LeakyRelu") {
      if (p.size() != 1) return make_error("attribute 'activation_params' needs {alpha} for LeakyRelu");
      a.kind = Kind::LeakyRelu;
      a.alpha = p[0];
    } else {
      return make_error("unknown fused activation '", k, "'");
    }
    return a;
  }
};

}  // namespace qforge::ops
