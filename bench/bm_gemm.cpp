// bm_gemm — int8 GEMM C(s32) = (A(u8, M×K) − zp) · W(s8, N×K)ᵀ on every ISA this CPU has, against oneDNN's
// u8×s8→s32 matmul, and fp32 GEMM (qforge f32_gemm, oneDNN f32 matmul, OpenBLAS sgemm), all in one binary.
// Weights are packed outside the timed loop for every engine; A is not. Counter GOPS = 2·M·N·K / s.
//
// Benchmarks are named <engine>/<M>x<N>x<K>[/threads:2]. The oneDNN ISA is whatever oneDNN picks, capped by its
// own env var, so run once per cap (DNNL_MAX_CPU_ISA=AVX2 | AVX2_VNNI | AVX512_CORE_VNNI | AVX512_CORE_AMX);
// the label says which ISA oneDNN actually ran. 1-thread rows: CPU time of the calling thread (pin with
// taskset -c 0, OMP_NUM_THREADS=1); threads:2 rows: wall time. scripts/bench_kernels.sh runs all caps and
// prints the ratio table.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "qforge/core/cpu.hpp"
#include <kernels/f32_gemm.hpp>
#include <kernels/qgemm.hpp>

#if defined(QFORGE_HAVE_DNNL)
#include <dnnl.hpp>
#endif
#if defined(QFORGE_HAVE_OPENBLAS)
#include <cblas.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace qforge;
using namespace qforge::kernels;
using qforge::bench::random_bytes;

namespace {

struct Shape {
  int M, N, K;
};
const Shape kShapes[] = {{64, 3136, 576}, {128, 784, 1152}, {256, 196, 2304}, {512, 49, 4608},
                         {1024, 1024, 1024}, {1, 1000, 1280}};

std::string shape_name(const Shape& s) {
  return std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K);
}

void set_counters(benchmark::State& st, const Shape& s) {
  st.counters["GOPS"] = benchmark::Counter(2.0 * s.M * s.N * s.K * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_qforge_s8(benchmark::State& st, Isa isa, Shape s, int threads) {
  const auto A = random_bytes<uint8_t>(size_t(s.M) * s.K, 1);
  const auto W = random_bytes<int8_t>(size_t(s.N) * s.K, 2);
  std::vector<int32_t> C(size_t(s.M) * s.N);
  const PackedWeights pw = pack_weights(s.N, s.K, W.data(), s.K, isa);
  const qforge::bench::LayerThreads layer_threads(threads > 1);
  for (auto _ : st) {
    qgemm<uint8_t, int32_t>(s.M, s.N, s.K, A.data(), s.K, 128, pw, Epilogue{}, C.data(), s.N, threads);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, s);
  st.SetLabel(isa_name(isa));
}

void BM_qforge_f32(benchmark::State& st, Shape s, int threads) {
  const auto A = random_bytes<uint8_t>(size_t(s.M) * s.K, 1);
  const auto B = random_bytes<uint8_t>(size_t(s.N) * s.K, 2);
  std::vector<float> Af(A.begin(), A.end()), Bf(B.begin(), B.end()), C(size_t(s.M) * s.N);
  // B is N×K row-major (weights), read as K×N: element (k, n) at n·K + k; packed once, as oneDNN's weights are
  // reordered once below.
  const F32PackedB Bp = f32_pack_b(s.K, s.N, Bf.data(), 1, s.K);
  for (auto _ : st) {
    f32_gemm_packed(s.M, Af.data(), s.K, 1, Bp, C.data(), s.N, false, threads);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, s);
}

#if defined(QFORGE_HAVE_OPENBLAS)
void BM_openblas_f32(benchmark::State& st, Shape s, int threads) {
  openblas_set_num_threads(threads);
  const auto A = random_bytes<uint8_t>(size_t(s.M) * s.K, 1);
  const auto B = random_bytes<uint8_t>(size_t(s.N) * s.K, 2);
  std::vector<float> Af(A.begin(), A.end()), Bf(B.begin(), B.end()), C(size_t(s.M) * s.N);
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.M, s.N, s.K, 1.0f, Af.data(), s.K, Bf.data(), s.K, 0.0f,
                C.data(), s.N);
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, s);
}
#endif

#if defined(QFORGE_HAVE_DNNL)
// oneDNN matmul src(M×K) · weights(K×N) → dst(M×N); weights reordered to the primitive's layout once.
void BM_dnnl(benchmark::State& st, Shape s, bool int8, int threads) {
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const memory::dims sd = {s.M, s.K}, wd = {s.K, s.N}, dd = {s.M, s.N};
  const dt st_src = int8 ? dt::u8 : dt::f32, st_w = int8 ? dt::s8 : dt::f32, st_dst = int8 ? dt::s32 : dt::f32;
  memory::desc src_md(sd, st_src, tag::ab), w_any(wd, st_w, tag::any), dst_md(dd, st_dst, tag::ab);
  memory::desc w_user(wd, st_w, tag::ba);  // N×K row-major = K×N column-major
  matmul::primitive_desc pd;
  try {
    pd = matmul::primitive_desc(matmul::desc(src_md, w_any, dst_md), eng);
  } catch (const dnnl::error& e) {
    st.SkipWithError(e.what());
    return;
  }
  const size_t es = int8 ? 1 : 4;
  std::vector<uint8_t> Abuf(size_t(s.M) * s.K * es), Wbuf(size_t(s.N) * s.K * es);
  const auto A8 = random_bytes<uint8_t>(size_t(s.M) * s.K, 1);
  const auto W8 = random_bytes<int8_t>(size_t(s.N) * s.K, 2);
  if (int8) {
    std::memcpy(Abuf.data(), A8.data(), A8.size());
    std::memcpy(Wbuf.data(), W8.data(), W8.size());
  } else {
    float* a = reinterpret_cast<float*>(Abuf.data());
    float* w = reinterpret_cast<float*>(Wbuf.data());
    for (size_t i = 0; i < A8.size(); ++i) a[i] = float(A8[i]);
    for (size_t i = 0; i < W8.size(); ++i) w[i] = float(W8[i]);
  }
  memory src(src_md, eng, Abuf.data()), wu(w_user, eng, Wbuf.data());
  memory wp(pd.weights_desc(), eng), dst(dst_md, eng);
  reorder(wu, wp).execute(strm, wu, wp);
  matmul prim(pd);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wp}, {DNNL_ARG_DST, dst}};
  for (auto _ : st) {
    prim.execute(strm, args);
    strm.wait();
  }
  set_counters(st, s);
  st.SetLabel(std::string(qforge::bench::dnnl_isa_name()) + " " + pd.impl_info_str());
}
#endif

void register_all() {
  qforge::bench::for_each_thread_count([](int threads, const std::string& suffix, const auto& fin) {
    for (const Shape& s : kShapes) {
      for (Isa isa : available_isas()) {
        if (isa == Isa::ref) continue;
        fin(benchmark::RegisterBenchmark(("s8/qforge_" + std::string(isa_name(isa)) + "/" + shape_name(s) + suffix).c_str(),
                                         BM_qforge_s8, isa, s, threads));
      }
#if defined(QFORGE_HAVE_DNNL)
      fin(benchmark::RegisterBenchmark(("s8/dnnl/" + shape_name(s) + suffix).c_str(), BM_dnnl, s, true, threads));
#endif
      fin(benchmark::RegisterBenchmark(("f32/qforge/" + shape_name(s) + suffix).c_str(), BM_qforge_f32, s, threads));
#if defined(QFORGE_HAVE_DNNL)
      fin(benchmark::RegisterBenchmark(("f32/dnnl/" + shape_name(s) + suffix).c_str(), BM_dnnl, s, false, threads));
#endif
#if defined(QFORGE_HAVE_OPENBLAS)
      fin(benchmark::RegisterBenchmark(("f32/openblas/" + shape_name(s) + suffix).c_str(), BM_openblas_f32, s,
                                       threads));
#endif
    }
  });
}

}  // namespace

int main(int argc, char** argv) { return qforge::bench::run_benchmarks(argc, argv, register_all); }
