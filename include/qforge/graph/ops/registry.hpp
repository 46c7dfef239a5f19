// qforge/graph/ops/registry.hpp — the one table of fp32 ops: ONNX op type (default domain) -> OpDef.
//
// Contract: op_table() is built once (thread-safe static) from every op family header. An op type missing here
// is unsupported; the executor reports it at prepare with the node's name. Custom domains are not supported.
//
// Build time: op_table() instantiates every op kernel, which is most of the compile time of any file that runs a
// graph. Header-only use defines it inline in each such file. A project with many files can define
// QFORGE_PRECOMPILED_OPS everywhere and compile qforge/op_tables.cpp once (CMake: link qforge::ops): then this
// header only declares op_table() (and quant/float_ops.hpp only float_op_table()).
#pragma once
#include "qforge/graph/ops/op.hpp"

#if defined(QFORGE_PRECOMPILED_OPS) && !defined(QFORGE_OP_TABLES_IMPLEMENTATION)
namespace qforge::ops {
const OpTable& op_table();
}
#else
#include "qforge/graph/ops/conv.hpp"
#include "qforge/graph/ops/elementwise.hpp"
#include "qforge/graph/ops/gemm.hpp"
#include "qforge/graph/ops/loss.hpp"
#include "qforge/graph/ops/misc.hpp"
#include "qforge/graph/ops/norm.hpp"
#include "qforge/graph/ops/pool.hpp"
#include "qforge/graph/ops/quant_ops.hpp"
#include "qforge/graph/ops/reduce.hpp"
#include "qforge/graph/ops/resize.hpp"
#include "qforge/graph/ops/rnn.hpp"
#include "qforge/graph/ops/shape_ops.hpp"
#include "qforge/graph/ops/signal.hpp"
#include "qforge/graph/ops/vision.hpp"

#if defined(QFORGE_OP_TABLES_IMPLEMENTATION)
#define QFORGE_OP_TABLE_LINKAGE
#else
#define QFORGE_OP_TABLE_LINKAGE inline
#endif

namespace qforge::ops {

QFORGE_OP_TABLE_LINKAGE const OpTable& op_table() {
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

}  // namespace qforge::ops
#endif

namespace qforge::ops {

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
