// qforge/core/rng.hpp — counter-based random numbers: the value at (seed, stream, counter) is a pure function,
// so any thread can compute any element and results do not depend on thread count or order.
//
// Philox4x32-10 (Salmon et al., SC'11): a 2x32-bit key (from the seed) and a 4x32-bit counter (stream, index).
#pragma once
#include <array>
#include <cmath>
#include <cstdint>

namespace qforge {

class CounterRng {
 public:
  explicit CounterRng(uint64_t seed, uint64_t stream = 0) : seed_(seed), stream_(stream) {}

  // Four independent 32-bit words for counter i.
  std::array<uint32_t, 4> block(uint64_t i) const {
    uint32_t c0 = uint32_t(i), c1 = uint32_t(i >> 32), c2 = uint32_t(stream_), c3 = uint32_t(stream_ >> 32);
    uint32_t k0 = uint32_t(seed_), k1 = uint32_t(seed_ >> 32);
    for (int r = 0; r < 10; ++r) {
      uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
      uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n1 = uint32_t(p1);
      uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1, n3 = uint32_t(p0);
      c0 = n0; c1 = n1; c2 = n2; c3 = n3;
      k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
    return {c0, c1, c2, c3};
  }

  uint32_t u32(uint64_t i) const { return block(i)[0]; }

  // Uniform in [0, 1) with 24 bits of precision.
  float uniform(uint64_t i) const { return float(block(i)[0] >> 8) * (1.0f / 16777216.0f); }

  // Standard normal (Box-Muller on two words of one block), value is a pure function of i.
  float normal(uint64_t i) const {
    auto b = block(i);
    double u1 = (double(b[0]) + 1.0) / 4294967297.0;  // (0, 1]
    double u2 = double(b[1]) / 4294967296.0;
    return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

  // A child generator for a sub-task (e.g. image k of a batch): independent stream, same seed.
  CounterRng fork(uint64_t sub) const { return CounterRng(seed_ ^ (sub * 0x9E3779B97F4A7C15ull), stream_ + 1 + sub); }

  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }

 private:
  uint64_t seed_, stream_;
};

}  // namespace qforge
