// tests/test_stylegan2.cpp — numpy RandomState bit-exactness, the native StyleGAN2 generator against the PyTorch
// reference (tools/python/make_stylegan2_golden.py; the reference equals the official code to ~1e-6), weight-file
// validation errors, seeds, noise modes and batch/thread invariance.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "generators/stylegan2/stylegan2_generator.hpp"
#include "qforge/core/numpy_random.hpp"
#include "qforge/core/rng.hpp"
#include "qforge/io/tensor_file.hpp"

using namespace qforge;
using namespace qforge::gen;

namespace {

std::string data_path(const std::string& f) { return std::string(QFORGE_SOURCE_DIR) + "/tests/data/stylegan2/" + f; }

TensorFile load_or_fail(const std::string& f) {
  auto r = load_tensor_file(data_path(f));
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  return std::move(r).value();
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, double(std::fabs(a.data<float>()[i] - b.data<float>()[i])));
  return m;
}

double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, double(std::fabs(a.data<float>()[i])));
  return m;
}

}  // namespace

TEST_CASE("numpy RandomState: randn / random_sample bit-exact against numpy") {
  TensorFile g = load_or_fail("numpy_random.qf");
  auto check = [&](const std::string& name, const std::vector<double>& got) {
    const Tensor& t = g.tensors.at(name);
    REQUIRE(t.numel() == int64_t(got.size()));
    int64_t bad = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      int64_t bits;
      std::memcpy(&bits, &got[size_t(i)], 8);
      bad += bits != t.data<int64_t>()[i];
    }
    CHECK_MESSAGE(bad == 0, name, ": ", bad, " values differ");
  };
  for (uint32_t s : {0u, 1u, 42u, 123456789u, 4294967295u}) {
    NumpyRandomState a(s);
    check("randn." + std::to_string(s), a.randn(1300));
    NumpyRandomState b(s);
    std::vector<double> v(700);
    for (auto& x : v) x = b.random_sample();
    check("sample." + std::to_string(s), v);
  }
  {
    NumpyRandomState r;
    const uint32_t key[3] = {1, 2, 3};
    r.seed_by_array(key, 3);
    std::vector<double> v(700);
    for (auto& x : v) x = r.random_sample();
    check("array.1_2_3.sample", v);
    check("array.1_2_3.randn", r.randn(300));
  }
  {
    NumpyRandomState r;
    const uint32_t key[1] = {7};
    r.seed_by_array(key, 1);
    std::vector<double> v(700);
    for (auto& x : v) x = r.random_sample();
    check("array.7.sample", v);
    check("array.7.randn", r.randn(300));
  }
  // the gauss cache: an odd number of draws then a re-seed starts clean
  NumpyRandomState r(0);
  double first = r.standard_normal();
  r.standard_normal();
  r.standard_normal();
  r.seed(0);
  CHECK(r.standard_normal() == first);
}

TEST_CASE("stylegan2 sgemm: every available kernel against a double-precision reference at tile edges") {
  using namespace qforge::gen::sg2;
  CounterRng rng(7);
  uint64_t ctr = 0;
  // (M, N, K): tails around MR (4/6/8), NR (16/48), the K block (256) and the N block (480); strided/offset B rows
  const int64_t shapes[][3] = {{1, 1, 1},   {3, 17, 5},    {7, 47, 9},     {8, 48, 256}, {9, 49, 257},
                               {13, 95, 300}, {16, 481, 33}, {25, 1000, 520}, {6, 16, 3}};
  for (SgemmKind kind : {SgemmKind::scalar, SgemmKind::avx2, SgemmKind::avx512}) {
    if (!sgemm_kind_available(kind)) {
      MESSAGE("sgemm kernel ", sgemm_kind_name(kind), " not available on this CPU: skipped");
      continue;
    }
    for (auto& sh : shapes) {
      const int64_t M = sh[0], N = sh[1], K = sh[2];
      CAPTURE(sgemm_kind_name(kind));
      CAPTURE(M);
      CAPTURE(N);
      CAPTURE(K);
      const int64_t lda = K + 3, ldb = N + 5, ldc = N + 2;
      std::vector<float> A(size_t(M * lda)), B(size_t((K + 2) * ldb)), C(size_t(M * ldc), 0.5f);
      for (auto& v : A) v = rng.normal(ctr++);
      for (auto& v : B) v = rng.normal(ctr++);
      // B row k starts at offset (k*ldb + (k % 3)): a non-uniform row-offset table, as the implicit im2col uses
      std::vector<int64_t> off(static_cast<size_t>(K));
      for (int64_t k = 0; k < K; ++k) off[size_t(k)] = k * ldb + (k % 3);
      PackedA pa = PackedA::pack(A.data(), M, K, lda, kind);
      for (bool acc : {false, true}) {
        std::vector<float> Cw = C;
        sgemm(pa, N, B.data(), off.data(), Cw.data(), ldc, acc, 2);
        double worst = 0;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double r = acc ? 0.5 : 0.0, mag = 0;
            for (int64_t k = 0; k < K; ++k) {
              double t = double(A[size_t(i * lda + k)]) * double(B[size_t(off[size_t(k)] + j)]);
              r += t;
              mag += std::fabs(t);
            }
            worst = std::max(worst, std::fabs(r - Cw[size_t(i * ldc + j)]) / (mag + 1.0));
          }
        CHECK(worst < 1e-6);
        // the padding columns of C are untouched
        for (int64_t i = 0; i < M; ++i) CHECK(Cw[size_t(i * ldc + N)] == 0.5f);
      }
      // thread count does not change the bits
      std::vector<float> C1(size_t(M * ldc)), C2(size_t(M * ldc));
      sgemm(pa, N, B.data(), off.data(), C1.data(), ldc, false, 1);
      sgemm(pa, N, B.data(), off.data(), C2.data(), ldc, false, 2);
      CHECK(std::memcmp(C1.data(), C2.data(), C1.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("stylegan2: native generator equals the PyTorch reference (skip, resnet, orig)") {
  for (std::string arch : {"skip", "resnet", "orig"}) {
    CAPTURE(arch);
    double worst = 0;
    auto m = StyleGan2Model::load(data_path(std::string("tiny_") + arch + ".qf"));
    REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().message));
    TensorFile g = load_or_fail(std::string("golden_") + arch + ".qf");
    const Tensor& z = g.tensors.at("z");
    const Tensor& c = g.tensors.at("c");
    CHECK(m->config().synthesis.architecture ==
          (std::string(arch) == "skip" ? sg2::Arch::skip : std::string(arch) == "resnet" ? sg2::Arch::resnet : sg2::Arch::orig));

    auto ws = m->mapping(z, c, 0.7f, -1);
    REQUIRE(ws.ok());
    double e_ws = max_abs_diff(*ws, g.tensors.at("ws.psi0.7"));
    CHECK(e_ws <= 1e-5);

    struct Case { std::string key; float psi; int64_t cutoff; sg2::NoiseMode mode; };
    const Case cases[] = {{"img.const.psi1", 1.0f, -1, sg2::NoiseMode::constant},
                          {"img.none.psi0.7", 0.7f, -1, sg2::NoiseMode::none},
                          {"img.const.psi0.5.cut3", 0.5f, 3, sg2::NoiseMode::constant}};
    for (const Case& k : cases) {
      CAPTURE(k.key);
      // every GEMM kernel this CPU has gives the reference images
      for (sg2::SgemmKind kind : {sg2::SgemmKind::scalar, sg2::SgemmKind::avx2}) {
        if (!sg2::sgemm_kind_available(kind)) continue;
        auto mk = StyleGan2Model::load(data_path(std::string("tiny_") + arch + ".qf"), kind);
        REQUIRE(mk.ok());
        StyleGan2Options o;
        o.truncation_psi = k.psi;
        o.truncation_cutoff = k.cutoff;
        o.noise = k.mode;
        auto img = mk->run(z, c, o);
        REQUIRE(img.ok());
        double e = max_abs_diff(*img, g.tensors.at(k.key));
        CHECK(e <= 1e-4);
        worst = std::max(worst, e);
      }
      for (int threads : {1, 2}) {
        StyleGan2Options o;
        o.truncation_psi = k.psi;
        o.truncation_cutoff = k.cutoff;
        o.noise = k.mode;
        o.threads = threads;
        o.max_chunk = threads == 1 ? 16 : 1;  // one chunk with serial GEMMs, or one chunk per sample in parallel
        auto img = m->run(z, c, o);
        REQUIRE(img.ok());
        const Tensor& want = g.tensors.at(k.key);
        double e = max_abs_diff(*img, want);
        worst = std::max(worst, e);
        CHECK(e <= 1e-4);
        CHECK(max_abs(want) > 0.5);  // the golden image is not trivially zero
      }
    }

    // Seeds: generate.py --seeds 5-8 with given classes.
    auto gen = StyleGan2Generator::load(data_path(std::string("tiny_") + arch + ".qf"));
    REQUIRE(gen.ok());
    GenerateRequest req;
    req.seed = 5;
    req.first = 0;
    req.count = 4;
    const Tensor& cls = g.tensors.at("seed5.classes");
    for (int64_t i = 0; i < 4; ++i) req.classes.push_back(cls.data<int64_t>()[i]);
    auto img = (*gen)->generate(req);
    REQUIRE(img.ok());
    double e = max_abs_diff(*img, g.tensors.at("img.seed5"));
    CHECK(e <= 1e-4);
    worst = std::max(worst, e);
    MESSAGE(arch, ": max |err| vs the PyTorch reference over all cases ", worst, " (ws ", e_ws, ")");
    // same images addressed as seed 0, indices 5..8
    req.seed = 0;
    req.first = 5;
    auto img2 = (*gen)->generate(req);
    REQUIRE(img2.ok());
    CHECK(max_abs_diff(*img, *img2) == 0.0);
  }
}

TEST_CASE("stylegan2: index addressing, noise modes, class defaults") {
  auto gen = StyleGan2Generator::load(data_path("tiny_skip.qf"));
  REQUIRE(gen.ok());
  auto info = (*gen)->info();
  CHECK(info.name == "stylegan2");
  CHECK(info.height == 16);
  CHECK(info.channels == 2);
  CHECK(info.num_classes == 3);
  CHECK(info.latent_dim == 12);

  StyleGan2Options ro;
  ro.noise = sg2::NoiseMode::random;
  StyleGan2Generator rnd(std::make_shared<const StyleGan2Model>((*gen)->model()), ro);
  GenerateRequest all;
  all.seed = 11;
  all.first = 3;
  all.count = 6;
  auto whole = rnd.generate(all);
  REQUIRE(whole.ok());
  // image index i is a pure function of (seed, i): one batch == single images
  const int64_t per = 2 * 16 * 16;
  for (int64_t i = 0; i < 6; ++i) {
    GenerateRequest one = all;
    one.first = all.first + i;
    one.count = 1;
    auto im = rnd.generate(one);
    REQUIRE(im.ok());
    CHECK(std::memcmp(im->data<float>(), whole->data<float>() + i * per, per * sizeof(float)) == 0);
  }
  // random noise differs from const noise and between seeds; const is reproducible
  auto cst = (*gen)->generate(all);
  REQUIRE(cst.ok());
  CHECK(max_abs_diff(*cst, *whole) > 1e-3);
  GenerateRequest other = all;
  other.seed = 12;
  auto oth = rnd.generate(other);
  REQUIRE(oth.ok());
  CHECK(max_abs_diff(*oth, *whole) > 1e-3);
  // default classes cycle index % c_dim
  GenerateRequest with = all;
  for (int64_t i = 0; i < 6; ++i) with.classes.push_back((all.first + i) % 3);
  auto a = (*gen)->generate(with);
  REQUIRE(a.ok());
  CHECK(max_abs_diff(*a, *cst) == 0.0);
  // bad class, bad class count, seed range
  with.classes[2] = 3;
  CHECK(!(*gen)->generate(with).ok());
  with.classes.pop_back();
  CHECK(!(*gen)->generate(with).ok());
  GenerateRequest far;
  far.seed = 4294967295ull;
  far.first = 1;
  auto r = (*gen)->generate(far);
  REQUIRE(!r.ok());
  CHECK(r.error().message.find("2^32") != std::string::npos);
}

TEST_CASE("stylegan2: mismatched weight files give errors naming the tensor") {
  TensorFile f = load_or_fail("tiny_skip.qf");
  REQUIRE(StyleGan2Model::from_tensor_file(f, "tiny_skip.qf").ok());
  {
    TensorFile g = f;
    g.tensors.erase("synthesis.b8.conv1.affine.weight");
    auto r = StyleGan2Model::from_tensor_file(g, "x.qf");
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("x.qf") != std::string::npos);
    CHECK(r.error().message.find("'synthesis.b8.conv1.affine.weight' is missing") != std::string::npos);
  }
  {
    TensorFile g = f;
    g.tensors["synthesis.b16.conv0.weight"] = Tensor(DType::f32, {12, 20, 3, 1});
    auto r = StyleGan2Model::from_tensor_file(g, "x.qf");
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("'synthesis.b16.conv0.weight' has shape [12,20,3,1], expected [12,20,3,3]") !=
          std::string::npos);
  }
  {
    TensorFile g = f;
    g.tensors["mapping.fc0.bias"] = Tensor(DType::i32, {20});
    auto r = StyleGan2Model::from_tensor_file(g, "x.qf");
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("'mapping.fc0.bias' has dtype int32") != std::string::npos);
  }
  {
    TensorFile g = f;
    g.tensors["synthesis.b8.skip.weight"] = Tensor(DType::f32, {20, 20, 1, 1});
    auto r = StyleGan2Model::from_tensor_file(g, "x.qf");
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("unexpected tensor 'synthesis.b8.skip.weight'") != std::string::npos);
  }
  {
    TensorFile g = f;  // a config that does not fit the tensors
    std::string& cfg = g.metadata["qforge.stylegan2.config"];
    auto pos = cfg.find("\"img_channels\": 2");
    REQUIRE(pos != std::string::npos);
    cfg.replace(pos, std::strlen("\"img_channels\": 2"), "\"img_channels\": 3");
    auto r = StyleGan2Model::from_tensor_file(g, "x.qf");
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("'synthesis.b4.torgb.weight' has shape [2,20,1,1], expected [3,20,1,1]") !=
          std::string::npos);
  }
  {
    TensorFile g = f;
    g.metadata["qforge.stylegan2.config"] = "{\"z_dim\": 12, \"c_dim\": 3, \"w_dim\": 20, \"img_resolution\": 16, "
                                            "\"img_channels\": 2, \"synthesis_kwargs\": {\"architecture\": \"fancy\"}}";
    auto r = StyleGan2Model::from_tensor_file(g, "x.qf");
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("synthesis_kwargs.architecture: unknown architecture 'fancy'") != std::string::npos);
  }
  {
    TensorFile g = f;
    g.metadata.erase("qforge.kind");
    auto r = StyleGan2Model::from_tensor_file(g, "x.qf");
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("qforge.kind") != std::string::npos);
  }
  auto missing = StyleGan2Model::load(data_path("no_such_file.qf"));
  REQUIRE(!missing.ok());
  CHECK(missing.error().message.find("no_such_file.qf") != std::string::npos);
}
