// qforge/quant/quantize.hpp — the quantize pass: fp32 Graph + calibration statistics → QGraph (qgraph.hpp).
//
// Contract:
//  * Input: an fp32 Graph as the fp32 executor runs it (BN folded; a Conv/Gemm may carry a fused activation in
//    the "activation" attribute, graph/ops/activation.hpp) and the TensorStats of its float values (observers.hpp).
//    The pass first fuses a Relu/Clip that is the only consumer of a Conv/Gemm/MatMul/Add output into it, and drops
//    nodes that no graph output depends on.
//  * Quantized (int8) node kinds: Conv (2-D, constant weights), Gemm (transA = 0, constant B and C), MatMul (2-D
//    input, constant 2-D B), Add (two same-shape activations), Concat, AveragePool, GlobalAveragePool — these get
//    their output range from the calibrator — and MaxPool, Reshape/Flatten/Squeeze/Unsqueeze/Identity/Dropout,
//    Transpose, Split, Relu/Clip when their input is already quantized (they keep the input's parameters).
//    Everything else, nodes in options.exclude, and nodes touching a value that was never observed, run in fp32
//    (Float nodes) with Quantize/Dequantize inserted at the edges.
//  * Weights: int8 symmetric per output channel (or per tensor), scales from calibrators.hpp; int32 bias =
//    round(b / (s_in · s_w[n])), saturated to int32 (reported). Optional bias correction (empirical, from the
//    calibration means of the layer input): b' = b + Σ_k (W − Ŵ)[n,k] · E[x_k], with Ŵ the dequantized weights.
//  * A Conv/Gemm whose output feeds no quantized node (e.g. the logits) dequantizes straight from its int32
//    accumulator: the graph outputs stay float.
//  * Names: a quantized value keeps its fp32 name unless a float copy of it is needed too (graph output or
//    fp32 consumer): then the quantized one is "<name>::q". Float values keep their fp32 names.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/graph/ops/activation.hpp"
#include "qforge/quant/calibrators.hpp"
#include "qforge/quant/observers.hpp"
#include "qforge/quant/qgraph.hpp"
#include "qforge/quant/qparams.hpp"

namespace qforge::quant {

struct QuantizeOptions {
  CalibratorOptions act;                  // activation calibrator, bits
  bool act_signed = false;                // s8 activations (ARM) instead of u8
  WeightMethod weights = WeightMethod::MinMax;
  int weight_bits = 8;
  bool per_tensor_weights = false;
  bool bias_correction = false;
  std::set<std::string> exclude;          // node names kept in fp32
};

// What the pass decided, for reports.
struct RangeRecord {
  std::string value;        // fp32 value name
  float observed_min = 0, observed_max = 0;
  float lo = 0, hi = 0;     // calibrated range
  QParams q;
};
struct QuantizeInfo {
  std::vector<RangeRecord> ranges;      // every quantized value with its own calibrated range
  std::vector<std::string> warnings;    // fallbacks, saturated biases
  std::vector<std::string> float_nodes; // nodes left in fp32
  int quantized_nodes = 0;
};

namespace qpass {

inline bool is_act(const Node& n) { return n.op_type == "Relu" || n.op_type == "Clip"; }

// Clip bounds (attributes before opset 11, constant inputs after). ok=false when not constant.
inline bool clip_bounds(const Node& n, const Graph& g, float& lo, float& hi) {
  lo = -std::numeric_limits<float>::infinity();
  hi = std::numeric_limits<float>::infinity();
  if (n.op_type == "Relu") {
    lo = 0;
    return true;
  }
  if (n.has("min")) lo = n.get_float("min", lo);
  if (n.has("max")) hi = n.get_float("max", hi);
  for (size_t k = 1; k < 3; ++k) {
    if (!n.has_input(k)) continue;
    const Tensor* t = g.initializer(n.inputs[k]);
    if (!t || t->numel() != 1 || t->dtype() != DType::f32) return false;
    (k == 1 ? lo : hi) = t->data<float>()[0];
  }
  return true;
}

inline Result<FusedAct> fused_act_of(const Node& n) {
  auto a = ops::Activation::from_node(n);
  if (!a.ok()) return a.error();
  FusedAct f;
  switch (a->kind) {
    case ops::Activation::Kind::None: break;
    case ops::Activation::Kind::Relu: f.kind = FusedAct::Kind::Relu; break;
    case ops::Activation::Kind::Clip:
      f.kind = FusedAct::Kind::Clip;
      f.lo = a->lo;
      f.hi = a->hi;
      break;
    case ops::Activation::Kind::LeakyRelu: return make_error("LeakyRelu has no int8 clamp");
  }
  return f;
}

// Moves Constant node values into initializers; fuses single-consumer Relu/Clip into Conv/Gemm/MatMul/Add;
// drops nodes no output depends on.
inline Graph prepare_graph(const Graph& in) {
  Graph g = in;
  std::vector<Node> keep;
  for (auto& n : g.nodes) {
    if (n.op_type == "Constant" && n.outputs.size() == 1 && n.has("value") &&
        n.attrs.at("value").kind == Attribute::Kind::Tensor) {
      g.initializers[n.outputs[0]] = n.attrs.at("value").t;
      continue;
    }
    keep.push_back(n);
  }
  g.nodes = std::move(keep);
  std::set<std::string> outs;
  for (auto& o : g.outputs) outs.insert(o.name);
  std::map<std::string, std::vector<size_t>> cons;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (auto& in : g.nodes[i].inputs)
      if (!in.empty()) cons[in].push_back(i);
  std::vector<bool> dead(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& p = g.nodes[i];
    if (dead[i] || p.outputs.size() != 1) continue;
    if (p.op_type != "Conv" && p.op_type != "Gemm" && p.op_type != "MatMul" && p.op_type != "Add") continue;
    if (p.has(ops::kActivationAttr) || outs.count(p.outputs[0])) continue;
    auto it = cons.find(p.outputs[0]);
    if (it == cons.end() || it->second.size() != 1) continue;
    const size_t ai = it->second[0];
    Node& a = g.nodes[ai];
    if (!is_act(a) || a.inputs.empty() || a.inputs[0] != p.outputs[0] || a.outputs.size() != 1) continue;
    float lo, hi;
    if (!clip_bounds(a, g, lo, hi)) continue;
    ops::Activation act;
    if (a.op_type == "Relu" || (lo == 0 && std::isinf(hi) && hi > 0)) {
      act.kind = ops::Activation::Kind::Relu;
    } else {
      act.kind = ops::Activation::Kind::Clip;
      act.lo = lo;
      act.hi = hi;
    }
    act.to_node(p);
    p.outputs[0] = a.outputs[0];
    dead[ai] = true;
  }
  keep.clear();
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!dead[i]) keep.push_back(g.nodes[i]);
  // Prune nodes that no graph output depends on.
  std::set<std::string> live(outs.begin(), outs.end());
  std::vector<bool> used(keep.size(), false);
  for (size_t i = keep.size(); i-- > 0;) {
    bool u = false;
    for (auto& o : keep[i].outputs) u |= live.count(o) != 0;
    if (!u) continue;
    used[i] = true;
    for (auto& in : keep[i].inputs)
      if (!in.empty()) live.insert(in);
  }
  g.nodes.clear();
  for (size_t i = 0; i < keep.size(); ++i)
    if (used[i]) g.nodes.push_back(keep[i]);
  return g;
}

}  // namespace qpass

inline Result<QGraph> quantize_graph(const Graph& src, const std::map<std::string, TensorStats>& stats,
                                     const QuantizeOptions& opt, QuantizeInfo* info_out = nullptr) {
  if (opt.weight_bits != 8 && opt.weight_bits != 4) return make_error("weight bits must be 8 or 4");
  if (opt.act.bits != 8 && opt.act.bits != 4) return make_error("activation bits must be 8 or 4");
  QuantizeInfo info;
  const Graph g = qpass::prepare_graph(src);
  for (auto& e : opt.exclude) {
    bool found = false;
    for (auto& n : src.nodes) found |= n.name == e;
    if (!found) return make_error("--exclude: no node named '", e, "' in the model");
  }
  const size_t NN = g.nodes.size();
  std::map<std::string, int> producer;
  for (auto& v : g.inputs) producer[v.name] = -1;
  for (size_t i = 0; i < NN; ++i)
    for (auto& o : g.nodes[i].outputs)
      if (!o.empty()) producer[o] = int(i);
  std::set<std::string> graph_outputs;
  for (auto& o : g.outputs) graph_outputs.insert(o.name);
  auto is_const = [&](const std::string& v) { return g.initializers.count(v) != 0; };
  auto st = [&](const std::string& v) -> const TensorStats* {
    auto it = stats.find(v);
    return it != stats.end() && it->second.seen() ? &it->second : nullptr;
  };
  auto rank_of = [&](const std::string& v) -> int {
    auto s = st(v);
    return s ? int(s->shape.size()) : -1;
  };

  // ---------------------------------------------------------------------------------- phase A: decide
  enum Role : uint8_t { kFloat, kCompute, kMove };
  std::vector<Role> role(NN, kFloat);
  std::vector<std::string> why(NN);
  for (size_t i = 0; i < NN; ++i) {
    const Node& n = g.nodes[i];
    if (opt.exclude.count(n.name)) {
      why[i] = "excluded";
      continue;
    }
    auto in_quant = [&](size_t k) {
      if (!n.has_input(k)) return false;
      auto p = producer.find(n.inputs[k]);
      return p != producer.end() && p->second >= 0 && role[size_t(p->second)] != kFloat;
    };
    auto observed = [&](const std::string& v) {
      if (st(v)) return true;
      why[i] = "value '" + v + "' was never observed during calibration";
      return false;
    };
    auto all_observed = [&]() {
      for (auto& in : n.inputs)
        if (!in.empty() && !is_const(in) && !observed(in)) return false;
      for (auto& o : n.outputs)
        if (!o.empty() && !observed(o)) return false;
      return true;
    };
    const std::string& op = n.op_type;
    if (!n.domain.empty() && n.domain != "ai.onnx") continue;
    if (op == "Conv") {
      const Tensor* w = n.has_input(1) ? g.initializer(n.inputs[1]) : nullptr;
      const Tensor* b = n.has_input(2) ? g.initializer(n.inputs[2]) : nullptr;
      if (!w || w->rank() != 4 || w->dtype() != DType::f32 || (n.has_input(2) && !b) || rank_of(n.inputs[0]) != 4 ||
          n.outputs.size() != 1 || !qpass::fused_act_of(n).ok()) {
        why[i] = "no int8 version for this Conv (non-constant weights, not 2-D, or activation)";
        continue;
      }
      if (all_observed()) role[i] = kCompute;
    } else if (op == "Gemm" || op == "MatMul") {
      const Tensor* w = n.has_input(1) ? g.initializer(n.inputs[1]) : nullptr;
      bool ok = w && w->rank() == 2 && w->dtype() == DType::f32 && rank_of(n.inputs[0]) == 2 &&
                n.outputs.size() == 1 && qpass::fused_act_of(n).ok();
      if (op == "Gemm" && ok) {
        ok = n.get_int("transA", 0) == 0;
        if (n.has_input(2)) {
          const Tensor* c = g.initializer(n.inputs[2]);
          const int64_t N = n.get_int("transB", 0) ? w->dim(0) : w->dim(1);
          ok = ok && c && c->dtype() == DType::f32 && (c->numel() == N || c->numel() == 1) &&
               (c->rank() <= 1 || (c->rank() == 2 && c->dim(0) == 1));
        }
      }
      if (!ok) {
        why[i] = "no int8 version for this " + op + " (non-constant or non-2-D weights)";
        continue;
      }
      if (all_observed()) role[i] = kCompute;
    } else if (op == "Add") {
      if (n.inputs.size() != 2 || is_const(n.inputs[0]) || is_const(n.inputs[1]) || !qpass::fused_act_of(n).ok()) {
        why[i] = "Add with a constant operand stays fp32";
        continue;
      }
      if (!all_observed()) continue;
      if (st(n.inputs[0])->shape != st(n.inputs[1])->shape) {
        why[i] = "Add with broadcasting stays fp32";
        continue;
      }
      role[i] = kCompute;
    } else if (op == "Concat") {
      bool ok = !n.inputs.empty();
      for (auto& in : n.inputs) ok = ok && !in.empty() && !is_const(in);
      if (!ok) {
        why[i] = "Concat with constant inputs stays fp32";
        continue;
      }
      if (all_observed()) role[i] = kCompute;
    } else if (op == "AveragePool" || op == "GlobalAveragePool") {
      if (rank_of(n.inputs[0]) != 4) {
        why[i] = "only 2-D pooling has an int8 version";
        continue;
      }
      if (all_observed()) role[i] = kCompute;
    } else if (op == "MaxPool" || op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" ||
               op == "Identity" || op == "Dropout" || op == "Transpose" || op == "Split" || op == "Relu" ||
               op == "Clip") {
      if (!in_quant(0)) {
        why[i] = "input is not quantized";
        continue;
      }
      if (!all_observed()) continue;
      bool ok = true;
      if (op == "MaxPool") ok = rank_of(n.inputs[0]) == 4 && n.outputs.size() == 1;
      if (op == "Dropout") ok = n.outputs.size() == 1 || (n.outputs.size() == 2 && n.outputs[1].empty());
      if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity" ||
          op == "Dropout") {
        const Shape &a = st(n.inputs[0])->shape, &b = st(n.outputs[0])->shape;
        ok = ok && !a.empty() && !b.empty() && a[0] == b[0];  // batch axis kept: the shape generalises
      }
      if (op == "Clip" || op == "Relu") {
        float lo, hi;
        ok = qpass::clip_bounds(n, g, lo, hi);
      }
      if (!ok) {
        why[i] = "no int8 version for this " + op;
        continue;
      }
      role[i] = kMove;
    } else {
      why[i] = "no int8 version of " + op;
    }
  }

  // ---------------------------------------------------------------------------------- phase B: representations
  std::map<std::string, bool> needs_q, needs_f;
  for (size_t i = 0; i < NN; ++i)
    for (auto& in : g.nodes[i].inputs) {
      if (in.empty() || is_const(in)) continue;
      if (role[i] == kFloat)
        needs_f[in] = true;
      else
        needs_q[in] = true;
    }
  for (auto& o : graph_outputs) needs_f[o] = true;
  auto q_name = [&](const std::string& v) -> std::string {
    auto p = producer.find(v);
    const bool float_made = p == producer.end() || p->second < 0 || role[size_t(p->second)] == kFloat;
    return (float_made || needs_f[v]) ? v + "::q" : v;
  };

  QGraph qg;
  qg.name = g.name;
  qg.inputs = g.inputs;
  qg.outputs = g.outputs;
  qg.metadata = g.metadata;
  qg.opset = g.opset;
  std::map<std::string, QParams> vparams;  // fp32 value -> params of its quantized version
  std::map<std::string, Range> vrange;
  auto calibrated = [&](const std::string& v) -> Result<QParams> {
    auto it = vparams.find(v);
    if (it != vparams.end()) return it->second;
    const TensorStats* s = st(v);
    if (!s) return make_error("value '", v, "' was never observed during calibration");
    QF_ASSIGN_OR_RETURN(Range r, choose_range(*s, opt.act, v));
    QParams p = choose_qparams(r.lo, r.hi, opt.act_signed, opt.act.bits);
    vparams[v] = p;
    vrange[v] = r;
    info.ranges.push_back({v, s->min, s->max, r.lo, r.hi, p});
    return p;
  };
  auto add_value = [&](const std::string& name, bool quantized, const QParams& p, const std::string& source) {
    QValue qv;
    qv.name = name;
    qv.quantized = quantized;
    qv.q = p;
    qv.rank = rank_of(source);
    qv.source = source;
    qg.values[name] = qv;
  };
  for (auto& v : g.inputs) add_value(v.name, false, QParams{}, v.name);
  // After a value v got its primary representation: add the missing other one.
  auto add_edges = [&](const std::string& v, bool made_quantized) -> Status {
    if (made_quantized && needs_f[v]) {
      QNode d;
      d.name = v + "::dequantize";
      d.op = QOp::Dequantize;
      d.inputs = {q_name(v)};
      d.outputs = {v};
      add_value(v, false, QParams{}, v);
      qg.nodes.push_back(std::move(d));
    }
    if (!made_quantized && needs_q[v]) {
      QF_ASSIGN_OR_RETURN(QParams p, calibrated(v));
      QNode q;
      q.name = v + "::quantize";
      q.op = QOp::Quantize;
      q.inputs = {v};
      q.outputs = {q_name(v)};
      add_value(q_name(v), true, p, v);
      qg.nodes.push_back(std::move(q));
    }
    return Status::Ok();
  };
  for (auto& v : g.inputs) QF_RETURN_IF_ERROR(add_edges(v.name, false));

  auto clamp_for = [&](const FusedAct& a, const QParams& p, int32_t& lo, int32_t& hi) {
    lo = p.qmin;
    hi = p.qmax;
    if (a.kind == FusedAct::Kind::Relu) lo = std::max(lo, p.zero_point);
    if (a.kind == FusedAct::Kind::Clip) {
      if (std::isfinite(a.lo)) lo = std::max(lo, quantize_value(a.lo, p));
      if (std::isfinite(a.hi)) hi = std::min(hi, quantize_value(a.hi, p));
    }
  };

  for (size_t i = 0; i < NN; ++i) {
    const Node& n = g.nodes[i];
    const std::string& op = n.op_type;
    if (role[i] == kFloat) {
      QNode f;
      f.name = n.name;
      f.op = QOp::Float;
      f.float_node = n;
      f.inputs = n.inputs;
      f.outputs = n.outputs;
      for (auto& in : n.inputs)
        if (!in.empty() && is_const(in)) qg.initializers[in] = *g.initializer(in);
      for (auto& o : n.outputs)
        if (!o.empty()) add_value(o, false, QParams{}, o);
      qg.nodes.push_back(std::move(f));
      info.float_nodes.push_back(n.name + " (" + op + ")" + (why[i].empty() ? "" : ": " + why[i]));
      for (auto& o : n.outputs)
        if (!o.empty()) QF_RETURN_IF_ERROR(add_edges(o, false));
      continue;
    }
    ++info.quantized_nodes;
    QNode q;
    q.name = n.name;
    const std::string& out = n.outputs[0];
    const std::string x = n.inputs[0];
    const QValue* xin = qg.value(q_name(x));
    if (!xin || !xin->quantized) return make_error(n.label(), ": quantized input '", x, "' is missing (internal)");
    const QParams pin = xin->q;
    if (op == "Conv" || op == "Gemm" || op == "MatMul") {
      const bool is_conv = op == "Conv";
      QF_ASSIGN_OR_RETURN(FusedAct act, qpass::fused_act_of(n));
      Tensor W = g.initializer(n.inputs[1])->clone();
      float alpha = 1.0f, beta = 1.0f;
      if (op == "Gemm") {
        alpha = n.get_float("alpha", 1.0f);
        beta = n.get_float("beta", 1.0f);
      }
      if (!is_conv && !(op == "Gemm" && n.get_int("transB", 0))) {  // [K,N] -> [N,K]
        const int64_t K = W.dim(0), N = W.dim(1);
        Tensor t(DType::f32, {N, K});
        for (int64_t k = 0; k < K; ++k)
          for (int64_t c = 0; c < N; ++c) t.data<float>()[c * K + k] = W.data<float>()[k * N + c];
        W = t;
      }
      if (alpha != 1.0f)
        for (int64_t k = 0; k < W.numel(); ++k) W.data<float>()[k] *= alpha;
      const int64_t N = W.dim(0), K = W.numel() / N;
      std::vector<double> bias(size_t(N), 0.0);
      const int bidx = 2;
      if (n.has_input(size_t(bidx))) {
        const Tensor* b = g.initializer(n.inputs[size_t(bidx)]);
        for (int64_t c = 0; c < N; ++c)
          bias[size_t(c)] = double(b->numel() == 1 ? b->data<float>()[0] : b->data<float>()[c]) * (is_conv ? 1.0 : beta);
      }
      std::vector<float> ws = weight_scales(W, opt.weights, opt.weight_bits, opt.per_tensor_weights);
      Tensor Wq = quantize_weights(W, ws, opt.weight_bits);
      if (opt.bias_correction) {
        const TensorStats* xs = st(x);
        auto means = xs ? xs->channel_means() : std::vector<double>{};
        const int64_t group = is_conv ? n.get_int("group", 1) : 1;
        const int64_t cpg = is_conv ? W.dim(1) : K, khw = is_conv ? W.dim(2) * W.dim(3) : 1;
        const int64_t opg = N / group;
        if (int64_t(means.size()) == (is_conv ? cpg * group : K)) {
          for (int64_t c = 0; c < N; ++c) {
            double corr = 0;
            for (int64_t k = 0; k < K; ++k) {
              const double e = double(W.data<float>()[c * K + k]) -
                               double(Wq.data<int8_t>()[c * K + k]) * double(ws[size_t(c)]);
              const int64_t ci = is_conv ? (c / opg) * cpg + k / khw : k;
              corr += e * means[size_t(ci)];
            }
            bias[size_t(c)] += corr;
          }
        } else {
          info.warnings.push_back(n.name + ": no input channel means, bias correction skipped");
        }
      }
      Tensor bq(DType::i32, {N});
      bool any_bias = n.has_input(2) || opt.bias_correction;
      int saturated = 0;
      for (int64_t c = 0; c < N; ++c) {
        const double v = std::nearbyint(bias[size_t(c)] / (double(pin.scale) * double(ws[size_t(c)])));
        const double cl = std::clamp(v, -2147483648.0, 2147483647.0);
        saturated += cl != v;
        bq.data<int32_t>()[c] = int32_t(cl);
      }
      if (saturated) info.warnings.push_back(n.name + ": " + std::to_string(saturated) + " int32 biases saturated");
      q.op = is_conv ? QOp::Conv : QOp::Gemm;
      q.inputs = {q_name(x)};
      q.weight = Wq;
      if (any_bias) q.bias = bq;
      q.w_scale = ws;
      q.act = act;
      if (is_conv) {
        for (const char* a : {"kernel_shape", "strides", "pads", "dilations", "auto_pad", "group"})
          if (n.has(a)) q.attrs[a] = n.attrs.at(a);
      }
      if (needs_q[out]) {
        QF_ASSIGN_OR_RETURN(QParams po, calibrated(out));
        clamp_for(act, po, q.clamp_lo, q.clamp_hi);
        q.outputs = {q_name(out)};
        add_value(q_name(out), true, po, out);
        qg.nodes.push_back(std::move(q));
        QF_RETURN_IF_ERROR(add_edges(out, true));
      } else {
        q.outputs = {out};  // float straight from the int32 accumulator
        add_value(out, false, QParams{}, out);
        qg.nodes.push_back(std::move(q));
      }
      continue;
    }
    if (op == "Add" || op == "Concat" || op == "AveragePool" || op == "GlobalAveragePool") {
      QF_ASSIGN_OR_RETURN(QParams po, calibrated(out));
      q.op = op == "Add" ? QOp::Add : op == "Concat" ? QOp::Concat : op == "AveragePool" ? QOp::AveragePool
                                                                                          : QOp::GlobalAveragePool;
      for (auto& in : n.inputs) q.inputs.push_back(q_name(in));
      q.attrs = n.attrs;
      if (op == "Add") {
        QF_ASSIGN_OR_RETURN(q.act, qpass::fused_act_of(n));
        q.attrs.erase(ops::kActivationAttr);
        q.attrs.erase(ops::kActivationParamsAttr);
      }
      if (op == "Concat" && !q.attrs.count("axis")) return make_error(n.label(), ": attribute 'axis' is required");
      clamp_for(q.act, po, q.clamp_lo, q.clamp_hi);
      q.outputs = {q_name(out)};
      add_value(q_name(out), true, po, out);
      qg.nodes.push_back(std::move(q));
      QF_RETURN_IF_ERROR(add_edges(out, true));
      continue;
    }
    // kMove: outputs keep the input's parameters
    q.inputs = {q_name(x)};
    if (op == "MaxPool") {
      q.op = QOp::MaxPool;
      q.attrs = n.attrs;
    } else if (op == "Transpose") {
      q.op = QOp::Transpose;
      std::vector<int64_t> perm = n.get_ints("perm");
      if (perm.empty())
        for (int d = rank_of(x); d-- > 0;) perm.push_back(d);
      q.attrs["perm"] = Attribute::make_ints(perm);
    } else if (op == "Split") {
      q.op = QOp::Split;
      const int64_t r = rank_of(x);
      int64_t axis = n.get_int("axis", 0);
      if (axis < 0) axis += r;
      std::vector<int64_t> sizes;
      for (auto& o : n.outputs) {
        const TensorStats* so = st(o);
        if (!so || axis < 0 || axis >= int64_t(so->shape.size()))
          return make_error(n.label(), ": cannot resolve split sizes");
        sizes.push_back(so->shape[size_t(axis)]);
      }
      q.attrs["axis"] = Attribute::make_int(axis);
      q.attrs["split"] = Attribute::make_ints(sizes);
    } else if (op == "Relu" || op == "Clip") {
      q.op = QOp::Clamp;
      float lo, hi;
      qpass::clip_bounds(n, g, lo, hi);
      FusedAct a;
      a.kind = FusedAct::Kind::Clip;
      a.lo = lo;
      a.hi = hi;
      q.act = a;
      clamp_for(a, pin, q.clamp_lo, q.clamp_hi);
    } else {  // reshape family: target = observed output shape with dim 0 inferred
      q.op = QOp::Reshape;
      Shape s = st(n.outputs[0])->shape;
      std::vector<int64_t> target(s.begin(), s.end());
      target[0] = -1;
      q.attrs["shape"] = Attribute::make_ints(target);
    }
    for (auto& o : n.outputs) {
      if (o.empty()) continue;
      q.outputs.push_back(q_name(o));
      add_value(q_name(o), true, pin, o);
      vparams[o] = pin;
    }
    std::vector<std::string> outs = n.outputs;
    qg.nodes.push_back(std::move(q));
    for (auto& o : outs)
      if (!o.empty()) QF_RETURN_IF_ERROR(add_edges(o, true));
  }
  QF_RETURN_IF_ERROR(qg.validate());
  if (info_out) *info_out = std::move(info);
  return qg;
}

}  // namespace qforge::quant
