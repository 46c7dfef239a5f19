// qforge/graph/onnx_case.hpp — run one ONNX backend-test case directory (model.onnx + test_data_set_*/input_*.pb,
// output_*.pb) through the fp32 Executor and compare, as ONNX's own runner does.
//
// Contract: UNSUPPORTED when the model or a data file cannot be read into qforge's IR/dtypes or when
// Executor::prepare rejects the graph (unsupported op/attribute/dtype) — the reason is the error message; FAIL
// when a run errors or an output differs: float outputs must satisfy |got - want| <= atol + rtol * |want| (NaN
// matches NaN, infinities must be equal), other dtypes must match exactly, shapes and dtypes must match; PASS
// otherwise. The message of a FAIL names the data set, output, worst element (flat index, got, want).
#pragma once
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "qforge/graph/executor.hpp"
#include "qforge/io/onnx.hpp"

namespace qforge {

struct OnnxCaseOptions {
  double rtol = 1e-3;
  double atol = 1e-7;
  ExecOptions exec;
};

struct OnnxCaseResult {
  enum class Status { Pass, Fail, Unsupported };
  Status status = Status::Unsupported;
  std::string message;
  int data_sets = 0;
  const char* status_name() const {
    return status == Status::Pass ? "PASS" : status == Status::Fail ? "FAIL" : "UNSUPPORTED";
  }
};

namespace onnx_case_detail {

// Empty string when equal within tolerance, else a description of the worst element.
inline std::string compare(const Tensor& got, const Tensor& want, double rtol, double atol) {
  std::ostringstream os;
  if (got.dtype() != want.dtype()) {
    os << "dtype " << dtype_name(got.dtype()) << ", expected " << dtype_name(want.dtype());
    return os.str();
  }
  if (got.shape() != want.shape()) {
    os << "shape " << shape_str(got.shape()) << ", expected " << shape_str(want.shape());
    return os.str();
  }
  int64_t n = got.numel(), worst = -1, bad = 0;
  double worst_excess = -1;
  double wg = 0, ww = 0;
  for (int64_t i = 0; i < n; ++i) {
    double g = 0, w = 0;
    bool ok;
    switch (got.dtype()) {
      case DType::f32: {
        g = got.data<float>()[i];
        w = want.data<float>()[i];
        if (std::isnan(w) || std::isnan(g)) ok = std::isnan(w) && std::isnan(g);
        else if (std::isinf(w) || std::isinf(g)) ok = g == w;
        else ok = std::fabs(g - w) <= atol + rtol * std::fabs(w);
        break;
      }
      case DType::i64: g = double(got.data<int64_t>()[i]); w = double(want.data<int64_t>()[i]);
        ok = got.data<int64_t>()[i] == want.data<int64_t>()[i]; break;
      case DType::i32: g = got.data<int32_t>()[i]; w = want.data<int32_t>()[i]; ok = g == w; break;
      case DType::i8: g = got.data<int8_t>()[i]; w = want.data<int8_t>()[i]; ok = g == w; break;
      case DType::u8: g = got.data<uint8_t>()[i]; w = want.data<uint8_t>()[i]; ok = g == w; break;
      case DType::boolean: g = got.data<bool>()[i]; w = want.data<bool>()[i]; ok = g == w; break;
      default: ok = false;
    }
    if (!ok) {
      ++bad;
      double excess = std::isfinite(g - w) ? std::fabs(g - w) - (atol + rtol * std::fabs(w)) : 1e300;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = i;
        wg = g;
        ww = w;
      }
    }
  }
  if (!bad) return "";
  os.precision(9);
  os << bad << " of " << n << " elements differ; worst at flat index " << worst << ": got " << wg << ", want " << ww;
  return os.str();
}

}  // namespace onnx_case_detail

inline OnnxCaseResult run_onnx_case(const std::string& dir, const OnnxCaseOptions& o = {}) {
  namespace fs = std::filesystem;
  using S = OnnxCaseResult::Status;
  OnnxCaseResult r;
  auto graph = load_onnx((fs::path(dir) / "model.onnx").string());
  if (!graph.ok()) {
    r.status = S::Unsupported;
    r.message = graph.error().message;
    return r;
  }
  auto ex = Executor::prepare(graph.value(), o.exec);
  if (!ex.ok()) {
    r.status = S::Unsupported;
    r.message = ex.error().message;
    return r;
  }
  std::vector<fs::path> sets;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) {
    r.status = S::Unsupported;
    r.message = dir + ": no test_data_set_* directories";
    return r;
  }
  for (auto& set : sets) {
    auto load_all = [&](const char* prefix, std::vector<Tensor>& v) -> Status {
      for (int k = 0;; ++k) {
        fs::path p = set / (std::string(prefix) + std::to_string(k) + ".pb");
        if (!fs::exists(p)) break;
        auto t = load_tensor_proto(p.string());
        if (!t.ok()) return t.error();
        v.push_back(std::move(t).value());
      }
      return Status::Ok();
    };
    std::vector<Tensor> ins, want;
    Status st = load_all("input_", ins);
    if (st.ok()) st = load_all("output_", want);
    if (!st.ok()) {
      r.status = S::Unsupported;
      r.message = st.error().message;
      return r;
    }
    auto got = ex->run(ins);
    std::string set_name = set.filename().string();
    if (!got.ok()) {
      r.status = S::Fail;
      r.message = set_name + ": " + got.error().message;
      return r;
    }
    if (got->size() != want.size()) {
      r.status = S::Fail;
      r.message = set_name + ": " + std::to_string(got->size()) + " outputs, expected " + std::to_string(want.size());
      return r;
    }
    for (size_t k = 0; k < want.size(); ++k) {
      std::string d = onnx_case_detail::compare((*got)[k], want[k], o.rtol, o.atol);
      if (!d.empty()) {
        r.status = S::Fail;
        r.message = set_name + ": output " + std::to_string(k) + " ('" + ex->graph().outputs[k].name + "'): " + d;
        return r;
      }
    }
    ++r.data_sets;
  }
  r.status = S::Pass;
  return r;
}

}  // namespace qforge
