// qforge/experiment/runner.hpp — runs the experiment: for every model, repeat and source, the fp32 statistics
// (ranges + histograms) are collected once and reused for every calibrator and bit width; each int8 model is
// evaluated on the same preprocessed test images as its fp32 model.
//
// Contract: run_experiment(cfg, log) returns the Results (results.hpp) plus the extra Markdown sections (the
// verdicts and the per-layer SQNR of the rows that miss the targets) and writes one grid PNG per source into
// cfg.out (repeat 0; a model-dependent source's grid comes from the first model). Sources that cannot run
// (a missing generator or BN-kept model) are recorded as n/a with the reason; every other error stops the run.
// Model-independent sources (real, stylegan2, fractal, noise) are made once per repeat and shared by all models.
// Targets checked (issue 6): W8A8 — the best synthetic source within 0.3 points of fp32 and within 0.1 of real
// data with the same calibrator; lower bit widths — the best synthetic result within 0.5 of the best real one.
#pragma once
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "generators/registry.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/filters.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/data/preprocess_gen.hpp"
#include "qforge/experiment/config.hpp"
#include "qforge/experiment/evaluate.hpp"
#include "qforge/experiment/few_shot.hpp"
#include "qforge/experiment/results.hpp"
#include "qforge/experiment/sources.hpp"
#include "qforge/io/image_write.hpp"
#include "qforge/io/model_file.hpp"
#include "qforge/quant/any_model.hpp"
#include "qforge/quant/calibrate.hpp"
#include "qforge/quant/quantize.hpp"
#include "qforge/quant/report.hpp"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace qforge::experiment {

using Log = std::function<void(const std::string&)>;

struct RunOutput {
  Results results;
  std::string extra_markdown;  // verdicts and SQNR sections
  std::vector<std::string> grids;
  double seconds = 0;
};

inline std::string file_safe(const std::string& s) {
  std::string o;
  for (char c : s) o += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return o;
}

inline quant::QuantizeOptions quantize_options(quant::Calibrator c, const BitWidth& b) {
  quant::QuantizeOptions q;
  q.act.method = c;
  q.act.bits = b.acts;
  q.weight_bits = b.weights;
  q.weights = b.weights < 8 ? quant::WeightMethod::Mse : quant::WeightMethod::MinMax;
  return q;
}

inline quant::CalibrationSet tensor_calibration_set(const Tensor& x, const std::string& name) {
  quant::CalibrationSet cs;
  cs.count = x.dim(0);
  cs.batch = [x](int64_t b, int64_t e) -> Result<Tensor> { return x.slice0(b, e); };
  cs.image_name = [name](int64_t k) { return name + " image " + std::to_string(k); };
  return cs;
}

namespace run_detail {

inline double secs(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline std::string f2(double v) { return Results::fmt(v); }

}  // namespace run_detail

class ExperimentRunner {
 public:
  ExperimentRunner(Config cfg, Log log) : cfg_(std::move(cfg)), log_(std::move(log)) {}

  Result<RunOutput> run() {
    using namespace run_detail;
    const auto t0 = std::chrono::steady_clock::now();
    RunOutput out;
#ifdef _OPENMP
    // Executors made with threads = 0 (the filters' scoring models) use the same count as ours.
    if (cfg_.threads > 0) omp_set_num_threads(cfg_.threads);
#endif
    std::error_code ec;
    std::filesystem::create_directories(cfg_.out, ec);
    if (ec || !std::filesystem::is_directory(cfg_.out))
      return make_error("cannot create output directory '", cfg_.out, "'");
    auto test = data::load_dataset(cfg_.eval_data);
    if (!test.ok()) return test.error().wrap("--eval-data " + cfg_.eval_data);
    const size_t total_steps = cfg_.models.size() * size_t(cfg_.repeats) * cfg_.sources.size() *
                               cfg_.calibrators.size() * cfg_.bits.size();
    size_t step = 0;
    for (const std::string& model_path : cfg_.models) {
      const std::string label = model_label(model_path);
      auto tm = std::chrono::steady_clock::now();
      auto g = load_graph(model_path);
      if (!g.ok()) return g.error();
      QF_ASSIGN_OR_RETURN(data::InputSpec spec, data::input_spec_of(*g));
      QF_ASSIGN_OR_RETURN(quant::AnyModel fp32, quant::AnyModel::from_graph(*g, model_path, cfg_.threads));
      const Executor* ex = fp32.fp32();
      const int64_t eval_batch = std::max<int64_t>(cfg_.batch, 256);
      QF_ASSIGN_OR_RETURN(TestSet ts, make_test_set(*test, spec, cfg_.eval_n, fp32, eval_batch));
      log_("model " + label + ": fp32 top-1 " + f2(100.0 * ts.fp32_correct / ts.size()) + "% on " +
           std::to_string(ts.size()) + " " + cfg_.eval_data + " images (" + f2(secs(tm)) + " s)");
      ModelState ms{label, model_path, &*g, ex, spec};
      quant::Fp32Runner runner = [ex](const Tensor& x, const quant::ValueSink& sink) -> Status {
        auto r = ex->run({x}, [&](const std::string& n, const Tensor& t) { sink(n, t); });
        if (!r.ok()) return r.error();
        return Status::Ok();
      };
      for (int rep = 0; rep < cfg_.repeats; ++rep) {
        for (const std::string& src : cfg_.sources) {
          auto ts0 = std::chrono::steady_clock::now();
          std::string why;
          auto raw = images_for(src, rep, ms, why);
          if (!raw.ok()) return raw.error().wrap("source " + src + " for " + label);
          if (!why.empty()) {
            out.results.add_unavailable({label, src, why});
            log_("  " + label + " " + src + ": n/a (" + why + ")");
            step += cfg_.calibrators.size() * cfg_.bits.size();
            continue;
          }
          const RawImages& imgs = **raw;
          if (rep == 0 && !grid_done_.count(src)) {
            grid_done_[src] = true;
            const std::string path = (std::filesystem::path(cfg_.out) / ("grid_" + file_safe(src) + ".png")).string();
            auto grid = io::make_grid(imgs.images.slice0(0, std::min(cfg_.grid_max, imgs.size())), 0, 2, -1.0f);
            if (!grid.ok()) return grid.error();
            QF_RETURN_IF_ERROR(io::write_png(path, *grid));
            out.grids.push_back(path);
          }
          QF_ASSIGN_OR_RETURN(Tensor x, data::preprocess_generated(imgs.images, spec));
          const double t_images = secs(ts0);
          auto tc = std::chrono::steady_clock::now();
          auto cs = tensor_calibration_set(x, src);
          auto stats = quant::collect_statistics(runner, cs, cfg_.batch, true);
          if (!stats.ok()) return stats.error().wrap(label + " " + src);
          if (rep == 0) {
            kept_stats_[{label, src}] = *stats;
            if (src == "real") real_x_[label] = x.slice0(0, std::min<int64_t>(x.dim(0), 256));
          }
          log_("  " + label + " " + src + " (repeat " + std::to_string(rep) + "): " + std::to_string(x.dim(0)) +
               " images in " + f2(t_images) + " s, statistics in " + f2(secs(tc)) + " s");
          // Every (bit width, calibrator) from the same statistics, `jobs` at a time (each single-threaded
          // unless --threads says otherwise); records are added in the fixed table order.
          struct Job {
            BitWidth bw;
            quant::Calibrator cal;
            EvalCounts c;
            double seconds = 0;
            std::optional<Error> err;
          };
          std::vector<Job> jobs;
          for (const BitWidth& bw : cfg_.bits)
            for (quant::Calibrator cal : cfg_.calibrators) jobs.push_back({bw, cal, {}, 0, std::nullopt});
          std::atomic<size_t> next{0};
          std::mutex log_mu;
          auto work = [&] {
            for (size_t j; (j = next.fetch_add(1)) < jobs.size();) {
              Job& jb = jobs[j];
              auto tq = std::chrono::steady_clock::now();
              auto res = [&]() -> Status {
                auto qg = quant::quantize_graph(ex->graph(), *stats, quantize_options(jb.cal, jb.bw));
                if (!qg.ok()) return qg.error().wrap(label + " " + src + " " + jb.bw.name());
                QF_ASSIGN_OR_RETURN(quant::AnyModel qm,
                                    quant::AnyModel::from_qgraph(std::move(*qg), label + ".int8", cfg_.threads));
                QF_ASSIGN_OR_RETURN(jb.c, evaluate(qm, ts, eval_batch));
                return Status::Ok();
              }();
              jb.seconds = secs(tq);
              if (!res.ok()) {
                jb.err = res.error();
                continue;
              }
              std::lock_guard<std::mutex> lk(log_mu);
              char line[320];
              std::snprintf(line, sizeof line,
                            "[%zu/%zu] %-12s %-5s %-18s %-10s int8 %6.2f%%  drop %6.2f  agree %6.2f%%  (%.1f s)",
                            ++step, total_steps, label.c_str(), jb.bw.name().c_str(), src.c_str(),
                            quant::calibrator_name(jb.cal), jb.c.top1(),
                            100.0 * double(ts.fp32_correct - jb.c.correct) / double(jb.c.n), jb.c.agreement(),
                            jb.seconds);
              log_(line);
            }
          };
          {
            std::vector<std::thread> pool;
            const int nj = std::max(1, std::min<int>(cfg_.jobs, int(jobs.size())));
            for (int w = 1; w < nj; ++w) pool.emplace_back(work);
            work();
            for (auto& t : pool) t.join();
          }
          for (auto& jb : jobs) {
            if (jb.err) return *jb.err;
            out.results.add(Record{label, src, quant::calibrator_name(jb.cal), jb.bw.name(), rep, jb.c.n,
                                   ts.fp32_correct, jb.c.correct, jb.c.agree});
          }
        }
      }
      QF_ASSIGN_OR_RETURN(std::string sq, verdicts_and_sqnr(out.results, ms));
      out.extra_markdown += sq;
    }
    out.seconds = secs(t0);
    return out;
  }

 private:
  struct ModelState {
    std::string label, path;
    const Graph* graph;
    const Executor* ex;
    data::InputSpec spec;
  };

  // The images of `src` for repeat `rep`; sets `why` (and returns null) when the source is n/a.
  Result<std::shared_ptr<const RawImages>> images_for(const std::string& src, int rep, const ModelState& ms,
                                                      std::string& why) {
    const std::string key = src + "#" + std::to_string(rep);
    if (auto it = shared_.find(key); it != shared_.end()) return it->second;
    const uint64_t seed = uint64_t(rep);
    if (src == "real") {
      QF_ASSIGN_OR_RETURN(const data::Dataset* ds, real_dataset());
      QF_ASSIGN_OR_RETURN(RawImages r, real_subset(*ds, cfg_.n, seed));
      return shared_[key] = std::make_shared<const RawImages>(std::move(r));
    }
    const int64_t k = few_shot_k(src);
    const bool sg = src == "stylegan2" || src == "stylegan2+energy" || src == "stylegan2+bn" || k >= 0;
    if (k == -2) return make_error("few-shot source '", src, "' (expected few-shot:K with K >= 0)");
    if (sg) {
      const gen::Generator* g = stylegan2(why);
      if (!g) return std::shared_ptr<const RawImages>();
      if (src == "stylegan2") {
        QF_ASSIGN_OR_RETURN(RawImages r, generate_images(*g, seed, 0, cfg_.n, cfg_.batch));
        return shared_[key] = std::make_shared<const RawImages>(std::move(r));
      }
      if (k >= 0) {
        QF_ASSIGN_OR_RETURN(std::string feat, penultimate_value(ms.ex->graph()));
        QF_ASSIGN_OR_RETURN(const data::Dataset* ds, real_dataset());
        const int64_t classes = ds->class_names.empty() ? 10 : int64_t(ds->class_names.size());
        RawImages real = per_class_subset(*ds, k, classes, seed);
        QF_ASSIGN_OR_RETURN(RawImages r, few_shot_set(*ms.ex, ms.spec, feat, real, *g, seed, cfg_.n,
                                                      cfg_.few_shot_pool, cfg_.batch));
        return std::make_shared<const RawImages>(std::move(r));
      }
      // filtered: 2n candidates of the run, scored by this model
      auto& cand = filter_cands_[rep];
      if (!cand) {
        QF_ASSIGN_OR_RETURN(RawImages c, generate_images(*g, seed, 0, 2 * cfg_.n, cfg_.batch));
        cand = std::make_shared<const RawImages>(std::move(c));
      }
      std::vector<float> scores;
      if (src == "stylegan2+energy") {
        QF_ASSIGN_OR_RETURN(data::FilterModel fm, data::make_filter_model(*ms.graph, ms.path));
        QF_ASSIGN_OR_RETURN(scores, data::energy_scores(fm, cand->images));
      } else {
        const std::string bn_path =
            (std::filesystem::path(ms.path).parent_path() / ("fmnist_" + ms.label + "_bn.onnx")).string();
        if (!std::filesystem::exists(bn_path)) {
          why = "no BN-kept model " + bn_path + " (tools/python/export_bn_models.py exports it)";
          return std::shared_ptr<const RawImages>();
        }
        QF_ASSIGN_OR_RETURN(data::FilterModel fm, data::load_filter_model(bn_path));
        if (fm.bn.empty()) {
          why = bn_path + " has no BatchNormalization layers";
          return std::shared_ptr<const RawImages>();
        }
        QF_ASSIGN_OR_RETURN(scores, data::bn_scores(fm, cand->images));
      }
      return std::make_shared<const RawImages>(filter_select(*cand, scores, cfg_.n));
    }
    // any other generator spec; "noise" alone means Gaussian noise
    const std::string spec = src == "noise" ? "noise:gaussian" : src;
    auto g = gen::make_generator(spec);
    if (!g.ok()) return g.error();
    QF_ASSIGN_OR_RETURN(RawImages r, generate_images(**g, seed, 0, cfg_.n, cfg_.batch));
    return shared_[key] = std::make_shared<const RawImages>(std::move(r));
  }

  Result<const data::Dataset*> real_dataset() {
    if (!real_) {
      auto d = data::load_dataset(cfg_.real_data);
      if (!d.ok()) return d.error().wrap("real calibration data " + cfg_.real_data);
      real_ = std::make_unique<data::Dataset>(std::move(*d));
    }
    return real_.get();
  }

  const gen::Generator* stylegan2(std::string& why) {
    if (!sg_tried_) {
      sg_tried_ = true;
      if (!std::filesystem::exists(cfg_.stylegan2)) {
        sg_error_ = "generator " + cfg_.stylegan2 + " not found (--stylegan2 PATH)";
      } else {
        auto g = gen::make_generator("stylegan2:" + cfg_.stylegan2);
        if (g.ok()) sg_ = std::move(*g);
        else sg_error_ = g.error().message;
      }
    }
    if (!sg_) why = sg_error_;
    return sg_.get();
  }

  static bool is_synthetic(const std::string& src) { return src != "real" && few_shot_k(src) < 0; }

  // The verdicts for one model and, for rows that miss a target, the per-layer SQNR (on up to 256 real
  // calibration images) of the best synthetic and the best real configuration.
  Result<std::string> verdicts_and_sqnr(const Results& res, const ModelState& ms) {
    using run_detail::f2;
    std::string md;
    for (const BitWidth& bw : cfg_.bits) {
      const std::string b = bw.name();
      std::string rk, sk, ssrc;
      Cell rc, sc;
      const bool have_real = res.best(ms.label, "real", b, rk, rc);
      bool have_syn = false;
      for (auto& src : res.sources) {
        if (!is_synthetic(src) || !res.unavailable(ms.label, src).empty()) continue;
        std::string k;
        Cell c;
        if (res.best(ms.label, src, b, k, c) && (!have_syn || c.int8.mean > sc.int8.mean)) {
          have_syn = true;
          sc = c;
          sk = k;
          ssrc = src;
        }
      }
      if (!have_syn || !have_real) continue;
      std::string line = "| " + ms.label + " | " + Results::upper(b) + " | " + ssrc + " (" + sk + ") | " +
                         f2(sc.int8.mean) + " | " + f2(sc.drop.mean) + " | real (" + rk + ") " + f2(rc.int8.mean) +
                         " | " + f2(rc.int8.mean - sc.int8.mean) + " |";
      bool ok;
      if (bw.weights == 8 && bw.acts == 8) {
        Cell same;
        double gap_same = 1e9;
        if (res.cell(ms.label, "real", sk, b, same)) gap_same = same.int8.mean - sc.int8.mean;
        ok = sc.drop.mean <= 0.3 && gap_same <= 0.1;
        line += " ≤ 0.3 vs fp32 and ≤ 0.1 vs real " + sk + " (" + f2(gap_same) + ") | " + (ok ? "yes" : "**no**") + " |";
      } else {
        ok = rc.int8.mean - sc.int8.mean <= 0.5;
        line += " ≤ 0.5 vs best real | " + std::string(ok ? "yes" : "**no**") + " |";
      }
      verdict_lines_.push_back(line);
      if (ok) continue;
      // per-layer SQNR of both configurations
      auto xs = real_x_.find(ms.label);
      auto st_s = kept_stats_.find({ms.label, ssrc});
      auto st_r = kept_stats_.find({ms.label, "real"});
      if (xs == real_x_.end() || st_s == kept_stats_.end() || st_r == kept_stats_.end()) continue;
      auto cs = tensor_calibration_set(xs->second, "real");
      auto report = [&](const std::map<std::string, quant::TensorStats>& st,
                        const std::string& k) -> Result<quant::QuantReport> {
        QF_ASSIGN_OR_RETURN(quant::Calibrator cal, quant::parse_calibrator(k));
        quant::QuantizeInfo info;
        QF_ASSIGN_OR_RETURN(quant::QGraph qg, quant::quantize_graph(ms.ex->graph(), st, quantize_options(cal, bw), &info));
        return quant::sqnr_report(ms.ex->graph(), qg, info, cs, cfg_.batch, cfg_.threads);
      };
      QF_ASSIGN_OR_RETURN(quant::QuantReport rs, report(st_s->second, sk));
      QF_ASSIGN_OR_RETURN(quant::QuantReport rr, report(st_r->second, rk));
      std::map<std::string, double> real_db;
      for (auto& l : rr.layers) real_db[l.value] = l.sqnr_db();
      md += "#### " + ms.label + " " + Results::upper(b) + ": per-layer SQNR (dB, " + std::to_string(cs.count) +
            " real images), worst layers of " + ssrc + " (" + sk + ") vs real (" + rk + ")\n\n";
      md += "| value | op | " + ssrc + " | real |\n|---|---|---|---|\n";
      for (size_t i = 0; i < rs.layers.size() && i < 6; ++i) {
        auto& l = rs.layers[i];
        md += "| " + l.value + " | " + l.op + " | " + Results::fmt(l.sqnr_db(), 1) + " | " +
              (real_db.count(l.value) ? Results::fmt(real_db[l.value], 1) : "–") + " |\n";
      }
      for (size_t i = 0; i < rs.outputs.size() && i < rr.outputs.size(); ++i)
        md += "| " + rs.outputs[i].value + " (output) | " + rs.outputs[i].op + " | " +
              Results::fmt(rs.outputs[i].sqnr_db(), 1) + " | " + Results::fmt(rr.outputs[i].sqnr_db(), 1) + " |\n";
      md += "\n";
    }
    return md;
  }

 public:
  // The verdict table (one line per model and bit width that has both real and synthetic results).
  std::string verdict_table() const {
    if (verdict_lines_.empty()) return "";
    std::string s = "| model | bits | best synthetic (calibrator) | int8 | drop | best real | gap | target | met |\n"
                    "|---|---|---|---|---|---|---|---|---|\n";
    for (auto& l : verdict_lines_) s += l + "\n";
    return s + "\n";
  }

 private:
  Config cfg_;
  Log log_;
  std::map<std::string, std::shared_ptr<const RawImages>> shared_;
  std::map<int, std::shared_ptr<const RawImages>> filter_cands_;
  std::map<std::string, bool> grid_done_;
  std::unique_ptr<data::Dataset> real_;
  std::unique_ptr<gen::Generator> sg_;
  bool sg_tried_ = false;
  std::string sg_error_;
  std::map<std::pair<std::string, std::string>, std::map<std::string, quant::TensorStats>> kept_stats_;
  std::map<std::string, Tensor> real_x_;
  std::vector<std::string> verdict_lines_;
};

}  // namespace qforge::experiment
