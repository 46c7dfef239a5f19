// qforge/graph/executor.hpp — the fp32 graph executor (ncnn-style life cycle: prepare once, run const).
//
// Contract: Executor::prepare(graph, options) validates and sorts the graph, runs the passes (constant folding and
// Identity removal always; BN folding and activation fusion per options), builds one kernel per node from the op
// table (ops/registry.hpp) and checks attributes and dtypes; an unsupported op or attribute is an Error naming
// the op type and node. run() is const and thread-safe: it takes the graph inputs in declaration order, checks
// count, dtype and shape against the declared inputs (dims < 0 or an empty declared shape accept anything),
// runs the nodes in order and returns the graph outputs in order. Values are freed as soon as their last consumer
// has run. NaN/Inf in inputs are not rejected. A shape that does not fit an op gives an Error naming the node.
// The observer overload calls observer(name, tensor) for every graph input and then every value a node produces,
// in execution order (constants folded at prepare are not reported). Outputs may share storage with inputs or
// constants (Identity/Reshape are views); treat them as read-only or clone().
#pragma once
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "qforge/graph/ir.hpp"
#include "qforge/graph/ops/registry.hpp"
#include "qforge/graph/passes.hpp"
#include "qforge/graph/shape_infer.hpp"

namespace qforge {

struct ExecOptions {
  int threads = 0;  // 0 = OpenMP default
  bool fold_bn = true;
  bool fuse = true;
};

class Executor {
 public:
  using Observer = std::function<void(const std::string&, const Tensor&)>;

  static Result<Executor> prepare(Graph g, ExecOptions o = {}) {
    try {
      return prepare_impl(std::move(g), o);
    } catch (const std::bad_alloc&) {
      return make_error("out of memory while preparing graph");
    } catch (const std::exception& e) {
      return make_error("error while preparing graph: ", e.what());
    }
  }

  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) const { return run(inputs, Observer()); }

  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs, const Observer& observer) const {
    try {
      return run_impl(inputs, observer);
    } catch (const std::bad_alloc&) {
      return make_error("out of memory while running graph '", graph_.name, "'");
    } catch (const std::exception& e) {
      return make_error("error while running graph '", graph_.name, "': ", e.what());
    }
  }

  // The prepared (folded / fused) graph.
  const Graph& graph() const { return graph_; }
  const ExecOptions& options() const { return opt_; }
  // Dtype (and, when static, shape) of every value of the prepared graph as known at prepare.
  const std::map<std::string, ValueMeta>& values() const { return meta_; }

 private:
  static Result<Executor> prepare_impl(Graph g, ExecOptions o) {
    Executor ex;
    ex.opt_ = o;
    QF_RETURN_IF_ERROR(g.validate_and_sort());
    for (auto& n : g.nodes) QF_RETURN_IF_ERROR(ops::find_op(n));  // unsupported ops fail fast, by name
    {
      auto r = fold_constants(g);
      if (!r.ok()) return r.error();
    }
    remove_identities(g);
    if (o.fold_bn) fold_batchnorm(g);
    if (o.fuse) fuse_activations(g);
    QF_RETURN_IF_ERROR(g.validate_and_sort());
    PropagateOptions po;
    po.strict = true;
    po.infer_shapes = true;  // values() then carries static shapes where the inputs' shapes allow
    std::vector<std::shared_ptr<const ops::OpKernel>> kernels;
    QF_RETURN_IF_ERROR(propagate(g, po, ex.meta_, &kernels));
    ex.graph_ = std::move(g);
    const Graph& G = ex.graph_;

    // Slots: one per value name.
    auto slot_of = [&](const std::string& name) {
      auto it = ex.slot_.find(name);
      if (it != ex.slot_.end()) return it->second;
      int s = int(ex.names_.size());
      ex.slot_[name] = s;
      ex.names_.push_back(name);
      ex.dtypes_.push_back(DType::f32);
      return s;
    };
    for (auto& kv : G.initializers) {
      int s = slot_of(kv.first);
      if (size_t(s) >= ex.constants_.size()) ex.constants_.resize(size_t(s) + 1);
      ex.constants_[size_t(s)] = kv.second;
    }
    for (auto& v : G.inputs) ex.input_slots_.push_back(slot_of(v.name));
    for (size_t i = 0; i < G.nodes.size(); ++i) {
      Step st;
      st.kernel = kernels[i];
      for (auto& in : G.nodes[i].inputs) st.in.push_back(in.empty() ? -1 : slot_of(in));
      for (auto& out : G.nodes[i].outputs) {
        st.out.push_back(out.empty() ? -1 : slot_of(out));
        if (!out.empty()) ex.dtypes_[size_t(ex.slot_[out])] = ex.meta_[out].dtype;
      }
      ex.steps_.push_back(std::move(st));
    }
    for (auto& v : G.outputs) ex.output_slots_.push_back(slot_of(v.name));
    ex.constants_.resize(ex.names_.size());
    // Free each non-constant, non-output value after its last consumer.
    std::vector<int> last(ex.names_.size(), -1);
    for (size_t i = 0; i < ex.steps_.size(); ++i)
      for (int s : ex.steps_[i].in)
        if (s >= 0) last[size_t(s)] = int(i);
    std::vector<bool> keep(ex.names_.size(), false);
    for (int s : ex.output_slots_) keep[size_t(s)] = true;
    for (size_t s = 0; s < last.size(); ++s)
      if (last[s] >= 0 && !keep[s] && !ex.constants_[s].defined()) ex.steps_[size_t(last[s])].free_after.push_back(int(s));
    return ex;
  }

  struct Step {
    std::shared_ptr<const ops::OpKernel> kernel;
    std::vector<int> in, out, free_after;
  };

  Status check_inputs(const std::vector<Tensor>& inputs) const {
    const auto& decl = graph_.inputs;
    if (inputs.size() != decl.size())
      return make_error("graph '", graph_.name, "' takes ", decl.size(), " inputs, got ", inputs.size());
    for (size_t i = 0; i < decl.size(); ++i) {
      const Tensor& t = inputs[i];
      const ValueInfo& v = decl[i];
      if (!t.defined()) return make_error("input ", i, " ('", v.name, "') is an empty tensor handle");
      if (t.dtype() != v.dtype)
        return make_error("input ", i, " ('", v.name, "') has dtype ", dtype_name(t.dtype()), ", expected ",
                          dtype_name(v.dtype));
      if (v.shape.empty()) continue;
      bool ok = t.rank() == v.shape.size();
      for (size_t d = 0; ok && d < v.shape.size(); ++d) ok = v.shape[d] < 0 || v.shape[d] == t.dim(d);
      if (!ok)
        return make_error("input ", i, " ('", v.name, "') has shape ", shape_str(t.shape()), ", expected ",
                          shape_str(v.shape), " (-1 = any)");
    }
    return Status::Ok();
  }

  Result<std::vector<Tensor>> run_impl(const std::vector<Tensor>& inputs, const Observer& observer) const {
    QF_RETURN_IF_ERROR(check_inputs(inputs));
    ops::RunContext rc;
    rc.threads = opt_.threads;
    std::vector<Tensor> vals(names_.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      vals[size_t(input_slots_[i])] = inputs[i];
      if (observer) observer(names_[size_t(input_slots_[i])], inputs[i]);
    }
    std::vector<const Tensor*> in;
    std::vector<Tensor> out;
    for (size_t si = 0; si < steps_.size(); ++si) {
      const Step& st = steps_[si];
      const Node& node = graph_.nodes[si];
      in.assign(st.in.size(), nullptr);
      for (size_t k = 0; k < st.in.size(); ++k) {
        int s = st.in[k];
        if (s < 0) continue;
        const Tensor* t = constants_[size_t(s)].defined() ? &constants_[size_t(s)] : &vals[size_t(s)];
        if (!t->defined()) return make_error(node.label(), ": input '", names_[size_t(s)], "' has no value");
        in[k] = t;
      }
      out.assign(st.out.size(), Tensor());
      Status status = st.kernel->run(rc, in, out);
      if (!status.ok()) return status.error().wrap(node.label());
      for (size_t k = 0; k < st.out.size(); ++k) {
        int s = st.out[k];
        if (s < 0) continue;
        if (!out[k].defined())
          return make_error(node.label(), ": internal: output '", names_[size_t(s)], "' was not produced");
        if (out[k].dtype() != dtypes_[size_t(s)])
          return make_error(node.label(), ": internal: output '", names_[size_t(s)], "' has dtype ",
                            dtype_name(out[k].dtype()), ", declared ", dtype_name(dtypes_[size_t(s)]));
        vals[size_t(s)] = std::move(out[k]);
        if (observer) observer(names_[size_t(s)], vals[size_t(s)]);
      }
      for (int s : st.free_after) vals[size_t(s)] = Tensor();
    }
    std::vector<Tensor> res;
    res.reserve(output_slots_.size());
    for (int s : output_slots_) {
      const Tensor& t = constants_[size_t(s)].defined() ? constants_[size_t(s)] : vals[size_t(s)];
      if (!t.defined()) return make_error("graph output '", names_[size_t(s)], "' has no value");
      res.push_back(t);
    }
    return res;
  }

  Graph graph_;
  ExecOptions opt_;
  std::map<std::string, ValueMeta> meta_;
  std::map<std::string, int> slot_;
  std::vector<std::string> names_;
  std::vector<DType> dtypes_;
  std::vector<Tensor> constants_;  // per slot; defined for initializers
  std::vector<int> input_slots_, output_slots_;
  std::vector<Step> steps_;
};

}  // namespace qforge
