// qforge/experiment/runner.hpp — runs the experiment: for every model, repeat and source, the fp32 statistics
// (ranges + histograms) are collected once and reused for every calibrator and bit width; each int8 model is
// evaluated on the same preprocessed test images as its fp32 model.
//
// Contract: run_experiment(cfg, log) returns the Results (results.hpp) plus the extra Markdown sections (the
// verdicts and the per-layer SQNR of the rows that miss the targets) and writes one grid PNG per source into
// cfg.out (repeat 0; a model-dependent source's grid comes from the first model). Sources that cannot run
// (a missing generator or BN-kept model) are recorded as n/a with the reason; every other error stops the run.
// Model-independent sources (real, stylegan2, fractal, noise) are made once per repeat and shared by all models.
// cfg.jobs workers run the steps (fp32 test predictions, each source's images + statistics, each int8 model's
// quantization + evaluation) in a fixed order, each waiting for what it needs; results do not depend on jobs.
// Targets checked (issue 6): W8A8 — the best synthetic source within 0.3 points of fp32 and within 0.1 of real
// data with the same calibrator; lower bit widths — the best synthetic result within 0.5 of the best real one.
#pragma once
#include <atomic>
#include <chrono>
#include <future>
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
    total_steps_ = cfg_.models.size() * size_t(cfg_.repeats) * cfg_.sources.size() * cfg_.calibrators.size() *
                   cfg_.bits.size();
    step_ = 0;
    const int64_t eval_batch = std::max<int64_t>(cfg_.batch, 256);

    // The work as tasks in a fixed order, run by `jobs` workers that each take the next task. A task waits for
    // the tasks it needs (always earlier in the order, so taken already: no deadlock). Per model: load; fp32
    // predictions on the test set; per source the images and fp32 statistics (once, shared by every calibrator
    // and bit width); per source and (bit width, calibrator) the int8 model and its evaluation. A source's
    // statistics are queued one source ahead of its evaluations, so they overlap with other work.
    std::vector<std::unique_ptr<ModelCtx>> models;
    std::vector<std::unique_ptr<SourceCtx>> srcs;
    std::vector<std::unique_ptr<EvalCtx>> evals;
    std::vector<std::function<void()>> tasks;
    for (size_t m = 0; m < cfg_.models.size(); ++m) {
      models.push_back(std::make_unique<ModelCtx>());
      ModelCtx* mc = models.back().get();
      mc->path = cfg_.models[m];
      mc->label = model_label(mc->path);
      tasks.push_back([this, mc] { run_task(mc->loaded, [&] { return load_model(*mc); }); });
      tasks.push_back([this, mc, &test, eval_batch] {
        run_task(mc->tested, [&]() -> Status {
          QF_RETURN_IF_ERROR(wait(mc->loaded));
          auto tm = std::chrono::steady_clock::now();
          QF_ASSIGN_OR_RETURN(mc->ts, make_test_set(*test, mc->ms.spec, cfg_.eval_n, *mc->fp32, eval_batch));
          say("model " + mc->label + ": fp32 top-1 " + f2(100.0 * mc->ts.fp32_correct / mc->ts.size()) + "% on " +
               std::to_string(mc->ts.size()) + " " + cfg_.eval_data + " images (" + f2(secs(tm)) + " s)");
          return Status::Ok();
        });
      });
      std::vector<SourceCtx*> model_srcs;
      for (int rep = 0; rep < cfg_.repeats; ++rep)
        for (const std::string& src : cfg_.sources) {
          srcs.push_back(std::make_unique<SourceCtx>());
          SourceCtx* sc = srcs.back().get();
          sc->model = mc;
          sc->rep = rep;
          sc->src = src;
          model_srcs.push_back(sc);
        }
      auto stats_task = [this](SourceCtx* sc) {
        return [this, sc] { run_task(sc->ready, [&] { return source_statistics(*sc); }); };
      };
      auto eval_tasks = [&](SourceCtx* sc) {
        for (const BitWidth& bw : cfg_.bits)
          for (quant::Calibrator cal : cfg_.calibrators) {
            evals.push_back(std::make_unique<EvalCtx>());
            EvalCtx* ev = evals.back().get();
            ev->source = sc;
            ev->bw = bw;
            ev->cal = cal;
            sc->evals.push_back(ev);
            tasks.push_back([this, ev, eval_batch] {
              run_task(ev->done, [&] { return evaluate_one(*ev, eval_batch); });
            });
          }
      };
      for (size_t k = 0; k < model_srcs.size(); ++k) {
        tasks.push_back(stats_task(model_srcs[k]));
        if (k > 0) eval_tasks(model_srcs[k - 1]);
      }
      if (!model_srcs.empty()) eval_tasks(model_srcs.back());
    }
    {
      std::atomic<size_t> next{0};
      auto work = [&] {
#ifdef _OPENMP
        if (cfg_.threads > 0) omp_set_num_threads(cfg_.threads);
#endif
        for (size_t j; (j = next.fetch_add(1)) < tasks.size();) tasks[j]();
      };
      std::vector<std::thread> pool;
      const int nj = std::max(1, std::min<int>(cfg_.jobs, int(tasks.size())));
      for (int w = 1; w < nj; ++w) pool.emplace_back(work);
      work();
      for (auto& t : pool) t.join();
    }
    if (first_error_) return *first_error_;
    // Records in the fixed table order (model, repeat, source, bit width, calibrator).
    for (auto& sc : srcs) {
      if (!sc->why.empty()) {
        out.results.add_unavailable({sc->model->label, sc->src, sc->why});
        continue;
      }
      for (EvalCtx* ev : sc->evals)
        out.results.add(Record{sc->model->label, sc->src, quant::calibrator_name(ev->cal), ev->bw.name(), sc->rep,
                               ev->c.n, sc->model->ts.fp32_correct, ev->c.correct, ev->c.agree});
    }
    out.grids = grids_;
    for (auto& mc : models) {
      QF_ASSIGN_OR_RETURN(std::string sq, verdicts_and_sqnr(out.results, mc->ms));
      out.extra_markdown += sq;
    }
    out.seconds = secs(t0);
    return out;
  }

 private:
  struct ModelState {
    std::string label, path;
    const Graph* graph = nullptr;
    const Executor* ex = nullptr;
    data::InputSpec spec;
  };

  // A task's completion, for the tasks that need it: ok, or failed (the run's first error is kept apart).
  struct Done {
    std::promise<bool> p;
    std::shared_future<bool> f = p.get_future().share();
  };
  struct EvalCtx;
  struct ModelCtx {
    std::string label, path;
    std::unique_ptr<Graph> graph;
    std::optional<quant::AnyModel> fp32;
    ModelState ms;
    TestSet ts;
    Done loaded, tested;
  };
  struct SourceCtx {
    ModelCtx* model = nullptr;
    int rep = 0;
    std::string src, why;  // why: the reason the source is n/a (empty when it ran)
    std::map<std::string, quant::TensorStats> stats;
    std::vector<EvalCtx*> evals;
    Done ready;
  };
  struct EvalCtx {
    SourceCtx* source = nullptr;
    BitWidth bw;
    quant::Calibrator cal = quant::Calibrator::Mse;
    EvalCounts c;
    Done done;
  };

  // Runs f unless the run has already failed; records f's error as the run's first; always completes `d`.
  template <class F>
  void run_task(Done& d, F&& f) {
    bool ok = false;
    if (!failed_.load()) {
      Status s = f();
      ok = s.ok();
      if (!ok) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!first_error_) first_error_ = s.error();
        failed_ = true;
      }
    }
    d.p.set_value(ok);
  }
  void say(const std::string& msg) {
    std::lock_guard<std::mutex> lk(log_mu_);
    log_(msg);
  }
  static Status wait(Done& d) {
    if (!d.f.get()) return make_error("an earlier step failed");
    return Status::Ok();
  }

  Status load_model(ModelCtx& mc) {
    auto g = load_graph(mc.path);
    if (!g.ok()) return g.error();
    mc.graph = std::make_unique<Graph>(std::move(*g));
    QF_ASSIGN_OR_RETURN(data::InputSpec spec, data::input_spec_of(*mc.graph));
    QF_ASSIGN_OR_RETURN(quant::AnyModel fp32, quant::AnyModel::from_graph(*mc.graph, mc.path, cfg_.threads));
    mc.fp32 = std::move(fp32);
    mc.ms = ModelState{mc.label, mc.path, mc.graph.get(), mc.fp32->fp32(), spec};
    return Status::Ok();
  }

  // The images of one source and the fp32 statistics over them.
  Status source_statistics(SourceCtx& sc) {
    using namespace run_detail;
    QF_RETURN_IF_ERROR(wait(sc.model->loaded));
    const ModelState& ms = sc.model->ms;
    const std::string& label = ms.label;
    auto ts0 = std::chrono::steady_clock::now();
    std::string why;
    auto raw = images_for(sc.src, sc.rep, ms, why);
    if (!raw.ok()) return raw.error().wrap("source " + sc.src + " for " + label);
    if (!why.empty()) {
      sc.why = why;
      say("  " + label + " " + sc.src + ": n/a (" + why + ")");
      std::lock_guard<std::mutex> lk(mu_);
      step_ += cfg_.calibrators.size() * cfg_.bits.size();
      return Status::Ok();
    }
    const RawImages& imgs = **raw;
    if (sc.rep == 0) {
      std::lock_guard<std::mutex> lk(cache_mu_);
      if (!grid_done_.count(sc.src)) {
        grid_done_[sc.src] = true;
        const std::string path = (std::filesystem::path(cfg_.out) / ("grid_" + file_safe(sc.src) + ".png")).string();
        auto grid = io::make_grid(imgs.images.slice0(0, std::min(cfg_.grid_max, imgs.size())), 0, 2, -1.0f);
        if (!grid.ok()) return grid.error();
        QF_RETURN_IF_ERROR(io::write_png(path, *grid));
        grids_.push_back(path);
      }
    }
    QF_ASSIGN_OR_RETURN(Tensor x, data::preprocess_generated(imgs.images, ms.spec));
    const double t_images = secs(ts0);
    auto tc = std::chrono::steady_clock::now();
    const Executor* ex = ms.ex;
    quant::Fp32Runner runner = [ex](const Tensor& xb, const quant::ValueSink& sink) -> Status {
      auto r = ex->run({xb}, [&](const std::string& n, const Tensor& t) { sink(n, t); });
      if (!r.ok()) return r.error();
      return Status::Ok();
    };
    auto cs = tensor_calibration_set(x, sc.src);
    auto stats = quant::collect_statistics(runner, cs, cfg_.batch, true, size_t(cfg_.stats_cache_mb) << 20);
    if (!stats.ok()) return stats.error().wrap(label + " " + sc.src);
    sc.stats = std::move(*stats);
    if (sc.rep == 0) {
      std::lock_guard<std::mutex> lk(mu_);
      kept_stats_[{label, sc.src}] = sc.stats;
      if (sc.src == "real") real_x_[label] = x.slice0(0, std::min<int64_t>(x.dim(0), 256));
    }
    say("  " + label + " " + sc.src + " (repeat " + std::to_string(sc.rep) + "): " + std::to_string(x.dim(0)) +
         " images in " + f2(t_images) + " s, statistics in " + f2(secs(tc)) + " s");
    return Status::Ok();
  }

  // One (bit width, calibrator) of one source: quantize from the source's statistics, evaluate.
  Status evaluate_one(EvalCtx& ev, int64_t eval_batch) {
    SourceCtx& sc = *ev.source;
    ModelCtx& mc = *sc.model;
    QF_RETURN_IF_ERROR(wait(sc.ready));
    QF_RETURN_IF_ERROR(wait(mc.tested));
    if (!sc.why.empty()) return Status::Ok();
    auto tq = std::chrono::steady_clock::now();
    auto qg = quant::quantize_graph(mc.ms.ex->graph(), sc.stats, quantize_options(ev.cal, ev.bw));
    if (!qg.ok()) return qg.error().wrap(mc.label + " " + sc.src + " " + ev.bw.name());
    QF_ASSIGN_OR_RETURN(quant::AnyModel qm, quant::AnyModel::from_qgraph(std::move(*qg), mc.label + ".int8", cfg_.threads));
    QF_ASSIGN_OR_RETURN(ev.c, evaluate(qm, mc.ts, eval_batch));
    const double seconds = run_detail::secs(tq);
    std::lock_guard<std::mutex> lk(mu_);
    std::lock_guard<std::mutex> lk_log(log_mu_);
    char line[320];
    std::snprintf(line, sizeof line,
                  "[%zu/%zu] %-12s %-5s %-18s %-10s int8 %6.2f%%  drop %6.2f  agree %6.2f%%  (%.1f s)", ++step_,
                  total_steps_, mc.label.c_str(), ev.bw.name().c_str(), sc.src.c_str(), quant::calibrator_name(ev.cal),
                  ev.c.top1(), 100.0 * double(mc.ts.fp32_correct - ev.c.correct) / double(ev.c.n), ev.c.agreement(),
                  seconds);
    log_(line);
    return Status::Ok();
  }

  // The images of `src` for repeat `rep`; sets `why` (and returns null) when the source is n/a.
  Result<std::shared_ptr<const RawImages>> images_for(const std::string& src, int rep, const ModelState& ms,
                                                      std::string& why) {
    // The caches and generators are shared by the workers: everything but a filter's scoring runs locked.
    std::unique_lock<std::mutex> lk(cache_mu_);
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
      const std::shared_ptr<const RawImages> cands = cand;
      lk.unlock();
      std::vector<float> scores;
      if (src == "stylegan2+energy") {
        QF_ASSIGN_OR_RETURN(data::FilterModel fm, data::make_filter_model(*ms.graph, ms.path));
        QF_ASSIGN_OR_RETURN(scores, data::energy_scores(fm, cands->images));
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
        QF_ASSIGN_OR_RETURN(scores, data::bn_scores(fm, cands->images));
      }
      return std::make_shared<const RawImages>(filter_select(*cands, scores, cfg_.n));
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
  std::vector<std::string> grids_;
  std::mutex mu_;        // results bookkeeping, logs, the first error
  std::mutex cache_mu_;  // images_for's caches and generators, the grids
  std::mutex log_mu_;
  std::atomic<bool> failed_{false};
  std::optional<Error> first_error_;
  size_t step_ = 0, total_steps_ = 0;
};

}  // namespace qforge::experiment
