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
#include <vector>

#include <kernels/x86/f32_micro.hpp>

#include "qforge/core/cpu.hpp"

#if defined(QFORGE_HAVE_XSIMD)
#include <xsimd/xsimd.hpp>
#endif
#if defined(_OPENMP)
#include <omp.h>
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
inline void micro_portable(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, int64_t mr, int64_t nr,
                  bool add) {
#if defined(QFORGE_HAVE_XSIMD) && !defined(QFORGE_GEMM_SCALAR)
  vf acc[kMr][2];
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) { acc[r][0] = vf(0.f); acc[r][1] = vf(0.f); }
  for (int64_t k = 0; k < kc; ++k) {
    vf b0 = vf::load_aligned(Bp + k * kNr);
    vf b1 = vf::load_aligned(Bp + k * kNr + kW);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      vf a(Ap[k * kMr + r]);
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
    for (int r = 0; r < kMr; ++r) {
      float a = Ap[k * kMr + r];
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

using MicroFn = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc, int64_t mr, int64_t nr,
                        bool add);
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

// Computes the C tile rows [i0, i0+mc) x cols [j0, j0+nc) over all of K.
inline void tile_task(const Geometry& g, int64_t i0, int64_t mc, int64_t j0, int64_t nc, int64_t K, const float* A,
                      int64_t rsa, int64_t csa, const float* B, int64_t rsb, int64_t csb, float* C, int64_t ldc,
                      bool accumulate) {
  int64_t mcp = round_up(mc, g.mr), ncp = round_up(nc, g.nr);
  float* Ap = scratch(0, size_t(mcp * kKc));
  float* Bp = scratch(1, size_t(ncp * kKc));
  for (int64_t p0 = 0; p0 < K; p0 += kKc) {
    int64_t kc = std::min(kKc, K - p0);
    bool add = accumulate || p0 > 0;
    pack_b(g.nr, kc, nc, B + p0 * rsb + j0 * csb, rsb, csb, Bp);
    pack_a(g.mr, mc, kc, A + i0 * rsa + p0 * csa, rsa, csa, Ap);
    for (int64_t jr = 0; jr < nc; jr += g.nr) {
      const float* bp = Bp + jr * kc;
      for (int64_t ir = 0; ir < mc; ir += g.mr) {
        g.micro(kc, Ap + ir * kc, bp, C + (i0 + ir) * ldc + j0 + jr, ldc, std::min<int64_t>(g.mr, mc - ir),
                std::min<int64_t>(g.nr, nc - jr), add);
      }
    }
  }
}

}  // namespace f32_gemm_detail

// Number of threads a kernel would use for `threads` (0 = OpenMP default).
inline int resolve_threads(int threads) {
#if defined(_OPENMP)
  return threads > 0 ? threads : omp_get_max_threads();
#else
  (void)threads;
  return 1;
#endif
}

namespace f32_gemm_detail {
inline void gemm_with(const Geometry& g, int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa,
                      const float* B, int64_t rsb, int64_t csb, float* C, int64_t ldc, bool accumulate, int threads) {
  namespace d = f32_gemm_detail;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, 0.f);
    return;
  }
  int nt = resolve_threads(threads);
  double work = double(M) * double(N) * double(K);
  if (work < 65536.0) nt = 1;
  // Tiles: M blocks of g.mc(); N split so that there are at least ~2 tiles per thread when N allows.
  int64_t mblocks = (M + g.mc() - 1) / g.mc();
  int64_t want_nblocks = std::max<int64_t>(1, (2 * nt + mblocks - 1) / mblocks);
  int64_t nc = d::round_up((N + want_nblocks - 1) / want_nblocks, g.nr);
  nc = std::min(std::max<int64_t>(nc, g.nr), d::kNcMax);
  int64_t nblocks = (N + nc - 1) / nc;
  int64_t tasks = mblocks * nblocks;
  auto run_task = [&](int64_t t) {
    int64_t mb = t / nblocks, nb = t % nblocks;
    int64_t i0 = mb * g.mc(), j0 = nb * nc;
    d::tile_task(g, i0, std::min(g.mc(), M - i0), j0, std::min(nc, N - j0), K, A, rsa, csa, B, rsb, csb, C, ldc,
                 accumulate);
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

}  // namespace qforge::kernels
