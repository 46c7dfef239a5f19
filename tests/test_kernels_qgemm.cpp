// int8 GEMM kernels vs the scalar reference, bit for bit: every ISA this CPU has, tile edges in M and N
// (tile−1, tile, tile+1, 2·tile+3), odd K, extreme operands (0/255 × −128/127), every a_zp in {0, 1, 128, 255}
// (int8: {−128, −127, 0, 127}), every output type, 1 vs 2 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "qforge/core/cpu.hpp"
#include "qforge/core/rng.hpp"
#include <kernels/qgemm.hpp>

using namespace qforge;
using namespace qforge::kernels;

namespace {

// Operands drawn half from the extremes and half uniformly.
template <class T>
std::vector<T> make_operand(size_t n, uint64_t seed, int extreme_pct = 50) {
  CounterRng rng(seed);
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = rng.u32(i);
    const bool ext = int(r % 100) < extreme_pct;
    const uint32_t bits = ext ? ((r >> 8) & 1 ? 0xFFu : 0x00u) : (r >> 16) & 0xFFu;
    uint8_t b = uint8_t(bits);
    if (std::is_signed_v<T>) b ^= 0x80;  // extremes of int8 are -128/127
    std::memcpy(&v[i], &b, 1);
  }
  return v;
}

struct Problem {
  int M, N, K;
};

template <class TA, class TC>
void check_one(Isa isa, const Problem& pr, int32_t a_zp, uint64_t seed, bool relu, int threads, const char* what) {
  const int M = pr.M, N = pr.N, K = pr.K;
  const int lda = K + 3, ldw = K + 1, ldc = N + 2;  // strides wider than the data
  auto A = make_operand<TA>(size_t(M) * lda, seed);
  auto W = make_operand<int8_t>(size_t(N) * ldw, seed + 1);
  std::vector<int32_t> bias(N);
  std::vector<float> scale(N);
  CounterRng rng(seed + 2);
  for (int n = 0; n < N; ++n) {
    bias[n] = int32_t(rng.u32(n) % 200001) - 100000;
    // Scales that map the accumulator range onto ~the output range; some exact halves to hit ties.
    scale[n] = (n % 5 == 0) ? 0.5f : 1.0f / float(64 + rng.u32(n + 1000) % (K * 64 + 1));
  }
  Epilogue ep;
  ep.bias = bias.data();
  ep.scale = scale.data();
  if constexpr (std::is_same_v<TC, uint8_t>) {
    ep.out_zp = 3;
    ep.qmin = relu ? 3 : 0;
    ep.qmax = 255;
  } else if constexpr (std::is_same_v<TC, int8_t>) {
    ep.out_zp = -5;
    ep.qmin = relu ? -5 : -128;
    ep.qmax = 127;
  }
  std::vector<TC> want(size_t(M) * ldc, TC(7)), got(size_t(M) * ldc, TC(7));
  ref::qgemm<TA, TC>(M, N, K, A.data(), lda, a_zp, W.data(), ldw, ep, want.data(), ldc);
  const PackedWeights pw = pack_weights(N, K, W.data(), ldw, isa);
  qgemm<TA, TC>(M, N, K, A.data(), lda, a_zp, pw, ep, got.data(), ldc, threads);
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&want[i], &got[i], sizeof(TC)) != 0) {
      if (!bad) first = i;
      ++bad;
    }
  INFO(what, " isa=", std::string(isa_name(isa)), " M=", M, " N=", N, " K=", K, " zp=", a_zp, " relu=", relu, " threads=", threads,
       " first bad at row ", first / ldc, " col ", first % ldc);
  CHECK(bad == 0);
}

template <class TA>
std::vector<int32_t> zero_points() {
  if constexpr (std::is_same_v<TA, uint8_t>) return {0, 1, 128, 255};
  else return {-128, -127, 0, 127};
}

}  // namespace

TEST_CASE("qgemm: every ISA matches the reference at tile edges, odd K, all zero points") {
  for (Isa isa : available_isas()) {
    const PackLayout L = pack_layout(isa);
    const int nr = L.nr, vc = L.vec_cols;
    const int mr = 8;  // covers every kernel's row tile (4 or 8): mr−1, mr, mr+1, 2·mr+3
    const std::vector<int> Ns = {1, vc - 1, vc, vc + 1, nr - 1, nr, nr + 1, 2 * nr + 3, 4 * nr + 5};
    const std::vector<int> Ms = {1, 3, 4, 5, mr - 1, mr, mr + 1, 2 * mr + 3};
    const std::vector<int> Ks = {1, 3, 4, 7, 64, 67};
    uint64_t seed = 1;
    for (int K : Ks)
      for (int N : Ns)
        for (int M : Ms) {
          if (N < 1) continue;
          check_one<uint8_t, int32_t>(isa, {M, N, K}, 128, seed++, false, 1, "u8/s32");
        }
    for (int32_t zp : zero_points<uint8_t>())
      for (const Problem& p : {Problem{9, nr + 1, 67}, Problem{1, 4 * nr + 5, 131}, Problem{19, 2 * nr + 3, 5}}) {
        check_one<uint8_t, int32_t>(isa, p, zp, seed++, false, 1, "u8/s32");
        check_one<uint8_t, float>(isa, p, zp, seed++, false, 1, "u8/f32");
        check_one<uint8_t, uint8_t>(isa, p, zp, seed++, false, 1, "u8/u8");
        check_one<uint8_t, uint8_t>(isa, p, zp, seed++, true, 1, "u8/u8 relu");
        check_one<uint8_t, int8_t>(isa, p, zp, seed++, false, 1, "u8/s8");
      }
    for (int32_t zp : zero_points<int8_t>())
      for (const Problem& p : {Problem{9, nr + 1, 67}, Problem{1, 4 * nr + 5, 131}, Problem{19, 2 * nr + 3, 5}}) {
        check_one<int8_t, int32_t>(isa, p, zp, seed++, false, 1, "s8/s32");
        check_one<int8_t, float>(isa, p, zp, seed++, false, 1, "s8/f32");
        check_one<int8_t, uint8_t>(isa, p, zp, seed++, true, 1, "s8/u8 relu");
        check_one<int8_t, int8_t>(isa, p, zp, seed++, false, 1, "s8/s8");
      }
  }
}

TEST_CASE("qgemm: extreme operands 255 x -128 over a long K stay exact (no 16-bit saturation)") {
  // Every product is 255·(−128) (or 0·127 …): vpmaddubsw would saturate the first pair sum to −32768.
  const int M = 5, N = 50, K = 4099;
  std::vector<uint8_t> A(size_t(M) * K, 255);
  std::vector<int8_t> W(size_t(N) * K, -128);
  for (int k = 0; k < K; k += 3) W[k] = 127;  // column 0 mixes signs
  for (Isa isa : available_isas()) {
    const PackedWeights pw = pack_weights(N, K, W.data(), K, isa);
    std::vector<int32_t> want(size_t(M) * N), got(size_t(M) * N);
    ref::qgemm<uint8_t, int32_t>(M, N, K, A.data(), K, 0, W.data(), K, Epilogue{}, want.data(), N);
    qgemm<uint8_t, int32_t>(M, N, K, A.data(), K, 0, pw, Epilogue{}, got.data(), N, 1);
    INFO("isa=", std::string(isa_name(isa)));
    CHECK(want[1] == 255 * -128 * K);
    CHECK(got == want);
    // int8 activations at −128 with zero point 127: every (A − zp) is −255.
    std::vector<int8_t> As(size_t(M) * K, -128);
    ref::qgemm<int8_t, int32_t>(M, N, K, As.data(), K, 127, W.data(), K, Epilogue{}, want.data(), N);
    qgemm<int8_t, int32_t>(M, N, K, As.data(), K, 127, pw, Epilogue{}, got.data(), N, 1);
    CHECK(want[1] == -255 * -128 * K);
    CHECK(got == want);
  }
}

TEST_CASE("threads_for_work: one thread per min_macs multiply-adds, at least 1, at most the threads asked for") {
  namespace qd = qforge::kernels;
  CHECK(qd::threads_for_work(2, 0, 1000) == 1);
  CHECK(qd::threads_for_work(2, 1999, 1000) == 1);
  CHECK(qd::threads_for_work(2, 2000, 1000) == 2);
  CHECK(qd::threads_for_work(4, 3500, 1000) == 3);
  CHECK(qd::threads_for_work(2, int64_t(1) << 40, 1000) == 2);
  CHECK(qd::threads_for_work(1, int64_t(1) << 40, 1000) == 1);
  // ctest runs the tests with QFORGE_MIN_MACS_PER_THREAD=1 so that small shapes still use the threads.
  if (const char* e = std::getenv("QFORGE_MIN_MACS_PER_THREAD"); e && std::string(e) == "1")
    CHECK(qd::min_macs_per_thread() == 1);
  else if (!e)
    CHECK(qd::min_macs_per_thread() == qd::default_min_macs(std::getenv("OMP_WAIT_POLICY")));
  // Sleeping (passive) OpenMP threads cost more to wake: 4x the work per thread.
  CHECK(qd::default_min_macs(nullptr) == int64_t(1) << 22);
  CHECK(qd::default_min_macs("ACTIVE") == int64_t(1) << 22);
  CHECK(qd::default_min_macs("passive") == int64_t(1) << 24);
  CHECK(qd::default_min_macs("Passive") == int64_t(1) << 24);
}

TEST_CASE("qgemm: results are identical with 1 and 2 threads") {
  for (Isa isa : available_isas()) {
    for (const Problem& p : {Problem{64, 200, 300}, Problem{1, 1000, 1280}, Problem{37, 49, 577}}) {
      const auto A = make_operand<uint8_t>(size_t(p.M) * p.K, 11, 10);
      const auto W = make_operand<int8_t>(size_t(p.N) * p.K, 12, 10);
      std::vector<float> scale(p.N, 1.0f / 4096.0f);
      Epilogue ep;
      ep.scale = scale.data();
      ep.out_zp = 100;
      const PackedWeights pw = pack_weights(p.N, p.K, W.data(), p.K, isa);
      std::vector<uint8_t> c1(size_t(p.M) * p.N), c2(size_t(p.M) * p.N), cr(size_t(p.M) * p.N);
      qgemm<uint8_t, uint8_t>(p.M, p.N, p.K, A.data(), p.K, 17, pw, ep, c1.data(), p.N, 1);
      qgemm<uint8_t, uint8_t>(p.M, p.N, p.K, A.data(), p.K, 17, pw, ep, c2.data(), p.N, 2);
      ref::qgemm<uint8_t, uint8_t>(p.M, p.N, p.K, A.data(), p.K, 17, W.data(), p.K, ep, cr.data(), p.N);
      INFO("isa=", std::string(isa_name(isa)), " M=", p.M, " N=", p.N, " K=", p.K);
      CHECK(c1 == c2);
      CHECK(c1 == cr);
    }
  }
}

TEST_CASE("cpu: ISA selection") {
  CHECK(isa_available(Isa::ref));
  CHECK(isa_available(detected_best_isa()));
  CHECK(parse_isa("avx512vnni").ok());
  CHECK(!parse_isa("sse9").ok());
  const auto v = available_isas();
  REQUIRE(!v.empty());
  CHECK(v.front() == Isa::ref);
#if defined(QFORGE_AVXVNNI_AS_EVEX)
  // scripts/test_avxvnni_evex.sh builds this only for CPUs with AVX-512 VNNI + VL: the AVX-VNNI kernels must be
  // among the ISAs the tests above loop over, or that build tests nothing new.
  CHECK(std::find(v.begin(), v.end(), Isa::avxvnni) != v.end());
#endif
}

#if defined(__x86_64__)
// The AMX kernel (tile config, A packing, VNNI-interleaved B tiles, 2×2 C tiles, epilogue) on an exact scalar
// model of tileloadd/tdpbusd/tilestored, so its layout logic is checked on CPUs without AMX; on AMX CPUs the
// hardware path is also covered by the ISA loops above.
TEST_CASE("qgemm: AMX kernel on the scalar tile model matches the reference") {
  if (!isa_available(Isa::avx512vnni)) return;
  uint64_t seed = 7000;
  for (const Problem& p : {Problem{1, 1, 1}, Problem{31, 15, 63}, Problem{32, 16, 64}, Problem{33, 33, 65},
                           Problem{67, 70, 131}, Problem{5, 100, 200}}) {
    for (int32_t zp : {0, 255}) {
      const int M = p.M, N = p.N, K = p.K, lda = K + 1;
      auto A = make_operand<uint8_t>(size_t(M) * lda, seed++);
      auto As = make_operand<int8_t>(size_t(M) * lda, seed++);
      auto W = make_operand<int8_t>(size_t(N) * K, seed++);
      std::vector<int32_t> bias(N, 12345);
      std::vector<float> scale(N, 1.0f / 1024.0f);
      Epilogue ep;
      ep.bias = bias.data();
      ep.scale = scale.data();
      ep.out_zp = 9;
      const PackedWeights pw = pack_weights(N, K, W.data(), K, Isa::amx);
      std::vector<uint8_t> want(size_t(M) * N), got(size_t(M) * N);
      ref::qgemm<uint8_t, uint8_t>(M, N, K, A.data(), lda, zp, W.data(), K, ep, want.data(), N);
      GemmJob j;
      j.M = M;
      j.A = A.data();
      j.lda = lda;
      j.W = &pw;
      j.C = got.data();
      j.ldc = N;
      std::vector<int32_t> scratch;
      run_qgemm_job<uint8_t, uint8_t>(j, zp, ep, scratch, 1, &amx::emulated_block<uint8_t, false>, amx::kMR);
      INFO("M=", M, " N=", N, " K=", K, " zp=", zp);
      CHECK(got == want);
      std::vector<int32_t> want32(size_t(M) * N), got32(size_t(M) * N);
      const int32_t szp = zp - 128;
      ref::qgemm<int8_t, int32_t>(M, N, K, As.data(), lda, szp, W.data(), K, ep, want32.data(), N);
      GemmJob js = j;
      js.A = reinterpret_cast<const uint8_t*>(As.data());
      js.C = got32.data();
      run_qgemm_job<int8_t, int32_t>(js, szp, ep, scratch, 2, &amx::emulated_block<int32_t, true>, amx::kMR);
      CHECK(got32 == want32);
    }
  }
}
#endif
