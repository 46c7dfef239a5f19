// qforge/data/preprocess.hpp — what a model expects at its input, and turning uint8 images into it.
//
// Contract: InputSpec comes from the graph's first input ([N, C, H, W]) and its metadata qforge.mean /
// qforge.std (comma-separated, on pixels scaled to [0, 1]); flags override it; with neither, mean 0 and std 1
// (plain [0, 1] scaling). x = (pixel / 255 - mean[c]) / std[c], after channel conversion and resizing.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/resize.hpp"
#include "qforge/graph/ir.hpp"

namespace qforge::data {

struct InputSpec {
  int64_t channels = 1, height = 28, width = 28;
  std::vector<float> mean{0.0f}, std{1.0f};  // one value, or one per channel

  float mean_at(int64_t c) const { return mean.size() == 1 ? mean[0] : mean[size_t(c)]; }
  float std_at(int64_t c) const { return std.size() == 1 ? std[0] : std[size_t(c)]; }
};

// Parses "0.5" or "0.485,0.456,0.406"; `what` names the flag or metadata key in errors.
inline Result<std::vector<float>> parse_float_list(const std::string& s, const std::string& what) {
  std::vector<float> v;
  for (auto& part : detail::split(s, ',')) {
    char* end = nullptr;
    float f = std::strtof(part.c_str(), &end);
    if (part.empty() || end != part.c_str() + part.size() || !std::isfinite(f))
      return make_error(what, ": '", s, "' is not a comma-separated list of numbers");
    v.push_back(f);
  }
  return v;
}

inline Status check_norm(const InputSpec& s, const std::string& where) {
  for (auto* v : {&s.mean, &s.std})
    if (v->size() != 1 && int64_t(v->size()) != s.channels)
      return make_error(where, ": mean/std have ", v->size(), " values for a ", s.channels, "-channel input");
  for (float x : s.std)
    if (!(x > 0)) return make_error(where, ": std must be positive");
  return Status::Ok();
}

// The input spec of a graph (first input must be [N, C, H, W] with known C, H, W), with optional overrides.
inline Result<InputSpec> input_spec_of(const Graph& g, const std::string& mean_flag = "",
                                       const std::string& std_flag = "") {
  if (g.inputs.empty()) return make_error("model has no inputs");
  const auto& in = g.inputs[0];
  if (in.shape.size() != 4 || in.shape[1] <= 0 || in.shape[2] <= 0 || in.shape[3] <= 0)
    return make_error("model input '", in.name, "' has shape ", shape_str(in.shape),
                      "; an image model needs [N, C, H, W] with known C, H, W");
  InputSpec s;
  s.channels = in.shape[1];
  s.height = in.shape[2];
  s.width = in.shape[3];
  auto pick = [&](const std::string& flag, const char* key, std::vector<float>& out, const char* flag_name) -> Status {
    if (!flag.empty()) {
      QF_ASSIGN_OR_RETURN(out, parse_float_list(flag, flag_name));
    } else if (auto it = g.metadata.find(key); it != g.metadata.end()) {
      QF_ASSIGN_OR_RETURN(out, parse_float_list(it->second, std::string("model metadata ") + key));
    }
    return Status::Ok();
  };
  QF_RETURN_IF_ERROR(pick(mean_flag, "qforge.mean", s.mean, "--mean"));
  QF_RETURN_IF_ERROR(pick(std_flag, "qforge.std", s.std, "--std"));
  QF_RETURN_IF_ERROR(check_norm(s, "input '" + in.name + "'"));
  return s;
}

// Items [begin, end) of a dataset → float32 [B, C, H, W] for the model.
inline Tensor preprocess_batch(const Dataset& ds, int64_t begin, int64_t end, const InputSpec& s) {
  const Tensor& im = ds.images;
  int64_t C = im.dim(1), H = im.dim(2), W = im.dim(3), n = H * W;
  Tensor out(DType::f32, {end - begin, s.channels, s.height, s.width});
  std::vector<float> planes(size_t(C * n));
  std::vector<float> resized(size_t(s.height * s.width));
  for (int64_t b = begin; b < end; ++b) {
    const uint8_t* src = im.data<uint8_t>() + b * C * n;
    for (int64_t i = 0; i < C * n; ++i) planes[size_t(i)] = float(src[i]) * (1.0f / 255.0f);
    auto conv = convert_channels(planes.data(), C, n, s.channels);
    float* dst = out.data<float>() + (b - begin) * s.channels * s.height * s.width;
    for (int64_t c = 0; c < s.channels; ++c) {
      resize_plane_bilinear(conv.data() + c * n, H, W, resized.data(), s.height, s.width);
      float m = s.mean_at(c), inv = 1.0f / s.std_at(c);
      for (int64_t i = 0; i < s.height * s.width; ++i) dst[c * s.height * s.width + i] = (resized[size_t(i)] - m) * inv;
    }
  }
  return out;
}

}  // namespace qforge::data
