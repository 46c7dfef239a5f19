// qforge/core/cpu.hpp — which SIMD instruction sets this CPU (and OS) can run, detected once per process.
//
// Contract: cpu_features() probes CPUID/XGETBV on x86-64 (and, for AMX, asks the kernel for the XTILEDATA state
// with arch_prctl(ARCH_REQ_XCOMP_PERM); AMX counts as available only if that succeeds), getauxval(AT_HWCAP*) on
// aarch64; the probe runs once (thread-safe static) and never executes an instruction the CPU lacks.
// Isa names one kernel family; isa_available() says whether it can run here. best_isa() is the fastest available
// one (i8mm has no kernels of its own yet and runs the dotprod ones, so it is never picked automatically), unless
// the environment variable QFORGE_ISA names another (ref|avx2|avxvnni|avx512vnni|amx|neon|dotprod|i8mm):
// select_isa() returns an Error naming the variable if that ISA is unknown or unavailable, best_isa() prints that
// error and aborts (forcing an ISA is a test/bench tool; silently running another would lie).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#define QFORGE_ARCH_X86_64 1
#elif defined(__aarch64__)
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#define QFORGE_ARCH_AARCH64 1
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // sysconf (l2_cache_bytes)
#endif

namespace qforge {

// Kernel families. ref = portable scalar C++; x86: avx2 (exact 16-bit madd), avxvnni (vpdpbusd ymm),
// avx512vnni (vpdpbusd zmm), amx (tdpbusd tiles); aarch64: neon (widening multiply), dotprod (sdot), i8mm.
enum class Isa { ref, avx2, avx512vnni, avxvnni, amx, neon, dotprod, i8mm };

inline const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::ref: return "ref";
    case Isa::avx2: return "avx2";
    case Isa::avx512vnni: return "avx512vnni";
    case Isa::avxvnni: return "avxvnni";
    case Isa::amx: return "amx";
    case Isa::neon: return "neon";
    case Isa::dotprod: return "dotprod";
    case Isa::i8mm: return "i8mm";
  }
  return "?";
}

inline Result<Isa> parse_isa(const std::string& s) {
  for (Isa i : {Isa::ref, Isa::avx2, Isa::avx512vnni, Isa::avxvnni, Isa::amx, Isa::neon, Isa::dotprod, Isa::i8mm})
    if (s == isa_name(i)) return i;
  return make_error("unknown ISA '", s, "' (expected ref|avx2|avxvnni|avx512vnni|amx|neon|dotprod|i8mm)");
}

struct CpuFeatures {
  // x86-64 (each flag already requires the OS to save the registers it uses, checked with XGETBV)
  bool avx2 = false, fma = false, avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avxvnni = false, amx_tile = false, amx_int8 = false;
  bool avx512vbmi = false;   // byte permutes (table lookups), not an ISA family of its own
  bool amx_granted = false;  // the kernel granted XTILEDATA to this process
  // aarch64
  bool neon = false, dotprod = false, i8mm = false;
};

namespace cpu_detail {

#if defined(QFORGE_ARCH_X86_64)
inline uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}

// Asks Linux for permission to use the AMX tile data state (per process). true if granted (or already granted).
inline bool request_amx_permission() {
#if defined(__linux__)
  constexpr long kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  unsigned long bitmask = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &bitmask) == 0 && (bitmask & (1ul << kXfeatureXtiledata)))
    return true;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
  bitmask = 0;
  return syscall(SYS_arch_prctl, kArchGetXcompPerm, &bitmask) == 0 && (bitmask & (1ul << kXfeatureXtiledata));
#else
  return false;
#endif
}
#endif

inline CpuFeatures detect() {
  CpuFeatures f;
#if defined(QFORGE_ARCH_X86_64)
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  __cpuid(1, a, b, c, d);
  const bool osxsave = (c >> 27) & 1, has_avx = (c >> 28) & 1, has_fma = (c >> 12) & 1;
  if (!osxsave || !has_avx || max_leaf < 7) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;             // SSE + AVX state
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;      // XTILECFG, XTILEDATA
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned ebx7 = b, ecx7 = c, edx7 = d, max_sub7 = a;
  f.avx2 = os_ymm && ((ebx7 >> 5) & 1);
  f.fma = os_ymm && has_fma;
  f.avx512f = os_zmm && ((ebx7 >> 16) & 1);
  f.avx512dq = f.avx512f && ((ebx7 >> 17) & 1);
  f.avx512bw = f.avx512f && ((ebx7 >> 30) & 1);
  f.avx512vl = f.avx512f && ((ebx7 >> 31) & 1);
  f.avx512vnni = f.avx512f && ((ecx7 >> 11) & 1);
  f.avx512vbmi = f.avx512bw && ((ecx7 >> 1) & 1);
  f.amx_tile = os_amx && ((edx7 >> 24) & 1);
  f.amx_int8 = os_amx && ((edx7 >> 25) & 1);
  if (max_sub7 >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    f.avxvnni = f.avx2 && ((a >> 4) & 1);
  }
  if (f.amx_tile && f.amx_int8) f.amx_granted = request_amx_permission();
#elif defined(QFORGE_ARCH_AARCH64)
  f.neon = true;  // Advanced SIMD is mandatory on AArch64
#if defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  f.dotprod = (hw >> 20) & 1;  // HWCAP_ASIMDDP
  f.i8mm = (hw2 >> 13) & 1;    // HWCAP2_I8MM
#endif
#endif
  return f;
}

}  // namespace cpu_detail

inline const CpuFeatures& cpu_features() {
  static const CpuFeatures f = cpu_detail::detect();
  return f;
}

// Whether the kernels of this family can run on this CPU.
inline bool isa_available(Isa isa) {
  const CpuFeatures& f = cpu_features();
  const bool avx512 = f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma;
  switch (isa) {
    case Isa::ref: return true;
    case Isa::avx2: return f.avx2 && f.fma;
#if defined(QFORGE_AVXVNNI_AS_EVEX)  // test builds: the AVX-VNNI kernels compiled with EVEX vpdpbusd ymm
    case Isa::avxvnni: return f.avx2 && f.fma && f.avx512vl && f.avx512vnni;
#else
    case Isa::avxvnni: return f.avx2 && f.fma && f.avxvnni;
#endif
    case Isa::avx512vnni: return avx512 && f.avx512vnni;
    case Isa::amx: return avx512 && f.avx512vnni && f.amx_tile && f.amx_int8 && f.amx_granted;
    case Isa::neon: return f.neon;
    case Isa::dotprod: return f.neon && f.dotprod;
    case Isa::i8mm: return f.neon && f.dotprod && f.i8mm;
  }
  return false;
}

// Every available ISA, slowest first (ref first).
inline std::vector<Isa> available_isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::ref, Isa::avx2, Isa::avxvnni, Isa::avx512vnni, Isa::amx, Isa::neon, Isa::dotprod, Isa::i8mm})
    if (isa_available(i)) v.push_back(i);
  return v;
}

// The fastest available ISA for int8 kernels, ignoring the environment.
inline Isa detected_best_isa() {
  for (Isa i : {Isa::amx, Isa::avx512vnni, Isa::avxvnni, Isa::avx2, Isa::dotprod, Isa::neon})
    if (isa_available(i)) return i;
  return Isa::ref;
}

// The ISA to use: QFORGE_ISA if set (error if unknown or unavailable here), else detected_best_isa().
inline Result<Isa> select_isa() {
  const char* env = std::getenv("QFORGE_ISA");
  if (!env || !*env) return detected_best_isa();
  auto r = parse_isa(env);
  if (!r.ok()) return r.error().wrap("QFORGE_ISA");
  if (!isa_available(*r)) {
    std::string have;
    for (Isa i : available_isas()) have += std::string(have.empty() ? "" : ",") + isa_name(i);
    return make_error("QFORGE_ISA: '", env, "' is not available on this CPU (available: ", have, ")");
  }
  return *r;
}

// select_isa(), decided once per process; a bad QFORGE_ISA prints the error and aborts.
inline Isa best_isa() {
  static const Isa isa = [] {
    auto r = select_isa();
    if (!r.ok()) {
      std::fprintf(stderr, "qforge: %s\n", r.error().message.c_str());
      std::abort();
    }
    return *r;
  }();
  return isa;
}

// Bytes of one core's L2 cache (the working set a batch slice aims at, quant/qexecutor.hpp): what the C library
// reports, else 1 MiB (this family's Zen 4 / Sapphire Rapids L2 is 1-2 MiB, a Cortex-A7x's 0.5-1 MiB).
inline int64_t l2_cache_bytes() {
  static const int64_t v = [] {
#if defined(_SC_LEVEL2_CACHE_SIZE)
    const long r = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (r >= (64 << 10) && r <= (64L << 20)) return int64_t(r);
#endif
    return int64_t(1) << 20;
  }();
  return v;
}

}  // namespace qforge
