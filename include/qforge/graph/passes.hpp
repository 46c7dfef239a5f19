// qforge/graph/passes.hpp — graph rewrites run by Executor::prepare (and usable alone): constant folding,
// Identity/Dropout removal, BatchNormalization folding into Conv/Gemm, activation fusion; plus the BN statistics
// of a graph for BN-statistics filters.
//
// Contract: every pass takes a sorted, valid Graph and leaves it sorted and valid, computing the same function
// (up to float rounding). Graph input and output names never change. Constant tensors are never modified in
// place (new initializers are made, named "<old>/bnfold", "<old>/bnfold2", ...).
//  - fold_constants: nodes computable from initializers/Constants (and Shape/Size of statically known shapes)
//    become initializers (shape_infer.hpp).
//  - remove_identities: Identity and inference Dropout (no mask consumer) are bypassed unless their output is a
//    graph output.
//  - fold_batchnorm: BatchNormalization(x) whose x comes from a Conv or Gemm with constant weights (and constant
//    bias, if any) and has no other consumer is folded into that node: W' = W * s, b' = (b - mean) * s + beta with
//    s = scale / sqrt(var + eps) per output channel; the Conv/Gemm then produces the BN's output value.
//  - fuse_activations: Relu, LeakyRelu and Clip with constant bounds following a Conv/Gemm whose output has no
//    other consumer become that node's fused activation (ops/activation.hpp); the node then produces the
//    activation's output value. So after fusion the pre-activation value no longer exists (observers see only
//    the post-activation value).
//  - collect_bn_stats: for each BatchNormalization of a graph (call it on the ORIGINAL graph: folding removes
//    them), its input value name and running mean/var (plus scale, bias, epsilon). To observe those inputs at
//    run time, prepare the executor with fold_bn = false.
#pragma once
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "qforge/graph/ir.hpp"
#include "qforge/graph/ops/activation.hpp"
#include "qforge/graph/ops/shape_ops.hpp"
#include "qforge/graph/shape_infer.hpp"

namespace qforge {

struct BnStat {
  std::string input_value;
  Tensor mean, var;
  // Extras: the node's name, its affine parameters and epsilon.
  std::string node;
  Tensor scale, bias;
  float epsilon = 1e-5f;
};

namespace passes_detail {

// Constant value of a name: an initializer or the output of a Constant node.
inline const Tensor* constant_of(const Graph& g, const std::string& name, std::vector<Tensor>& keep) {
  if (const Tensor* t = g.initializer(name)) return t;
  for (auto& n : g.nodes)
    if (n.op_type == "Constant" && n.outputs.size() == 1 && n.outputs[0] == name) {
      auto v = ops::shape_detail::constant_value(n);
      if (!v.ok()) return nullptr;
      keep.push_back(v.value());
      return &keep.back();
    }
  return nullptr;
}

inline std::map<std::string, int> use_counts(const Graph& g) {
  std::map<std::string, int> u;
  for (auto& n : g.nodes)
    for (auto& i : n.inputs)
      if (!i.empty()) ++u[i];
  for (auto& o : g.outputs) u[o.name] += 1000;  // graph outputs are never rewired
  return u;
}

inline std::string fresh_name(const Graph& g, const std::string& base) {
  std::set<std::string> names;
  for (auto& kv : g.initializers) names.insert(kv.first);
  for (auto& n : g.nodes)
    for (auto& o : n.outputs) names.insert(o);
  for (auto& v : g.inputs) names.insert(v.name);
  std::string s = base;
  for (int k = 2; names.count(s); ++k) s = base + std::to_string(k);
  return s;
}

inline int producer_index(const Graph& g, const std::string& v) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (auto& o : g.nodes[i].outputs)
      if (o == v) return int(i);
  return -1;
}

inline bool is_f32_vec(const Tensor* t, int64_t n) { return t && t->dtype() == DType::f32 && t->numel() == n; }

}  // namespace passes_detail

inline std::vector<BnStat> collect_bn_stats(const Graph& g) {
  std::vector<BnStat> r;
  std::vector<Tensor> keep;
  keep.reserve(g.nodes.size() * 4 + 4);
  for (auto& n : g.nodes) {
    if (n.op_type != "BatchNormalization" || n.inputs.size() < 5) continue;
    const Tensor* sc = passes_detail::constant_of(g, n.inputs[1], keep);
    const Tensor* b = passes_detail::constant_of(g, n.inputs[2], keep);
    const Tensor* m = passes_detail::constant_of(g, n.inputs[3], keep);
    const Tensor* v = passes_detail::constant_of(g, n.inputs[4], keep);
    if (!m || !v) continue;
    BnStat s;
    s.input_value = n.inputs[0];
    s.mean = *m;
    s.var = *v;
    s.node = n.name;
    if (sc) s.scale = *sc;
    if (b) s.bias = *b;
    s.epsilon = n.get_float("epsilon", 1e-5f);
    r.push_back(std::move(s));
  }
  return r;
}

// Returns the number of nodes folded away.
inline Result<int> fold_constants(Graph& g) {
  size_t before = g.nodes.size();
  std::map<std::string, ValueMeta> meta;
  PropagateOptions o;
  o.fold = true;
  o.infer_shapes = true;
  QF_RETURN_IF_ERROR(propagate(g, o, meta));
  return int(before - g.nodes.size());
}

inline int remove_identities(Graph& g) {
  auto uses = passes_detail::use_counts(g);
  std::map<std::string, std::string> alias;
  std::vector<Node> kept;
  int removed = 0;
  auto resolve = [&](const std::string& v) {
    std::string s = v;
    for (auto it = alias.find(s); it != alias.end(); it = alias.find(s)) s = it->second;
    return s;
  };
  for (auto& n : g.nodes) {
    Node m = n;
    for (auto& i : m.inputs)
      if (!i.empty()) i = resolve(i);
    bool drop = false;
    if ((m.op_type == "Identity" || m.op_type == "Dropout") && !m.inputs.empty() && !m.inputs[0].empty() &&
        !m.outputs.empty() && uses[m.outputs[0]] < 1000) {
      bool mask_used = m.outputs.size() > 1 && !m.outputs[1].empty() && uses[m.outputs[1]] > 0;
      bool training = m.op_type == "Dropout" && m.inputs.size() > 2 && !m.inputs[2].empty();
      drop = !mask_used && !training;
    }
    if (drop) {
      alias[m.outputs[0]] = m.inputs[0];
      ++removed;
      continue;
    }
    kept.push_back(std::move(m));
  }
  g.nodes = std::move(kept);
  return removed;
}

inline int fold_batchnorm(Graph& g) {
  using passes_detail::is_f32_vec;
  int folded = 0;
  for (bool changed = true; changed;) {
    changed = false;
    auto uses = passes_detail::use_counts(g);
    for (size_t bi = 0; bi < g.nodes.size() && !changed; ++bi) {
      Node& bn = g.nodes[bi];
      if (bn.op_type != "BatchNormalization" || bn.inputs.size() != 5 || bn.get_int("training_mode", 0) != 0) continue;
      bool extra = false;
      for (size_t k = 1; k < bn.outputs.size(); ++k) extra |= !bn.outputs[k].empty();
      if (extra || uses[bn.inputs[0]] != 1) continue;
      int pi = passes_detail::producer_index(g, bn.inputs[0]);
      if (pi < 0) continue;
      Node& p = g.nodes[size_t(pi)];
      if ((p.op_type != "Conv" && p.op_type != "Gemm") || p.has(ops::kActivationAttr) || p.outputs.size() != 1 ||
          p.inputs.size() < 2)
        continue;
      const Tensor* w = g.initializer(p.inputs[1]);
      const Tensor* b = p.has_input(2) ? g.initializer(p.inputs[2]) : nullptr;
      if (!w || w->dtype() != DType::f32 || (p.has_input(2) && !b)) continue;
      int64_t C;
      bool gemm = p.op_type == "Gemm", tb = gemm && p.get_int("transB", 0) != 0;
      if (gemm) {
        if (w->rank() != 2) continue;
        C = tb ? w->dim(0) : w->dim(1);
      } else {
        if (w->rank() < 3) continue;
        C = w->dim(0);
      }
      const Tensor* sc = g.initializer(bn.inputs[1]);
      const Tensor* be = g.initializer(bn.inputs[2]);
      const Tensor* mu = g.initializer(bn.inputs[3]);
      const Tensor* va = g.initializer(bn.inputs[4]);
      if (!is_f32_vec(sc, C) || !is_f32_vec(be, C) || !is_f32_vec(mu, C) || !is_f32_vec(va, C)) continue;
      float beta_g = gemm ? p.get_float("beta", 1.f) : 1.f;
      if (b) {
        if (b->dtype() != DType::f32) continue;
        bool ok = b->numel() == C || (gemm && b->numel() == 1);
        if (gemm && b->rank() == 2 && b->dim(0) != 1) ok = false;
        if (!ok) continue;
      }
      float eps = bn.get_float("epsilon", 1e-5f);
      std::vector<float> s(static_cast<size_t>(C));
      for (int64_t c = 0; c < C; ++c) s[size_t(c)] = sc->data<float>()[c] / std::sqrt(va->data<float>()[c] + eps);
      Tensor w2 = w->clone();
      float* pw = w2.data<float>();
      if (!gemm) {
        int64_t per = w->numel() / std::max<int64_t>(C, 1);
        for (int64_t c = 0; c < C; ++c)
          for (int64_t i = 0; i < per; ++i) pw[c * per + i] *= s[size_t(c)];
      } else if (tb) {
        int64_t K = w->dim(1);
        for (int64_t c = 0; c < C; ++c)
          for (int64_t k = 0; k < K; ++k) pw[c * K + k] *= s[size_t(c)];
      } else {
        int64_t K = w->dim(0);
        for (int64_t k = 0; k < K; ++k)
          for (int64_t c = 0; c < C; ++c) pw[k * C + c] *= s[size_t(c)];
      }
      Tensor b2(DType::f32, Shape{C});
      for (int64_t c = 0; c < C; ++c) {
        float bv = b ? b->data<float>()[b->numel() == 1 ? 0 : c] * beta_g : 0.f;
        b2.data<float>()[c] = (bv - mu->data<float>()[c]) * s[size_t(c)] + be->data<float>()[c];
      }
      std::string wn = passes_detail::fresh_name(g, p.inputs[1] + "/bnfold");
      g.initializers[wn] = w2;
      std::string bnm = passes_detail::fresh_name(g, (b ? p.inputs[2] : p.outputs[0]) + "/bnfold");
      g.initializers[bnm] = b2;
      p.inputs[1] = wn;
      if (p.inputs.size() < 3) p.inputs.resize(3);
      p.inputs[2] = bnm;
      if (gemm) p.attrs["beta"] = Attribute::make_float(1.f);
      p.outputs[0] = bn.outputs[0];
      g.nodes.erase(g.nodes.begin() + long(bi));
      ++folded;
      changed = true;
    }
  }
  // Drop initializers nothing uses any more.
  std::set<std::string> used;
  for (auto& n : g.nodes)
    for (auto& i : n.inputs) used.insert(i);
  for (auto& v : g.outputs) used.insert(v.name);
  for (auto it = g.initializers.begin(); it != g.initializers.end();)
    it = used.count(it->first) ? std::next(it) : g.initializers.erase(it);
  return folded;
}

inline int fuse_activations(Graph& g) {
  int fused = 0;
  for (bool changed = true; changed;) {
    changed = false;
    auto uses = passes_detail::use_counts(g);
    for (size_t ai = 0; ai < g.nodes.size() && !changed; ++ai) {
      Node& a = g.nodes[ai];
      ops::Activation act;
      if (a.inputs.empty() || a.outputs.size() != 1) continue;
      if (a.op_type == "Relu") {
        act.kind = ops::Activation::Kind::Relu;
      } else if (a.op_type == "LeakyRelu") {
        act.kind = ops::Activation::Kind::LeakyRelu;
        act.alpha = a.get_float("alpha", 0.01f);
      } else if (a.op_type == "Clip") {
        act.kind = ops::Activation::Kind::Clip;
        if (g.opset < 11) {
          act.lo = a.get_float("min", act.lo);
          act.hi = a.get_float("max", act.hi);
        } else {
          bool ok = true;
          for (size_t k = 1; k < 3 && k < a.inputs.size(); ++k) {
            if (a.inputs[k].empty()) continue;
            const Tensor* t = g.initializer(a.inputs[k]);
            if (!t || t->dtype() != DType::f32 || t->numel() != 1) { ok = false; break; }
            (k == 1 ? act.lo : act.hi) = t->data<float>()[0];
          }
          if (!ok) continue;
        }
      } else {
        continue;
      }
      if (uses[a.inputs[0]] != 1) continue;
      int pi = passes_detail::producer_index(g, a.inputs[0]);
      if (pi < 0) continue;
      Node& p = g.nodes[size_t(pi)];
      if ((p.op_type != "Conv" && p.op_type != "Gemm") || p.has(ops::kActivationAttr) || p.outputs.size() != 1) continue;
      act.to_node(p);
      p.outputs[0] = a.outputs[0];
      g.nodes.erase(g.nodes.begin() + long(ai));
      ++fused;
      changed = true;
    }
  }
  return fused;
}

}  // namespace qforge
