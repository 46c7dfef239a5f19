// qforge/model.hpp — one handle for any model file qforge reads: ONNX (.onnx), the fp32 container (.qf) or an
// int8 model written by `qforge quantize` (.q.qf).
//
// Contract: Model::load picks the reader by content (quant/any_model.hpp), prepares the matching executor (fp32:
// BN folded, activations fused; int8: the QGraph executor on the fastest kernels this CPU has) and keeps the
// model's header (name, inputs, outputs, metadata) for its input spec. run() is const and thread-safe. Errors
// name the file.
#pragma once
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/quant/any_model.hpp"

namespace qforge {

struct ModelOptions {
  int threads = 0;  // 0 = OpenMP default
};

class Model {
 public:
  static Result<Model> load(const std::string& path, const ModelOptions& opt = {}) {
    QF_ASSIGN_OR_RETURN(quant::AnyModel m, quant::load_any_model(path, opt.threads));
    Model out;
    out.m_ = std::move(m);
    return out;
  }

  // Inputs, outputs and metadata (qforge.mean / qforge.std) of the file; no nodes.
  const Graph& graph() const { return m_.header(); }
  const std::string& path() const { return m_.path(); }
  const char* kind() const { return m_.kind(); }  // "fp32" or "int8"

  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) const { return m_.run(inputs); }

 private:
  quant::AnyModel m_;
};

}  // namespace qforge
