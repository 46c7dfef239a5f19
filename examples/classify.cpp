// A minimal app that embeds qforge: load a model, classify one image, print the top class.
//   classify MODEL IMAGE
#include <algorithm>
#include <cstdio>

#include "qforge/data/preprocess.hpp"
#include "qforge/io/image_read.hpp"
#include "qforge/model.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL IMAGE\n", argv[0]);
    return 2;
  }
  auto model = qforge::Model::load(argv[1]);
  if (!model.ok()) return std::fprintf(stderr, "%s\n", model.error().message.c_str()), 1;
  auto spec = qforge::data::input_spec_of(model->graph());
  if (!spec.ok()) return std::fprintf(stderr, "%s\n", spec.error().message.c_str()), 1;
  auto img = qforge::io::load_image(argv[2]);
  if (!img.ok()) return std::fprintf(stderr, "%s\n", img.error().message.c_str()), 1;

  qforge::data::Dataset one;
  one.images = qforge::Tensor(qforge::DType::u8, {1, spec->channels, spec->height, spec->width});
  auto chw = qforge::data::image_to_chw_u8(*img, spec->channels, spec->height, spec->width);
  std::copy(chw.begin(), chw.end(), one.images.data<uint8_t>());
  auto out = model->run({qforge::data::preprocess_batch(one, 0, 1, *spec)});
  if (!out.ok()) return std::fprintf(stderr, "%s\n", out.error().message.c_str()), 1;

  const qforge::Tensor& logits = (*out)[0];
  const float* p = logits.data<float>();
  int64_t best = std::max_element(p, p + logits.dim(1)) - p;
  std::printf("class %lld (logit %.3f)\n", (long long)best, p[best]);
  return 0;
}
