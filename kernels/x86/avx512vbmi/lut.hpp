// kernels/x86/avx512vbmi/lut.hpp — a 256-entry byte table applied to strided runs of bytes, 64 at a time with
// AVX-512 VBMI's two-table byte permute (the int8 executor's requantizing copies: Concat inputs whose
// parameters differ from the output's).
//
// Contract: lut_rows(src, src_stride, dst, dst_stride, rows, len, table) sets dst[r·dst_stride + i] =
// table[src[r·src_stride + i]] for r < rows, i < len; it reads and writes no byte outside those runs. The
// function carries its own target attribute; call it only when cpu_features().avx512vbmi (with avx512bw).
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace qforge::kernels::avx512vbmi {

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) inline void lut_rows(const uint8_t* src, int64_t src_stride,
                                                                            uint8_t* dst, int64_t dst_stride,
                                                                            int64_t rows, int64_t len,
                                                                            const uint8_t* table) {
  // vpermi2b looks up 7 bits in 128 bytes: the low and high halves of the table, chosen by bit 7.
  const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* s = src + r * src_stride;
    uint8_t* d = dst + r * dst_stride;
    for (int64_t i = 0; i < len; i += 64) {
      const int64_t left = len - i;
      const __mmask64 m = left >= 64 ? ~__mmask64(0) : (__mmask64(1) << left) - 1;
      const __m512i x = _mm512_maskz_loadu_epi8(m, s + i);
      const __m512i lo = _mm512_permutex2var_epi8(t0, x, t1);
      const __m512i hi = _mm512_permutex2var_epi8(t2, x, t3);
      _mm512_mask_storeu_epi8(d + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi));
    }
  }
}

}  // namespace qforge::kernels::avx512vbmi

#endif  // __x86_64__
