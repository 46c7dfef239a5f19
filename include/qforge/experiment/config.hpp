// qforge/experiment/config.hpp — what `qforge experiment` runs: models × sources × calibrators × bit widths ×
// repeats, and the parsing of its comma-separated lists.
//
// Contract:
//  * Sources: "real" (a seeded random subset of n images of fmnist:train, another subset per repeat),
//    "stylegan2" (images 0..n-1 of run `repeat` of the StyleGAN2 generator, classes round-robin),
//    "stylegan2+energy" / "stylegan2+bn" (2n candidates of the same run, per class the n/classes lowest GenQ
//    energy / BN-statistics scores of the model being quantized), "fractal", "noise" (= noise:gaussian) or
//    "noise:KIND", and "few-shot:K" (K real images per class + StyleGAN2 images whose penultimate-layer features
//    are nearest to those real images'; few_shot.hpp). Any other generator spec (registry.hpp) is accepted as is.
//  * Bits: "wXaY" with X, Y ∈ {8, 4}. 8-bit weights use per-channel min/max ranges, 4-bit weights per-channel
//    MSE ranges; activations are per tensor, u8, ranged by the calibrator.
//  * Repeat r uses seed r for generators and for the real subset (and the few-shot real images).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/quant/calibrators.hpp"

namespace qforge::experiment {

struct BitWidth {
  int weights = 8, acts = 8;
  std::string name() const { return "w" + std::to_string(weights) + "a" + std::to_string(acts); }
};

struct Config {
  std::vector<std::string> models;        // model files
  std::vector<std::string> sources;       // source names (header comment)
  std::vector<quant::Calibrator> calibrators;
  std::vector<BitWidth> bits;
  int64_t n = 1024;                       // calibration images per source
  int repeats = 1;
  int64_t eval_n = 0;                     // test images (0 = all)
  std::string eval_data = "fmnist:test";
  std::string real_data = "fmnist:train";
  std::string stylegan2 = "weights/fmnist_stylegan2.qf";
  int64_t batch = 64;
  int threads = 1;                        // per executor (OpenMP); 1 is robust on a shared machine
  int jobs = 2;                           // steps run at once (int8 evaluations, fp32 statistics, ...)
  int64_t stats_cache_mb = 512;           // per statistics step: pass-1 values kept for pass 2 (0 = rerun)
  int64_t grid_max = 64;                  // images per source grid
  int64_t few_shot_pool = 8;              // few-shot: candidates drawn per kept synthetic image
  std::string out = "results";
  bool quiet = false;
};

inline std::vector<std::string> split_list(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

inline Result<BitWidth> parse_bits(const std::string& s) {
  if (s.size() == 4 && (s[0] == 'w' || s[0] == 'W') && (s[2] == 'a' || s[2] == 'A') && (s[1] == '8' || s[1] == '4') &&
      (s[3] == '8' || s[3] == '4'))
    return BitWidth{s[1] - '0', s[3] - '0'};
  return make_error("bit width '", s, "' (expected w8a8, w4a8, w8a4 or w4a4)");
}

// The short model name shown in tables: the file name without directory, "fmnist_" and extension.
inline std::string model_label(const std::string& path) {
  std::string b = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  if (b.rfind("fmnist_", 0) == 0) b = b.substr(7);
  auto dot = b.find('.');
  return dot == std::string::npos ? b : b.substr(0, dot);
}

// "few-shot:K" → K (≥ 0), or -1 when `source` is not a few-shot source.
inline int64_t few_shot_k(const std::string& source) {
  if (source.rfind("few-shot:", 0) != 0) return -1;
  try {
    size_t pos = 0;
    long long k = std::stoll(source.substr(9), &pos);
    return pos == source.size() - 9 && k >= 0 ? k : -2;
  } catch (...) {
    return -2;
  }
}

}  // namespace qforge::experiment
