// `qforge quantize` end to end: bit-identical files for another batch size and image order, QDQ export and
// report written, usage errors, the int8 file loads through load_any_model; on the shipped ResNet (when present)
// a short accuracy check against fp32 on real Fashion-MNIST images, and `qforge eval` (counts, --predictions).
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "test_cli_util.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/io/json.hpp"
#include "qforge/io/npy.hpp"
#include "qforge/io/onnx.hpp"
#include "qforge/quant/any_model.hpp"
#include "test_quant_util.hpp"

namespace {

using qforge::testing::run_cli;
using qforge::testing::slurp;
std::string tmp_dir() { return qforge::testing::scratch_dir("qforge_test_quant_cli"); }

}  // namespace

TEST_CASE("qforge quantize: same bytes for any batch size and image order, per calibrator") {
  const std::string d = tmp_dir();
  Graph g = small_net();
  g.metadata["qforge.mean"] = "0.5";
  g.metadata["qforge.std"] = "0.25";
  REQUIRE_OK(save_onnx(d + "/small.onnx", g));
  for (const char* cal : {"mse", "entropy", "percentile", "minmax", "mean-minmax"}) {
    CAPTURE(cal);
    const std::string base = d + "/small.onnx --calib noise:gaussian -n 30 --seed 3 --quiet --calibrator " + cal;
    REQUIRE(run_cli("quantize " + base + " --batch 8 -o " + d + "/a.q.qf", d + "/a.log") == 0);
    REQUIRE(run_cli("quantize " + base + " --batch 7 --shuffle 11 --bias-correction -o " + d + "/c.q.qf", d + "/c.log") == 0);
    REQUIRE(run_cli("quantize " + base + " --batch 1 --shuffle 5 --bias-correction -o " + d + "/b.q.qf", d + "/b.log") == 0);
    REQUIRE(run_cli("quantize " + base + " --batch 30 --bias-correction -o " + d + "/e.q.qf", d + "/e.log") == 0);
    const std::string a = slurp(d + "/a.q.qf");
    CHECK(a.size() > 500);
    CHECK(slurp(d + "/b.q.qf") == slurp(d + "/c.q.qf"));
    CHECK(slurp(d + "/b.q.qf") == slurp(d + "/e.q.qf"));
    CHECK(slurp(d + "/b.q.qf") != a);  // bias correction changes the biases
  }
  // another seed (other images) gives another file
  REQUIRE(run_cli("quantize " + d + "/small.onnx --calib noise:gaussian -n 30 --seed 4 --quiet -o " + d + "/s4.q.qf",
                  d + "/s4.log") == 0);
  REQUIRE(run_cli("quantize " + d + "/small.onnx --calib noise:gaussian -n 30 --seed 3 --quiet -o " + d + "/s3.q.qf",
                  d + "/s3.log") == 0);
  CHECK(slurp(d + "/s3.q.qf") != slurp(d + "/s4.q.qf"));
}

TEST_CASE("qforge quantize: export, report, table, usage errors, load_any_model") {
  const std::string d = tmp_dir();
  Graph g = small_net();
  REQUIRE_OK(save_onnx(d + "/small.onnx", g));
  REQUIRE(run_cli("quantize " + d + "/small.onnx --calib noise:uniform -n 16 -o " + d + "/m.q.qf --export-onnx " + d +
                      "/m.qdq.onnx --report " + d + "/r.json --exclude c2",
                  d + "/m.log") == 0);
  const std::string log = slurp(d + "/m.log");
  CHECK(log.find("SQNR") != std::string::npos);
  CHECK(log.find("fp32: c2") != std::string::npos);
  auto r = load_json(d + "/r.json");
  REQUIRE_OK(r);
  const Json* layers = r->find("layers");
  REQUIRE(layers);
  REQUIRE(layers->is_array());
  CHECK(layers->size() >= 4);
  double prev = -1e300;
  for (size_t i = 0; i < layers->size(); ++i) {
    const Json* s = (*layers)[i].find("sqnr_db");
    REQUIRE(s);
    const double v = s->is_number() ? s->as_double() : 1e300;
    CHECK(v >= prev);  // worst first
    prev = v;
  }
  CHECK(r->find("settings")->find("calibrator")->as_string() == "mse");
  auto qdq = load_onnx(d + "/m.qdq.onnx");
  REQUIRE_OK(qdq);
  auto m = load_any_model(d + "/m.q.qf");
  REQUIRE_OK(m);
  CHECK(m->is_int8());
  auto y = m->run({randn({3, 1, 8, 8}, 1)});
  REQUIRE_OK(y);
  CHECK(y.value()[0].shape() == Shape{3, 5});
  auto f = load_any_model(d + "/small.onnx");
  REQUIRE_OK(f);
  CHECK(!f->is_int8());

  CHECK(run_cli("quantize " + d + "/small.onnx --calib noise:uniform --calibrator kl2 -o " + d + "/x.q.qf", d + "/u.log") == 2);
  CHECK(slurp(d + "/u.log").find("calibrator") != std::string::npos);
  CHECK(run_cli("quantize " + d + "/small.onnx --calib noise:uniform -n 0 -o " + d + "/x.q.qf", d + "/u.log") == 2);
  CHECK(run_cli("quantize " + d + "/small.onnx -o " + d + "/x.q.qf", d + "/u.log") == 2);
  CHECK(run_cli("quantize " + d + "/small.onnx --calib noise:uniform --exclude nope -o " + d + "/x.q.qf", d + "/u.log") == 1);
  CHECK(slurp(d + "/u.log").find("nope") != std::string::npos);
  CHECK(run_cli("quantize " + d + "/missing.onnx --calib noise:uniform -o " + d + "/x.q.qf", d + "/u.log") == 1);
  CHECK(slurp(d + "/u.log").find("missing.onnx") != std::string::npos);
  CHECK(!std::filesystem::exists(d + "/x.q.qf"));
  CHECK(run_cli("quantize " + d + "/small.onnx --calib fmnist:train:/nonexistent -o " + d + "/x.q.qf", d + "/u.log") == 1);
  CHECK(slurp(d + "/u.log").find("nonexistent") != std::string::npos);
}

TEST_CASE("shipped ResNet on real Fashion-MNIST: W8A8 int8 stays close to fp32") {
  const std::string model = std::string(QFORGE_SOURCE_DIR) + "/weights/fmnist_resnet.onnx";
  REQUIRE(std::filesystem::exists(model));
  REQUIRE_MESSAGE(data::load_dataset("fmnist:test", {1}).ok(), "Fashion-MNIST not installed (dataset-fashion-mnist)");
  const std::string d = tmp_dir();
  REQUIRE(run_cli("quantize " + model + " --calib fmnist:train -n 256 --quiet -o " + d + "/resnet.q.qf", d + "/rn.log") == 0);
  auto q = load_any_model(d + "/resnet.q.qf");
  auto f = load_any_model(model);
  REQUIRE_OK(q);
  REQUIRE_OK(f);
  data::DatasetOptions o;
  o.limit = 1000;
  auto ds = data::load_dataset("fmnist:test", o);
  REQUIRE_OK(ds);
  auto spec = data::input_spec_of(f->header());
  REQUIRE_OK(spec);
  Tensor x = data::preprocess_batch(ds.value(), 0, 1000, spec.value());
  auto yf = f->run({x}), yq = q->run({x});
  REQUIRE_OK(yf);
  REQUIRE_OK(yq);
  // Each image's top-1 class, fp32 and int8.
  std::vector<int64_t> kf(1000), kq(1000);
  for (int i = 0; i < 1000; ++i) {
    const float* a = yf.value()[0].data<float>() + i * 10;
    const float* b = yq.value()[0].data<float>() + i * 10;
    kf[size_t(i)] = std::max_element(a, a + 10) - a;
    kq[size_t(i)] = std::max_element(b, b + 10) - b;
  }
  // Correct fp32, correct int8 and agreeing answers among the first n images.
  auto counts = [&](int n) {
    std::array<int, 3> c{};
    for (size_t i = 0; i < size_t(n); ++i) {
      c[0] += kf[i] == ds->labels[i];
      c[1] += kq[i] == ds->labels[i];
      c[2] += kf[i] == kq[i];
    }
    return c;
  };
  const auto [cf, cq, agree] = counts(1000);
  MESSAGE("resnet on 1000 test images: fp32 ", cf / 10.0, "%, int8 ", cq / 10.0, "%, agreement ", agree / 10.0, "%");
  CHECK(cf - cq <= 10);    // ≤ 1 point on this subset
  CHECK(agree >= 980);

  // qforge eval reports the same counts, and --predictions writes the same per-image answers, in batches of 64
  // (on the first 200 images: the eval runs both models again, which is slow under the sanitizers).
  const int ne = 200;
  const auto [cf_e, cq_e, agree_e] = counts(ne);
  REQUIRE(run_cli("eval " + d + "/resnet.q.qf --data fmnist:test --limit " + std::to_string(ne) +
                      " --threads 1 --json --reference " + model + " --predictions " + d + "/pred.npy",
                  d + "/eval.log") == 0);
  const std::string log = slurp(d + "/eval.log");
  CHECK_MESSAGE(log.find("\"correct\": " + std::to_string(cq_e) + ",") != std::string::npos, log);
  char agreement[32];
  std::snprintf(agreement, sizeof agreement, "\"agreement\": %.4f", 100.0 * agree_e / ne);
  CHECK_MESSAGE(log.find(agreement) != std::string::npos, log);
  auto pred = io::load_npy(d + "/pred.npy");
  REQUIRE_OK(pred);
  REQUIRE(pred->dtype() == DType::i64);
  REQUIRE(pred->shape() == std::vector<int64_t>{ne});
  int same = 0;
  for (int i = 0; i < ne; ++i) same += pred->data<int64_t>()[i] == kq[size_t(i)];
  CHECK(same == ne);
  // An unwritable path: a clear error, exit 1.
  CHECK(run_cli("eval " + d + "/resnet.q.qf --data fmnist:test --limit 8 --predictions " + d + "/no/such/dir/p.npy",
                d + "/eval.log") == 1);
  CHECK(slurp(d + "/eval.log").find("--predictions") != std::string::npos);
}
