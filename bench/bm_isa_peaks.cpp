// bm_isa_peaks — the int8 multiply-accumulate ceiling of each instruction scheme on this core: a register-only
// loop of 10 (zmm: 24) independent accumulators (no loads, no epilogue), so the counter is what the scheme's instructions
// can issue, the most any GEMM built on it can reach. Counter GOPS = 2·MAC/s. Run pinned to one core:
//   taskset -c 0 bench/bm_isa_peaks
// Schemes (MAC = one u8×s8 product added into int32):
//   avx2_exact_maddwd    vpmaddwd on 16-bit operands + vpaddd: 16 MAC, exact for every u8×s8 (qforge's AVX2).
//   avx2_sat_maddubsw    vpmaddubsw + vpmaddwd(·, 1) + vpaddd: 32 MAC, the usual AVX2 int8 scheme (oneDNN's);
//                        the int16 pair sum saturates for full-range operands, so it is not exact.
//   avx2_exact_sign      |a| and sign(a)·w (vpabsb once per row, vpsignb per product) then the saturating chain:
//                        exact for s8 activations and weights in [−127, 127] (pair sums ≤ 2·128·127), 32 MAC.
//   avxvnni_dpbusd_ymm   vpdpbusd ymm: 32 MAC, exact.      avx512vnni_dpbusd_zmm   vpdpbusd zmm: 64 MAC, exact.
// docs/kernels.md compares these ceilings with the GEMM figures of bm_gemm (why exact AVX2 trails oneDNN's).
#include <benchmark/benchmark.h>

#include <cstdint>

#include "qforge/core/cpu.hpp"

#if defined(__x86_64__)
#include <immintrin.h>

namespace {

using qforge::Isa;

const int32_t kOpA = 0x07070707, kOpB = int32_t(0xFDFDFDFDu), kOnes16 = 0x00010001;

constexpr int64_t kSteps = 1 << 16;  // loop trips per benchmark iteration

// Each loop is written in assembly so that the instruction stream is exactly the scheme's (compiled intrinsics
// kept some accumulators in memory). Registers: operands in ymm0/ymm1, 16-bit ones in ymm3, temporaries rotate
// over ymm2/ymm4/ymm5 (one temporary reused by every step ran the 16-bit scheme at 60 % of its rate here),
// accumulators ymm6..ymm15: 10 independent chains, more than latency × issue width. No loads.
#define QF_STEP_MADDWD(r, t) "vpmaddwd %%ymm1, %%ymm0, %%ymm" #t "\n\tvpaddd %%ymm" #t ", %%ymm" #r ", %%ymm" #r "\n\t"
#define QF_STEP_MADDUBSW(r, t)                                                                              \
  "vpmaddubsw %%ymm1, %%ymm0, %%ymm" #t "\n\tvpmaddwd %%ymm3, %%ymm" #t ", %%ymm" #t "\n\tvpaddd %%ymm" #t \
  ", %%ymm" #r ", %%ymm" #r "\n\t"
#define QF_STEP_VNNI_YMM(r, t) "%{vex%} vpdpbusd %%ymm1, %%ymm0, %%ymm" #r "\n\t"
#define QF_STEP_VNNI_ZMM(r, t) "vpdpbusd %%zmm1, %%zmm0, %%zmm" #r "\n\t"
#define QF_TEN(STEP) \
  STEP(6, 2) STEP(7, 4) STEP(8, 5) STEP(9, 2) STEP(10, 4) STEP(11, 5) STEP(12, 2) STEP(13, 4) STEP(14, 5) STEP(15, 2)
#define QF_ZERO_ACC                                                                                           \
  "vpxor %%xmm6, %%xmm6, %%xmm6\n\tvpxor %%xmm7, %%xmm7, %%xmm7\n\t"                                           \
  "vpxor %%xmm8, %%xmm8, %%xmm8\n\tvpxor %%xmm9, %%xmm9, %%xmm9\n\t"                                           \
  "vpxor %%xmm10, %%xmm10, %%xmm10\n\tvpxor %%xmm11, %%xmm11, %%xmm11\n\tvpxor %%xmm12, %%xmm12, %%xmm12\n\t" \
  "vpxor %%xmm13, %%xmm13, %%xmm13\n\tvpxor %%xmm14, %%xmm14, %%xmm14\n\tvpxor %%xmm15, %%xmm15, %%xmm15\n\t"
#define QF_YMM_CLOBBERS                                                                                    \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", \
      "xmm13", "xmm14", "xmm15"
constexpr int kChains = 10;  // products per loop trip (the zmm loop adds zmm16..zmm29: 24)

// Operand set-up: ymm0 = bytes 0x07, ymm1 = bytes 0xFD (−3), ymm3 = 16-bit ones; the values do not matter to
// the timing. Returns the low dword of one accumulator so that nothing is dead.
#define QF_SETUP_YMM                                                                               \
  "vpbroadcastd %[a], %%ymm0\n\tvpbroadcastd %[b], %%ymm1\n\tvpbroadcastd %[one], %%ymm3\n\t"
#define QF_LOOP_YMM(BODY)                                                                             \
  __asm__ volatile(QF_SETUP_YMM QF_ZERO_ACC "1:\n\t" BODY "dec %[n]\n\tjnz 1b\n\t"                    \
                   "vmovd %%xmm6, %[out]\n\tvzeroupper"                                             \
                   : [n] "+r"(steps), [out] "=r"(out)                                               \
                   : [a] "m"(kOpA), [b] "m"(kOpB), [one] "m"(kOnes16)                               \
                   : QF_YMM_CLOBBERS, "cc")

__attribute__((target("avx2"), noinline)) int32_t avx2_exact_maddwd(int64_t steps) {
  int32_t out;
  QF_LOOP_YMM(QF_TEN(QF_STEP_MADDWD));
  return out;
}

__attribute__((target("avx2"), noinline)) int32_t avx2_sat_maddubsw(int64_t steps) {
  int32_t out;
  QF_LOOP_YMM(QF_TEN(QF_STEP_MADDUBSW));
  return out;
}

// The sign scheme as a register tile would run it: 2 rows (ymm0, ymm1) × 3 weight vectors (ymm5, ymm6, ymm7),
// per row one vpabsb (into ymm2), per product vpsignb + the saturating chain (temporaries ymm4, ymm14, ymm15);
// accumulators ymm8..ymm13. A trip runs the tile twice and once more over its first two products: 14 − 4 = 10.
#define QF_SIGN_PRODUCT(row, wv, acc, t)                                                                  \
  "vpsignb %%ymm" #row ", %%ymm" #wv ", %%ymm" #t "\n\tvpmaddubsw %%ymm" #t ", %%ymm2, %%ymm" #t "\n\t"   \
  "vpmaddwd %%ymm3, %%ymm" #t ", %%ymm" #t "\n\tvpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
#define QF_SIGN_ROW(row, a0, a1, a2)                                                                       \
  "vpabsb %%ymm" #row ", %%ymm2\n\t" QF_SIGN_PRODUCT(row, 5, a0, 4) QF_SIGN_PRODUCT(row, 6, a1, 14)        \
      QF_SIGN_PRODUCT(row, 7, a2, 15)
__attribute__((target("avx2"), noinline)) int32_t avx2_exact_sign(int64_t steps) {
  int32_t out;
  __asm__ volatile(QF_SETUP_YMM QF_ZERO_ACC
                   "vmovdqa %%ymm1, %%ymm5\n\tvmovdqa %%ymm1, %%ymm6\n\tvmovdqa %%ymm1, %%ymm7\n\t"
                   "vpsubb %%ymm3, %%ymm0, %%ymm1\n\t"  // a second row
                   "1:\n\t" QF_SIGN_ROW(0, 8, 9, 10) QF_SIGN_ROW(1, 11, 12, 13) QF_SIGN_ROW(0, 8, 9, 10)
                   "vpabsb %%ymm1, %%ymm2\n\t" QF_SIGN_PRODUCT(1, 5, 11, 4) "dec %[n]\n\tjnz 1b\n\t"
                   "vmovd %%xmm8, %[out]\n\tvzeroupper"
                   : [n] "+r"(steps), [out] "=r"(out)
                   : [a] "m"(kOpA), [b] "m"(kOpB), [one] "m"(kOnes16)
                   : QF_YMM_CLOBBERS, "cc");
  return out;
}

__attribute__((target("avx2,avxvnni"), noinline)) int32_t avxvnni_dpbusd_ymm(int64_t steps) {
  int32_t out;
  QF_LOOP_YMM(QF_TEN(QF_STEP_VNNI_YMM));
  return out;
}

// zmm16..zmm29: 14 more chains for the zmm loop (24 in all; vpdpbusd zmm needs more in flight than 10).
#define QF_ZMM_HIGH(STEP)                                                                                \
  STEP(16, 0) STEP(17, 0) STEP(18, 0) STEP(19, 0) STEP(20, 0) STEP(21, 0) STEP(22, 0) STEP(23, 0) STEP(24, 0) \
      STEP(25, 0) STEP(26, 0) STEP(27, 0) STEP(28, 0) STEP(29, 0)
#define QF_ZERO_ONE_ZMM(r, t) "vpxord %%zmm" #r ", %%zmm" #r ", %%zmm" #r "\n\t"
#define QF_ZERO_ZMM_HIGH QF_ZMM_HIGH(QF_ZERO_ONE_ZMM)
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) int32_t avx512vnni_dpbusd_zmm(int64_t steps) {
  int32_t out;
  __asm__ volatile("vpbroadcastd %[a], %%zmm0\n\tvpbroadcastd %[b], %%zmm1\n\t" QF_ZERO_ACC
                   QF_ZERO_ZMM_HIGH "1:\n\t" QF_TEN(QF_STEP_VNNI_ZMM) QF_ZMM_HIGH(QF_STEP_VNNI_ZMM) "dec %[n]\n\tjnz 1b\n\t"
                   "vmovd %%xmm6, %[out]\n\tvzeroupper"
                   : [n] "+r"(steps), [out] "=r"(out)
                   : [a] "m"(kOpA), [b] "m"(kOpB)
                   : QF_YMM_CLOBBERS, "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24",
                     "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "cc");
  return out;
}

// macs_per_op: multiply-adds one chain step adds (vector width in bytes ÷ 2 or ÷ 1 per scheme).
void run_peak(benchmark::State& st, Isa need, int32_t (*loop)(int64_t), int macs_per_op, int chains = kChains) {
  if (!qforge::isa_available(need)) {
    st.SkipWithError((std::string("this CPU lacks ") + qforge::isa_name(need)).c_str());
    return;
  }
  int32_t sink = 0;
  for (auto _ : st) sink += loop(kSteps);
  benchmark::DoNotOptimize(sink);
  const double macs = double(st.iterations()) * double(kSteps) * chains * macs_per_op;
  st.counters["GOPS"] = benchmark::Counter(2 * macs * 1e-9, benchmark::Counter::kIsRate);
}

void BM_avx2_exact_maddwd(benchmark::State& st) { run_peak(st, Isa::avx2, avx2_exact_maddwd, 16); }
void BM_avx2_sat_maddubsw(benchmark::State& st) { run_peak(st, Isa::avx2, avx2_sat_maddubsw, 32); }
void BM_avx2_exact_sign(benchmark::State& st) { run_peak(st, Isa::avx2, avx2_exact_sign, 32); }
void BM_avxvnni_dpbusd_ymm(benchmark::State& st) { run_peak(st, Isa::avxvnni, avxvnni_dpbusd_ymm, 32); }
void BM_avx512vnni_dpbusd_zmm(benchmark::State& st) { run_peak(st, Isa::avx512vnni, avx512vnni_dpbusd_zmm, 64, 24); }

}  // namespace

BENCHMARK(BM_avx2_exact_maddwd);
BENCHMARK(BM_avx2_sat_maddubsw);
BENCHMARK(BM_avx2_exact_sign);
BENCHMARK(BM_avxvnni_dpbusd_ymm);
BENCHMARK(BM_avx512vnni_dpbusd_zmm);
#endif  // __x86_64__

BENCHMARK_MAIN();
