// `qforge experiment` end to end on a tiny configuration (one shipped model, real + noise calibration, 64 images,
// 300 test images, two calibrators, W8A8 and W4A8): the files exist, the CSV holds one row per cell with sane
// numbers, the fp32 column equals an independently computed top-1, and the noise/mse/W8A8 cell equals a model
// made by quant::quantize_model from the same images. Also: the drawing helpers and the result aggregation.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

#include "test_cli_util.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/experiment/chart.hpp"
#include "qforge/experiment/config.hpp"
#include "qforge/experiment/results.hpp"
#include "qforge/experiment/sources.hpp"
#include "qforge/quant/any_model.hpp"
#include "qforge/quant/ptq.hpp"

using namespace qforge;
using namespace qforge::experiment;

namespace {

using qforge::testing::run_cli;
using qforge::testing::slurp;
std::string tmp_dir() { return qforge::testing::scratch_dir("qforge_test_experiment"); }

std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool q = false;
  for (char c : line) {
    if (c == '"') q = !q;
    else if (c == ',' && !q) {
      out.push_back(cur);
      cur.clear();
    } else cur += c;
  }
  out.push_back(cur);
  return out;
}

// top-1 (%) and predictions of a model on the first n test images.
double top1(const quant::AnyModel& m, const data::Dataset& ds, int64_t n, std::vector<int64_t>* pred = nullptr) {
  auto spec = data::input_spec_of(m.header());
  REQUIRE(spec.ok());
  Tensor x = data::preprocess_batch(ds, 0, n, *spec);
  auto y = m.run({x});
  REQUIRE(y.ok());
  const Tensor& t = (*y)[0];
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* p = t.data<float>() + i * t.dim(1);
    const int64_t k = std::max_element(p, p + t.dim(1)) - p;
    if (pred) pred->push_back(k);
    correct += k == ds.labels[size_t(i)];
  }
  return 100.0 * double(correct) / double(n);
}

}  // namespace

TEST_CASE("qforge experiment: tiny run end to end") {
  const std::string model = std::string(QFORGE_SOURCE_DIR) + "/weights/fmnist_mobilenetv2.onnx";
  REQUIRE(std::filesystem::exists(model));
  REQUIRE_MESSAGE(data::load_dataset("fmnist:test", {1}).ok(), "Fashion-MNIST not installed (dataset-fashion-mnist)");
  REQUIRE(data::load_dataset("fmnist:train", {1}).ok());
  const std::string d = tmp_dir(), out = d + "/run";
  const int64_t eval_n = 300;
  const std::string args = "experiment --models " + model +
                           " --sources real,noise,stylegan2 --stylegan2 " + d + "/missing.qf"
                           " --calibrators mse,minmax --bits w8a8,w4a8 -n 64 --eval-n 300 --out " + out;
  REQUIRE(run_cli(args, d + "/exp.log") == 0);
  const std::string log = slurp(d + "/exp.log");
  CAPTURE(log);
  CHECK(log.find("[8/12]") != std::string::npos);  // progress lines
  for (const char* f : {"table.md", "table.csv", "drops.png", "grid_real.png", "grid_noise.png"})
    CHECK(std::filesystem::file_size(out + "/" + f) > 100);
  CHECK(!std::filesystem::exists(out + "/grid_stylegan2.png"));

  // independent fp32 top-1 on the same images
  auto ds = data::load_dataset("fmnist:test", {eval_n});
  REQUIRE(ds.ok());
  auto fm = quant::load_any_model(model, 1);
  REQUIRE(fm.ok());
  std::vector<int64_t> fp32_pred;
  const double fp32 = top1(*fm, *ds, eval_n, &fp32_pred);
  CHECK(fp32 > 85.0);

  // the noise / mse / W8A8 cell, independently: quantize_model on images 0..63 of noise:gaussian run 0
  auto g = load_graph(model);
  REQUIRE(g.ok());
  auto calib = quant::make_calibration_set("noise:gaussian", *g, 64);
  REQUIRE(calib.ok());
  quant::PtqOptions po;
  po.threads = 1;  // mse calibrator, minmax per-channel weights, 8 bits (the experiment's W8A8 settings)
  po.quant.act.method = quant::Calibrator::Mse;
  auto q = quant::quantize_model(*g, *calib, po);
  REQUIRE(q.ok());
  auto qm = quant::AnyModel::from_qgraph(q->qgraph, "noise.q", 1);
  REQUIRE(qm.ok());
  std::vector<int64_t> q_pred;
  const double noise_int8 = top1(*qm, *ds, eval_n, &q_pred);
  int64_t agree = 0;
  for (int64_t i = 0; i < eval_n; ++i) agree += q_pred[size_t(i)] == fp32_pred[size_t(i)];

  std::istringstream csv(slurp(out + "/table.csv"));
  std::string line;
  std::getline(csv, line);
  CHECK(line.rfind("model,source,calibrator,bits,", 0) == 0);
  int rows = 0, na = 0;
  std::map<std::string, double> int8_of;
  while (std::getline(csv, line)) {
    auto f = csv_fields(line);
    REQUIRE(f.size() == 14);
    CHECK(f[0] == "mobilenetv2");
    if (f[13].rfind("n/a", 0) == 0) {
      CHECK(f[1] == "stylegan2");
      CHECK(f[13].find("missing.qf") != std::string::npos);
      ++na;
      continue;
    }
    ++rows;
    CHECK(f[13] == "ok");
    CHECK(f[4] == "1");
    CHECK(f[5] == "300");
    const double fp = std::stod(f[6]), i8 = std::stod(f[7]), drop = std::stod(f[9]), ag = std::stod(f[11]);
    CHECK(fp == doctest::Approx(fp32).epsilon(1e-6));
    CHECK(drop == doctest::Approx(fp - i8).epsilon(1e-3));
    CHECK(i8 >= 0);
    CHECK(i8 <= 100);
    CHECK(ag >= 0);
    CHECK(ag <= 100);
    CHECK(std::stod(f[8]) == 0);  // one repeat: std 0
    int8_of[f[1] + "/" + f[2] + "/" + f[3]] = i8;
    if (f[1] == "real" && f[3] == "w8a8") {
      CHECK(std::fabs(drop) < 2.0);
      CHECK(ag > 95.0);
    }
    if (f[1] == "noise" && f[2] == "mse" && f[3] == "w8a8") {
      CHECK(i8 == doctest::Approx(noise_int8).epsilon(1e-6));
      CHECK(ag == doctest::Approx(100.0 * double(agree) / double(eval_n)).epsilon(1e-6));
    }
  }
  CHECK(rows == 8);
  CHECK(na == 2);  // one per bit width
  CHECK(int8_of.count("noise/mse/w8a8") == 1);
  const std::string md = slurp(out + "/table.md");
  CHECK(md.find("### W8A8, mse") != std::string::npos);
  CHECK(md.find("| mobilenetv2 |") != std::string::npos);
  CHECK(md.find("n/a") != std::string::npos);

  // usage errors
  CHECK(run_cli("experiment --sources real,bogus --out " + d + "/x", d + "/u.log") == 2);
  CHECK(run_cli("experiment --bits w2a8 --out " + d + "/x", d + "/u.log") == 2);
  std::filesystem::remove_all(d);
}

TEST_CASE("qforge experiment: few-shot source (needs the StyleGAN2 generator)") {
  const std::string model = std::string(QFORGE_SOURCE_DIR) + "/weights/fmnist_vgg.onnx";
  const std::string gen = std::string(QFORGE_SOURCE_DIR) + "/weights/fmnist_stylegan2.qf";  // shipped
  REQUIRE(std::filesystem::exists(model));
  REQUIRE(std::filesystem::exists(gen));
  REQUIRE(data::load_dataset("fmnist:train", {1}).ok());
  const std::string d = tmp_dir(), out = d + "/fs";
  REQUIRE(run_cli("experiment --models " + model + " --sources stylegan2 --few-shot 0,1 --few-shot-pool 2 --stylegan2 " +
                      gen + " --calibrators minmax --bits w8a8 -n 40 --eval-n 200 --out " + out,
                  d + "/fs.log") == 0);
  const std::string csv = slurp(out + "/table.csv");
  CAPTURE(csv);
  std::map<std::string, std::string> int8_of;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    auto f = csv_fields(line);
    REQUIRE(f.size() == 14);
    CHECK(f[13] == "ok");
    int8_of[f[1]] = f[7];
  }
  REQUIRE(int8_of.size() == 3);
  CHECK(int8_of["few-shot:0"] == int8_of["stylegan2"]);  // K = 0 is the plain generator set
  CHECK(std::filesystem::file_size(out + "/grid_few-shot_1.png") > 100);
  std::filesystem::remove_all(d);
}

TEST_CASE("experiment helpers: bits, labels, subsets, results, chart") {
  auto b = parse_bits("w4a8");
  REQUIRE(b.ok());
  CHECK(b->weights == 4);
  CHECK(b->acts == 8);
  CHECK(!parse_bits("w8a2").ok());
  CHECK(model_label("weights/fmnist_resnet.onnx") == "resnet");
  CHECK(few_shot_k("few-shot:10") == 10);
  CHECK(few_shot_k("few-shot:x") == -2);
  CHECK(few_shot_k("real") == -1);
  auto s = seeded_subset(100, 20, 1, 2);
  CHECK(s.size() == 20);
  CHECK(std::set<int64_t>(s.begin(), s.end()).size() == 20);
  CHECK(s == seeded_subset(100, 20, 1, 2));
  CHECK(s != seeded_subset(100, 20, 2, 2));

  Results r;
  // two repeats: int8 90 and 92 of 100 with fp32 93
  r.add({"m", "real", "mse", "w8a8", 0, 100, 93, 90, 95});
  r.add({"m", "real", "mse", "w8a8", 1, 100, 93, 92, 97});
  r.add({"m", "noise", "mse", "w8a8", 0, 100, 93, 50, 55});
  r.add_unavailable({"m", "stylegan2+bn", "no model"});
  Cell c;
  REQUIRE(r.cell("m", "real", "mse", "w8a8", c));
  CHECK(c.int8.mean == doctest::Approx(91.0));
  CHECK(c.int8.std == doctest::Approx(std::sqrt(2.0)));
  CHECK(c.drop.mean == doctest::Approx(2.0));
  CHECK(c.agree.mean == doctest::Approx(96.0));
  CHECK(r.csv().find("m,stylegan2+bn,,w8a8,,,,,,,,,,\"n/a: no model\"") != std::string::npos);
  CHECK(r.markdown().find("91.00 ± 1.41") != std::string::npos);

  Canvas cv = drop_chart(r, "T");
  CHECK(cv.width() > 100);
  // the real bar (first source colour) is drawn somewhere
  bool found = false;
  const Rgb want = source_colour(0);
  for (int y = 45; y < cv.height() && !found; ++y)
    for (int x = 0; x < cv.width() && !found; ++x) {
      Rgb p = cv.get(x, y);
      found = p.r == want.r && p.g == want.g && p.b == want.b;
    }
  CHECK(found);
  Canvas t(20, 10);
  t.text(0, 0, "1", {0, 0, 0});
  CHECK(t.get(2, 0).r == 0);    // the top of '1' (0x04: middle column)
  CHECK(t.get(0, 0).r == 255);
  CHECK(nice_step(10) == 2);
  CHECK(nice_step(0.6) == doctest::Approx(0.1));
}
