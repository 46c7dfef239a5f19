// Helpers shared by the test_exec_* executables: build small graphs by hand, fill tensors, compare.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/rng.hpp"
#include "test_tensor_helpers.hpp"
#include "qforge/graph/executor.hpp"

namespace qft {

using namespace qforge;

inline Node node(std::string op, std::vector<std::string> in, std::vector<std::string> out,
                 std::map<std::string, Attribute> attrs = {}, std::string name = "") {
  Node n;
  n.op_type = std::move(op);
  n.name = name.empty() ? n.op_type + "_" + (out.empty() ? std::string("x") : out[0]) : name;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.attrs = std::move(attrs);
  return n;
}

inline ValueInfo vi(std::string name, Shape s, DType t = DType::f32) { return ValueInfo{std::move(name), t, std::move(s)}; }

inline std::vector<Tensor> run_ok(const Graph& g, const std::vector<Tensor>& in, ExecOptions o = {}) {
  auto ex = Executor::prepare(g, o);
  if (!ex.ok()) FAIL(ex.error().message);
  auto r = ex->run(in);
  if (!r.ok()) FAIL(r.error().message);
  return r.value();
}

}  // namespace qft
