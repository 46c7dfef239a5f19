// kernels/x86/avx512vnni/qadd.hpp — quantized elementwise Add of two 8-bit tensors on AVX-512 (16 lanes).
//
// Contract: qadd(a, b, n, p, y) sets, for i < n,
//   y[i] = clamp(round_half_even(float(a[i] − za)·fa + float(b[i] − zb)·fb) + zo, lo, hi)
// with the products and the sum each rounded to float (explicit-rounding intrinsics: never fused into an FMA),
// the value first limited to ±2^20 (NaN → the low end), i.e. bit for bit the int8 executor's scalar formula
// (quant/qexecutor.hpp: run_add, clamp_round_fast). a, b, y hold u8 or s8 codes as given by the flags; lo and hi
// must lie in the output type's range. The function carries its own target attribute; call it only after
// isa_available(Isa::avx512vnni).
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace qforge::kernels {

struct QAddParams {
  int32_t za = 0, zb = 0, zo = 0, lo = 0, hi = 255;
  float fa = 1.0f, fb = 1.0f;
  bool a_s8 = false, b_s8 = false, y_s8 = false;
};

namespace avx512vnni {

#define QF_AVX512_QADD_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline

template <bool AS, bool BS, bool YS>
QF_AVX512_QADD_FN void qadd_t(const uint8_t* a, const uint8_t* b, int64_t n, const QAddParams& p, uint8_t* y) {
  constexpr int kRn = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512i za = _mm512_set1_epi32(p.za), zb = _mm512_set1_epi32(p.zb), zo = _mm512_set1_epi32(p.zo);
  const __m512i lo = _mm512_set1_epi32(p.lo), hi = _mm512_set1_epi32(p.hi);
  const __m512 fa = _mm512_set1_ps(p.fa), fb = _mm512_set1_ps(p.fb);
  const __m512 lim = _mm512_set1_ps(1048576.0f), nlim = _mm512_set1_ps(-1048576.0f);
  // The maskz forms with an all-ones mask are the plain instructions; GCC 12's unmasked cvt/min/max intrinsics
  // use _mm512_undefined_*() and trip -Wmaybe-uninitialized in user builds.
  const __mmask16 all = 0xFFFF;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? all : __mmask16((1u << (n - i)) - 1u);
    const __m128i va = _mm_maskz_loadu_epi8(m, a + i), vb = _mm_maskz_loadu_epi8(m, b + i);
    const __m512i ia = AS ? _mm512_maskz_cvtepi8_epi32(all, va) : _mm512_maskz_cvtepu8_epi32(all, va);
    const __m512i ib = BS ? _mm512_maskz_cvtepi8_epi32(all, vb) : _mm512_maskz_cvtepu8_epi32(all, vb);
    const __m512 xa = _mm512_maskz_mul_round_ps(all, _mm512_maskz_cvtepi32_ps(all, _mm512_sub_epi32(ia, za)), fa, kRn);
    const __m512 xb = _mm512_maskz_mul_round_ps(all, _mm512_maskz_cvtepi32_ps(all, _mm512_sub_epi32(ib, zb)), fb, kRn);
    __m512 x = _mm512_maskz_add_round_ps(all, xa, xb, kRn);
    x = _mm512_maskz_max_ps(all, x, nlim);  // (x, nlim): NaN → nlim, as `x > -lim ? x : -lim`
    x = _mm512_maskz_min_ps(all, x, lim);
    __m512i r = _mm512_add_epi32(_mm512_maskz_cvt_roundps_epi32(all, x, kRn), zo);
    r = _mm512_maskz_min_epi32(all, _mm512_maskz_max_epi32(all, r, lo), hi);
    if constexpr (YS)
      _mm512_mask_cvtsepi32_storeu_epi8(y + i, m, r);
    else
      _mm512_mask_cvtusepi32_storeu_epi8(y + i, m, r);
  }
}

QF_AVX512_QADD_FN void qadd(const uint8_t* a, const uint8_t* b, int64_t n, const QAddParams& p, uint8_t* y) {
  const int k = (p.a_s8 ? 4 : 0) | (p.b_s8 ? 2 : 0) | (p.y_s8 ? 1 : 0);
  switch (k) {
    case 0: qadd_t<false, false, false>(a, b, n, p, y); break;
    case 1: qadd_t<false, false, true>(a, b, n, p, y); break;
    case 2: qadd_t<false, true, false>(a, b, n, p, y); break;
    case 3: qadd_t<false, true, true>(a, b, n, p, y); break;
    case 4: qadd_t<true, false, false>(a, b, n, p, y); break;
    case 5: qadd_t<true, false, true>(a, b, n, p, y); break;
    case 6: qadd_t<true, true, false>(a, b, n, p, y); break;
    default: qadd_t<true, true, true>(a, b, n, p, y); break;
  }
}

}  // namespace avx512vnni
}  // namespace qforge::kernels

#endif  // __x86_64__
