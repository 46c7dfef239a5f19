// qforge/graph/shape_infer.hpp — what is known about every value of a Graph before it runs: dtype, static shape
// (when the graph inputs' shapes are static enough) and constant value; plus constant folding.
//
// Contract: propagate() walks the (sorted) nodes once, building each node's kernel from the op table with the
// metadata of its inputs. Graph inputs take dtype and shape from their ValueInfo (an empty shape means "unknown
// rank"; dims < 0 are dynamic). Initializers are constants. With fold, a node whose inputs are all constants is
// evaluated and replaced by initializers (Shape/Size of a static shape fold too). With infer_shapes, a node whose
// non-constant inputs have static shapes (and whose shape-deciding inputs are constants) is run once on zeros to
// learn its output shapes (skipped above `budget` input elements). strict = false leaves unsupported or
// ill-formed nodes alone (passes); strict = true makes them errors naming the node (the executor's prepare).
#pragma once
#include <exception>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "qforge/graph/ir.hpp"
#include "qforge/graph/ops/registry.hpp"

namespace qforge {

using ops::ValueMeta;

struct PropagateOptions {
  bool fold = false;
  bool infer_shapes = false;
  bool strict = false;
  int64_t budget = int64_t(1) << 24;  // max input elements of a node evaluated for shape inference
};

namespace shape_infer_detail {

inline Result<Tensor> zeros_like_meta(const ValueMeta& m) {
  return Tensor::create(m.dtype, m.shape);
}

}  // namespace shape_infer_detail

// Walks g.nodes in order (g must be sorted). meta gets an entry for every value whose dtype is known. kernels,
// when given, receives one kernel per remaining node (strict mode: all nodes). Folded nodes are removed from g
// and their outputs become initializers; initializers no node or output uses any more are dropped.
inline Status propagate(Graph& g, const PropagateOptions& o, std::map<std::string, ValueMeta>& meta,
                        std::vector<std::shared_ptr<const ops::OpKernel>>* kernels = nullptr) {
  meta.clear();
  for (auto& kv : g.initializers) {
    ValueMeta m;
    m.dtype = kv.second.dtype();
    m.has_shape = true;
    m.shape = kv.second.shape();
    m.value = kv.second;
    meta[kv.first] = m;
  }
  for (auto& vi : g.inputs) {
    ValueMeta m;
    m.dtype = vi.dtype;
    m.has_shape = !vi.shape.empty();
    m.shape = vi.shape;
    meta[vi.name] = m;
  }
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  ops::RunContext rc;
  rc.threads = 1;
  for (auto& node : g.nodes) {
    auto unknown = [&](const Error& e) -> Status {
      if (o.strict) return e;
      kept.push_back(node);
      return Status::Ok();
    };
    auto def = ops::find_op(node);
    if (!def.ok()) {
      QF_RETURN_IF_ERROR(unknown(def.error()));
      continue;
    }
    // Every op kernel writes its first output (found by tests/fuzz/fuzz_onnx: a node without outputs).
    if (node.outputs.empty()) return make_error(node.label(), ": the node has no outputs");
    ops::BuildContext ctx{node, g.opset, {}, {}};
    bool inputs_known = true;
    std::string missing;
    for (auto& in : node.inputs) {
      if (in.empty()) {
        ctx.in.push_back(nullptr);
        continue;
      }
      auto it = meta.find(in);
      if (it == meta.end()) {
        inputs_known = false;
        missing = in;
        ctx.in.push_back(nullptr);
        continue;
      }
      ctx.in.push_back(&it->second);
    }
    if (!inputs_known) {
      QF_RETURN_IF_ERROR(unknown(make_error(node.label(), ": input '", missing, "' has no known type")));
      continue;
    }
    auto built = def.value()->factory(ctx);
    if (!built.ok()) {
      QF_RETURN_IF_ERROR(unknown(built.error().wrap(node.label())));
      continue;
    }
    if (ctx.out_dtypes.size() != node.outputs.size()) {
      QF_RETURN_IF_ERROR(unknown(make_error(node.label(), ": internal: op declared ", ctx.out_dtypes.size(),
                                            " output dtypes for ", node.outputs.size(), " outputs")));
      continue;
    }
    std::shared_ptr<const ops::OpKernel> kernel(std::move(built).value());
    bool all_const = def.value()->foldable;
    for (size_t k = 0; k < ctx.in.size(); ++k)
      if (ctx.in[k] && !ctx.in[k]->is_const()) all_const = false;

    std::vector<ValueMeta> outs(node.outputs.size());
    for (size_t k = 0; k < outs.size(); ++k) outs[k].dtype = ctx.out_dtypes[k];
    bool folded = false;

    std::vector<const Tensor*> ins(ctx.in.size(), nullptr);
    if (o.fold && all_const) {
      for (size_t k = 0; k < ctx.in.size(); ++k) ins[k] = ctx.in[k] ? &ctx.in[k]->value : nullptr;
      std::vector<Tensor> res(node.outputs.size());
      Status st = kernel->run(rc, ins, res);
      if (st.ok()) {
        folded = true;
        for (size_t k = 0; k < res.size(); ++k) {
          if (node.outputs[k].empty()) continue;
          if (!res[k].defined()) { folded = false; break; }
          outs[k].has_shape = true;
          outs[k].shape = res[k].shape();
          outs[k].value = res[k];
          outs[k].dtype = res[k].dtype();
        }
      }
    } else if (o.fold && (node.op_type == "Shape" || node.op_type == "Size") && ctx.in.size() == 1 && ctx.in[0] &&
               ctx.in[0]->shape_static()) {
      const Shape& s = ctx.in[0]->shape;
      Tensor v;
      if (node.op_type == "Size") {
        v = Tensor::scalar<int64_t>(ops::dims_product(s, 0, s.size()));
      } else {
        int64_t r = int64_t(s.size());
        int64_t b = node.get_int("start", 0), e = node.has("end") ? node.get_int("end", r) : r;
        if (b < 0) b += r;
        if (e < 0) e += r;
        b = std::clamp<int64_t>(b, 0, r);
        e = std::clamp<int64_t>(e, 0, r);
        std::vector<int64_t> dims;
        for (int64_t i = b; i < e; ++i) dims.push_back(s[size_t(i)]);
        v = Tensor::from_vector<int64_t>({int64_t(dims.size())}, dims);
      }
      folded = !node.outputs.empty() && !node.outputs[0].empty();
      if (folded) {
        outs[0].has_shape = true;
        outs[0].shape = v.shape();
        outs[0].value = v;
      }
    }
    if (!folded && o.infer_shapes) {
      bool ok = true;
      int64_t total = 0;
      for (size_t k = 0; k < ctx.in.size() && ok; ++k) {
        const ValueMeta* m = ctx.in[k];
        if (!m) continue;
        if (def.value()->value_inputs >> k & 1u) {
          if (!m->is_const()) ok = false;
          continue;
        }
        if (!m->is_const()) {
          if (!m->shape_static()) { ok = false; continue; }
          total += ops::dims_product(m->shape, 0, m->shape.size());
        }
      }
      if (ok && total <= o.budget) {
        std::vector<Tensor> dummies(ctx.in.size());
        for (size_t k = 0; k < ctx.in.size() && ok; ++k) {
          const ValueMeta* m = ctx.in[k];
          if (!m) continue;
          if (m->is_const()) {
            ins[k] = &m->value;
          } else {
            auto z = shape_infer_detail::zeros_like_meta(*m);
            if (!z.ok()) { ok = false; break; }
            dummies[k] = std::move(z).value();
            ins[k] = &dummies[k];
          }
        }
        if (ok) {
          std::vector<Tensor> res(node.outputs.size());
          Status st = kernel->run(rc, ins, res);
          if (st.ok()) {
            for (size_t k = 0; k < res.size(); ++k)
              if (res[k].defined()) {
                outs[k].has_shape = true;
                outs[k].shape = res[k].shape();
              }
          }
        }
      }
    }
    for (size_t k = 0; k < node.outputs.size(); ++k)
      if (!node.outputs[k].empty()) meta[node.outputs[k]] = outs[k];
    if (folded) {
      for (size_t k = 0; k < node.outputs.size(); ++k)
        if (!node.outputs[k].empty()) g.initializers[node.outputs[k]] = outs[k].value;
      continue;
    }
    kept.push_back(node);
    if (kernels) kernels->push_back(std::move(kernel));
  }
  g.nodes = std::move(kept);
  if (o.fold) {
    std::set<std::string> used;
    for (auto& n : g.nodes)
      for (auto& i : n.inputs) used.insert(i);
    for (auto& v : g.outputs) used.insert(v.name);
    for (auto it = g.initializers.begin(); it != g.initializers.end();) {
      if (!used.count(it->first)) it = g.initializers.erase(it);
      else ++it;
    }
  }
  return Status::Ok();
}

// Dtype / static shape / constant of every value of g (a copy is sorted and analysed; g is not changed).
inline Result<std::map<std::string, ValueMeta>> infer_values(const Graph& g) {
  try {
    Graph c = g;
    QF_RETURN_IF_ERROR(c.validate_and_sort());
    std::map<std::string, ValueMeta> meta;
    PropagateOptions o;
    o.infer_shapes = true;
    QF_RETURN_IF_ERROR(propagate(c, o, meta));
    return meta;
  } catch (const std::exception& e) {
    return make_error("shape inference failed: ", e.what());
  }
}

}  // namespace qforge
