// The AVX-512 VBMI byte-table kernel (kernels/x86/avx512vbmi/lut.hpp) against the plain loop: every table
// index, run lengths around the 64-byte vector (masked tails), strided rows, and no byte written outside the
// runs.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "qforge/core/cpu.hpp"
#include "qforge/core/rng.hpp"
#if defined(__x86_64__)
#include <kernels/x86/avx512vbmi/lut.hpp>
#endif

using namespace qforge;

#if defined(__x86_64__)
TEST_CASE("lut_rows: 256-entry byte table over strided runs matches the plain loop") {
  if (!cpu_features().avx512vbmi) {
    MESSAGE("no AVX-512 VBMI on this CPU: kernel not exercised");
    return;
  }
  CounterRng rng(7);
  std::vector<uint8_t> table(256);
  for (int i = 0; i < 256; ++i) table[size_t(i)] = uint8_t(rng.u32(uint64_t(i)) >> 5);
  for (int64_t len : {1, 3, 63, 64, 65, 127, 128, 130}) {
    const int64_t rows = 5, ss = len + 7, ds = 2 * len + 11;
    std::vector<uint8_t> src(size_t(rows * ss));
    for (size_t i = 0; i < src.size(); ++i) src[i] = uint8_t(i * 37 + size_t(len));  // every byte value
    std::vector<uint8_t> got(size_t(rows * ds), 0xA5), want = got;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < len; ++i) want[size_t(r * ds + i)] = table[src[size_t(r * ss + i)]];
    kernels::avx512vbmi::lut_rows(src.data(), ss, got.data(), ds, rows, len, table.data());
    INFO("len=", len);
    CHECK(got == want);
  }
}
#endif
