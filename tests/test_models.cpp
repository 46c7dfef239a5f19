// The shipped Fashion-MNIST classifiers: qforge's fp32 runtime must reproduce PyTorch's logits on the first 64
// test images (golden files written by tools/python/train_classifiers.py) within 1e-4 relative, and the same
// top-1 decisions.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "qforge/data/dataset.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/io/npy.hpp"
#include "qforge/model.hpp"

using namespace qforge;
namespace fs = std::filesystem;

static const char* kArchs[] = {"resnet", "vgg", "mobilenetv2", "shufflenetv2", "repvgg"};

TEST_CASE("shipped models match PyTorch's logits on the first 64 test images") {
  const fs::path root = QFORGE_SOURCE_DIR;
  auto ds = data::load_dataset("fmnist:test", {.limit = 64});
  REQUIRE_MESSAGE(ds.ok(), (ds.ok() ? "" : ds.error().message));
  int checked = 0;
  for (const char* arch : kArchs) {
    fs::path onnx = root / "weights" / (std::string("fmnist_") + arch + ".onnx");
    fs::path golden = root / "tests" / "data" / (std::string("fmnist_") + arch + "_logits_first64.npy");
    if (!fs::exists(onnx)) continue;
    CAPTURE(arch);
    REQUIRE_MESSAGE(fs::exists(golden), "missing golden logits for a shipped model: " << golden.string());
    auto model = Model::load(onnx.string());
    REQUIRE_MESSAGE(model.ok(), (model.ok() ? "" : model.error().message));
    auto spec = data::input_spec_of(model->graph());
    REQUIRE(spec.ok());
    CHECK(spec->mean.at(0) == doctest::Approx(0.2860f));  // the metadata the exporter wrote
    CHECK(spec->std.at(0) == doctest::Approx(0.3530f));
    auto out = model->run({data::preprocess_batch(*ds, 0, 64, *spec)});
    REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message));
    auto ref = io::load_npy(golden.string());
    REQUIRE(ref.ok());
    const Tensor& y = (*out)[0];
    REQUIRE(y.shape() == ref->shape());
    const float* a = y.data<float>();
    const float* b = ref->data<float>();
    float scale = 0, worst = 0;
    for (int64_t i = 0; i < y.numel(); ++i) scale = std::max(scale, std::abs(b[i]));
    for (int64_t i = 0; i < y.numel(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
    CHECK(worst <= 1e-4f * scale);
    int64_t k = y.dim(1);
    for (int64_t i = 0; i < 64; ++i)
      CHECK(std::max_element(a + i * k, a + (i + 1) * k) - (a + i * k) ==
            std::max_element(b + i * k, b + (i + 1) * k) - (b + i * k));
    ++checked;
  }
  MESSAGE(checked, " shipped models checked against PyTorch");
  CHECK(checked >= 1);
}
