// generators/generator.hpp — the one interface behind every synthetic calibration source.
//
// Contract: a Generator makes images in [-1, 1], NCHW float32, at its own native size and channel count
// (the same convention as StyleGAN2's synthesis output). Image `index` of a run seeded with `seed` is a pure
// function of (seed, index, class, options): generating images 0..99 in one batch, in ten batches, or from
// several threads gives the same pixels. Preprocessing to a model's input (resize, channels, mean/std) is done
// by the caller (qforge/data), the same way as for real images.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"

namespace qforge::gen {

struct GeneratorInfo {
  std::string name;          // "stylegan2", "fractal", "noise:gaussian", ...
  int64_t height = 0, width = 0, channels = 0;
  int64_t latent_dim = 0;    // 0 when the source has no latent space
  int64_t num_classes = 0;   // 0 = unconditional
};

// What to make: image indices [first, first + count) of the run `seed`; `classes` (optional, size count) asks a
// conditional generator for one class per image (ignored by unconditional ones).
struct GenerateRequest {
  uint64_t seed = 0;
  int64_t first = 0;
  int64_t count = 1;
  std::vector<int64_t> classes;
};

class Generator {
 public:
  virtual ~Generator() = default;
  virtual GeneratorInfo info() const = 0;
  // Returns a [count, C, H, W] float32 tensor in [-1, 1]. Thread-safe (const).
  virtual Result<Tensor> generate(const GenerateRequest& req) const = 0;
};

}  // namespace qforge::gen
