// Datasets and preprocessing: Fashion-MNIST IDX (gzip) from Debian's package, CIFAR-10 binary records, image
// folders, .npy round trips, and the normalisation applied at the model's input.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "qforge/data/dataset.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/io/npy.hpp"

using namespace qforge;
namespace fs = std::filesystem;

static fs::path temp_dir(const std::string& name) {
  auto p = fs::temp_directory_path() / ("qforge_test_data_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

static void write_bytes(const fs::path& p, const std::vector<uint8_t>& d) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(d.data()), std::streamsize(d.size()));
}

TEST_CASE("Fashion-MNIST test split loads from the Debian package with its known statistics") {
  if (!fs::exists(data::default_fmnist_dir())) {
    MESSAGE("dataset-fashion-mnist not installed; skipped");
    return;
  }
  auto ds = data::load_dataset("fmnist:test");
  REQUIRE_MESSAGE(ds.ok(), (ds.ok() ? "" : ds.error().message));
  CHECK(ds->images.shape() == Shape{10000, 1, 28, 28});
  REQUIRE(ds->labels.size() == 10000);
  std::vector<int> per_class(10, 0);
  for (auto l : ds->labels) per_class.at(size_t(l))++;
  for (int c : per_class) CHECK(c == 1000);  // the test split is balanced
  CHECK(ds->labels[0] == 9);                 // first test image is an ankle boot
  CHECK(ds->labels[1] == 2);
  double sum = 0;
  const uint8_t* p = ds->images.data<uint8_t>();
  for (int64_t i = 0; i < ds->images.numel(); ++i) sum += p[i];
  double mean = sum / double(ds->images.numel()) / 255.0;
  CHECK(mean == doctest::Approx(0.2868).epsilon(0.003));  // well-known test-split mean
  auto lim = data::load_dataset("fmnist:train", {.limit = 100});
  REQUIRE(lim.ok());
  CHECK(lim->size() == 100);
  CHECK(lim->labels[0] == 9);
}

TEST_CASE("IDX errors name the file and the problem") {
  auto dir = temp_dir("idx");
  write_bytes(dir / "bad_magic", {1, 2, 8, 3, 0, 0, 0, 1});
  auto r = data::load_dataset("idx:" + (dir / "bad_magic").string());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("bad IDX magic") != std::string::npos);
  CHECK(r.error().message.find("bad_magic") != std::string::npos);
  // Header says 2 images of 2x2 but carries 3 bytes.
  write_bytes(dir / "short", {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3});
  r = data::load_dataset("idx:" + (dir / "short").string());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("holds 3 bytes, dims say 8") != std::string::npos);
  // Corrupt gzip: valid header, garbage deflate.
  write_bytes(dir / "bad.gz", {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 8, 0, 0, 0});
  r = data::load_dataset("idx:" + (dir / "bad.gz").string());
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("bad.gz") != std::string::npos);
  // Dims whose product is huge are rejected before allocation.
  write_bytes(dir / "huge", {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  r = data::load_dataset("idx:" + (dir / "huge").string());
  REQUIRE_FALSE(r.ok());
  fs::remove_all(dir);
}

TEST_CASE("CIFAR-10 binary records: label byte then CHW planes") {
  auto dir = temp_dir("cifar");
  std::vector<uint8_t> d;
  for (int i = 0; i < 3; ++i) {
    d.push_back(uint8_t(i + 4));
    for (int k = 0; k < 3072; ++k) d.push_back(uint8_t((k / 1024) * 100 + i));
  }
  write_bytes(dir / "test_batch.bin", d);
  auto ds = data::load_dataset("cifar10:" + dir.string());
  REQUIRE(ds.ok());
  CHECK(ds->images.shape() == Shape{3, 3, 32, 32});
  CHECK(ds->labels == std::vector<int64_t>{4, 5, 6});
  CHECK(ds->images.data<uint8_t>()[3072 + 2048] == 201);  // image 1, blue plane
  d.pop_back();
  write_bytes(dir / "test_batch.bin", d);
  auto bad = data::load_dataset("cifar10:" + dir.string());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("not a multiple") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("image folders: classes from sorted sub-folders; empty folders and corrupt files are errors") {
  auto dir = temp_dir("folder");
  fs::create_directories(dir / "b_cls");
  fs::create_directories(dir / "a_cls");
  // 2x1 binary PGM images.
  write_bytes(dir / "a_cls" / "x.pgm", {'P', '5', '\n', '2', ' ', '1', '\n', '2', '5', '5', '\n', 10, 20});
  write_bytes(dir / "b_cls" / "y.pgm", {'P', '5', '\n', '2', ' ', '1', '\n', '2', '5', '5', '\n', 30, 40});
  auto ds = data::load_dataset("folder:" + dir.string());
  REQUIRE_MESSAGE(ds.ok(), (ds.ok() ? "" : ds.error().message));
  CHECK(ds->class_names == std::vector<std::string>{"a_cls", "b_cls"});
  CHECK(ds->labels == std::vector<int64_t>{0, 1});
  CHECK(ds->images.shape() == Shape{2, 1, 1, 2});
  CHECK(ds->images.data<uint8_t>()[2] == 30);
  write_bytes(dir / "b_cls" / "z.png", {0x89, 'P', 'N', 'G', 1, 2, 3});
  auto bad = data::load_dataset("folder:" + dir.string());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("z.png") != std::string::npos);
  fs::create_directories(dir / "empty");
  auto e = data::load_dataset("folder:" + (dir / "empty").string());
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message.find("no image files") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("preprocessing: metadata mean/std, flag overrides, channel repeat and resize") {
  Graph g;
  g.inputs.push_back({"input", DType::f32, {-1, 3, 4, 4}});
  g.metadata["qforge.mean"] = "0.5";
  g.metadata["qforge.std"] = "0.25";
  auto spec = data::input_spec_of(g);
  REQUIRE(spec.ok());
  data::Dataset ds;
  ds.images = Tensor(DType::u8, {1, 1, 2, 2});
  for (int i = 0; i < 4; ++i) ds.images.data<uint8_t>()[i] = 255;
  Tensor x = data::preprocess_batch(ds, 0, 1, *spec);
  CHECK(x.shape() == Shape{1, 3, 4, 4});
  for (int64_t i = 0; i < x.numel(); ++i) CHECK(x.data<float>()[i] == doctest::Approx(2.0f));
  auto over = data::input_spec_of(g, "0,0,0", "1,1,0.5");
  REQUIRE(over.ok());
  x = data::preprocess_batch(ds, 0, 1, *over);
  CHECK(x.data<float>()[2 * 16] == doctest::Approx(2.0f));
  CHECK_FALSE(data::input_spec_of(g, "0,0", "").ok());
  CHECK_FALSE(data::input_spec_of(g, "", "0").ok());
  CHECK_FALSE(data::input_spec_of(g, "abc", "").ok());
}

TEST_CASE(".npy round trip and rejection of bad headers") {
  auto dir = temp_dir("npy");
  Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  REQUIRE(io::save_npy((dir / "a.npy").string(), t).ok());
  auto back = io::load_npy((dir / "a.npy").string());
  REQUIRE(back.ok());
  CHECK(back->shape() == Shape{2, 3});
  CHECK(back->data<float>()[5] == 6.0f);
  auto bytes = io::encode_npy(t);
  bytes.pop_back();
  auto bad = io::parse_npy(bytes, "cut.npy");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("cut.npy") != std::string::npos);
  fs::remove_all(dir);
}
