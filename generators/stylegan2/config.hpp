// generators/stylegan2/config.hpp — StyleGAN2-ADA generator configuration (the official Generator kwargs) and
// the list of tensors (official state_dict names and shapes) a weight file must hold for it.
//
// Contract: parse_stylegan2_config reads the JSON stored as metadata "qforge.stylegan2.config" by
// tools/python/{train,convert}_stylegan2.py: {z_dim, c_dim, w_dim, img_resolution, img_channels,
// mapping_kwargs{num_layers, embed_features, layer_features, activation, lr_multiplier, w_avg_beta},
// synthesis_kwargs{channel_base, channel_max, num_fp16_res, conv_clamp, architecture, resample_filter, use_noise,
// activation, kernel_size}}; missing keys take the official defaults, unknown keys are an error naming the key
// (a silently ignored option would change the images). Supported: activation linear/relu/lrelu, architecture
// skip/resnet/orig, a 1-D resample filter (used as its normalised outer product), odd kernel sizes.
// Channels at resolution r are min(channel_base / r, channel_max); num_fp16_res is accepted and ignored (qforge
// runs fp32, equal to the official code with force_fp32=True).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/io/json.hpp"

namespace qforge::gen::sg2 {

enum class Act { linear, relu, lrelu };
enum class Arch { orig, skip, resnet };

inline const char* act_name(Act a) { return a == Act::linear ? "linear" : a == Act::relu ? "relu" : "lrelu"; }
inline const char* arch_name(Arch a) { return a == Arch::orig ? "orig" : a == Arch::skip ? "skip" : "resnet"; }
// Default gain of an activation (bias_act def_gain): sqrt(2) for relu / lrelu, 1 for linear.
inline float act_default_gain(Act a) { return a == Act::linear ? 1.0f : float(std::sqrt(2.0)); }

struct MappingConfig {
  int64_t num_layers = 8;
  int64_t embed_features = -1;  // -1 = w_dim
  int64_t layer_features = -1;  // -1 = w_dim
  Act activation = Act::lrelu;
  double lr_multiplier = 0.01;
  bool has_w_avg = true;        // w_avg_beta != null: the file holds mapping.w_avg (needed for truncation)
  double w_avg_beta = 0.995;
};

struct SynthesisConfig {
  int64_t channel_base = 32768;
  int64_t channel_max = 512;
  int64_t num_fp16_res = 0;
  bool has_clamp = false;       // conv_clamp != null
  double conv_clamp = 0;
  Arch architecture = Arch::skip;
  std::vector<double> resample_filter{1, 3, 3, 1};
  bool use_noise = true;
  Act activation = Act::lrelu;
  int64_t kernel_size = 3;
};

struct StyleGan2Config {
  int64_t z_dim = 0, c_dim = 0, w_dim = 0, img_resolution = 0, img_channels = 0;
  MappingConfig mapping;
  SynthesisConfig synthesis;

  int64_t embed_features() const { return c_dim > 0 ? (mapping.embed_features < 0 ? w_dim : mapping.embed_features) : 0; }
  int64_t layer_features() const { return mapping.layer_features < 0 ? w_dim : mapping.layer_features; }
  // Block resolutions 4, 8, ..., img_resolution.
  std::vector<int64_t> block_resolutions() const {
    std::vector<int64_t> r;
    for (int64_t v = 4; v <= img_resolution; v *= 2) r.push_back(v);
    return r;
  }
  int64_t channels(int64_t res) const { return std::min(synthesis.channel_base / res, synthesis.channel_max); }
  bool has_torgb(int64_t res) const { return res == img_resolution || synthesis.architecture == Arch::skip; }
  // Number of w vectors the synthesis network consumes (official num_ws).
  int64_t num_ws() const {
    int64_t n = 0;
    for (int64_t r : block_resolutions()) n += (r == 4 ? 1 : 2);
    return n + 1;  // + the last block's torgb
  }
};

// The StyleGAN2-ADA CIFAR-10 generator (train.py cfg 'cifar', --cond=1): 512 channels at 4..32, mapping 2 layers.
inline StyleGan2Config cifar10_config() {
  StyleGan2Config c;
  c.z_dim = 512; c.c_dim = 10; c.w_dim = 512; c.img_resolution = 32; c.img_channels = 3;
  c.mapping.num_layers = 2;
  c.synthesis.channel_base = 32768; c.synthesis.channel_max = 512; c.synthesis.num_fp16_res = 4;
  c.synthesis.has_clamp = true; c.synthesis.conv_clamp = 256;
  return c;
}

namespace detail {

inline Result<Act> parse_act(const Json& v, const std::string& key) {
  if (!v.is_string()) return make_error(key, ": must be a string");
  const std::string& s = v.as_string();
  if (s == "linear") return Act::linear;
  if (s == "relu") return Act::relu;
  if (s == "lrelu") return Act::lrelu;
  return make_error(key, ": unsupported activation '", s, "' (qforge supports linear, relu, lrelu)");
}

inline Result<int64_t> parse_pos_int(const Json& v, const std::string& key, int64_t min_value) {
  if (!v.is_number() || !v.is_int_valued()) return make_error(key, ": must be an integer");
  int64_t i = v.as_int();
  if (i < min_value || i > (int64_t(1) << 24)) return make_error(key, ": value ", i, " out of range");
  return i;
}

}  // namespace detail

inline Result<StyleGan2Config> parse_stylegan2_config(const Json& j) {
  using detail::parse_act;
  using detail::parse_pos_int;
  if (!j.is_object()) return make_error("stylegan2 config: must be a JSON object");
  StyleGan2Config c;
  bool seen[5] = {false, false, false, false, false};
  const char* top[5] = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"};
  int64_t* topv[5] = {&c.z_dim, &c.c_dim, &c.w_dim, &c.img_resolution, &c.img_channels};
  for (auto& kv : j.as_object()) {
    const std::string& k = kv.first;
    const Json& v = kv.second;
    bool done = false;
    for (int i = 0; i < 5; ++i) {
      if (k == top[i]) {
        QF_ASSIGN_OR_RETURN(*topv[i], parse_pos_int(v, k, (i == 0 || i == 1) ? 0 : 1));
        seen[i] = done = true;
      }
    }
    if (done) continue;
    if (k == "mapping_kwargs") {
      if (!v.is_object()) return make_error("mapping_kwargs: must be an object");
      for (auto& m : v.as_object()) {
        std::string mk = "mapping_kwargs." + m.first;
        if (m.first == "num_layers") {
          QF_ASSIGN_OR_RETURN(c.mapping.num_layers, parse_pos_int(m.second, mk, 1));
        } else if (m.first == "embed_features") {
          if (!m.second.is_null()) {
            QF_ASSIGN_OR_RETURN(c.mapping.embed_features, parse_pos_int(m.second, mk, 1));
          }
        } else if (m.first == "layer_features") {
          if (!m.second.is_null()) {
            QF_ASSIGN_OR_RETURN(c.mapping.layer_features, parse_pos_int(m.second, mk, 1));
          }
        } else if (m.first == "activation") {
          QF_ASSIGN_OR_RETURN(c.mapping.activation, parse_act(m.second, mk));
        } else if (m.first == "lr_multiplier") {
          if (!m.second.is_number() || !(m.second.as_double() > 0)) return make_error(mk, ": must be a positive number");
          c.mapping.lr_multiplier = m.second.as_double();
        } else if (m.first == "w_avg_beta") {
          c.mapping.has_w_avg = !m.second.is_null();
          if (c.mapping.has_w_avg) {
            if (!m.second.is_number()) return make_error(mk, ": must be a number or null");
            c.mapping.w_avg_beta = m.second.as_double();
          }
        } else {
          return make_error(mk, ": unsupported generator option");
        }
      }
    } else if (k == "synthesis_kwargs") {
      if (!v.is_object()) return make_error("synthesis_kwargs: must be an object");
      for (auto& m : v.as_object()) {
        std::string sk = "synthesis_kwargs." + m.first;
        const Json& x = m.second;
        if (m.first == "channel_base") {
          QF_ASSIGN_OR_RETURN(c.synthesis.channel_base, parse_pos_int(x, sk, 1));
        } else if (m.first == "channel_max") {
          QF_ASSIGN_OR_RETURN(c.synthesis.channel_max, parse_pos_int(x, sk, 1));
        } else if (m.first == "num_fp16_res") {
          QF_ASSIGN_OR_RETURN(c.synthesis.num_fp16_res, parse_pos_int(x, sk, 0));
        } else if (m.first == "conv_clamp") {
          c.synthesis.has_clamp = !x.is_null();
          if (c.synthesis.has_clamp) {
            if (!x.is_number() || x.as_double() < 0) return make_error(sk, ": must be a non-negative number or null");
            c.synthesis.conv_clamp = x.as_double();
          }
        } else if (m.first == "architecture") {
          if (!x.is_string()) return make_error(sk, ": must be a string");
          const std::string& a = x.as_string();
          if (a == "skip") c.synthesis.architecture = Arch::skip;
          else if (a == "resnet") c.synthesis.architecture = Arch::resnet;
          else if (a == "orig") c.synthesis.architecture = Arch::orig;
          else return make_error(sk, ": unknown architecture '", a, "' (skip, resnet, orig)");
        } else if (m.first == "resample_filter") {
          if (!x.is_array() || x.size() < 1 || x.size() > 16) return make_error(sk, ": must be a list of 1..16 numbers");
          c.synthesis.resample_filter.clear();
          double sum = 0;
          for (auto& t : x.as_array()) {
            if (!t.is_number()) return make_error(sk, ": must be a 1-D list of numbers (2-D filters are not supported)");
            c.synthesis.resample_filter.push_back(t.as_double());
            sum += t.as_double();
          }
          if (!(std::fabs(sum) > 0)) return make_error(sk, ": taps sum to zero");
        } else if (m.first == "use_noise") {
          if (!x.is_bool()) return make_error(sk, ": must be true or false");
          c.synthesis.use_noise = x.as_bool();
        } else if (m.first == "activation") {
          QF_ASSIGN_OR_RETURN(c.synthesis.activation, parse_act(x, sk));
        } else if (m.first == "kernel_size") {
          QF_ASSIGN_OR_RETURN(c.synthesis.kernel_size, parse_pos_int(x, sk, 1));
          if (c.synthesis.kernel_size % 2 == 0) return make_error(sk, ": must be odd");
        } else if (m.first == "fp16_channels_last" || m.first == "fused_modconv_default" || m.first == "channels_last") {
          // speed-only options of the official code; no effect on the result
        } else {
          return make_error(sk, ": unsupported generator option");
        }
      }
    } else {
      return make_error("stylegan2 config: unknown key '", k, "'");
    }
  }
  for (int i = 0; i < 5; ++i)
    if (!seen[i]) return make_error("stylegan2 config: missing '", top[i], "'");
  int64_t r = c.img_resolution;
  if (r < 4 || (r & (r - 1)) != 0 || r > 4096) return make_error("img_resolution: ", r, " is not a power of two in [4, 4096]");
  if (c.z_dim == 0 && c.c_dim == 0) return make_error("stylegan2 config: z_dim and c_dim are both 0");
  if (!c.mapping.has_w_avg) {
    // fine: truncation then needs psi == 1
  }
  return c;
}

inline Result<StyleGan2Config> parse_stylegan2_config(const std::string& text) {
  QF_ASSIGN_OR_RETURN(Json j, parse_json(text));
  return parse_stylegan2_config(j);
}

inline Json stylegan2_config_json(const StyleGan2Config& c) {
  Json m = Json::object();
  m.set("num_layers", c.mapping.num_layers);
  m.set("embed_features", c.mapping.embed_features < 0 ? c.w_dim : c.mapping.embed_features);
  m.set("layer_features", c.layer_features());
  m.set("activation", std::string(act_name(c.mapping.activation)));
  m.set("lr_multiplier", c.mapping.lr_multiplier);
  m.set("w_avg_beta", c.mapping.has_w_avg ? Json(c.mapping.w_avg_beta) : Json(nullptr));
  Json s = Json::object();
  s.set("channel_base", c.synthesis.channel_base);
  s.set("channel_max", c.synthesis.channel_max);
  s.set("num_fp16_res", c.synthesis.num_fp16_res);
  s.set("conv_clamp", c.synthesis.has_clamp ? Json(c.synthesis.conv_clamp) : Json(nullptr));
  s.set("architecture", std::string(arch_name(c.synthesis.architecture)));
  Json f = Json::array();
  for (double t : c.synthesis.resample_filter) f.push_back(t);
  s.set("resample_filter", f);
  s.set("use_noise", c.synthesis.use_noise);
  s.set("activation", std::string(act_name(c.synthesis.activation)));
  s.set("kernel_size", c.synthesis.kernel_size);
  Json j = Json::object();
  j.set("z_dim", c.z_dim);
  j.set("c_dim", c.c_dim);
  j.set("w_dim", c.w_dim);
  j.set("img_resolution", c.img_resolution);
  j.set("img_channels", c.img_channels);
  j.set("mapping_kwargs", m);
  j.set("synthesis_kwargs", s);
  return j;
}

// One tensor a weight file must (or may) hold.
struct TensorSpec {
  std::string name;
  Shape shape;
  bool required = true;  // resample_filter buffers are constants: optional, checked when present
};

// Every state_dict entry of the official Generator for config c, in state_dict order.
inline std::vector<TensorSpec> stylegan2_tensor_specs(const StyleGan2Config& c) {
  std::vector<TensorSpec> v;
  const int64_t k = c.synthesis.kernel_size;
  const int64_t taps = int64_t(c.synthesis.resample_filter.size());
  // conv1 layers are built without the block's resample_filter argument: their (unused) buffer is always the
  // default [1,3,3,1] filter, 4x4.
  auto layer = [&](const std::string& p, int64_t cin, int64_t cout, int64_t res, int64_t ftaps) {
    v.push_back({p + ".weight", {cout, cin, k, k}});
    if (c.synthesis.use_noise) v.push_back({p + ".noise_strength", {}});
    v.push_back({p + ".bias", {cout}});
    v.push_back({p + ".resample_filter", {ftaps, ftaps}, false});
    if (c.synthesis.use_noise) v.push_back({p + ".noise_const", {res, res}});
    v.push_back({p + ".affine.weight", {cin, c.w_dim}});
    v.push_back({p + ".affine.bias", {cin}});
  };
  for (int64_t r : c.block_resolutions()) {
    std::string b = "synthesis.b" + std::to_string(r);
    int64_t cout = c.channels(r), cin = r > 4 ? c.channels(r / 2) : 0;
    if (cin == 0) v.push_back({b + ".const", {cout, r, r}});
    v.push_back({b + ".resample_filter", {taps, taps}, false});
    if (cin != 0) layer(b + ".conv0", cin, cout, r, taps);
    layer(b + ".conv1", cout, cout, r, 4);
    if (c.has_torgb(r)) {
      v.push_back({b + ".torgb.weight", {c.img_channels, cout, 1, 1}});
      v.push_back({b + ".torgb.bias", {c.img_channels}});
      v.push_back({b + ".torgb.affine.weight", {cout, c.w_dim}});
      v.push_back({b + ".torgb.affine.bias", {cout}});
    }
    if (cin != 0 && c.synthesis.architecture == Arch::resnet) {
      v.push_back({b + ".skip.weight", {cout, cin, 1, 1}});
      v.push_back({b + ".skip.resample_filter", {taps, taps}, false});
    }
  }
  if (c.mapping.has_w_avg) v.push_back({"mapping.w_avg", {c.w_dim}});
  if (c.c_dim > 0) {
    v.push_back({"mapping.embed.weight", {c.embed_features(), c.c_dim}});
    v.push_back({"mapping.embed.bias", {c.embed_features()}});
  }
  int64_t in = c.z_dim + c.embed_features();
  for (int64_t i = 0; i < c.mapping.num_layers; ++i) {
    int64_t out = i == c.mapping.num_layers - 1 ? c.w_dim : c.layer_features();
    v.push_back({"mapping.fc" + std::to_string(i) + ".weight", {out, in}});
    v.push_back({"mapping.fc" + std::to_string(i) + ".bias", {out}});
    in = out;
  }
  return v;
}

}  // namespace qforge::gen::sg2
