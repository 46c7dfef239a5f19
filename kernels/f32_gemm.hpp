// kernels/f32_gemm.hpp — fp32 GEMM for Conv (im2col / 1x1), Gemm and MatMul: packed panels, an MR x NR
// register-tiled micro-kernel and OpenMP over output tiles. The micro-kernel is chosen once per process: on x86-64
// the AVX-512F or AVX2+FMA one of kernels/x86/f32_micro.hpp when the CPU has it, else the portable one on
// xsimd::batch<float> (the best arch enabled at compile time; scalar when xsimd is absent).
//
// Contract: same as kernels/ref/f32_gemm_ref.hpp: C[i,j] (+)= sum_k A(i,k) * B(k,j), A(i,k) = A[i*rsa + k*csa],
// B(k,j) = B[k*rsb + j*csb], C row-major with leading dimension ldc; accumulate = false overwrites C.
// threads: 0 = OpenMP default, 1 = serial. Deterministic whatever the thread count: every C element is summed by
// one thread, over K in fixed blocks of kKc in increasing k order, so tiling and threading never change the bits.
// Tails in M, N and K are handled (zero-padded packing, partial stores).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include <kernels/threads.hpp>
#include <kernels/x86/f32_micro.hpp>

#include "qforge/core/cpu.hpp"

#if defined(QFORGE_HAVE_XSIMD)
#include <xsimd/xsimd.hpp>
#endif

namespace qforge::kernels {

namespace f32_gemm_detail {

#if defined(QFORGE_HAVE_XSIMD) && !defined(QFORGE_GEMM_SCALAR)
using vf = xsimd::batch<float>;
constexpr int kW = int(vf::size);
#else
constexpr int kW = 1;
#endif
// The portable micro-kernel's register tile: MR rows x NR = 2 vectors of columns (6x16 on AVX2, 6x32 on AVX-512,
// 4x8 on SSE/NEON).
constexpr int kMr = kW >= 8 ? 6 : 4;
constexpr int kNr = kW >= 4 ? 2 * kW : 8;
constexpr int64_t kKc = 256;             // K block (a B micro-panel kKc x NR stays in L1)
constexpr int64_t kNcMax = 512;          // N block upper bound

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Packs rows [0, mc) x k [0, kc) of A into panels of mr rows: panel p, step k holds A(p*mr + r, k) at
// dst[p*kc*mr + k*mr + r]; rows past mc are zero.
inline void pack_a(int mr, int64_t mc, int64_t kc, const float* A, int64_t rsa, int64_t csa, float* dst) {
  for (int64_t p = 0; p < mc; p += mr) {
    int64_t rows = std::min<int64_t>(mr, mc - p);
    float* d = dst + p * kc;
    if (rows < mr) std::memset(d, 0, sizeof(float) * size_t(kc * mr));
    for (int64_t r = 0; r < rows; ++r) {
      const float* a = A + (p + r) * rsa;
      if (csa == 1) {
        for (int64_t k = 0; k < kc; ++k) d[k * mr + r] = a[k];
      } else {
        for (int64_t k = 0; k < kc; ++k) d[k * mr + r] = a[k * csa];
      }
    }
  }
}

// Packs k [0, kc) x columns [0, nc) of B into panels of nr columns: dst[p*kc*nr + k*nr + c] = B(k, p*nr + c).
inline void pack_b(int nr, int64_t kc, int64_t nc, const float* B, int64_t rsb, int64_t csb, float* dst) {
  for (int64_t p = 0; p < nc; p += nr) {
    int64_t cols = std::min<int64_t>(nr, nc - p);
    float* d = dst + p * kc;
    if (csb == 1 && cols == nr) {
      for (int64_t k = 0; k < kc; ++k) std::memcpy(d + k * nr, B + k * rsb + p, sizeof(float) * nr);
    } else if (csb == 1) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* b = B + k * rsb + p;
        float* o = d + k * nr;
        int64_t c = 0;
        for (; c < cols; ++c) o[c] = b[c];
        for (; c < nr; ++c) o[c] = 0.f;
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        float* o = d + k * nr;
        int64_t c = 0;
        for (; c < cols; ++c) o[c] = B[k * rsb + (p + c) * csb];
        for (; c < nr; ++c) o[c] = 0.f;
      }
    }
  }
}

// One kMr x kNr tile: acc = Ap . Bp over kc; then C[0:mr, 0:nr] = (add ? C + acc : acc).
inline void micro_portable(int64_t kc, const float* Ap, int64_t ars, int64_t aks, const float* Bp, float* C,
                           int64_t ldc, int64_t mr, int64_t nr, bool add) {
#if defined(QFORGE_HAVE_XSIMD) && !defined(QFORGE_GEMM_SCALAR)
  // Rows past mr read row mr-1 again (A may be read in place, where they do not exist); their sums are dropped.
  int64_t ro[kMr];
  for (int r = 0; r < kMr; ++r) ro[r] = std::min<int64_t>(r, mr - 1) * ars;
  vf acc[kMr][2];
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) { acc[r][0] = vf(0.f); acc[r][1] = vf(0.f); }
  for (int64_t k = 0; k < kc; ++k) {
    vf b0 = vf::load_aligned(Bp + k * kNr);
    vf b1 = vf::load_aligned(Bp + k * kNr + kW);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      vf a(Ap[ro[r] + k * aks]);
      acc[r][0] = xsimd::fma(a, b0, acc[r][0]);
      acc[r][1] = xsimd::fma(a, b1, acc[r][1]);
    }
  }
  if (mr == kMr && nr == kNr) {
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      float* c = C + r * ldc;
      if (add) {
        (acc[r][0] + vf::load_unaligned(c)).store_unaligned(c);
        (acc[r][1] + vf::load_unaligned(c + kW)).store_unaligned(c + kW);
      } else {
        acc[r][0].store_unaligned(c);
        acc[r][1].store_unaligned(c + kW);
      }
    }
    return;
  }
  alignas(64) float tile[kMr][kNr];
  for (int r = 0; r < kMr; ++r) {
    acc[r][0].store_aligned(&tile[r][0]);
    acc[r][1].store_aligned(&tile[r][kW]);
  }
#else
  float tile[kMr][kNr] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int r = 0; r < mr; ++r) {
      float a = Ap[r * ars + k * aks];
      for (int c = 0; c < kNr; ++c) tile[r][c] += a * Bp[k * kNr + c];
    }
#endif
  for (int64_t r = 0; r < mr; ++r) {
    float* c = C + r * ldc;
    if (add) {
      for (int64_t j = 0; j < nr; ++j) c[j] += tile[r][j];
    } else {
      for (int64_t j = 0; j < nr; ++j) c[j] = tile[r][j];
    }
  }
}

// Thread-local packing buffer, 64-byte aligned, grown on demand.
inline float* scratch(int which, size_t floats) {
  struct Buf {
    float* p = nullptr;
    size_t n = 0;
    ~Buf() { ::operator delete[](p, std::align_val_t(64)); }
  };
  thread_local Buf bufs[2];
  Buf& b = bufs[which];
  if (b.n < floats) {
    ::operator delete[](b.p, std::align_val_t(64));
    b.p = static_cast<float*>(::operator new[](floats * sizeof(float), std::align_val_t(64)));
    b.n = floats;
  }
  return b.p;
}

// A(r, k) = Ap[r*ars + k*aks]: packed panels (1, mr) or A in place (row stride, 1).
using MicroFn = void (*)(int64_t kc, const float* Ap, int64_t ars, int64_t aks, const float* Bp, float* C, int64_t ldc,
                         int64_t mr, int64_t nr, bool add);
struct Geometry {
  int mr, nr;  // register tile
  MicroFn micro;
  int64_t mc() const { return 24 * int64_t(mr); }  // M block (packed A block in L2)
};

// Every micro-kernel this CPU runs, widest first (tests run them all).
inline std::vector<Geometry> available_geometries() {
  std::vector<Geometry> v;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.fma) v.push_back(Geometry{x86f32::kMr, 32, &x86f32::micro_avx512});
  if (f.avx2 && f.fma) v.push_back(Geometry{x86f32::kMr, 16, &x86f32::micro_avx2});
#endif
  v.push_back(Geometry{kMr, kNr, &micro_portable});
  return v;
}

// The widest micro-kernel this CPU runs, chosen once per process (the portable one when it is as wide: a build
// for the CPU's own arch).
inline const Geometry& geometry() {
  static const Geometry g = [] {
    const std::vector<Geometry> all = available_geometries();
    return all.front().nr > kNr ? all.front() : all.back();
  }();
  return g;
}

// Computes the C tile rows [i0, i0+rows) x cols [j0, j0+nc) over all of K. The B block (kc x nc) is packed once per
// K block and reused by every M block of g.mc() rows: packing B again per M block cost as much as the arithmetic
// when B is transposed (one strided read per element).
// With `packed` (B packed whole by f32_pack_b, `np` = its padded width) the panels are read from there instead.
inline void tile_task(const Geometry& g, int64_t i0, int64_t rows, int64_t j0, int64_t nc, int64_t K, const float* A,
                      int64_t rsa, int64_t csa, const float* B, int64_t rsb, int64_t csb, const float* packed,
                      int64_t np, float* C, int64_t ldc, bool accumulate) {
  // A with contiguous rows is read in place (six row streams the prefetcher follows); otherwise packed.
  const bool direct = csa == 1;
  float* Ap = direct ? nullptr : scratch(0, size_t(std::min(g.mc(), round_up(rows, g.mr)) * kKc));
  float* Bbuf = packed ? nullptr : scratch(1, size_t(round_up(nc, g.nr) * kKc));
  for (int64_t p0 = 0; p0 < K; p0 += kKc) {
    int64_t kc = std::min(kKc, K - p0);
    bool add = accumulate || p0 > 0;
    const float* Bp = Bbuf;
    if (packed)
      Bp = packed + p0 * np + j0 * kc;
    else
      pack_b(g.nr, kc, nc, B + p0 * rsb + j0 * csb, rsb, csb, Bbuf);
    for (int64_t ib = 0; ib < rows; ib += g.mc()) {
      const int64_t mc = std::min(g.mc(), rows - ib);
      const float* a0 = A + (i0 + ib) * rsa + p0 * csa;
      if (!direct) pack_a(g.mr, mc, kc, a0, rsa, csa, Ap);
      for (int64_t jr = 0; jr < nc; jr += g.nr) {
        const float* bp = Bp + jr * kc;
        for (int64_t ir = 0; ir < mc; ir += g.mr) {
          float* c = C + (i0 + ib + ir) * ldc + j0 + jr;
          const int64_t mr = std::min<int64_t>(g.mr, mc - ir), nr = std::min<int64_t>(g.nr, nc - jr);
          if (direct)
            g.micro(kc, a0 + ir * rsa, rsa, 1, bp, c, ldc, mr, nr, add);
          else
            g.micro(kc, Ap + ir * kc, 1, g.mr, bp, c, ldc, mr, nr, add);
        }
      }
    }
  }
}

inline void gemm_with(const Geometry& g, int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
                      const float* B, int64_t rsb, int64_t csb, float* C, int64_t ldc, bool accumulate, int threads,
                      const float* packed = nullptr, int64_t np = 0) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.f);
    return;
  }
  const int nt = threads_for_work(resolve_threads(threads), 4 * M * N * K);  // 4: an fp32 MAC costs ~4 int8 MACs
  // Tasks: N blocks of at most kNcMax columns (each packs its B block once), and when there are fewer than ~2 per
  // thread, M split into chunks of whole g.mc() blocks as well.
  int64_t nc = std::min(round_up(N, g.nr), kNcMax);
  int64_t nblocks = (N + nc - 1) / nc;
  const int64_t mblocks = (M + g.mc() - 1) / g.mc();
  int64_t mchunks = std::min<int64_t>(mblocks, std::max<int64_t>(1, (2 * nt + nblocks - 1) / nblocks));
  if (nblocks * mchunks < 2 * nt && nt > 1) {  // still too few tasks: narrower N blocks
    int64_t want = (2 * nt + mchunks - 1) / mchunks;
    nc = std::max<int64_t>(g.nr, round_up((N + want - 1) / want, g.nr));
    nblocks = (N + nc - 1) / nc;
  }
  const int64_t mchunk = (mblocks + mchunks - 1) / mchunks * g.mc();
  mchunks = (M + mchunk - 1) / mchunk;
  const int64_t tasks = mchunks * nblocks;
  auto run_task = [&](int64_t t) {
    int64_t mb = t / nblocks, nb = t % nblocks;
    int64_t i0 = mb * mchunk, j0 = nb * nc;
    tile_task(g, i0, std::min(mchunk, M - i0), j0, std::min(nc, N - j0), K, A, rsa, csa, B, rsb, csb, packed, np, C,
              ldc, accumulate);
  };
#if defined(_OPENMP)
  if (nt > 1 && tasks > 1) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) run_task(t);
    return;
  }
#endif
  for (int64_t t = 0; t < tasks; ++t) run_task(t);
}
}  // namespace f32_gemm_detail

inline void f32_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B,
                     int64_t rsb, int64_t csb, float* C, int64_t ldc, bool accumulate, int threads = 0) {
  f32_gemm_detail::gemm_with(f32_gemm_detail::geometry(), M, N, K, A, rsa, csa, B, rsb, csb, C, ldc, accumulate,
                             threads);
}

// B (K x N) packed once into the panels the micro-kernel reads, for a B used many times (Gemm/MatMul weights):
// K blocks of kKc rows, each `np` (= N rounded up to the tile width) columns wide in panels of nr. Packing a
// transposed B (weights stored N x K) costs one strided read per element, as much as the arithmetic of a small M.
struct F32PackedB {
  f32_gemm_detail::Geometry geometry{};
  int64_t K = 0, N = 0, np = 0;
  std::shared_ptr<float> data;  // 64-byte aligned: the portable micro-kernel loads B panels aligned
  const float* get() const { return data.get(); }
};

inline F32PackedB f32_pack_b(int64_t K, int64_t N, const float* B, int64_t rsb, int64_t csb,
                             const f32_gemm_detail::Geometry& g = f32_gemm_detail::geometry()) {
  F32PackedB p;
  p.geometry = g;
  p.K = std::max<int64_t>(K, 0);
  p.N = std::max<int64_t>(N, 0);
  p.np = f32_gemm_detail::round_up(p.N, g.nr);
  const size_t n = size_t(std::max<int64_t>(p.K * p.np, 1));
  p.data = std::shared_ptr<float>(static_cast<float*>(::operator new[](n * sizeof(float), std::align_val_t(64))),
                                  [](float* q) { ::operator delete[](q, std::align_val_t(64)); });
  for (int64_t p0 = 0; p0 < p.K; p0 += f32_gemm_detail::kKc) {
    int64_t kc = std::min(f32_gemm_detail::kKc, p.K - p0);
    f32_gemm_detail::pack_b(g.nr, kc, p.N, B + p0 * rsb, rsb, csb, p.data.get() + p0 * p.np);
  }
  return p;
}

// C (M x N) (+)= A (M x K) · B with B packed by f32_pack_b; bitwise equal to f32_gemm on the unpacked B.
inline void f32_gemm_packed(int64_t M, const float* A, int64_t rsa, int64_t csa, const F32PackedB& B, float* C,
                            int64_t ldc, bool accumulate, int threads = 0) {
  f32_gemm_detail::gemm_with(B.geometry, M, B.N, B.K, A, rsa, csa, nullptr, 0, 0, C, ldc, accumulate, threads,
                             B.get(), B.np);
}

}  // namespace qforge::kernels
