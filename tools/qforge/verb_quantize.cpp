// `qforge quantize MODEL --calib SOURCE -o model.q.qf`: post-training int8 quantization (quant/ptq.hpp), with an
// optional ONNX QDQ export, a per-layer SQNR report and a top-1 evaluation of fp32 vs int8.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>

#include "cli.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/io/json.hpp"
#include "qforge/io/model_file.hpp"
#include "qforge/quant/any_model.hpp"
#include "qforge/quant/ptq.hpp"
#include "qforge/quant/qgraph_io.hpp"
#include "qforge/quant/report.hpp"

// A named namespace, not an anonymous one: the verbs compile as one unity translation unit (CMakeLists.txt).
namespace verb_quantize {

using namespace qforge;
using namespace qforge::quant;

const char* kUsage =
    "usage: qforge quantize MODEL --calib SOURCE -o OUT.q.qf [-n 1024]\n"
    "         [--calibrator minmax|mean-minmax|percentile|entropy|mse] [--percentile 99.99]\n"
    "         [--weights minmax|mse] [--per-tensor-weights] [--weight-bits 8|4] [--act-bits 8|4] [--act u8|s8]\n"
    "         [--bias-correction] [--exclude NODE,...] [--seed S] [--batch B] [--shuffle S] [--threads T]\n"
    "         [--mean M[,M,M]] [--std S[,S,S]] [--export-onnx OUT.qdq.onnx] [--report R.json] [--report-n N]\n"
    "         [--eval DATASET] [--eval-n N] [--quiet]\n"
    "  SOURCE: a dataset (fmnist:train, idx:FILE, cifar10:PATH, folder:PATH; first n images) or a generator\n"
    "          (fractal, noise:gaussian, stylegan2:G.qf, onnxgen:G.onnx; images 0..n-1 of run --seed).\n"
    "  Defaults: mse calibrator, minmax per-channel weights, 8-bit, u8 activations, batch 64.\n";

int usage(const std::string& msg) {
  if (!msg.empty()) std::fprintf(stderr, "qforge quantize: %s\n", msg.c_str());
  std::fprintf(stderr, "%s", kUsage);
  return 2;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "qforge quantize: %s\n", msg.c_str());
  return 1;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// top-1 of a model over a labelled dataset, and argmax agreement with a second model when given.
struct EvalResult {
  int64_t n = 0, correct_a = 0, correct_b = 0, agree = 0;
};
Result<EvalResult> evaluate(const AnyModel& a, const AnyModel& b, const data::Dataset& ds, const data::InputSpec& spec,
                            int64_t limit, int64_t batch) {
  EvalResult r;
  const int64_t n = limit > 0 ? std::min(limit, ds.size()) : ds.size();
  for (int64_t s = 0; s < n; s += batch) {
    const int64_t e = std::min(n, s + batch);
    Tensor x = data::preprocess_batch(ds, s, e, spec);
    QF_ASSIGN_OR_RETURN(auto ya, a.run({x}));
    QF_ASSIGN_OR_RETURN(auto yb, b.run({x}));
    const Tensor &A = ya[0], &B = yb[0];
    if (A.rank() != 2 || B.shape() != A.shape()) return make_error("--eval needs [N, classes] outputs");
    const int64_t C = A.dim(1);
    for (int64_t i = 0; i < e - s; ++i) {
      const float* pa = A.data<float>() + i * C;
      const float* pb = B.data<float>() + i * C;
      const int64_t ka = std::max_element(pa, pa + C) - pa, kb = std::max_element(pb, pb + C) - pb;
      const int64_t lab = ds.labels[size_t(s + i)];
      r.correct_a += ka == lab;
      r.correct_b += kb == lab;
      r.agree += ka == kb;
    }
    r.n += e - s;
  }
  return r;
}

int quantize_main(const std::vector<std::string>& argv) {
  cli::Args a(argv, {"per-tensor-weights", "bias-correction", "quiet"});
  auto unknown = a.unknown({"calib", "n", "calibrator", "percentile", "weights", "per-tensor-weights", "weight-bits",
                            "act-bits", "act", "bias-correction", "exclude", "seed", "batch", "shuffle", "threads",
                            "mean", "std", "o", "export-onnx", "report", "report-n", "eval", "eval-n", "quiet"});
  if (!unknown.empty()) return usage("unknown or incomplete option --" + unknown[0]);
  if (a.positional().size() != 1) return usage(a.positional().empty() ? "" : "expected one MODEL");
  if (!a.has("calib")) return usage("--calib SOURCE is required");
  if (!a.has("o")) return usage("-o OUT.q.qf is required");
  const std::string model_path = a.positional()[0], out_path = a.get("o");
  const bool quiet = a.has("quiet");

  auto num = [&](const char* k, long long dflt, long long lo, long long hi, long long& out) -> bool {
    if (!a.has(k)) {
      out = dflt;
      return true;
    }
    auto v = a.get_int(k);
    if (!v || *v < lo || *v > hi) return false;
    out = *v;
    return true;
  };
  long long n, batch, threads, wbits, abits, report_n, eval_n, seed, shuffle;
  if (!num("n", 1024, 1, 1LL << 31, n)) return usage("-n must be a positive integer");
  if (!num("batch", 64, 1, 1 << 20, batch)) return usage("--batch must be a positive integer");
  if (!num("threads", 0, 0, 1024, threads)) return usage("--threads must be >= 0");
  if (!num("weight-bits", 8, 4, 8, wbits) || (wbits != 4 && wbits != 8)) return usage("--weight-bits must be 8 or 4");
  if (!num("act-bits", 8, 4, 8, abits) || (abits != 4 && abits != 8)) return usage("--act-bits must be 8 or 4");
  if (!num("report-n", 0, 0, 1LL << 31, report_n)) return usage("--report-n must be >= 0");
  if (!num("eval-n", 0, 0, 1LL << 31, eval_n)) return usage("--eval-n must be >= 0");
  if (!num("seed", 0, 0, (1LL << 62), seed)) return usage("--seed must be a non-negative integer");
  if (!num("shuffle", 0, 0, (1LL << 62), shuffle)) return usage("--shuffle must be a non-negative integer");

  PtqOptions po;
  po.batch_size = batch;
  po.threads = int(threads);
  QuantizeOptions& qo = po.quant;
  {
    auto c = parse_calibrator(a.get("calibrator", "mse"));
    if (!c.ok()) return usage("--calibrator: " + c.error().message);
    qo.act.method = *c;
    auto w = parse_weight_method(a.get("weights", "minmax"));
    if (!w.ok()) return usage("--weights: " + w.error().message);
    qo.weights = *w;
  }
  if (a.has("percentile")) {
    char* end = nullptr;
    const std::string s = a.get("percentile");
    const double p = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !(p > 0 && p <= 100)) return usage("--percentile must be in (0, 100]");
    if (qo.act.method != Calibrator::Percentile) return usage("--percentile needs --calibrator percentile");
    qo.act.percentile = p;
  }
  qo.per_tensor_weights = a.has("per-tensor-weights");
  qo.weight_bits = int(wbits);
  qo.act.bits = int(abits);
  const std::string act = a.get("act", "u8");
  if (act != "u8" && act != "s8") return usage("--act must be u8 or s8");
  qo.act_signed = act == "s8";
  qo.bias_correction = a.has("bias-correction");
  if (a.has("exclude")) {
    std::stringstream ss(a.get("exclude"));
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) qo.exclude.insert(item);
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto g = load_graph(model_path);
  if (!g.ok()) return fail(g.error().message);
  if (g->metadata.count("qforge.kind") && g->metadata.at("qforge.kind") == kModelKindInt8)
    return fail(model_path + ": already an int8 model");
  CalibrationSourceOptions so;
  so.seed = uint64_t(seed);
  so.shuffle = uint64_t(shuffle);
  so.mean = a.get("mean");
  so.std = a.get("std");
  auto calib = make_calibration_set(a.get("calib"), g.value(), n, so);
  if (!calib.ok()) return fail("--calib " + a.get("calib") + ": " + calib.error().message);
  auto res = quantize_model(g.value(), calib.value(), po);
  if (!res.ok()) return fail(model_path + ": " + res.error().message);
  QGraph& qg = res->qgraph;
  // What made this file (no batch size or order: they do not change the result).
  qg.metadata["qforge.quant.calib"] = a.get("calib");
  qg.metadata["qforge.quant.n"] = std::to_string(n);
  qg.metadata["qforge.quant.calibrator"] = calibrator_name(qo.act.method);
  if (qo.act.method == Calibrator::Percentile) qg.metadata["qforge.quant.percentile"] = a.get("percentile", "99.99");
  qg.metadata["qforge.quant.weights"] = std::string(weight_method_name(qo.weights)) +
                                        (qo.per_tensor_weights ? " per-tensor" : " per-channel");
  qg.metadata["qforge.quant.bits"] = "W" + std::to_string(wbits) + "A" + std::to_string(abits);
  qg.metadata["qforge.quant.act"] = act;
  qg.metadata["qforge.quant.bias_correction"] = qo.bias_correction ? "1" : "0";
  if (!data::is_dataset_spec(a.get("calib"))) qg.metadata["qforge.quant.seed"] = std::to_string(seed);
  if (!qo.exclude.empty()) qg.metadata["qforge.quant.exclude"] = a.get("exclude");
  auto st = save_qgraph(out_path, qg);
  if (!st.ok()) return fail(st.error().message);
  const double t_quant = seconds_since(t0);
  if (!quiet) {
    std::printf("quantized %s -> %s in %.1f s: %d int8 nodes, %zu fp32 nodes, %zu tensors calibrated on %lld images\n",
                model_path.c_str(), out_path.c_str(), t_quant, res->info.quantized_nodes, res->info.float_nodes.size(),
                res->info.ranges.size(), n);
    for (auto& f : res->info.float_nodes) std::printf("  fp32: %s\n", f.c_str());
    for (auto& w : res->info.warnings) std::printf("  warning: %s\n", w.c_str());
  }
  if (a.has("export-onnx")) {
    auto s = save_qdq_onnx(a.get("export-onnx"), qg);
    if (!s.ok()) return fail(s.error().message);
    if (!quiet) std::printf("QDQ ONNX: %s\n", a.get("export-onnx").c_str());
  }
  // Per-layer report (on the calibration images, or the first --report-n of them).
  if (a.has("report") || !quiet) {
    CalibrationSet rs = calib.value();
    if (report_n > 0) rs.count = std::min<int64_t>(rs.count, report_n);
    auto rep = sqnr_report(res->fp32, qg, res->info, rs, batch, int(threads));
    if (!rep.ok()) return fail("report: " + rep.error().message);
    rep->settings = {{"model", model_path}, {"output", out_path}};
    for (auto& kv : qg.metadata)
      if (kv.first.rfind("qforge.quant.", 0) == 0) rep->settings[kv.first.substr(13)] = kv.second;
    if (!quiet) std::printf("%s", rep->table().c_str());
    if (a.has("report")) {
      auto s = save_json(a.get("report"), rep->to_json());
      if (!s.ok()) return fail(s.error().message);
      if (!quiet) std::printf("report: %s\n", a.get("report").c_str());
    }
  }
  if (a.has("eval")) {
    auto ds = data::load_dataset(a.get("eval"));
    if (!ds.ok()) return fail("--eval: " + ds.error().message);
    auto spec = data::input_spec_of(g.value(), so.mean, so.std);
    if (!spec.ok()) return fail(spec.error().message);
    auto fm = AnyModel::from_graph(g.value(), model_path, int(threads));
    auto qm = load_any_model(out_path, int(threads));
    if (!fm.ok()) return fail(fm.error().message);
    if (!qm.ok()) return fail(qm.error().message);
    const auto t1 = std::chrono::steady_clock::now();
    const int64_t n_eval = eval_n > 0 ? std::min<int64_t>(eval_n, ds->size()) : ds->size();
    auto eval_batch = model_batch_size(g->inputs[0], batch, n_eval);
    if (!eval_batch.ok()) return fail("--eval: " + eval_batch.error().message);
    auto ev = evaluate(fm.value(), qm.value(), ds.value(), spec.value(), eval_n, *eval_batch);
    if (!ev.ok()) return fail("--eval: " + ev.error().message);
    const double N = double(std::max<int64_t>(ev->n, 1));
    std::printf("eval %s (%lld images, %.1f s): fp32 top-1 %.2f%%  int8 top-1 %.2f%%  drop %.2f  agreement %.2f%%\n",
                a.get("eval").c_str(), (long long)ev->n, seconds_since(t1), 100.0 * ev->correct_a / N,
                100.0 * ev->correct_b / N, 100.0 * (ev->correct_a - ev->correct_b) / N, 100.0 * ev->agree / N);
  }
  return 0;
}

qforge::cli::Verb reg{"quantize", "post-training int8 quantization (calibrate, quantize, export, report)", quantize_main};

}  // namespace verb_quantize
