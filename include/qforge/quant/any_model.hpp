// qforge/quant/any_model.hpp — load any model file qforge writes or reads and run it: fp32 ONNX (.onnx), fp32
// container (.qf, "qforge.kind":"graph") or int8 container (.q.qf, "qforge.kind":"int8").
//
// Contract: load_any_model(path) decides by content, not by extension, prepares the matching executor (fp32:
// BN folding + activation fusion; int8: the QGraph executor) and returns an immutable handle whose run() is
// thread-safe and takes/returns float32 tensors in the model's declared order. header() has the model's name,
// inputs, outputs and metadata (qforge.mean / qforge.std for data::input_spec_of). Errors name the file.
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/finite.hpp"
#include "qforge/graph/executor.hpp"
#include "qforge/io/file_util.hpp"
#include "qforge/io/model_file.hpp"
#include "qforge/io/tensor_file.hpp"
#include "qforge/quant/qexecutor.hpp"
#include "qforge/quant/qgraph_io.hpp"

namespace qforge::quant {

class AnyModel {
 public:
  bool is_int8() const { return int8_ != nullptr; }
  const char* kind() const { return is_int8() ? "int8" : "fp32"; }
  // Name, inputs, outputs and metadata (no nodes).
  const Graph& header() const { return header_; }
  const std::string& path() const { return path_; }
  const QGraph* qgraph() const { return int8_ ? &int8_->graph() : nullptr; }
  const Executor* fp32() const { return fp32_.get(); }

  // Float inputs must be finite (core/finite.hpp); the error names the input.
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) const {
    for (size_t i = 0; i < inputs.size() && i < header_.inputs.size(); ++i)
      QF_RETURN_IF_ERROR(check_finite(inputs[i], "input '" + header_.inputs[i].name + "'"));
    if (int8_) return int8_->run(inputs);
    return fp32_->run(inputs);
  }

  static Result<AnyModel> from_graph(Graph g, const std::string& path, int threads) {
    AnyModel m;
    m.path_ = path;
    m.header_ = header_of(g);
    ExecOptions eo;
    eo.threads = threads;
    auto ex = Executor::prepare(std::move(g), eo);
    if (!ex.ok()) return ex.error().wrap(path);
    m.fp32_ = std::make_shared<const Executor>(std::move(ex).value());
    return m;
  }

  static Result<AnyModel> from_qgraph(QGraph q, const std::string& path, int threads) {
    AnyModel m;
    m.path_ = path;
    m.header_.name = q.name;
    m.header_.inputs = q.inputs;
    m.header_.outputs = q.outputs;
    m.header_.metadata = q.metadata;
    m.header_.opset = q.opset;
    QExecOptions qo;
    qo.threads = threads;
    auto ex = QExecutor::prepare(std::move(q), qo);
    if (!ex.ok()) return ex.error().wrap(path);
    m.int8_ = std::make_shared<const QExecutor>(std::move(ex).value());
    return m;
  }

 private:
  static Graph header_of(const Graph& g) {
    Graph h;
    h.name = g.name;
    h.inputs = g.inputs;
    h.outputs = g.outputs;
    h.metadata = g.metadata;
    h.opset = g.opset;
    h.producer = g.producer;
    return h;
  }

  std::string path_;
  Graph header_;
  std::shared_ptr<const Executor> fp32_;
  std::shared_ptr<const QExecutor> int8_;
};

inline Result<AnyModel> load_any_model(const std::string& path, int threads = 0) {
  uint8_t head[16] = {0};
  size_t got = 0;
  {
    auto f = io::open_for_reading(path);
    if (!f.ok()) return f.error();
    got = std::fread(head, 1, sizeof head, f->get());
  }
  if (guess_model_format(head, got) == ModelFormat::container) {
    QF_ASSIGN_OR_RETURN(TensorFile tf, load_tensor_file(path));
    auto kind = tf.metadata.find("qforge.kind");
    if (kind != tf.metadata.end() && kind->second == kModelKindInt8) {
      auto q = qgraph_from_tensor_file(tf);
      if (!q.ok()) return q.error().wrap(path);
      return AnyModel::from_qgraph(std::move(q).value(), path, threads);
    }
    auto g = model_from_tensor_file(tf);
    if (!g.ok()) return g.error().wrap(path);
    return AnyModel::from_graph(std::move(g).value(), path, threads);
  }
  QF_ASSIGN_OR_RETURN(Graph g, load_graph(path));
  return AnyModel::from_graph(std::move(g), path, threads);
}

}  // namespace qforge::quant
