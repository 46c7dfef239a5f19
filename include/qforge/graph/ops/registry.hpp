// qforge/graph/ops/registry.hpp — the one table of fp32 ops: ONNX op type (default domain) -> OpDef.
//
// Contract: op_table() is built once (thread-safe static) from every op family header. An op type missing here
// is unsupported; the executor reports it at prepare with the node's name. Custom domains are not supported.
#pragma once
#include "qforge/graph/ops/conv.hpp"
#include "qforge/graph/ops/elementwise.hpp"
#include "qforge/graph/ops/gemm.hpp"
#include "qforge/graph/ops/loss.hpp"
#include "qforge/graph/ops/misc.hpp"
#include "qforge/graph/ops/norm.hpp"
#include "qforge/graph/ops/op.hpp"
#include "qforge/graph/ops/pool.hpp"
#include "qforge/graph/ops/quant_ops.hpp"
#include "qforge/graph/ops/reduce.hpp"
#include "qforge/graph/ops/resize.hpp"
#include "qforge/graph/ops/rnn.hpp"
#include "qforge/graph/ops/shape_ops.hpp"
#include "qforge/graph/ops/signal.hpp"
#include "qforge/graph/ops/vision.hpp"

namespace qforge::ops {

inline const OpTable& op_table() {
  static const OpTable table = [] {
    OpTable t;
    add_elementwise_ops(t);
    add_conv_ops(t);
    add_gemm_ops(t);
    add_loss_ops(t);
    add_misc_ops(t);
    add_quant_ops(t);
    add_norm_ops(t);
    add_pool_ops(t);
    add_reduce_ops(t);
    add_resize_ops(t);
    add_rnn_ops(t);
    add_shape_ops(t);
    add_signal_ops(t);
    add_vision_ops(t);
    return t;
  }();
  return table;
}

// The OpDef for a node, or an error naming the op type and node.
inline Result<const OpDef*> find_op(const Node& n) {
  if (!n.domain.empty() && n.domain != "ai.onnx")
    return make_error(n.label(), ": domain '", n.domain, "' is not supported");
  const auto& t = op_table();
  auto it = t.find(n.op_type);
  if (it == t.end()) return make_error(n.label(), ": op type '", n.op_type, "' is not supported");
  return &it->second;
}

}  // namespace qforge::ops
