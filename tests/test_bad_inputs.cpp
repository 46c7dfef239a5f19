// Hostile-input catalogue, part 2 (part 1, for ONNX and the container, is test_io_hostile.cpp with the files in
// tests/data/bad/). Each case: a clear error that names the thing, no crash, no half-written output file.
// Elsewhere: IDX/CIFAR field errors and image folders (empty, corrupt file) in test_data.cpp; unknown ops and
// bad attributes, run-time shape mismatches in test_exec_graph.cpp; NaN/Inf calibration images, constant tensors,
// never-reached layers, empty calibration sets in test_quant_calib.cpp / test_quant_exec.cpp; StyleGAN2 weight
// files with a missing tensor, a wrong shape or dtype in test_stylegan2.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "qforge/core/finite.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/io/file_util.hpp"
#include "qforge/io/gzip.hpp"
#include "qforge/io/image_read.hpp"
#include "qforge/io/image_write.hpp"
#include "qforge/io/model_file.hpp"
#include "qforge/io/npy.hpp"
#include "qforge/io/tensor_file.hpp"
#include "qforge/quant/any_model.hpp"
#include "qforge/quant/ptq.hpp"
#include "generators/stylegan2/stylegan2_generator.hpp"
#include "test_cli_util.hpp"

using namespace qforge;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

bool has(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

Bytes file_bytes(const std::string& path) {
  auto b = io::read_file_bytes(path);
  REQUIRE_MESSAGE(b.ok(), path);
  return *b;
}

Bytes idx_images(int n, int h, int w) {
  Bytes b = {0, 0, 8, 3};
  for (int d : {n, h, w})
    for (int k = 3; k >= 0; --k) b.push_back(uint8_t(d >> (8 * k)));
  for (int i = 0; i < n * h * w; ++i) b.push_back(uint8_t(i * 7));
  return b;
}

// A gzip member (stored, uncompressed DEFLATE blocks) around `raw`, made here so the test needs no zlib.
Bytes gzip_stored(const Bytes& raw) {
  Bytes g = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  size_t pos = 0;
  do {
    size_t len = std::min<size_t>(65535, raw.size() - pos);
    g.push_back(pos + len == raw.size() ? 1 : 0);
    g.push_back(uint8_t(len));
    g.push_back(uint8_t(len >> 8));
    g.push_back(uint8_t(~len));
    g.push_back(uint8_t(~len >> 8));
    g.insert(g.end(), raw.begin() + long(pos), raw.begin() + long(pos + len));
    pos += len;
  } while (pos < raw.size());
  uint32_t crc = io::crc32(raw.data(), raw.size()), n = uint32_t(raw.size());
  for (int k = 0; k < 4; ++k) g.push_back(uint8_t(crc >> (8 * k)));
  for (int k = 0; k < 4; ++k) g.push_back(uint8_t(n >> (8 * k)));
  return g;
}

std::string resnet_path() { return std::string(QFORGE_SOURCE_DIR) + "/weights/fmnist_resnet.onnx"; }

}  // namespace

TEST_CASE("bad inputs: every truncation of an IDX file, plain and gzip, fails naming the file") {
  Bytes raw = idx_images(2, 3, 4);
  std::vector<int64_t> dims;
  REQUIRE(data::detail::parse_idx(raw, "ok.idx", 3, dims).ok());
  for (size_t n = 0; n < raw.size(); ++n) {
    Bytes cut(raw.begin(), raw.begin() + long(n));
    auto r = data::detail::parse_idx(cut, "cut.idx", 3, dims);
    REQUIRE_FALSE(r.ok());
    CHECK(has(r.error().message, "cut.idx: "));
    CHECK((has(r.error().message, "truncated IDX header") || has(r.error().message, "bytes, dims say")));
  }
  Bytes gz = gzip_stored(raw);
  auto ok = io::gunzip(gz, "ok.gz");
  REQUIRE(ok.ok());
  CHECK(*ok == raw);
  for (size_t n = 0; n < gz.size(); ++n) {
    Bytes cut(gz.begin(), gz.begin() + long(n));
    auto r = io::gunzip(cut, "cut.idx.gz");
    REQUIRE_FALSE(r.ok());
    CHECK(has(r.error().message, "cut.idx.gz: "));
  }
  // Dims whose product overflows: rejected from the header alone.
  Bytes huge = {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  auto r = data::detail::parse_idx(huge, "huge.idx", 3, dims);
  REQUIRE_FALSE(r.ok());
  CHECK(has(r.error().message, "huge.idx: IDX dims are too large"));
  // A gzip trailer claiming 4 GiB: rejected before inflating.
  Bytes liar = gz;
  for (int k = 1; k <= 4; ++k) liar[liar.size() - size_t(k)] = 0xFF;
  auto l = io::gunzip(liar, "liar.gz", uint64_t(1) << 30);
  REQUIRE_FALSE(l.ok());
  CHECK(has(l.error().message, "liar.gz: gzip member claims 4294967295 bytes, over the limit"));
}

TEST_CASE("bad inputs: CIFAR-10 batches with a bad size or label name the file and record") {
  Bytes one(data::detail::kCifarRecord, 1);
  Bytes all;
  CHECK(data::detail::append_cifar_records(one, "ok.bin", all).ok());
  Bytes cut(one.begin(), one.end() - 1);
  auto s = data::detail::append_cifar_records(cut, "cut.bin", all);
  REQUIRE_FALSE(s.ok());
  CHECK(has(s.error().message, "cut.bin: CIFAR-10 batch is 3072 bytes, not a multiple of the 3073-byte record"));
  Bytes two = one;
  two.insert(two.end(), one.begin(), one.end());
  two[data::detail::kCifarRecord] = 10;
  s = data::detail::append_cifar_records(two, "label.bin", all);
  REQUIRE_FALSE(s.ok());
  CHECK(has(s.error().message, "label.bin: record 1 has label 10 (expected 0..9)"));
}

TEST_CASE("bad inputs: corrupt PNG, JPEG and PNM files fail naming the file; none crashes") {
  // A valid PNG, then every truncation and every single-byte flip of it.
  std::vector<uint8_t> px(5 * 4 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 11);
  std::string dir = qforge::testing::scratch_dir("qforge_bad_inputs");
  std::string png = dir + "/ok.png";
  REQUIRE(io::write_png_u8(png, px.data(), 4, 5, 3).ok());  // 4 rows of 5 pixels
  Bytes b = file_bytes(png);
  auto ok = io::decode_image(b, "ok.png");
  REQUIRE(ok.ok());
  CHECK(ok->pixels == px);
  int failed = 0;
  for (size_t n = 0; n < b.size(); ++n) {
    auto r = io::decode_image(Bytes(b.begin(), b.begin() + long(n)), "cut.png");
    if (!r.ok()) {
      ++failed;
      CHECK(has(r.error().message, "cut.png: "));
    }
  }
  CHECK(failed >= int(b.size()) - 12);  // only cuts inside the IEND chunk can still decode
  for (size_t i = 0; i < b.size(); ++i) {
    Bytes m = b;
    m[i] ^= 0xFF;
    auto r = io::decode_image(m, "flip.png");
    if (!r.ok()) CHECK(has(r.error().message, "flip.png: "));
  }
  // Found by tests/fuzz/fuzz_image: a JPEG Huffman table claiming 300 symbols (stb_image 2.27 writes past its
  // arrays); the JPEG guard rejects it before stb sees it.
  Bytes jpg = {0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x00, 0x10};
  for (int i = 0; i < 16; ++i) jpg.push_back(i == 15 ? 44 : i == 7 ? 0 : 16);  // 14*16 + 44 + ... > 256
  size_t symbols = 0;
  for (size_t i = 7; i < 23; ++i) symbols += jpg[i];
  REQUIRE(symbols > 256);
  jpg.resize(jpg.size() + symbols, 0);
  const size_t len = jpg.size() - 4;
  jpg[4] = uint8_t(len >> 8);
  jpg[5] = uint8_t(len);
  jpg.push_back(0xFF);
  jpg.push_back(0xD9);
  auto r = io::decode_image(jpg, "dht.jpg");
  REQUIRE_FALSE(r.ok());
  CHECK(has(r.error().message, "dht.jpg: JPEG Huffman table declares " + std::to_string(symbols) + " symbols"));
  // Found by tests/fuzz/fuzz_image under UBSan: a PNM header number too large for an int (stb_image 2.27
  // overflows while reading it); the PNM guard rejects it, naming the field. A valid P6 with a comment decodes.
  const std::string pnm_ok = "P6\n# made by hand\n2 1\n255\n";
  Bytes pnm(pnm_ok.begin(), pnm_ok.end());
  for (uint8_t v : {10, 20, 30, 40, 50, 60}) pnm.push_back(v);
  auto good = io::decode_image(pnm, "ok.ppm");
  REQUIRE(good.ok());
  CHECK(good->width == 2);
  CHECK(good->height == 1);
  CHECK(good->pixels == std::vector<uint8_t>{10, 20, 30, 40, 50, 60});
  for (const std::string& header : {std::string("P6\n\n22222222222222222222"), std::string("P5 4 # w\n99999999999 255\n"),
                                    std::string("P6 2 1 4294967296\n")}) {
    auto bad = io::decode_image(Bytes(header.begin(), header.end()), "big.ppm");
    REQUIRE_FALSE(bad.ok());
    CHECK(has(bad.error().message, "big.ppm: PNM header "));
  }
  // An image that claims 2^30 pixels is refused before decoding.
  Bytes big = b;
  for (int k : {16, 17, 18, 19, 20, 21, 22, 23}) big[size_t(k)] = k == 17 || k == 21 ? 0x80 : 0;  // 32768 x 32768
  r = io::decode_image(big, "big.png");
  REQUIRE_FALSE(r.ok());
  CHECK(has(r.error().message, "big.png: "));
  fs::remove_all(dir);
}

TEST_CASE("bad inputs: every truncation of a StyleGAN2 weight file fails naming the file") {
  std::string path = std::string(QFORGE_SOURCE_DIR) + "/tests/data/stylegan2/tiny_skip.qf";
  Bytes b = file_bytes(path);
  REQUIRE(gen::StyleGan2Model::from_tensor_file(*parse_tensor_file(b.data(), b.size(), "ok.qf"), "ok.qf").ok());
  for (size_t n = 0; n < b.size(); n += (n < 4096 ? 1 : 97)) {
    auto f = parse_tensor_file(b.data(), n, "cut.qf");
    REQUIRE_FALSE(f.ok());
    CHECK(has(f.error().message, "cut.qf"));
  }
}

TEST_CASE("check_finite names the first NaN/Inf wherever it sits (block edges, the tail, -Inf)") {
  Tensor x(DType::f32, {2, 1, 28, 28});  // 1568 elements: one whole block of 1024 and a tail
  std::fill(x.data<float>(), x.data<float>() + x.numel(), 1e30f);
  CHECK(check_finite(x, "x").ok());
  for (int64_t at : {0, 1023, 1024, 1567}) {
    Tensor y = x.clone();
    y.data<float>()[at] = -std::numeric_limits<float>::infinity();
    if (at < 1567) y.data<float>()[1567] = std::numeric_limits<float>::quiet_NaN();  // a later one is not named
    auto s = check_finite(y, "x");
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message == "x: element " + std::to_string(at) + " of [2,1,28,28] is Inf (inputs must be finite)");
  }
}

TEST_CASE("bad inputs: NaN or Inf in a model's input is an error naming the input (fp32 and int8)") {
  auto g = load_onnx(resnet_path());
  REQUIRE(g.ok());
  auto fp32 = quant::AnyModel::from_graph(*g, "resnet.onnx", 1);
  REQUIRE(fp32.ok());
  auto calib = quant::make_calibration_set("fmnist:train", *g, 16);
  REQUIRE(calib.ok());
  auto q = quant::quantize_model(*g, *calib, {});
  REQUIRE(q.ok());
  std::string dir = qforge::testing::scratch_dir("qforge_bad_inputs_nan");
  std::string qpath = dir + "/resnet.q.qf";
  REQUIRE(quant::save_qgraph(qpath, q->qgraph).ok());
  auto int8 = quant::load_any_model(qpath, 1);
  REQUIRE(int8.ok());
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    Tensor x(DType::f32, {2, 1, 28, 28});
    std::fill(x.data<float>(), x.data<float>() + x.numel(), 0.5f);
    x.data<float>()[1000] = bad;
    for (auto* m : {&*fp32, &*int8}) {
      CAPTURE(m->kind());
      auto r = m->run({x});
      REQUIRE_FALSE(r.ok());
      CHECK(has(r.error().message, "input '" + g->inputs[0].name + "': element 1000 of [2,1,28,28] is " +
                                       (std::isnan(bad) ? "NaN" : "Inf")));
    }
  }
#ifdef QFORGE_EXE
  // The CLI: qforge run on a .npy holding NaN exits 1 with the message and writes no output.
  Tensor x(DType::f32, {1, 1, 28, 28});
  std::fill(x.data<float>(), x.data<float>() + x.numel(), 0.0f);
  x.data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE(io::save_npy(dir + "/nan.npy", x).ok());
  std::string log = dir + "/run.log";
  int rc = qforge::testing::run_cli("run " + qpath + " --input " + dir + "/nan.npy --output " + dir + "/y.npy", log);
  CHECK(rc == 1);
  CHECK(has(qforge::testing::slurp(log), "element 3 of [1,1,28,28] is NaN"));
  CHECK_FALSE(fs::exists(dir + "/y.npy"));
#endif
  fs::remove_all(dir);
}

TEST_CASE("bad inputs: a failed write leaves neither the file nor a temporary") {
  std::string dir = qforge::testing::scratch_dir("qforge_bad_inputs_write");
  std::string path = dir + "/out.bin";
  {
    std::ofstream(path) << "previous contents";
  }
  auto st = io::write_file_atomic(path, [](std::FILE* f) -> Status {
    std::fputs("half of the new contents", f);
    return make_error("writer gave up half-way");
  });
  REQUIRE_FALSE(st.ok());
  CHECK(has(st.error().message, "writer gave up half-way"));
  CHECK(qforge::testing::slurp(path) == "previous contents");
  const auto entries = std::distance(fs::directory_iterator(dir), fs::directory_iterator());
  CHECK(entries == 1);  // no .tmp-* file left
  // Saving into a folder that does not exist names the path.
  auto s2 = io::write_file_atomic(dir + "/missing/x.bin", "abc", 3);
  REQUIRE_FALSE(s2.ok());
  CHECK(has(s2.error().message, dir + "/missing/x.bin"));
#ifdef QFORGE_EXE
  // qforge quantize whose calibration source is an empty folder: an error naming the folder, no output file.
  fs::create_directories(dir + "/empty");
  std::string log = dir + "/q.log";
  int rc = qforge::testing::run_cli("quantize " + resnet_path() + " --calib folder:" + dir + "/empty -n 4 -o " + dir +
                                        "/m.q.qf --quiet",
                                    log);
  CHECK(rc == 1);
  CHECK(has(qforge::testing::slurp(log), dir + "/empty: no image files"));
  CHECK_FALSE(fs::exists(dir + "/m.q.qf"));
#endif
  fs::remove_all(dir);
}

TEST_CASE("a model exported with a fixed batch of 1 quantizes (batches follow the model)") {
  auto g = load_onnx(resnet_path());
  REQUIRE(g.ok());
  Graph one = *g;
  one.inputs[0].shape[0] = 1;
  auto calib = quant::make_calibration_set("fmnist:train", one, 6);
  REQUIRE(calib.ok());
  auto q1 = quant::quantize_model(one, *calib, {});
  REQUIRE_MESSAGE(q1.ok(), (q1.ok() ? "" : q1.error().message));
  // The same ranges as the dynamic-batch model (statistics do not depend on the batch size).
  auto qd = quant::quantize_model(*g, *calib, {});
  REQUIRE(qd.ok());
  REQUIRE(q1->info.ranges.size() == qd->info.ranges.size());
  for (size_t i = 0; i < qd->info.ranges.size(); ++i) CHECK((q1->info.ranges[i].lo == qd->info.ranges[i].lo && q1->info.ranges[i].hi == qd->info.ranges[i].hi));
  // A fixed batch of 4 with 6 images cannot be fed: a clear error.
  one.inputs[0].shape[0] = 4;
  auto bad = quant::quantize_model(one, *calib, {});
  REQUIRE_FALSE(bad.ok());
  CHECK(has(bad.error().message, "has a fixed batch of 4; the 6 images are not a multiple of it"));
#ifdef QFORGE_EXE
  // qforge eval feeds such a model in batches of its own size (it asked for 64 before, and failed).
  std::string dir = qforge::testing::scratch_dir("qforge_fixed_batch");
  one.inputs[0].shape[0] = 1;
  REQUIRE(io::save_model(dir + "/one.qf", one).ok());
  std::string log = dir + "/eval.log";
  int rc = qforge::testing::run_cli("eval " + dir + "/one.qf --data fmnist:test --limit 7 --threads 1", log);
  CHECK(rc == 0);
  CHECK(has(qforge::testing::slurp(log), "/7)"));  // top-1 over all 7 images
  one.inputs[0].shape[0] = 4;
  REQUIRE(io::save_model(dir + "/four.qf", one).ok());
  rc = qforge::testing::run_cli("eval " + dir + "/four.qf --data fmnist:test --limit 7 --threads 1", log);
  CHECK(rc == 1);
  CHECK(has(qforge::testing::slurp(log), "four.qf: input '" + one.inputs[0].name + "' has a fixed batch of 4"));
  fs::remove_all(dir);
#endif
}
