// qforge/core/numpy_random.hpp — numpy's legacy RandomState stream in C++ (MT19937 + polar Gaussian), bit-exact.
//
// Contract: NumpyRandomState(seed) produces the same doubles as `np.random.RandomState(seed)` for
// random_sample() / rand() and standard_normal() / randn() (row-major order for randn(a, b)):
//   * RandomState(int seed), 0 <= seed < 2^32: MT19937 init_genrand(seed) (Knuth's multiplier 1812433253);
//   * RandomState(sequence of ints in [0, 2^32)): init_by_array (seed 19650218, multipliers 1664525 /
//     1566083941), see seed_by_array(); (numpy rejects integer seeds >= 2^32);
//   * random_sample: (a * 2^26 + b) / 2^53 with a = next32 >> 5, b = next32 >> 6;
//   * standard_normal: Marsaglia's polar method on 2u-1 pairs, rejecting r2 >= 1 or r2 == 0; returns f*x2 and
//     caches f*x1 for the next call (the cache is part of the state, as in numpy's legacy_gauss).
// Uses std::log / std::sqrt from the same libm numpy uses on the platform (glibc here): bit-exactness is tested
// against numpy's own values (tests/data/stylegan2/numpy_random.qf).
// This is what StyleGAN2-ADA's generate.py uses for z: RandomState(seed).randn(1, z_dim).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace qforge {

class NumpyRandomState {
 public:
  static constexpr int kN = 624;

  explicit NumpyRandomState(uint32_t seed = 0) { this->seed(seed); }

  // np.random.RandomState(seed) for an integer seed in [0, 2^32).
  void seed(uint32_t s) {
    mt_[0] = s;
    for (int i = 1; i < kN; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + uint32_t(i);
    pos_ = kN;
    has_gauss_ = false;
    gauss_ = 0.0;
  }

  // np.random.RandomState(list_of_uint32_words).
  void seed_by_array(const uint32_t* key, size_t n) {
    seed(19650218u);
    int i = 1;
    size_t j = 0;
    for (size_t k = (size_t(kN) > n ? size_t(kN) : n); k; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + uint32_t(j);
      ++i;
      ++j;
      if (i >= kN) { mt_[0] = mt_[kN - 1]; i = 1; }
      if (j >= n) j = 0;
    }
    for (int k = kN - 1; k; --k) {
      mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - uint32_t(i);
      ++i;
      if (i >= kN) { mt_[0] = mt_[kN - 1]; i = 1; }
    }
    mt_[0] = 0x80000000u;
    pos_ = kN;
    has_gauss_ = false;
    gauss_ = 0.0;
  }

  // The next raw 32-bit output of MT19937 (tempered).
  uint32_t next_u32() {
    if (pos_ >= kN) generate();
    uint32_t y = mt_[pos_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
  }

  // random_sample(): uniform double in [0, 1) with 53 random bits.
  double random_sample() {
    uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
    return (double(a) * 67108864.0 + double(b)) / 9007199254740992.0;
  }

  // standard_normal() / one value of randn().
  double standard_normal() {
    if (has_gauss_) {
      has_gauss_ = false;
      double g = gauss_;
      gauss_ = 0.0;
      return g;
    }
    double x1, x2, r2;
    do {
      x1 = 2.0 * random_sample() - 1.0;
      x2 = 2.0 * random_sample() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = std::sqrt(-2.0 * std::log(r2) / r2);
    gauss_ = f * x1;
    has_gauss_ = true;
    return f * x2;
  }

  // randn(n) as a vector (row-major order of randn(a, b) with a * b = n).
  std::vector<double> randn(size_t n) {
    std::vector<double> v(n);
    for (auto& x : v) x = standard_normal();
    return v;
  }

 private:
  void generate() {
    constexpr uint32_t kUpper = 0x80000000u, kLower = 0x7fffffffu, kMatrix = 0x9908b0dfu;
    constexpr int kM = 397;
    int k = 0;
    for (; k < kN - kM; ++k) {
      uint32_t y = (mt_[k] & kUpper) | (mt_[k + 1] & kLower);
      mt_[k] = mt_[k + kM] ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
    }
    for (; k < kN - 1; ++k) {
      uint32_t y = (mt_[k] & kUpper) | (mt_[k + 1] & kLower);
      mt_[k] = mt_[k + (kM - kN)] ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
    }
    uint32_t y = (mt_[kN - 1] & kUpper) | (mt_[0] & kLower);
    mt_[kN - 1] = mt_[kM - 1] ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
    pos_ = 0;
  }

  uint32_t mt_[kN];
  int pos_ = kN;
  bool has_gauss_ = false;
  double gauss_ = 0.0;
};

}  // namespace qforge
