// qforge/quant/float_ops.hpp — fp32 fallback nodes of a QGraph: builds one fp32 op kernel for one Node.
//
// Contract: build_float_kernel(node, constants, opset) looks the node's op_type up in float_op_table() (the fp32
// executor's table, graph/ops/registry.hpp, plus the ONNX quantization ops of onnx_qops.hpp), passes initializer inputs as constants and every other input as a value of unknown shape
// and the dtype `dtypes` gives (float32 when absent), and returns the immutable kernel (or the factory's error). Used by the int8 executor for --exclude'd
// nodes and ops without an int8 version.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "qforge/core/error.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/graph/ops/op.hpp"
#include "qforge/graph/ops/registry.hpp"
#if !defined(QFORGE_PRECOMPILED_OPS) || defined(QFORGE_OP_TABLES_IMPLEMENTATION)
#include "qforge/quant/onnx_qops.hpp"
#endif

namespace qforge::quant {

#if defined(QFORGE_PRECOMPILED_OPS) && !defined(QFORGE_OP_TABLES_IMPLEMENTATION)
const ops::OpTable& float_op_table();  // defined once in qforge/op_tables.cpp (see graph/ops/registry.hpp)
#else
QFORGE_OP_TABLE_LINKAGE const ops::OpTable& float_op_table() {
  static const ops::OpTable table = [] {
    ops::OpTable t = ops::op_table();  // the fp32 executor's ops
    add_onnx_quant_ops(t);              // + QuantizeLinear, DequantizeLinear, QLinearConv, ... (onnx_qops.hpp)
    return t;
  }();
  return table;
}
#endif

inline Result<std::shared_ptr<ops::OpKernel>> build_float_kernel(const Node& n,
                                                                 const std::map<std::string, Tensor>& constants,
                                                                 int64_t opset,
                                                                 const std::map<std::string, DType>* dtypes = nullptr,
                                                                 std::vector<DType>* out_dtypes = nullptr) {
  const auto& table = float_op_table();
  auto it = table.find(n.op_type);
  if (it == table.end() || !n.domain.empty())
    return make_error("op '", n.op_type, "' has no fp32 implementation for the fallback");
  std::vector<ops::ValueMeta> metas(n.inputs.size());
  ops::BuildContext bc{n, opset, {}, {}};
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    if (n.inputs[k].empty()) {
      bc.in.push_back(nullptr);
      continue;
    }
    auto c = constants.find(n.inputs[k]);
    if (c != constants.end()) {
      metas[k].dtype = c->second.dtype();
      metas[k].has_shape = true;
      metas[k].shape = c->second.shape();
      metas[k].value = c->second;
    } else if (dtypes) {
      auto d = dtypes->find(n.inputs[k]);
      if (d != dtypes->end()) metas[k].dtype = d->second;
    }
    bc.in.push_back(&metas[k]);
  }
  auto k = it->second.factory(bc);
  if (!k.ok()) return k.error();
  if (out_dtypes) *out_dtypes = bc.out_dtypes;
  return std::shared_ptr<ops::OpKernel>(std::move(k).value());
}

}  // namespace qforge::quant
