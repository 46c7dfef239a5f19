// qforge/quant/qgraph.hpp — QGraph: the int8 IR produced by the quantize pass and run by the int8 executor.
//
// Contract:
//  * Values are named. A value is either float32 (logical NCHW layout, as in the fp32 Graph) or quantized
//    (u8/s8 container, per-tensor QParams). Quantized values of rank 4 are stored NHWC (physical shape
//    [N, H, W, C]); `rank` is always the logical rank. `source` names the fp32 value a quantized value stands for
//    (the report compares the two).
//  * Graph inputs and outputs are float32 and keep their fp32 names.
//  * Node kinds (inputs/outputs are value names):
//      Quantize      float → q                    q = saturate(round(x / s) + zp)
//      Dequantize    q → float                    x = (q - zp) · s
//      Conv          q (NHWC) → q or float        2-D conv, weight int8 OIHW symmetric per output channel,
//                                                 bias int32 = round(b / (s_in · s_w[n])); q out: requant with
//                                                 s_in·s_w[n]/s_out, clamp [clamp_lo, clamp_hi] (fused Relu/Clip);
//                                                 float out: (acc + bias) · s_in·s_w[n], then the fused activation
//      Gemm          q [M,K] → q or float         weight int8 [N,K], otherwise as Conv
//      Add           q, q → q                     ((a - za)·sa/so + (b - zb)·sb/so) rounded + zo, clamped
//      Concat/Split  q → q                        along logical attribute "axis"; Concat requantizes inputs
//                                                 whose params differ from the output's; Split outputs keep the
//                                                 input's params
//      MaxPool       q → q                        same params as the input
//      AveragePool,
//      GlobalAveragePool  q → q                   (Σ (x - zx)) · sx / (sy · count), rounded + zy
//      Reshape       q → q                        logical reshape to attribute "shape" (dim 0 = -1, the rest
//                                                 fixed), same params
//      Transpose     q → q                        logical permutation "perm", same params
//      Clamp         q → q                        standalone Relu/Clip: clamp to [clamp_lo, clamp_hi]
//      Float         float → float                fp32 fallback: `float_node` run by the fp32 op table
//  * A QGraph is a plain value: copy, print (summary()), save/load through the tensor container (qgraph_io.hpp).
#pragma once
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/quant/qparams.hpp"

namespace qforge::quant {

enum class QOp : uint8_t {
  Quantize,
  Dequantize,
  Conv,
  Gemm,
  Add,
  Concat,
  Split,
  MaxPool,
  AveragePool,
  GlobalAveragePool,
  Reshape,
  Transpose,
  Clamp,
  Float
};

inline const char* qop_name(QOp k) {
  switch (k) {
    case QOp::Quantize: return "Quantize";
    case QOp::Dequantize: return "Dequantize";
    case QOp::Conv: return "QConv";
    case QOp::Gemm: return "QGemm";
    case QOp::Add: return "QAdd";
    case QOp::Concat: return "QConcat";
    case QOp::Split: return "QSplit";
    case QOp::MaxPool: return "QMaxPool";
    case QOp::AveragePool: return "QAveragePool";
    case QOp::GlobalAveragePool: return "QGlobalAveragePool";
    case QOp::Reshape: return "QReshape";
    case QOp::Transpose: return "QTranspose";
    case QOp::Clamp: return "QClamp";
    case QOp::Float: return "Float";
  }
  return "?";
}

inline Result<QOp> parse_qop(const std::string& s) {
  for (int k = 0; k <= int(QOp::Float); ++k)
    if (s == qop_name(QOp(k))) return QOp(k);
  return make_error("unknown QGraph node kind '", s, "'");
}

struct QValue {
  std::string name;
  bool quantized = false;
  QParams q;           // when quantized
  int rank = -1;       // logical rank (-1 unknown)
  std::string source;  // fp32 value this stands for
  DType dtype = DType::f32;  // stored dtype of a non-quantized value (float32 unless an fp32 node makes ints)
  bool nhwc() const { return quantized && rank == 4; }
};

// Fused activation on a quantized op's output (also applied in float for float outputs).
struct FusedAct {
  enum class Kind : uint8_t { None, Relu, Clip };
  Kind kind = Kind::None;
  float lo = 0, hi = 0;  // Clip bounds
  float apply(float x) const {
    if (kind == Kind::Relu) return x > 0 ? x : 0;
    if (kind == Kind::Clip) return x < lo ? lo : (x > hi ? hi : x);
    return x;
  }
};

struct QNode {
  std::string name;  // the fp32 node this came from (for --exclude and reports)
  QOp op = QOp::Float;
  std::vector<std::string> inputs, outputs;
  std::map<std::string, Attribute> attrs;  // geometry: kernel_shape, strides, pads, dilations, group, axis, ...
  Tensor weight;                 // int8: Conv OIHW, Gemm [N, K]
  Tensor bias;                   // int32 [N] (may be undefined)
  std::vector<float> w_scale;    // per output channel
  int32_t clamp_lo = 0, clamp_hi = 255;  // quantized output clamp (fused activation and type range)
  FusedAct act;                  // fused activation (for float outputs and the ONNX export)
  Node float_node;               // QOp::Float: the fp32 node, its inputs/outputs renamed to QGraph values

  int64_t get_int(const std::string& a, int64_t d) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? d : it->second.i;
  }
  std::vector<int64_t> get_ints(const std::string& a, std::vector<int64_t> d = {}) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? d : it->second.ints;
  }
  std::string label() const { return std::string(qop_name(op)) + " '" + name + "'"; }
};

struct QGraph {
  std::string name;
  std::vector<ValueInfo> inputs;   // float32
  std::vector<ValueInfo> outputs;  // float32
  std::map<std::string, QValue> values;
  std::vector<QNode> nodes;                     // topological order
  std::map<std::string, Tensor> initializers;   // constants read by Float nodes
  std::map<std::string, std::string> metadata;  // copied from the fp32 model (qforge.mean, qforge.std, ...)
  int64_t opset = 13;

  const QValue* value(const std::string& n) const {
    auto it = values.find(n);
    return it == values.end() ? nullptr : &it->second;
  }

  // Every node input is a graph input, an initializer or an earlier node's output; every value has a QValue.
  Status validate() const {
    std::map<std::string, bool> known;
    for (auto& v : inputs) known[v.name] = true;
    for (auto& kv : initializers) known[kv.first] = true;
    for (auto& n : nodes) {
      for (auto& in : n.inputs)
        if (!in.empty() && !known.count(in))
          return make_error(n.label(), ": input '", in, "' is not produced before it");
      for (auto& o : n.outputs) {
        if (o.empty()) continue;
        if (known.count(o)) return make_error(n.label(), ": value '", o, "' is produced twice");
        if (!values.count(o)) return make_error(n.label(), ": output '", o, "' has no value description");
        known[o] = true;
      }
    }
    for (auto& o : outputs) {
      if (!known.count(o.name)) return make_error("graph output '", o.name, "' is never produced");
      auto v = value(o.name);
      if (v && v->quantized) return make_error("graph output '", o.name, "' must be float");
    }
    return Status::Ok();
  }

  // One line per node: kind, name, inputs -> outputs, quant params of quantized outputs.
  std::string summary() const {
    std::ostringstream os;
    for (auto& n : nodes) {
      os << qop_name(n.op) << " '" << n.name << "' ";
      if (n.op == QOp::Float) os << "(" << n.float_node.op_type << ") ";
      for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? "," : "") << n.inputs[i];
      os << " -> ";
      for (size_t i = 0; i < n.outputs.size(); ++i) {
        os << (i ? "," : "") << n.outputs[i];
        auto v = value(n.outputs[i]);
        if (v && v->quantized)
          os << "[" << dtype_name(v->q.dtype) << " s=" << v->q.scale << " zp=" << v->q.zero_point << "]";
      }
      os << "\n";
    }
    return os.str();
  }
};

}  // namespace qforge::quant
