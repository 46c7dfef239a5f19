// qforge/quant/calibrate.hpp — the calibration driver: runs the fp32 model over calibration images with observers.
//
// Contract: collect_statistics() runs the fp32 model twice over `data` in batches of `batch_size` (pass 1: ranges,
// pass 2: fixed-range histograms; pass 2 is skipped when no histogram calibrator is used). Inputs are checked
// first: a NaN/Inf names the image. An empty set is an error. The result is independent of batch size and image
// order (observers.hpp), given an fp32 model whose per-image results do not depend on the batch it runs in.
// The model is reached through a runner callback so that this header does not fix the fp32 executor's API.
// With a cache budget, pass 2 reuses pass 1's values for the batches that fit (bit for bit the same result).
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/quant/calibrators.hpp"
#include "qforge/quant/observers.hpp"

namespace qforge::quant {

struct CalibrationSet {
  int64_t count = 0;                                                     // images
  std::function<Result<Tensor>(int64_t begin, int64_t end)> batch;      // float NCHW images [begin, end)
  std::function<std::string(int64_t index)> image_name;                 // optional, for messages
};

// The batch size to feed a model: `requested`, unless the model's input has a fixed batch dimension (exported
// models often say 1), which then must divide the number of images.
inline Result<int64_t> model_batch_size(const ValueInfo& input, int64_t requested, int64_t count) {
  if (input.shape.empty() || input.shape[0] <= 0) return requested;
  const int64_t fixed = input.shape[0];
  if (count % fixed != 0)
    return make_error("input '", input.name, "' has a fixed batch of ", fixed, "; the ", count,
                      " images are not a multiple of it");
  return fixed;
}

using ValueSink = std::function<void(const std::string& name, const Tensor& value)>;
// Runs the fp32 model on one batch; calls sink for every graph input and every value it produces (the
// contract of Executor::run with an observer).
using Fp32Runner = std::function<Status(const Tensor& batch, const ValueSink& sink)>;

// cache_bytes > 0: pass 1 keeps copies of the values of whole batches, up to that many bytes, and pass 2 bins
// those copies instead of running the model on those batches again (same statistics, less fp32 work).
inline Result<std::map<std::string, TensorStats>> collect_statistics(const Fp32Runner& run,
                                                                     const CalibrationSet& data, int64_t batch_size,
                                                                     bool histograms, size_t cache_bytes = 0) {
  if (data.count <= 0) return make_error("the calibration set is empty");
  if (batch_size <= 0) return make_error("calibration batch size must be positive, got ", batch_size);
  ActivationObserver obs;
  // cached[k]: the values batch k produced in pass 1 (empty: not cached); caching stops at the first batch
  // that does not fit.
  std::vector<std::vector<std::pair<std::string, Tensor>>> cached;
  size_t cached_bytes = 0;
  bool caching = histograms && cache_bytes > 0;
  for (int pass = 0; pass < (histograms ? 2 : 1); ++pass) {
    for (int64_t b = 0; b < data.count; b += batch_size) {
      const int64_t e = std::min(data.count, b + batch_size);
      const size_t k = size_t(b / batch_size);
      if (pass == 1 && k < cached.size() && !cached[k].empty()) {
        for (auto& nv : cached[k]) QF_RETURN_IF_ERROR(obs.observe_histogram(nv.first, nv.second));
        std::vector<std::pair<std::string, Tensor>>().swap(cached[k]);
        continue;
      }
      QF_ASSIGN_OR_RETURN(Tensor x, data.batch(b, e));
      if (x.dtype() != DType::f32 || x.rank() < 1 || x.dim(0) != e - b)
        return make_error("calibration batch [", b, ", ", e, ") has shape ", shape_str(x.shape()), " (",
                          dtype_name(x.dtype()), "), expected ", e - b, " float images");
      if (pass == 0) {
        // name the offending image precisely
        const int64_t per = (e - b) ? x.numel() / (e - b) : 0;
        const float* p = x.data<float>();
        for (int64_t i = 0; i < x.numel(); ++i)
          if (!std::isfinite(p[i])) {
            const int64_t img = b + i / per;
            std::string nm = data.image_name ? data.image_name(img) : "";
            return make_error("calibration image ", img, nm.empty() ? "" : " (" + nm + ")", " contains ",
                              std::isnan(p[i]) ? "NaN" : "Inf", " at element ", i % per);
          }
      }
      Status first = Status::Ok();
      std::vector<std::pair<std::string, Tensor>> keep;
      size_t keep_bytes = 0;
      auto sink = [&](const std::string& name, const Tensor& t) {
        if (!first.ok()) return;
        first = pass == 0 ? obs.observe_range(name, t, e - b, b) : obs.observe_histogram(name, t);
        if (pass == 0 && caching && first.ok() && t.dtype() == DType::f32 && t.numel() > 0) {
          keep_bytes += t.nbytes();
          if (cached_bytes + keep_bytes > cache_bytes) {
            caching = false;
            keep.clear();
          } else {
            keep.emplace_back(name, t.clone());
          }
        }
      };
      QF_RETURN_IF_ERROR(run(x, sink));
      if (!first.ok()) return first.error();
      if (pass == 0 && caching) {
        cached.resize(k + 1);
        cached[k] = std::move(keep);
        cached_bytes += keep_bytes;
      }
    }
  }
  return std::move(obs.stats());
}

inline bool needs_histograms(Calibrator c) { return c == Calibrator::Percentile || c == Calibrator::Entropy || c == Calibrator::Mse; }

}  // namespace qforge::quant
