// Fuzz target: image decoding (stb_image: PNG, JPEG, BMP, TGA, PNM, behind qforge's JPEG and PNM guards) with
// qforge's size limit, and the conversion to CHW uint8 that image folders use.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.hpp"
#include "qforge/data/resize.hpp"
#include "qforge/io/image_read.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qforge;
  std::vector<uint8_t> bytes(data, data + size);
  auto img = io::decode_image(bytes, "fuzz.png");
  fuzz::check_error_names(img, "fuzz.png");
  if (!img.ok()) return 0;
  if (img->pixels.size() != size_t(img->height) * size_t(img->width) * size_t(img->channels))
    fuzz::finding("decoded pixel count disagrees with the image size");
  if (int64_t(img->height) * img->width <= 4096) {  // keep each run fast: resize small images only
    auto chw = data::image_to_chw_u8(*img, 3, 8, 8);
    if (chw.size() != 3 * 8 * 8) fuzz::finding("image_to_chw_u8 returned the wrong size");
  }
  return 0;
}
