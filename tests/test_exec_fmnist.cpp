// The shipped Fashion-MNIST classifiers (weights/fmnist_*.onnx) through the fp32 executor: logits of the first
// 64 test images must match PyTorch's (tests/data/fmnist_<name>_logits_first64.npy), with and without BN folding
// and activation fusion, and the predicted classes must agree.
#include <filesystem>

#include "qforge/data/dataset.hpp"
#include "qforge/io/npy.hpp"
#include "qforge/io/onnx.hpp"
#include "test_exec_common.hpp"

namespace fs = std::filesystem;
using namespace qft;

namespace {

float meta_float(const Graph& g, const std::string& key, float dflt) {
  auto it = g.metadata.find(key);
  if (it == g.metadata.end()) return dflt;
  return std::stof(it->second);
}

}  // namespace

TEST_CASE("fmnist models reproduce the PyTorch logits of the first 64 test images") {
  fs::path root = QFORGE_SOURCE_DIR;
  std::vector<fs::path> models;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(root / "weights", ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind("fmnist_", 0) == 0 && e.path().extension() == ".onnx") models.push_back(e.path());
  }
  std::sort(models.begin(), models.end());
  if (models.empty()) {
    MESSAGE("no weights/fmnist_*.onnx yet; nothing to check");
    return;
  }
  auto ds = data::load_dataset("fmnist:test", data::DatasetOptions{64, 0, 0, 0});
  if (!ds.ok()) {
    MESSAGE("Fashion-MNIST test set not available: ", ds.error().message);
    return;
  }
  int checked = 0;
  for (auto& mp : models) {
    std::string name = mp.stem().string().substr(7);
    fs::path golden = root / "tests" / "data" / ("fmnist_" + name + "_logits_first64.npy");
    CAPTURE(name);
    auto g = load_onnx(mp.string());
    REQUIRE_MESSAGE(g.ok(), (g.ok() ? std::string() : g.error().message));
    float mean = meta_float(*g, "qforge.mean", 0.2860f), stdv = meta_float(*g, "qforge.std", 0.3530f);
    Tensor x(DType::f32, {64, 1, 28, 28});
    const uint8_t* px = ds->images.data<uint8_t>();
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = (float(px[i]) / 255.f - mean) / stdv;
    ExecOptions plain;
    plain.fold_bn = false;
    plain.fuse = false;
    auto e_opt = Executor::prepare(*g);
    auto e_plain = Executor::prepare(*g, plain);
    REQUIRE_MESSAGE(e_opt.ok(), (e_opt.ok() ? std::string() : e_opt.error().message));
    REQUIRE_MESSAGE(e_plain.ok(), (e_plain.ok() ? std::string() : e_plain.error().message));
    auto y_opt = e_opt->run({x});
    auto y_plain = e_plain->run({x});
    REQUIRE_MESSAGE(y_opt.ok(), (y_opt.ok() ? std::string() : y_opt.error().message));
    REQUIRE(y_plain.ok());
    const Tensor& lo = (*y_opt)[0];
    REQUIRE(lo.shape() == Shape{64, 10});
    CHECK(max_rel_diff(lo, (*y_plain)[0]) < 1e-4f);
    if (!fs::exists(golden)) {
      MESSAGE("no golden logits for ", name);
      continue;
    }
    auto want = io::load_npy(golden.string());
    REQUIRE_MESSAGE(want.ok(), (want.ok() ? std::string() : want.error().message));
    REQUIRE(want->shape() == Shape{64, 10});
    REQUIRE(want->dtype() == DType::f32);
    float d = max_abs_diff(lo, *want);
    MESSAGE(name, ": max |logit - torch| = ", d);
    CHECK(d < 1e-3f);
    int agree = 0;
    for (int64_t i = 0; i < 64; ++i) {
      auto am = [&](const Tensor& t) {
        const float* p = t.data<float>() + i * 10;
        return std::max_element(p, p + 10) - p;
      };
      agree += am(lo) == am(*want);
    }
    CHECK(agree == 64);
    ++checked;
  }
  MESSAGE("fmnist models checked against golden logits: ", checked);
}
