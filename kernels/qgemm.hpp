// kernels/qgemm.hpp — the int8 GEMM: C = epilogue(Σ_k (A − a_zp)·W) with weights packed once per ISA.
//
// Contract: bit for bit ref::qgemm (kernels/ref/qgemm_ref.hpp) for every ISA, shape and thread count. Weights are
// packed with pack_weights(N, K, W, ldw, isa) (kernels/packed_weights.hpp) for an ISA that isa_available();
// qgemm runs the ISA the weights were packed for. TA: uint8_t or int8_t; TC: int32_t, float, uint8_t, int8_t.
// Work is split over OpenMP threads by output tiles (each output element is computed by exactly one thread, in
// a fixed order), so results never depend on the thread count. threads = 0: the OpenMP default; 1: serial.
// K ≤ 65536 (exact int32 accumulation for any values).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "qforge/core/cpu.hpp"
#include "qforge/core/error.hpp"
#include <kernels/gemm_job.hpp>
#include <kernels/threads.hpp>
#include <kernels/packed_weights.hpp>
#include <kernels/ref/qgemm_ref.hpp>
#if defined(__x86_64__)
#include <kernels/x86/amx/qgemm_block.hpp>
#include <kernels/x86/avx2/qgemm_block.hpp>
#include <kernels/x86/avx512vnni/qgemm_block.hpp>
#include <kernels/x86/avxvnni/qgemm_block.hpp>
#endif
#if defined(__aarch64__)
#include <kernels/arm/dotprod/qgemm_block.hpp>
#include <kernels/arm/neon/qgemm_block.hpp>
#endif

namespace qforge::kernels {

namespace qgemm_detail {

using BlockFn = void (*)(const GemmJob&, int, int, int, int);

struct IsaKernels {
  BlockFn fn = nullptr;
  int mr = 1;
};

template <class TC, bool S8>
IsaKernels block_fn(Isa isa) {
  switch (isa) {
#if defined(__x86_64__)
    case Isa::amx: return {&amx::block<TC, S8>, amx::kMR};
    case Isa::avx512vnni: return {&avx512vnni::block<TC, S8>, avx512vnni::kMR};
    case Isa::avxvnni: return {&avxvnni::block<TC, S8>, avxvnni::kMR};
    case Isa::avx2: return {&avx2::block<TC, S8>, avx2::kMR};
#endif
#if defined(__aarch64__)
    case Isa::dotprod:
    case Isa::i8mm: return {&dotprod::block<TC, S8>, dotprod::kMR};  // i8mm CPUs run the sdot kernels
    case Isa::neon: return {&neon::block<TC, S8>, neon::kMR};
#endif
    default: return {};
  }
}

using kernels::resolve_threads;
using kernels::threads_for_work;

// Splits rows × panels into a flat list of (row chunk, panel) items, ordered panel-fastest, and gives each
// thread a contiguous, equal share of it. Row chunks keep an A block within ~256 KB (L2) and are refined until
// there are enough items to balance the threads.
inline void run_blocks(const GemmJob& j, BlockFn fn, int mr, int threads) {
  const PackedWeights& W = *j.W;
  const int M = j.M, np = W.npanels;
  const int mtiles = (M + mr - 1) / mr;
  int tiles_per_chunk = std::max(1, int((256 * 1024) / std::max(W.kp, 1)) / mr);
  int nchunks = (mtiles + tiles_per_chunk - 1) / tiles_per_chunk;
  // A batch-1 row streams its weights once (no reuse across rows): a MAC then costs ~4x one of a GEMM tile
  // (bench/bm_gemm, AVX-512 VNNI, 1 thread: 1x1000x1280 at ~220 GOPS, the other shapes 840-900), and the second
  // thread also brings its own core's L2 for half the panels.
  const int64_t macs = int64_t(M) * int64_t(W.N) * int64_t(std::max(W.kp, 1)) * (M == 1 ? 4 : 1);
  const int T = threads_for_work(threads, macs);
  if (T > 1) {
    while (int64_t(nchunks) * np < 8 * T && tiles_per_chunk > 1) {
      tiles_per_chunk = (tiles_per_chunk + 1) / 2;
      nchunks = (mtiles + tiles_per_chunk - 1) / tiles_per_chunk;
    }
  }
  const int64_t items = int64_t(nchunks) * np;
  const int nthreads = int(std::min<int64_t>(T, items));
  // Chunks of near-equal size (their tile counts differ by at most one), so that equal shares of items are equal
  // shares of work: with chunks of tiles_per_chunk tiles and a small remainder chunk, a thread whose share held
  // the remainder got far less work (1024³ at 2 threads: 105 vs 66 tiles).
  auto chunk_row = [&](int c) { return std::min(M, int(int64_t(mtiles) * c / nchunks) * mr); };
  auto work = [&](int t) {
    const int64_t i0 = items * t / nthreads, i1 = items * (t + 1) / nthreads;
    int64_t i = i0;
    while (i < i1) {
      const int chunk = int(i / np);
      const int pa = int(i % np);
      const int pb = int(std::min<int64_t>(np, pa + (i1 - i)));
      const int m0 = chunk_row(chunk), m1 = chunk_row(chunk + 1);
      fn(j, m0, m1, pa, pb);
      i += pb - pa;
    }
  };
  kernels::run_parts(nthreads, work);
}

}  // namespace qgemm_detail

// Runs a prepared job (A rows through job.A/lda or job.conv) on the ISA the weights were packed for. Fills
// job.cbias from ep.bias, the zero point and the column sums (scratch holds it). `kernel` replaces the ISA's
// block function (tests run the AMX code on a scalar tile model this way); its row tile is `kernel_mr`.
template <class TA, class TC>
void run_qgemm_job(GemmJob& j, int32_t a_zp, const Epilogue& ep, std::vector<int32_t>& scratch, int threads,
                   qgemm_detail::BlockFn kernel = nullptr, int kernel_mr = 1) {
  static_assert(std::is_same_v<TA, uint8_t> || std::is_same_v<TA, int8_t>, "activations must be uint8_t or int8_t");
  constexpr bool S8 = std::is_same_v<TA, int8_t>;
  const PackedWeights& W = *j.W;
  const int ncols = W.npanels * W.layout.nr;
  scratch.assign(size_t(ncols), 0);
  const int32_t zp = a_zp + (S8 ? W.layout.shift_s8 : W.layout.shift_u8);
  const int32_t* cs = W.colsum.get();
  for (int n = 0; n < W.N; ++n) {
    uint32_t v = ep.bias ? uint32_t(ep.bias[n]) : 0u;
    if (cs) v -= uint32_t(zp) * uint32_t(cs[n]);
    scratch[size_t(n)] = int32_t(v);
  }
  j.a_signed = S8;
  j.a_zp = a_zp;
  j.cbias = scratch.data();
  j.scale = ep.scale;
  j.lo = float(ep.qmin - ep.out_zp);
  j.hi = float(ep.qmax - ep.out_zp);
  j.out_zp = ep.out_zp;
  if (j.M <= 0) return;
  auto k = qgemm_detail::block_fn<TC, S8>(W.isa);
  if (kernel) k = {kernel, kernel_mr};
  QF_CHECK(k.fn != nullptr, "qgemm: no kernel for ISA ", isa_name(W.isa), " in this build");
  qgemm_detail::run_blocks(j, k.fn, k.mr, qgemm_detail::resolve_threads(threads));
}

// C (M×N, row stride ldc) = epilogue(Σ_k (A − a_zp)·W); A is M×K with row stride lda; W packed by pack_weights.
template <class TA, class TC>
void qgemm(int M, int N, int K, const TA* A, int lda, int32_t a_zp, const PackedWeights& W, const Epilogue& ep,
           TC* C, int ldc, int threads = 0) {
  QF_CHECK(W.N == N && W.K == K && W.taps == 1, "qgemm: weights packed for N=", W.N, " K=", W.K,
           " taps=", W.taps, ", called with N=", N, " K=", K);
  QF_CHECK(M >= 0 && lda >= K && ldc >= N, "qgemm: M=", M, " lda=", lda, " ldc=", ldc);
  if (W.isa == Isa::ref) {
    ref::qgemm<TA, TC>(M, N, K, A, lda, a_zp, W.data.get(), K, ep, C, ldc);
    return;
  }
  QF_CHECK(isa_available(W.isa), "qgemm: weights packed for ", isa_name(W.isa), ", not available on this CPU");
  GemmJob j;
  j.M = M;
  j.A = reinterpret_cast<const uint8_t*>(A);
  j.lda = lda;
  j.W = &W;
  j.C = C;
  j.ldc = ldc;
  std::vector<int32_t> scratch;
  run_qgemm_job<TA, TC>(j, a_zp, ep, scratch, threads);
}

}  // namespace qforge::kernels
