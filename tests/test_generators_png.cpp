// PNG writing: the StyleGAN float → uint8 conversion, round trips through stb_image, grids, atomic writes.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "qforge/io/image_read.hpp"
#include "qforge/io/image_write.hpp"

using namespace qforge;
namespace fs = std::filesystem;

namespace {
std::string tmpdir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("qforge_test_png_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}
}  // namespace

TEST_CASE("StyleGAN conversion: trunc(clamp(x*127.5 + 128, 0, 255))") {
  CHECK(io::to_u8_pixel(-1.0f) == 0);     // 0.5 -> 0
  CHECK(io::to_u8_pixel(1.0f) == 255);    // 255.5 -> 255
  CHECK(io::to_u8_pixel(0.0f) == 128);
  CHECK(io::to_u8_pixel(0.5f) == 191);    // 191.75
  CHECK(io::to_u8_pixel(-0.5f) == 64);    // 64.25
  CHECK(io::to_u8_pixel(-0.9961f) == 0);  // 0.99...
  CHECK(io::to_u8_pixel(-0.99f) == 1);    // 1.775
  CHECK(io::to_u8_pixel(3.0f) == 255);
  CHECK(io::to_u8_pixel(-3.0f) == 0);
  CHECK(io::to_u8_pixel(std::nanf("")) == 0);
}

TEST_CASE("write_png round-trips 1- and 3-channel images; no temporary file is left") {
  std::string dir = tmpdir("rt");
  for (int64_t C : {1, 3}) {
    Tensor t(DType::f32, {2, C, 5, 7});
    for (int64_t i = 0; i < t.numel(); ++i) t.at<float>(i) = float((i * 37) % 255) / 127.5f - 1.0f;
    std::string path = dir + "/img" + std::to_string(C) + ".png";
    REQUIRE(io::write_png(path, t, 1).ok());
    auto img = io::load_image(path);
    REQUIRE(img.ok());
    CHECK(img->height == 5);
    CHECK(img->width == 7);
    CHECK(img->channels == C);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < 35; ++k)
        CHECK(img->pixels[size_t(k * C + c)] == io::to_u8_pixel(t.at<float>(((1 * C + c) * 35) + k)));
  }
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    ++files;
    CHECK(e.path().extension() == ".png");
  }
  CHECK(files == 2);
  fs::remove_all(dir);
}

TEST_CASE("write_png errors name the path and leave nothing behind") {
  Tensor t(DType::f32, {1, 3, 4, 4});
  auto st = io::write_png("/nonexistent_dir_qforge/x.png", t);
  REQUIRE(!st.ok());
  CHECK(st.error().message.find("/nonexistent_dir_qforge/x.png") != std::string::npos);
  Tensor five(DType::f32, {1, 5, 4, 4});
  std::string dir = tmpdir("err");
  auto st5 = io::write_png(dir + "/five.png", five);
  REQUIRE(!st5.ok());
  CHECK(st5.error().message.find("channels") != std::string::npos);
  CHECK(fs::is_empty(dir));
  Tensor i8(DType::i8, {1, 1, 2, 2});
  CHECK(!io::write_png(dir + "/i8.png", i8).ok());
  CHECK(!io::write_png(dir + "/k.png", t, 1).ok());  // image 1 of a batch of 1
  fs::remove_all(dir);
}

TEST_CASE("make_grid places tiles row-major with padding") {
  Tensor b(DType::f32, {5, 2, 3, 4});
  for (int64_t n = 0; n < 5; ++n)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t k = 0; k < 12; ++k) b.at<float>((n * 2 + c) * 12 + k) = float(n) * 0.1f + float(c) * 0.01f;
  auto g = io::make_grid(b, 3, 1, -1.0f);
  REQUIRE(g.ok());
  // 2 rows × 3 cols of 3×4 tiles, 1 px padding: H = 2·4 + 1 = 9, W = 3·5 + 1 = 16.
  CHECK(g->shape() == Shape{2, 9, 16});
  auto at = [&](int64_t c, int64_t y, int64_t x) { return g->at<float>((c * 9 + y) * 16 + x); };
  CHECK(at(0, 0, 0) == -1.0f);
  CHECK(at(0, 1, 1) == doctest::Approx(0.0f));
  CHECK(at(1, 3, 4) == doctest::Approx(0.01f));   // tile 0, last pixel
  CHECK(at(0, 1, 5) == -1.0f);                    // padding between tiles
  CHECK(at(0, 1, 6) == doctest::Approx(0.1f));    // tile 1
  CHECK(at(1, 2, 11) == doctest::Approx(0.21f));  // tile 2
  CHECK(at(0, 5, 1) == doctest::Approx(0.3f));    // tile 3, second row
  CHECK(at(0, 7, 9) == doctest::Approx(0.4f));    // tile 4
  CHECK(at(0, 7, 12) == -1.0f);                   // empty cell
  auto sq = io::make_grid(b);                     // cols = ceil(sqrt(5)) = 3, pad 2
  REQUIRE(sq.ok());
  CHECK(sq->shape() == Shape{2, 2 * 5 + 2, 3 * 6 + 2});
  CHECK(!io::make_grid(Tensor(DType::f32, {0, 1, 2, 2})).ok());
  CHECK(!io::make_grid(Tensor(DType::f32, {2, 2})).ok());
}
