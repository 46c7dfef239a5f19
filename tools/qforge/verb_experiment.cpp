// `qforge experiment`: synthetic vs real calibration data, end to end (include/qforge/experiment/). Writes
// table.md, table.csv, drops.png and one grid_<source>.png per source into --out, with progress on stdout.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "cli.hpp"
#include "qforge/experiment/chart.hpp"
#include "qforge/experiment/config.hpp"
#include "qforge/experiment/runner.hpp"
#include "qforge/io/file_util.hpp"

// A named namespace, not an anonymous one: the verbs compile as one unity translation unit (CMakeLists.txt).
namespace verb_experiment {

using namespace qforge;
using namespace qforge::experiment;

const char* kUsage =
    "usage: qforge experiment [--models M1.onnx,M2.onnx,...] [--sources real,stylegan2,stylegan2+energy,...]\n"
    "         [--calibrators entropy,mse,percentile,minmax] [--bits w8a8,w4a8,w8a4,w4a4] [-n 1024] [--repeats 1]\n"
    "         [--few-shot K[,K...]] [--few-shot-pool 8] [--eval-n N] [--eval-data fmnist:test]\n"
    "         [--real-data fmnist:train] [--stylegan2 weights/fmnist_stylegan2.qf] [--batch 64] [--threads 1] [--jobs 2]\n"
    "         [--grid-max 64] [--quiet] --out DIR\n"
    "  Defaults: the five weights/fmnist_*.onnx models; sources real,stylegan2,stylegan2+energy,stylegan2+bn,\n"
    "  fractal,noise; calibrators entropy,mse,percentile,minmax; bits w8a8,w4a8; 1024 images; 1 repeat; the\n"
    "  full test set. --jobs: steps run at once (int8 quantize + evaluate, fp32 statistics, filters, test-set\n"
    "  predictions), each with --threads OpenMP threads (more than one OpenMP thread per step is very slow on a\n"
    "  busy machine); results do not depend on it. --few-shot K adds the source few-shot:K (K real\n"
    "  images per class + the StyleGAN2 images whose penultimate features are nearest to them, from n*pool\n"
    "  candidates).\n"
    "  Writes DIR/table.md, DIR/table.csv, DIR/drops.png and DIR/grid_<source>.png.\n";

int usage(const std::string& msg) {
  if (!msg.empty()) std::fprintf(stderr, "qforge experiment: %s\n", msg.c_str());
  std::fprintf(stderr, "%s", kUsage);
  return 2;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "qforge experiment: %s\n", msg.c_str());
  return 1;
}

int run(const std::vector<std::string>& argv) {
  cli::Args a(argv, {"quiet"});
  auto unknown = a.unknown({"models", "sources", "calibrators", "bits", "n", "repeats", "few-shot", "few-shot-pool",
                            "eval-n", "eval-data", "real-data", "stylegan2", "batch", "threads", "jobs", "grid-max", "quiet",
                            "out"});
  if (!unknown.empty()) return usage("unknown or incomplete option --" + unknown[0]);
  if (!a.positional().empty()) return usage("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("out")) return usage("--out DIR is required");
  Config c;
  c.out = a.get("out");
  c.quiet = a.has("quiet");
  c.models = split_list(a.get("models", "weights/fmnist_resnet.onnx,weights/fmnist_vgg.onnx,"
                                        "weights/fmnist_mobilenetv2.onnx,weights/fmnist_shufflenetv2.onnx,"
                                        "weights/fmnist_repvgg.onnx"));
  c.sources = split_list(a.get("sources", "real,stylegan2,stylegan2+energy,stylegan2+bn,fractal,noise"));
  for (auto& s : split_list(a.get("calibrators", "entropy,mse,percentile,minmax"))) {
    auto k = quant::parse_calibrator(s);
    if (!k.ok()) return usage("--calibrators: " + k.error().message);
    c.calibrators.push_back(*k);
  }
  for (auto& s : split_list(a.get("bits", "w8a8,w4a8"))) {
    auto b = parse_bits(s);
    if (!b.ok()) return usage("--bits: " + b.error().message);
    c.bits.push_back(*b);
  }
  auto num = [&](const char* k, long long dflt, long long lo, long long& out) {
    if (!a.has(k)) return (out = dflt), true;
    auto v = a.get_int(k);
    if (!v || *v < lo) return false;
    out = *v;
    return true;
  };
  long long n, rep, evn, batch, threads, gm, pool, jobs;
  if (!num("n", 1024, 1, n)) return usage("-n must be a positive integer");
  if (!num("repeats", 1, 1, rep) || rep > 1000) return usage("--repeats must be in 1..1000");
  if (!num("eval-n", 0, 0, evn)) return usage("--eval-n must be >= 0 (0 = all)");
  if (!num("batch", 64, 1, batch)) return usage("--batch must be a positive integer");
  if (!num("threads", 1, 0, threads) || threads > 1024) return usage("--threads must be in 0..1024 (0 = OpenMP default)");
  if (!num("jobs", 2, 1, jobs) || jobs > 64) return usage("--jobs must be in 1..64");
  if (!num("grid-max", 64, 1, gm)) return usage("--grid-max must be a positive integer");
  if (!num("few-shot-pool", 8, 1, pool) || pool > 1000) return usage("--few-shot-pool must be in 1..1000");
  c.n = n;
  c.repeats = int(rep);
  c.eval_n = evn;
  c.batch = batch;
  c.threads = int(threads);
  c.grid_max = gm;
  c.jobs = int(jobs);
  c.few_shot_pool = pool;
  c.eval_data = a.get("eval-data", c.eval_data);
  c.real_data = a.get("real-data", c.real_data);
  c.stylegan2 = a.get("stylegan2", c.stylegan2);
  if (a.has("few-shot"))
    for (auto& k : split_list(a.get("few-shot"))) {
      const std::string s = "few-shot:" + k;
      if (few_shot_k(s) < 0) return usage("--few-shot: '" + k + "' is not a non-negative integer");
      if (few_shot_k(s) * 10 > c.n) return usage("--few-shot " + k + ": more real images than -n");
      c.sources.push_back(s);
    }
  if (c.models.empty() || c.sources.empty() || c.calibrators.empty() || c.bits.empty())
    return usage("--models, --sources, --calibrators and --bits must not be empty");
  for (auto& s : c.sources) {
    if (few_shot_k(s) == -2) return usage("--sources: '" + s + "' (expected few-shot:K)");
    const bool known = s == "real" || s == "stylegan2" || s == "stylegan2+energy" || s == "stylegan2+bn" ||
                       few_shot_k(s) >= 0 || s == "noise" || gen::make_generator(s).ok();
    if (!known) return usage("--sources: unknown source '" + s + "'");
  }

  std::string cmdline = "qforge experiment";
  for (auto& s : argv) cmdline += " " + s;
  const bool quiet = c.quiet;
  ExperimentRunner runner(c, [quiet](const std::string& line) {
    if (quiet) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  auto r = runner.run();
  if (!r.ok()) return fail(r.error().message);

  namespace fs = std::filesystem;
  const std::string md_path = (fs::path(c.out) / "table.md").string(), csv_path = (fs::path(c.out) / "table.csv").string(),
                    png_path = (fs::path(c.out) / "drops.png").string();
  std::string bits_s, cal_s;
  for (auto& b : c.bits) bits_s += (bits_s.empty() ? "" : ",") + b.name();
  for (auto& k : c.calibrators) cal_s += std::string(cal_s.empty() ? "" : ",") + quant::calibrator_name(k);
  const int64_t eval_images = r->results.records().empty() ? 0 : r->results.records()[0].n;
  char head[1024];
  std::snprintf(head, sizeof head,
                "# qforge experiment\n\n`%s`\n\n%lld calibration images per source, %d repeat(s) (mean ± std over "
                "repeats when > 1), int8 top-1 on %lld images of %s; drop = fp32 − int8 top-1 in points; agreement = "
                "share of test images where the int8 argmax equals the fp32 argmax. Weights: per-channel, min/max "
                "ranges at 8 bits, MSE ranges at 4 bits; activations per tensor (u8), ranged by the calibrator "
                "(%s). Bits: %s. Run time %.1f s.\n\n",
                cmdline.c_str(), (long long)c.n, c.repeats, (long long)eval_images, c.eval_data.c_str(),
                cal_s.c_str(), bits_s.c_str(), r->seconds);
  std::string md = head;
  md += "![drops](drops.png)\n\n";
  md += r->results.markdown();
  std::string verdicts = runner.verdict_table();
  if (!verdicts.empty()) md += "### Targets (issue 6)\n\n" + verdicts;
  if (!r->extra_markdown.empty()) md += "### Per-layer SQNR where a target is missed\n\n" + r->extra_markdown;
  md += "### Calibration images\n\n";
  for (auto& g : r->grids) md += "- " + fs::path(g).filename().string() + "\n";
  auto st = io::write_file_atomic(md_path, md.data(), md.size());
  if (!st.ok()) return fail(st.error().message);
  const std::string csv = r->results.csv();
  st = io::write_file_atomic(csv_path, csv.data(), csv.size());
  if (!st.ok()) return fail(st.error().message);
  st = write_canvas_png(png_path, drop_chart(r->results, "QFORGE EXPERIMENT: INT8 TOP-1 DROP VS FP32"));
  if (!st.ok()) return fail(st.error().message);
  if (!quiet) {
    std::printf("\n%s", r->results.markdown().c_str());
    std::printf("wrote %s, %s, %s and %zu grids in %.1f s\n", md_path.c_str(), csv_path.c_str(), png_path.c_str(),
                r->grids.size(), r->seconds);
  }
  return 0;
}

cli::Verb reg{"experiment", "synthetic vs real calibration: models x sources x calibrators x bits, tables + charts",
              run};

}  // namespace verb_experiment
