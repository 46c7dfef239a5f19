// `qforge run MODEL --input x.npy|image.png --output y.npy`: one forward pass, for scripting.
#include <algorithm>
#include <cstdio>

#include "cli.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/io/image_read.hpp"
#include "qforge/io/npy.hpp"
#include "qforge/model.hpp"

// A named namespace, not an anonymous one: the verbs compile as one unity translation unit (CMakeLists.txt).
namespace verb_run {

using namespace qforge;

bool is_npy(const std::string& p) { return p.size() > 4 && p.compare(p.size() - 4, 4, ".npy") == 0; }

int run_main(const std::vector<std::string>& argv) {
  cli::Args a(argv, {});
  auto unknown = a.unknown({"input", "output", "mean", "std", "threads"});
  if (a.positional().size() != 1 || !a.has("input") || !unknown.empty()) {
    std::fprintf(stderr,
                 "usage: qforge run MODEL --input x.npy|image.png [--output y.npy] [--mean M] [--std S]\n"
                 "  x.npy is fed as is (float32, the model's input shape); an image is resized and normalised\n");
    return 2;
  }
  const std::string path = a.positional()[0], in_path = a.get("input");
  auto model = Model::load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "qforge run: %s\n", model.error().message.c_str());
    return 1;
  }
  Tensor x;
  if (is_npy(in_path)) {
    auto t = io::load_npy(in_path);
    if (!t.ok()) {
      std::fprintf(stderr, "qforge run: %s\n", t.error().message.c_str());
      return 1;
    }
    x = *t;
  } else {
    auto spec = data::input_spec_of(model->graph(), a.get("mean"), a.get("std"));
    if (!spec.ok()) {
      std::fprintf(stderr, "qforge run: %s: %s\n", path.c_str(), spec.error().message.c_str());
      return 1;
    }
    auto img = io::load_image(in_path);
    if (!img.ok()) {
      std::fprintf(stderr, "qforge run: %s\n", img.error().message.c_str());
      return 1;
    }
    data::Dataset one;
    one.images = Tensor(DType::u8, {1, spec->channels, spec->height, spec->width});
    auto chw = data::image_to_chw_u8(*img, spec->channels, spec->height, spec->width);
    std::copy(chw.begin(), chw.end(), one.images.data<uint8_t>());
    x = data::preprocess_batch(one, 0, 1, *spec);
  }
  auto out = model->run({x});
  if (!out.ok()) {
    std::fprintf(stderr, "qforge run: %s: %s\n", path.c_str(), out.error().message.c_str());
    return 1;
  }
  const Tensor& y = (*out)[0];
  std::printf("output '%s' shape %s\n", model->graph().outputs[0].name.c_str(), shape_str(y.shape()).c_str());
  if (y.dtype() == DType::f32 && y.rank() == 2) {
    for (int64_t i = 0; i < y.dim(0); ++i) {
      const float* row = y.data<float>() + i * y.dim(1);
      std::printf("  item %lld: argmax %lld\n", (long long)i, (long long)(std::max_element(row, row + y.dim(1)) - row));
    }
  }
  if (a.has("output")) {
    auto st = io::save_npy(a.get("output"), y);
    if (!st.ok()) {
      std::fprintf(stderr, "qforge run: %s\n", st.error().message.c_str());
      return 1;
    }
  }
  return 0;
}

cli::Verb reg{"run", "one forward pass on a .npy tensor or an image; writes the output as .npy", run_main};

}  // namespace verb_run
