// generators/registry.hpp — SOURCE specs → gen::Generator.
//
// Grammar:  KIND[:ARG][,key=value]...
//   fractal                 = fractal:svd (Anderson & Farrell SVD sampling)
//   fractal:svd | fractal:ifs   (ifs = FractalDB search with the fill-rate test)
//   noise:gaussian | noise:uniform | noise:pink
//   stylegan2:PATH          a StyleGAN2-ADA generator file (generators/stylegan2/)
//   onnxgen:G.onnx          a generator exported to ONNX, run by qforge's executor (generators/onnx_generator.hpp)
// key=value options (fractal and noise only; paths are taken verbatim):
//   fractal: maps=LO-HI, points=N, supersample=S, color=random|gray|map|density|palette,
//            background=random|black|solid|gradient|noise, patch=P, flip=P, rotate=DEG, blur=P, extent=LO-HI,
//            aspect=0|1, systems=K, jitter=J, fill=F, tries=T
//   noise:   std=S (gaussian), alpha=A, pink_std=S, min_cell=L (pink)
// SourceOptions carry what the CLI sets for every source (size, channels, psi, noise mode, latent law).
// Errors name the spec and the offending field. Define QFORGE_NO_STYLEGAN2_SOURCE / QFORGE_NO_ONNXGEN_SOURCE to
// build without those sources (they are included when their headers exist).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "generators/fractal/fractal_generator.hpp"
#include "generators/generator.hpp"
#include "generators/noise.hpp"
#include "qforge/core/error.hpp"

#if !defined(QFORGE_NO_STYLEGAN2_SOURCE) && __has_include("generators/stylegan2/stylegan2_generator.hpp")
#include "generators/stylegan2/stylegan2_generator.hpp"
#define QFORGE_HAVE_STYLEGAN2_SOURCE 1
#endif
#if !defined(QFORGE_NO_ONNXGEN_SOURCE) && __has_include("generators/onnx_generator.hpp")
#include "generators/onnx_generator.hpp"
#define QFORGE_HAVE_ONNXGEN_SOURCE 1
#endif

namespace qforge::gen {

struct SourceOptions {
  int64_t height = 0, width = 0, channels = 0;  // 0 = the source's default (fractal and noise: 32×32×3)
  float psi = 1.0f;                             // stylegan2: truncation
  std::string noise_mode = "const";             // stylegan2: const | random | none
  bool uniform_latent = false;                  // onnxgen: z ~ U(0, 1) instead of N(0, 1)
};

struct SourceSpec {
  std::string kind;  // fractal, noise, stylegan2, onnxgen
  std::string arg;   // after ':' (method, noise kind, path)
  std::vector<std::pair<std::string, std::string>> options;
};

inline Result<SourceSpec> parse_source(const std::string& spec) {
  SourceSpec s;
  std::string head = spec;
  auto colon = spec.find(':');
  std::string kind = spec.substr(0, colon);
  bool has_path = kind == "stylegan2" || kind == "onnxgen";
  if (!has_path) {
    auto comma = spec.find(',');
    head = spec.substr(0, comma);
    size_t pos = comma;
    while (pos != std::string::npos) {
      size_t next = spec.find(',', pos + 1);
      std::string kv = spec.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size())
        return make_error("source '", spec, "': option '", kv, "' is not key=value");
      s.options.push_back({kv.substr(0, eq), kv.substr(eq + 1)});
      pos = next;
    }
  }
  colon = head.find(':');
  s.kind = head.substr(0, colon);
  if (colon != std::string::npos) s.arg = head.substr(colon + 1);
  if (s.kind.empty()) return make_error("source '", spec, "': empty source kind");
  return s;
}

namespace detail {

inline Result<double> parse_num(const std::string& spec, const std::string& key, const std::string& v) {
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(d))
    return make_error("source '", spec, "': ", key, "=", v, " is not a number");
  return d;
}

inline Result<std::pair<double, double>> parse_range(const std::string& spec, const std::string& key,
                                                     const std::string& v) {
  auto dash = v.find('-', 1);
  if (dash == std::string::npos) {
    QF_ASSIGN_OR_RETURN(double x, parse_num(spec, key, v));
    return std::pair<double, double>{x, x};
  }
  QF_ASSIGN_OR_RETURN(double a, parse_num(spec, key, v.substr(0, dash)));
  QF_ASSIGN_OR_RETURN(double b, parse_num(spec, key, v.substr(dash + 1)));
  return std::pair<double, double>{a, b};
}

inline Status apply_fractal_option(const std::string& spec, const std::string& k, const std::string& v,
                                   FractalOptions& o) {
  using namespace fractal;
  if (k == "color") {
    if (v == "random") o.color = ColorMode::Random;
    else if (v == "gray") o.color = ColorMode::Gray;
    else if (v == "map") o.color = ColorMode::HsvByMap;
    else if (v == "density") o.color = ColorMode::HsvByDensity;
    else if (v == "palette") o.color = ColorMode::Palette;
    else return make_error("source '", spec, "': color=", v, " (expected random, gray, map, density, palette)");
    return Status::Ok();
  }
  if (k == "background") {
    if (v == "random") o.background = BackgroundMode::Random;
    else if (v == "black") o.background = BackgroundMode::Black;
    else if (v == "solid") o.background = BackgroundMode::Solid;
    else if (v == "gradient") o.background = BackgroundMode::Gradient;
    else if (v == "noise") o.background = BackgroundMode::Noise;
    else return make_error("source '", spec, "': background=", v, " (expected random, black, solid, gradient, noise)");
    return Status::Ok();
  }
  if (k == "maps" || k == "extent") {
    QF_ASSIGN_OR_RETURN(auto r, parse_range(spec, k, v));
    if (k == "maps") {
      o.sampling.min_maps = int(r.first);
      o.sampling.max_maps = int(r.second);
      if (r.first < 1 || r.second > 8 || r.first > r.second)
        return make_error("source '", spec, "': maps=", v, " must be within 1-8");
    } else {
      o.extent_lo = float(r.first);
      o.extent_hi = float(r.second);
    }
    return Status::Ok();
  }
  static const char* numeric[] = {"points", "supersample", "patch", "flip", "blur", "rotate", "aspect",
                                   "systems", "jitter", "fill", "tries"};
  if (std::find(std::begin(numeric), std::end(numeric), k) == std::end(numeric))
    return make_error("source '", spec, "': unknown fractal option '", k,
                      "' (maps, points, supersample, color, background, patch, flip, rotate, blur, extent, aspect, "
                      "systems, jitter, fill, tries)");
  QF_ASSIGN_OR_RETURN(double x, parse_num(spec, k, v));
  auto prob = [&](float& dst) -> Status {
    if (x < 0 || x > 1) return make_error("source '", spec, "': ", k, "=", v, " must be a probability in [0, 1]");
    dst = float(x);
    return Status::Ok();
  };
  if (k == "points") o.points = int64_t(x);
  else if (k == "supersample") o.supersample = int(x);
  else if (k == "patch") return prob(o.patch_prob);
  else if (k == "flip") return prob(o.flip_prob);
  else if (k == "blur") return prob(o.blur_prob);
  else if (k == "rotate") o.max_rotation_deg = float(x);
  else if (k == "aspect") o.keep_aspect = x != 0;
  else if (k == "systems") o.num_systems = int64_t(x);
  else if (k == "jitter") o.instance_jitter = float(x);
  else if (k == "fill") o.sampling.min_fill = float(x);
  else if (k == "tries") o.sampling.max_tries = int(x);
  return Status::Ok();
}

inline Status apply_noise_option(const std::string& spec, const std::string& k, const std::string& v,
                                 NoiseOptions& o) {
  if (k != "std" && k != "alpha" && k != "pink_std" && k != "min_cell")
    return make_error("source '", spec, "': unknown noise option '", k, "' (std, alpha, pink_std, min_cell)");
  QF_ASSIGN_OR_RETURN(double x, parse_num(spec, k, v));
  if (k == "std") o.gaussian_std = float(x);
  else if (k == "alpha") o.pink_alpha = float(x);
  else if (k == "pink_std") o.pink_std = float(x);
  else if (k == "min_cell") o.pink_min_cell = int(x);
  return Status::Ok();
}

}  // namespace detail

// Builds the generator a SOURCE spec names. Sources with a fixed native size (stylegan2, onnxgen) ignore
// SourceOptions height/width/channels; callers resize (data/preprocess_gen.hpp) when they need another size.
inline Result<std::unique_ptr<Generator>> make_generator(const std::string& spec, const SourceOptions& so = {}) {
  QF_ASSIGN_OR_RETURN(SourceSpec s, parse_source(spec));
  if (s.kind == "fractal") {
    FractalOptions o;
    if (s.arg.empty() || s.arg == "svd") o.sampling.method = fractal::SamplingMethod::SVD;
    else if (s.arg == "ifs" || s.arg == "fractaldb") o.sampling.method = fractal::SamplingMethod::FractalDB;
    else return make_error("source '", spec, "': unknown fractal method '", s.arg, "' (expected svd or ifs)");
    if (so.height > 0) o.height = so.height;
    if (so.width > 0) o.width = so.width;
    if (so.channels > 0) o.channels = so.channels;
    for (auto& kv : s.options) QF_RETURN_IF_ERROR(detail::apply_fractal_option(spec, kv.first, kv.second, o));
    auto g = FractalGenerator::create(o);
    if (!g.ok()) return g.error().wrap("source '" + spec + "'");
    return std::unique_ptr<Generator>(std::move(*g));
  }
  if (s.kind == "noise") {
    NoiseOptions o;
    if (s.arg == "gaussian" || s.arg == "normal") o.kind = NoiseKind::Gaussian;
    else if (s.arg == "uniform") o.kind = NoiseKind::Uniform;
    else if (s.arg == "pink") o.kind = NoiseKind::Pink;
    else return make_error("source '", spec, "': unknown noise kind '", s.arg, "' (expected gaussian, uniform, pink)");
    if (so.height > 0) o.height = so.height;
    if (so.width > 0) o.width = so.width;
    if (so.channels > 0) o.channels = so.channels;
    for (auto& kv : s.options) QF_RETURN_IF_ERROR(detail::apply_noise_option(spec, kv.first, kv.second, o));
    auto g = NoiseGenerator::create(o);
    if (!g.ok()) return g.error().wrap("source '" + spec + "'");
    return std::unique_ptr<Generator>(std::move(*g));
  }
  if (s.kind == "stylegan2") {
    if (s.arg.empty()) return make_error("source '", spec, "': stylegan2 needs a path (stylegan2:PATH)");
#ifdef QFORGE_HAVE_STYLEGAN2_SOURCE
    StyleGan2Options o;
    o.truncation_psi = so.psi;
    auto mode = parse_noise_mode(so.noise_mode);
    if (!mode.ok()) return mode.error().wrap("source '" + spec + "'");
    o.noise = *mode;
    auto g = StyleGan2Generator::load(s.arg, o);
    if (!g.ok()) return g.error();
    return std::unique_ptr<Generator>(std::move(*g));
#else
    return make_error("source '", spec, "': this build has no StyleGAN2 generator (generators/stylegan2/)");
#endif
  }
  if (s.kind == "onnxgen") {
    if (s.arg.empty()) return make_error("source '", spec, "': onnxgen needs a path (onnxgen:G.onnx)");
#ifdef QFORGE_HAVE_ONNXGEN_SOURCE
    OnnxGeneratorOptions o;
    o.uniform_latent = so.uniform_latent;
    auto g = load_onnx_generator(s.arg, o);
    if (!g.ok()) return g.error();
    return std::unique_ptr<Generator>(std::move(*g));
#else
    return make_error("source '", spec, "': this build has no ONNX generator source (generators/onnx_generator.hpp)");
#endif
  }
  return make_error("source '", spec, "': unknown source kind '", s.kind,
                    "' (expected fractal, noise, stylegan2:PATH or onnxgen:G.onnx)");
}

}  // namespace qforge::gen
