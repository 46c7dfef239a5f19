// fp32 GEMM (kernels/f32_gemm.hpp) against the scalar reference at tile edges, with strides, accumulation,
// thread counts and B packed once, with every micro-kernel the CPU runs. Links no op table, so the aarch64 stage
// of scripts/test.sh runs it too (the portable xsimd micro-kernel on NEON).
#include <cstring>

#include <kernels/f32_gemm.hpp>
#include <kernels/ref/f32_gemm_ref.hpp>

#include "test_tensor_helpers.hpp"

using namespace qft;
namespace k = qforge::kernels;

namespace {

namespace fd = k::f32_gemm_detail;

void check_gemm(int64_t M, int64_t N, int64_t K, bool ta, bool tb, bool acc, int threads,
                const fd::Geometry& g = fd::geometry()) {
  Tensor A = randn({M * K}, uint64_t(M * 131 + K), 1.f), B = randn({K * N}, uint64_t(N * 17 + K + 5), 1.f);
  Tensor C0 = randn({M * N}, 99, 1.f);
  Tensor C1 = C0.clone(), C2 = C0.clone();
  int64_t rsa = ta ? 1 : K, csa = ta ? M : 1, rsb = tb ? 1 : N, csb = tb ? K : 1;
  k::ref::f32_gemm(M, N, K, A.data<float>(), rsa, csa, B.data<float>(), rsb, csb, C1.data<float>(), N, acc);
  fd::gemm_with(g, M, N, K, A.data<float>(), rsa, csa, B.data<float>(), rsb, csb, C2.data<float>(), N, acc, threads);
  float tol = 1e-5f * float(K + 1);
  CAPTURE(M); CAPTURE(N); CAPTURE(K); CAPTURE(ta); CAPTURE(tb); CAPTURE(acc);
  CHECK(max_rel_diff(C2, C1) < tol);
}

}  // namespace

TEST_CASE("f32_gemm matches the reference at tile edges, with every micro-kernel this CPU runs") {
  const auto all = fd::available_geometries();
  // The one f32_gemm uses is among them, and is the widest unless the portable one is as wide.
  CHECK(fd::geometry().nr == std::max(all.front().nr, all.back().nr));
  for (const fd::Geometry& g : all) {
    CAPTURE(g.nr);
    const int64_t mr = g.mr, nr = g.nr, kc = fd::kKc;
    std::vector<int64_t> ms = {1, mr - 1, mr, mr + 1, 2 * mr + 3, g.mc() + 1};
    std::vector<int64_t> ns = {1, nr - 1, nr, nr + 1, 2 * nr + 3};
    std::vector<int64_t> ks = {1, 7, kc, kc + 1};
    for (auto M : ms)
      for (auto N : ns)
        for (auto K : ks) check_gemm(M, N, K, false, false, false, 0, g);
    check_gemm(37, 53, 29, true, false, false, 2, g);
    check_gemm(37, 53, 29, false, true, true, 2, g);
    check_gemm(37, 53, 600, true, true, true, 2, g);
    check_gemm(200, 700, 300, false, false, false, 2, g);
  }
}

TEST_CASE("f32_gemm_packed (B packed once) is bitwise equal to f32_gemm, with every micro-kernel this CPU runs") {
  for (const fd::Geometry& g : fd::available_geometries()) {
    CAPTURE(g.nr);
    const int64_t kc = fd::kKc;
    struct Case { int64_t M, N, K; bool tb; int threads; };
    for (const Case& c : {Case{1, 1000, 1280, true, 1}, Case{1, g.nr + 1, kc + 1, false, 1},
                          Case{g.mr - 1, 2 * g.nr + 3, 7, true, 2}, Case{2 * g.mc() + 5, 3 * g.nr - 1, 2 * kc + 9, true, 2},
                          Case{64, 49, 600, false, 1}}) {
      CAPTURE(c.M); CAPTURE(c.N); CAPTURE(c.K); CAPTURE(c.tb);
      Tensor A = randn({c.M * c.K}, uint64_t(c.M + 3)), B = randn({c.K * c.N}, uint64_t(c.N + 7));
      const int64_t rsb = c.tb ? 1 : c.N, csb = c.tb ? c.K : 1;
      Tensor C1(DType::f32, {c.M * c.N}), C2(DType::f32, {c.M * c.N}), C3(DType::f32, {c.M * c.N});
      fd::gemm_with(g, c.M, c.N, c.K, A.data<float>(), c.K, 1, B.data<float>(), rsb, csb, C1.data<float>(), c.N, false,
                    c.threads);
      const k::F32PackedB pb = k::f32_pack_b(c.K, c.N, B.data<float>(), rsb, csb, g);
      CHECK(reinterpret_cast<uintptr_t>(pb.get()) % 64 == 0);
      k::f32_gemm_packed(c.M, A.data<float>(), c.K, 1, pb, C2.data<float>(), c.N, false, c.threads);
      CHECK(std::memcmp(C1.raw(), C2.raw(), C1.nbytes()) == 0);
      // Accumulating into C: C3 = C1 + A.B again.
      std::memcpy(C3.raw(), C1.raw(), C1.nbytes());
      k::f32_gemm_packed(c.M, A.data<float>(), c.K, 1, pb, C3.data<float>(), c.N, true, c.threads);
      Tensor ref = C1.clone();
      k::ref::f32_gemm(c.M, c.N, c.K, A.data<float>(), c.K, 1, B.data<float>(), rsb, csb, ref.data<float>(), c.N, true);
      CHECK(max_rel_diff(C3, ref) < 1e-5f * float(c.K + 1));
    }
  }
}

TEST_CASE("f32_gemm: K = 0 and empty shapes") {
  std::vector<float> c(6, 5.f);
  k::f32_gemm(2, 3, 0, nullptr, 0, 1, nullptr, 3, 1, c.data(), 3, true, 1);
  CHECK(c[0] == 5.f);
  k::f32_gemm(2, 3, 0, nullptr, 0, 1, nullptr, 3, 1, c.data(), 3, false, 1);
  CHECK(c[5] == 0.f);
}

TEST_CASE("f32_gemm is bitwise identical across thread counts") {
  int64_t M = 150, N = 611, K = 700;
  Tensor A = randn({M * K}, 1), B = randn({K * N}, 2);
  Tensor C1(DType::f32, {M * N}), C2(DType::f32, {M * N});
  k::f32_gemm(M, N, K, A.data<float>(), K, 1, B.data<float>(), N, 1, C1.data<float>(), N, false, 1);
  k::f32_gemm(M, N, K, A.data<float>(), K, 1, B.data<float>(), N, 1, C2.data<float>(), N, false, 2);
  CHECK(std::memcmp(C1.raw(), C2.raw(), C1.nbytes()) == 0);
}

