// qforge/io/image_read.hpp — decoding image files (PNG, JPEG, BMP, TGA, PNM via stb_image) into 8-bit pixels.
// stb is built with only these formats (io/stb_image_impl.hpp); JPEG marker segments and binary PNM
// headers are checked first (jpeg_guard, pnm_guard: stb 2.27 mishandles some hostile ones).
//
// Contract: returns HWC uint8 with the file's own channel count (1..4); a corrupt or truncated file gives an
// error naming it and stb's reason. Images over 2^24 pixels (e.g. 4096x4096) are rejected before decoding.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/io/file_util.hpp"
#include "qforge/io/jpeg_guard.hpp"
#include "qforge/io/pnm_guard.hpp"
#include "qforge/io/stb_image_impl.hpp"

namespace qforge::io {

struct Image8 {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // HWC
};

inline Result<Image8> decode_image(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.size() > size_t(INT32_MAX)) return make_error(name, ": image file too large");
  if (is_jpeg(bytes.data(), bytes.size())) QF_RETURN_IF_ERROR(check_jpeg_segments(bytes.data(), bytes.size(), name));
  if (is_binary_pnm(bytes.data(), bytes.size())) QF_RETURN_IF_ERROR(check_pnm_header(bytes.data(), bytes.size(), name));
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &c))
    return make_error(name, ": not a readable image (", stbi_failure_reason(), ")");
  if (w <= 0 || h <= 0 || int64_t(w) * h > (int64_t(1) << 24))
    return make_error(name, ": image of ", w, "x", h, " pixels is out of bounds");
  unsigned char* p = stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &c, 0);
  if (!p) return make_error(name, ": corrupt image (", stbi_failure_reason(), ")");
  Image8 img;
  img.height = h;
  img.width = w;
  img.channels = c;
  img.pixels.assign(p, p + size_t(w) * h * c);
  stbi_image_free(p);
  return img;
}

inline Result<Image8> load_image(const std::string& path) {
  QF_ASSIGN_OR_RETURN(auto bytes, read_file_bytes(path, uint64_t(256) << 20));
  return decode_image(bytes, path);
}

}  // namespace qforge::io
