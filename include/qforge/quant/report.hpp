// qforge/quant/report.hpp — per-layer quantization report: SQNR of every quantized tensor, int8 vs fp32.
//
// Contract: sqnr_report runs the prepared fp32 graph and the int8 executor side by side on a calibration set
// and, for every quantized value (named by its fp32 value) and every graph output, accumulates
//   SQNR = 10·log10(Σ x² / Σ (x − x̂)²)  dB        (x fp32, x̂ the dequantized int8 value; +inf if exact)
// over all images. Layers are listed worst first, with the calibrated range, the observed range and the
// quantization parameters. to_json() gives the --report file, table() the short terminal table.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/graph/executor.hpp"
#include "qforge/io/json.hpp"
#include "qforge/quant/calibrate.hpp"
#include "qforge/quant/qexecutor.hpp"
#include "qforge/quant/quantize.hpp"

namespace qforge::quant {

struct LayerReport {
  std::string value;  // fp32 value name
  std::string node;   // QGraph node that makes it
  std::string op;     // its kind
  bool quantized = true;
  double signal = 0, noise = 0;
  int64_t count = 0;
  bool has_range = false;
  RangeRecord range;
  double sqnr_db() const {
    if (noise <= 0) return std::numeric_limits<double>::infinity();
    if (signal <= 0) return -std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(signal / noise);
  }
};

struct QuantReport {
  std::vector<LayerReport> layers;   // quantized tensors, worst SQNR first
  std::vector<LayerReport> outputs;  // graph outputs (float)
  int64_t images = 0;
  int64_t top1_agree = 0;            // images whose argmax of output 0 matches fp32
  std::map<std::string, std::string> settings;
  std::vector<std::string> warnings, float_nodes;

  Json to_json() const {
    auto num = [](double v) -> Json {
      if (std::isinf(v)) return Json(v > 0 ? "inf" : "-inf");
      if (std::isnan(v)) return Json("nan");
      return Json(v);
    };
    Json j = Json::object();
    Json s = Json::object();
    for (auto& kv : settings) s.set(kv.first, kv.second);
    j.set("settings", std::move(s));
    j.set("images", images);
    j.set("top1_agreement", images ? double(top1_agree) / double(images) : 0.0);
    auto layer_json = [&](const LayerReport& l) {
      Json o = Json::object();
      o.set("value", l.value);
      o.set("node", l.node);
      o.set("op", l.op);
      o.set("sqnr_db", num(l.sqnr_db()));
      if (l.has_range) {
        o.set("observed_min", double(l.range.observed_min));
        o.set("observed_max", double(l.range.observed_max));
        o.set("range_lo", double(l.range.lo));
        o.set("range_hi", double(l.range.hi));
      }
      if (l.quantized) {
        o.set("scale", double(l.range.q.scale));
        o.set("zero_point", int64_t(l.range.q.zero_point));
        o.set("dtype", dtype_name(l.range.q.dtype));
      }
      return o;
    };
    Json a = Json::array();
    for (auto& l : layers) a.push_back(layer_json(l));
    j.set("layers", std::move(a));
    Json o = Json::array();
    for (auto& l : outputs) o.push_back(layer_json(l));
    j.set("outputs", std::move(o));
    Json w = Json::array();
    for (auto& x : warnings) w.push_back(x);
    j.set("warnings", std::move(w));
    Json f = Json::array();
    for (auto& x : float_nodes) f.push_back(x);
    j.set("float_nodes", std::move(f));
    return j;
  }

  // Worst `max_rows` layers, then the outputs.
  std::string table(size_t max_rows = 12) const {
    std::string t;
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-34s %-18s %9s %22s %10s %5s\n", "value (worst first)", "op", "SQNR dB",
                  "range", "scale", "zp");
    t += buf;
    auto row = [&](const LayerReport& l) {
      std::string name = l.value.size() > 34 ? "…" + l.value.substr(l.value.size() - 33) : l.value;
      std::string range = l.has_range ? "[" + fmt(l.range.lo) + ", " + fmt(l.range.hi) + "]" : "";
      std::snprintf(buf, sizeof buf, "%-34s %-18s %9.2f %22s %10.3g %5d\n", name.c_str(), l.op.c_str(), l.sqnr_db(),
                    range.c_str(), l.quantized ? double(l.range.q.scale) : 0.0, l.quantized ? l.range.q.zero_point : 0);
      t += buf;
    };
    for (size_t i = 0; i < layers.size() && i < max_rows; ++i) row(layers[i]);
    if (layers.size() > max_rows) t += "  ... " + std::to_string(layers.size() - max_rows) + " more in --report\n";
    for (auto& l : outputs) row(l);
    if (images) {
      std::snprintf(buf, sizeof buf, "top-1 agreement with fp32 on %lld calibration images: %.2f%%\n",
                    (long long)images, 100.0 * double(top1_agree) / double(images));
      t += buf;
    }
    return t;
  }

 private:
  static std::string fmt(float v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3g", double(v));
    return b;
  }
};

inline Result<QuantReport> sqnr_report(const Graph& fp32_prepared, const QGraph& qg, const QuantizeInfo& info,
                                       const CalibrationSet& data, int64_t batch_size, int threads = 0) {
  ExecOptions eo;
  eo.threads = threads;
  eo.fold_bn = false;  // already prepared
  eo.fuse = false;
  QF_ASSIGN_OR_RETURN(Executor fx, Executor::prepare(fp32_prepared, eo));
  QExecOptions qo;
  qo.threads = threads;
  QF_ASSIGN_OR_RETURN(QExecutor qx, QExecutor::prepare(qg, qo));
  QuantReport r;
  r.warnings = info.warnings;
  r.float_nodes = info.float_nodes;
  std::map<std::string, const RangeRecord*> ranges;
  for (auto& rr : info.ranges) ranges[rr.value] = &rr;
  std::map<std::string, std::string> producer;
  std::map<std::string, QOp> producer_op;
  for (auto& n : qg.nodes)
    for (auto& o : n.outputs) {
      producer[o] = n.name;
      producer_op[o] = n.op;
    }
  std::map<std::string, LayerReport> acc;  // by fp32 value name
  std::map<std::string, LayerReport> outs;
  std::set<std::string> out_names;
  for (auto& o : qg.outputs) out_names.insert(o.name);
  if (batch_size <= 0) return make_error("report batch size must be positive");
  if (fp32_prepared.inputs.size() == 1) {
    QF_ASSIGN_OR_RETURN(batch_size, model_batch_size(fp32_prepared.inputs[0], batch_size, data.count));
  }
  for (int64_t b = 0; b < data.count; b += batch_size) {
    const int64_t e = std::min(data.count, b + batch_size);
    QF_ASSIGN_OR_RETURN(Tensor x, data.batch(b, e));
    std::map<std::string, Tensor> fv;
    auto fr = fx.run({x}, [&](const std::string& n, const Tensor& t) { fv[n] = t; });
    if (!fr.ok()) return fr.error();
    std::vector<std::pair<std::string, Tensor>> qv;  // (value, dequantized logical)
    QExecutor::Observer obs = [&](const std::string& n, const QValue& v, const Tensor& t) {
      if (v.quantized) qv.push_back({n, dequantize_logical(t, v)});
    };
    auto qr = qx.run({x}, &obs);
    if (!qr.ok()) return qr.error();
    auto add = [&](LayerReport& l, const Tensor& ref, const Tensor& got) {
      if (ref.dtype() != DType::f32 || got.dtype() != DType::f32 || ref.numel() != got.numel()) return;
      const float* a = ref.data<float>();
      const float* c = got.data<float>();
      for (int64_t i = 0; i < ref.numel(); ++i) {
        const double d = double(a[i]) - double(c[i]);
        l.signal += double(a[i]) * a[i];
        l.noise += d * d;
      }
      l.count += ref.numel();
    };
    for (auto& kv : qv) {
      const QValue* v = qg.value(kv.first);
      auto it = fv.find(v->source);
      if (it == fv.end()) continue;
      LayerReport& l = acc[v->source];
      if (l.value.empty()) {
        l.value = v->source;
        l.node = producer[kv.first];
        l.op = qop_name(producer_op[kv.first]);
        l.range.q = v->q;
        auto rr = ranges.find(v->source);
        if (rr != ranges.end()) {
          l.has_range = true;
          l.range = *rr->second;
        }
      }
      add(l, it->second, kv.second);
    }
    for (size_t k = 0; k < qg.outputs.size(); ++k) {
      const std::string& name = qg.outputs[k].name;
      LayerReport& l = outs[name];
      l.value = name;
      l.node = producer[name];
      l.op = producer_op.count(name) ? qop_name(producer_op[name]) : "";
      l.quantized = false;
      add(l, fr.value()[k], qr.value()[k]);
    }
    // top-1 agreement on output 0 (rank 2 [N, classes])
    const Tensor& f0 = fr.value()[0];
    const Tensor& q0 = qr.value()[0];
    if (f0.rank() == 2 && q0.shape() == f0.shape() && f0.dtype() == DType::f32) {
      const int64_t N = f0.dim(0), C = f0.dim(1);
      for (int64_t i = 0; i < N; ++i) {
        const float* a = f0.data<float>() + i * C;
        const float* c = q0.data<float>() + i * C;
        r.top1_agree += (std::max_element(a, a + C) - a) == (std::max_element(c, c + C) - c);
      }
    }
    r.images += e - b;
  }
  for (auto& kv : acc) r.layers.push_back(kv.second);
  std::stable_sort(r.layers.begin(), r.layers.end(),
                   [](const LayerReport& a, const LayerReport& b) { return a.sqnr_db() < b.sqnr_db(); });
  for (auto& kv : outs) r.outputs.push_back(kv.second);
  return r;
}

}  // namespace qforge::quant
