// qforge/model.hpp — one handle for any model file qforge reads: ONNX (.onnx) or the qforge container (.qf).
//
// Contract: Model::load picks the reader by content (ONNX protobuf or the safetensors-style container), prepares
// the fp32 executor (BN folded, activations fused) and keeps the imported graph for its metadata and input spec.
// run() is const and thread-safe. Errors name the file.
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/executor.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/io/model_file.hpp"
#include "qforge/io/onnx.hpp"

namespace qforge {

struct ModelOptions {
  int threads = 0;  // 0 = OpenMP default
};

class Model {
 public:
  static Result<Model> load(const std::string& path, const ModelOptions& opt = {}) {
    QF_ASSIGN_OR_RETURN(Graph g, read_graph(path));
    ExecOptions eo;
    eo.threads = opt.threads;
    auto ex = Executor::prepare(g, eo);
    if (!ex.ok()) return ex.error().wrap(path);
    Model m;
    m.path_ = path;
    m.source_ = std::make_shared<const Graph>(std::move(g));
    m.exec_ = std::make_shared<const Executor>(std::move(ex).value());
    return m;
  }

  // The graph as imported (before folding): inputs, outputs, metadata.
  const Graph& graph() const { return *source_; }
  const std::string& path() const { return path_; }
  const char* kind() const { return "fp32"; }

  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) const { return exec_->run(inputs); }

  // Reads a graph from .onnx or .qf, deciding by the file's first bytes (the container starts with an 8-byte
  // little-endian header length followed by '{').
  static Result<Graph> read_graph(const std::string& path) {
    unsigned char head[9] = {0};
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return make_error(path, ": cannot open");
    size_t got = std::fread(head, 1, sizeof head, f);
    std::fclose(f);
    bool container = got == sizeof head && head[8] == '{';
    return container ? io::load_model(path) : io::load_onnx(path);
  }

 private:
  std::string path_;
  std::shared_ptr<const Graph> source_;
  std::shared_ptr<const Executor> exec_;
};

}  // namespace qforge
