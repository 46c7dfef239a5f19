// generators/stylegan2/stylegan2_generator.hpp — a StyleGAN2-ADA generator loaded from a qforge container,
// behind the gen::Generator interface.
//
// Contract:
// - The container (written by tools/python/{train,convert}_stylegan2.py) holds the official G / G_ema state_dict
//   names as F32 tensors and metadata "qforge.kind" = "stylegan2" and "qforge.stylegan2.config" (Generator kwargs
//   JSON, see config.hpp). Every tensor the config needs must be present with its exact shape; a missing tensor,
//   a wrong shape, a non-F32 dtype or an unexpected extra tensor under mapping./synthesis. is an error naming it.
// - Seeds, as the official generate.py `--seeds`: image `index` of a run seeded with `seed` uses
//   z = np.random.RandomState(seed + index).randn(1, z_dim) (float64 cast to float32), so `--seeds 0-99` equals
//   seed 0, indices 0..99. seed + index must be < 2^32 (numpy's range). The label is one-hot: the class asked for
//   in the request, or, when none is given, class index % c_dim (balanced classes).
// - truncation psi / cutoff as the official mapping; noise modes const (generate.py's default) / random
//   (counter-based from (seed, index), see synthesis.hpp) / none.
// - generate() is const and thread-safe; it runs the batch in chunks (OpenMP over chunks, or threaded GEMMs
//   when there is one chunk). Results do not depend on the thread count or the chunking.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "generators/generator.hpp"
#include "generators/stylegan2/config.hpp"
#include "generators/stylegan2/mapping.hpp"
#include "generators/stylegan2/modulated_conv.hpp"
#include "generators/stylegan2/sgemm.hpp"
#include "generators/stylegan2/synthesis.hpp"
#include "generators/stylegan2/upfirdn.hpp"
#include "qforge/core/numpy_random.hpp"
#include "qforge/io/tensor_file.hpp"

namespace qforge::gen {

struct StyleGan2Options {
  float truncation_psi = 1.0f;
  int64_t truncation_cutoff = -1;  // < 0: all ws (the official None)
  sg2::NoiseMode noise = sg2::NoiseMode::constant;
  int threads = 0;                 // 0 = OpenMP default
  int64_t max_chunk = 16;          // samples per chunk (upper bound; memory also bounds it)
};

inline Result<sg2::NoiseMode> parse_noise_mode(const std::string& s) {
  if (s == "const") return sg2::NoiseMode::constant;
  if (s == "random") return sg2::NoiseMode::random;
  if (s == "none") return sg2::NoiseMode::none;
  return make_error("noise mode '", s, "': expected const, random or none");
}

// The loaded, prepared network (weights in GEMM layout). Immutable after load; share it freely.
class StyleGan2Model {
 public:
  const sg2::StyleGan2Config& config() const { return cfg_; }
  int64_t num_ws() const { return map_.num_ws; }

  static Result<StyleGan2Model> from_tensor_file(const TensorFile& f, const std::string& name_for_errors,
                                                 sg2::SgemmKind kind = sg2::best_sgemm_kind()) {
    auto r = build(f, kind);
    if (!r.ok()) return r.error().wrap(name_for_errors);
    return r;
  }

  static Result<StyleGan2Model> load(const std::string& path, sg2::SgemmKind kind = sg2::best_sgemm_kind()) {
    QF_ASSIGN_OR_RETURN(TensorFile f, load_tensor_file(path));
    return from_tensor_file(f, path, kind);
  }

  // z [N, z_dim], c [N, c_dim] float32 (c ignored when c_dim == 0) -> ws [N, num_ws, w_dim].
  Result<Tensor> mapping(const Tensor& z, const Tensor& c, float psi, int64_t cutoff) const {
    QF_ASSIGN_OR_RETURN(int64_t N, check_inputs(z, c));
    if (psi != 1.0f && map_.w_avg.empty()) return make_error("truncation psi != 1 needs mapping.w_avg (w_avg_beta is null)");
    Tensor ws(DType::f32, {N, map_.num_ws, cfg_.w_dim});
    map_.forward(cfg_.z_dim ? z.data<float>() : nullptr, cfg_.c_dim ? c.data<float>() : nullptr, N, psi, cutoff,
                 ws.data<float>());
    return ws;
  }

  // ws [N, num_ws, w_dim] -> images [N, C, R, R]. `index` (size N) are the image indices for random noise.
  Result<Tensor> synthesis(const Tensor& ws, sg2::NoiseMode mode, uint64_t noise_seed,
                           const std::vector<int64_t>& index, int threads = 0, int64_t max_chunk = 16) const {
    if (ws.dtype() != DType::f32 || ws.rank() != 3 || ws.dim(1) != map_.num_ws || ws.dim(2) != cfg_.w_dim)
      return make_error("ws: expected float32 [N,", map_.num_ws, ",", cfg_.w_dim, "], got ", dtype_name(ws.dtype()), " ",
                        shape_str(ws.shape()));
    const int64_t N = ws.dim(0);
    if (mode == sg2::NoiseMode::random && int64_t(index.size()) != N)
      return make_error("random noise needs one image index per sample (", index.size(), " for ", N, ")");
    const int64_t R = cfg_.img_resolution, C = cfg_.img_channels;
    Tensor out(DType::f32, {N, C, R, R});
    if (N == 0) return out;
#if defined(_OPENMP)
    const int nt = threads > 0 ? threads : omp_get_max_threads();
#else
    const int nt = 1;
#endif
    // chunk size: memory budget ~48 MiB per chunk, at most max_chunk, and enough chunks to feed the threads
    int64_t per = std::max<int64_t>(1, syn_.floats_per_sample());
    int64_t nb = std::max<int64_t>(1, std::min<int64_t>(max_chunk, (int64_t(12) << 20) / per));
    if (nt > 1 && N >= nt) nb = std::min(nb, (N + nt - 1) / nt);
    nb = std::min(nb, N);
    const int64_t chunks = (N + nb - 1) / nb;
    const int64_t wsz = map_.num_ws * cfg_.w_dim;
    std::vector<sg2::SynthScratch> scratch(size_t(std::max(1, nt)));  // one per thread, reused across chunks
    auto run_chunk = [&](int64_t ch, int gemm_threads, sg2::SynthScratch& sc) {
      const int64_t n0 = ch * nb, cnt = std::min(nb, N - n0);
      sg2::NoiseSpec ns;
      ns.mode = mode;
      ns.seed = noise_seed;
      ns.index = mode == sg2::NoiseMode::random ? index.data() + n0 : nullptr;
      syn_.forward_chunk(ws.data<float>() + n0 * wsz, cnt, ns, out.data<float>() + n0 * C * R * R, sc, gemm_threads);
    };
#if defined(_OPENMP)
    if (nt > 1 && chunks > 1) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
      for (int64_t ch = 0; ch < chunks; ++ch) run_chunk(ch, 1, scratch[size_t(omp_get_thread_num())]);
      return out;
    }
#endif
    for (int64_t ch = 0; ch < chunks; ++ch) run_chunk(ch, nt, scratch[0]);
    return out;
  }

  // mapping + synthesis.
  Result<Tensor> run(const Tensor& z, const Tensor& c, const StyleGan2Options& o, uint64_t noise_seed = 0,
                     const std::vector<int64_t>& index = {}) const {
    QF_ASSIGN_OR_RETURN(Tensor ws, mapping(z, c, o.truncation_psi, o.truncation_cutoff));
    return synthesis(ws, o.noise, noise_seed, index, o.threads, o.max_chunk);
  }

 private:
  Result<int64_t> check_inputs(const Tensor& z, const Tensor& c) const {
    int64_t N = -1;
    if (cfg_.z_dim > 0) {
      if (z.dtype() != DType::f32 || z.rank() != 2 || z.dim(1) != cfg_.z_dim)
        return make_error("z: expected float32 [N,", cfg_.z_dim, "], got ", dtype_name(z.dtype()), " ", shape_str(z.shape()));
      N = z.dim(0);
    }
    if (cfg_.c_dim > 0) {
      if (c.dtype() != DType::f32 || c.rank() != 2 || c.dim(1) != cfg_.c_dim || (N >= 0 && c.dim(0) != N))
        return make_error("c: expected float32 [N,", cfg_.c_dim, "] matching z, got ", dtype_name(c.dtype()), " ",
                          shape_str(c.shape()));
      N = c.dim(0);
    }
    return N;
  }

  static Result<StyleGan2Model> build(const TensorFile& f, sg2::SgemmKind kind) {
    auto fk = f.metadata.find("qforge.kind");
    if (fk == f.metadata.end() || fk->second != "stylegan2")
      return make_error("metadata 'qforge.kind' is ", fk == f.metadata.end() ? "missing" : "'" + fk->second + "'",
                        ", expected 'stylegan2'");
    auto cj = f.metadata.find("qforge.stylegan2.config");
    if (cj == f.metadata.end()) return make_error("metadata 'qforge.stylegan2.config' is missing");
    auto cfg = sg2::parse_stylegan2_config(cj->second);
    if (!cfg.ok()) return cfg.error().wrap("metadata 'qforge.stylegan2.config'");
    return build(*cfg, f.tensors, kind);
  }

 public:
  // Builds from a config and named tensors (validated against stylegan2_tensor_specs).
  static Result<StyleGan2Model> build(const sg2::StyleGan2Config& cfg, const std::map<std::string, Tensor>& tensors,
                                      sg2::SgemmKind kind = sg2::best_sgemm_kind()) {
    if (!sg2::sgemm_kind_available(kind))
      return make_error("GEMM kernel '", sg2::sgemm_kind_name(kind), "' is not available on this CPU");
    using namespace sg2;
    auto specs = stylegan2_tensor_specs(cfg);
    std::set<std::string> known;
    for (auto& s : specs) {
      known.insert(s.name);
      auto it = tensors.find(s.name);
      if (it == tensors.end()) {
        if (s.required) return make_error("tensor '", s.name, "' is missing (expected ", shape_str(s.shape), ")");
        continue;
      }
      if (it->second.dtype() != DType::f32)
        return make_error("tensor '", s.name, "' has dtype ", dtype_name(it->second.dtype()), ", expected float32");
      if (it->second.shape() != s.shape)
        return make_error("tensor '", s.name, "' has shape ", shape_str(it->second.shape()), ", expected ",
                          shape_str(s.shape), " for this config");
    }
    for (auto& kv : tensors) {
      const std::string& n = kv.first;
      if ((n.rfind("mapping.", 0) == 0 || n.rfind("synthesis.", 0) == 0) && !known.count(n))
        return make_error("unexpected tensor '", n, "' (not part of a generator with this config: wrong config?)");
    }
    auto T = [&](const std::string& n) { return tensors.at(n).data<float>(); };

    StyleGan2Model m;
    m.cfg_ = cfg;
    // mapping
    MappingNet& mp = m.map_;
    mp.z_dim = cfg.z_dim;
    mp.c_dim = cfg.c_dim;
    mp.w_dim = cfg.w_dim;
    mp.num_ws = cfg.num_ws();
    mp.embed_features = cfg.embed_features();
    mp.has_embed = cfg.c_dim > 0;
    if (mp.has_embed) mp.embed.init(T("mapping.embed.weight"), T("mapping.embed.bias"), cfg.c_dim, mp.embed_features, 1.0, Act::linear);
    int64_t in = cfg.z_dim + mp.embed_features;
    for (int64_t i = 0; i < cfg.mapping.num_layers; ++i) {
      int64_t out = i == cfg.mapping.num_layers - 1 ? cfg.w_dim : cfg.layer_features();
      Fc fc;
      std::string p = "mapping.fc" + std::to_string(i);
      fc.init(T(p + ".weight"), T(p + ".bias"), in, out, cfg.mapping.lr_multiplier, cfg.mapping.activation);
      mp.fcs.push_back(std::move(fc));
      in = out;
    }
    if (cfg.mapping.has_w_avg) mp.w_avg.assign(T("mapping.w_avg"), T("mapping.w_avg") + cfg.w_dim);

    // synthesis
    SynthesisNet& sn = m.syn_;
    sn.w_dim = cfg.w_dim;
    sn.num_ws = mp.num_ws;
    sn.img_channels = cfg.img_channels;
    sn.img_resolution = cfg.img_resolution;
    sn.pad = cfg.synthesis.kernel_size / 2;
    sn.arch = cfg.synthesis.architecture;
    sn.fir = Fir::from_taps(cfg.synthesis.resample_filter);
    const float clamp = cfg.synthesis.has_clamp ? float(cfg.synthesis.conv_clamp) : -1.f;
    auto make_layer = [&](const std::string& p, int64_t cin, int64_t cout, int64_t res, int64_t up, int w_index,
                          float gain) {
      ModConv L;
      L.cin = cin;
      L.cout = cout;
      L.res = res;
      L.k = cfg.synthesis.kernel_size;
      L.up = up;
      L.w_index = w_index;
      L.affine.init(T(p + ".affine.weight"), T(p + ".affine.bias"), cfg.w_dim, cin, 1.0, Act::linear);
      L.init_weight(T(p + ".weight"), kind);
      L.bias.assign(T(p + ".bias"), T(p + ".bias") + cout);
      L.use_noise = cfg.synthesis.use_noise;
      if (L.use_noise) {
        L.noise_strength = T(p + ".noise_strength")[0];
        L.noise_const.assign(T(p + ".noise_const"), T(p + ".noise_const") + res * res);
      }
      L.act = cfg.synthesis.activation;
      L.act_gain = act_default_gain(L.act) * gain;
      L.clamp = clamp >= 0.f ? clamp * gain : -1.f;
      return L;
    };
    int w_idx = 0;
    for (int64_t r : cfg.block_resolutions()) {
      SynthBlock B;
      B.res = r;
      B.cout = cfg.channels(r);
      B.cin = r > 4 ? cfg.channels(r / 2) : 0;
      std::string b = "synthesis.b" + std::to_string(r);
      const bool resnet = cfg.synthesis.architecture == Arch::resnet;
      int wi = w_idx;
      if (B.cin == 0) {
        B.konst.assign(T(b + ".const"), T(b + ".const") + B.cout * r * r);
        B.conv1 = make_layer(b + ".conv1", B.cout, B.cout, r, 1, wi++, 1.f);
      } else {
        B.has_conv0 = true;
        B.conv0 = make_layer(b + ".conv0", B.cin, B.cout, r, 2, wi++, 1.f);
        B.conv1 = make_layer(b + ".conv1", B.cout, B.cout, r, 1, wi++, resnet ? float(std::sqrt(0.5)) : 1.f);
        if (resnet) {
          B.has_skip = true;
          B.skip.cin = B.cin;
          B.skip.cout = B.cout;
          const float g = float(1.0 / std::sqrt(double(B.cin)));
          const float* w = T(b + ".skip.weight");
          std::vector<float> ws(static_cast<size_t>(B.cout * B.cin));
          for (size_t i = 0; i < ws.size(); ++i) ws[i] = w[i] * g;
          B.skip.w = PackedA::pack(ws.data(), B.cout, B.cin, B.cin, kind);
        }
      }
      const int64_t num_conv = B.cin == 0 ? 1 : 2;
      if (cfg.has_torgb(r)) {
        B.has_torgb = true;
        ToRgb& t = B.torgb;
        t.cin = B.cout;
        t.cout = cfg.img_channels;
        t.w_index = wi;
        t.affine.init(T(b + ".torgb.affine.weight"), T(b + ".torgb.affine.bias"), cfg.w_dim, B.cout, 1.0, Act::linear);
        t.weight_gain = float(1.0 / std::sqrt(double(B.cout)));
        t.w = PackedA::pack(T(b + ".torgb.weight"), t.cout, t.cin, t.cin, kind);
        t.bias.assign(T(b + ".torgb.bias"), T(b + ".torgb.bias") + t.cout);
        t.clamp = clamp;
      }
      w_idx += int(num_conv);
      sn.blocks.push_back(std::move(B));
    }
    return m;
  }

 private:
  sg2::StyleGan2Config cfg_;
  sg2::MappingNet map_;
  sg2::SynthesisNet syn_;
};

// A generator with random weights for config c (benchmarks, tests): weights/const/noise_const ~ N(0,1) as the
// official initialisation, affine biases 1, other biases 0, noise strengths 0.1, w_avg 0. Deterministic in seed.
inline Result<StyleGan2Model> random_stylegan2_model(const sg2::StyleGan2Config& c, uint64_t seed = 0,
                                                     sg2::SgemmKind kind = sg2::best_sgemm_kind()) {
  std::map<std::string, Tensor> t;
  uint64_t stream = 0;
  for (const auto& s : sg2::stylegan2_tensor_specs(c)) {
    QF_ASSIGN_OR_RETURN(Tensor x, Tensor::create(DType::f32, s.shape));
    float* p = x.data<float>();
    CounterRng rng(seed, ++stream);
    auto ends = [&](const char* suf) {
      return s.name.size() >= std::strlen(suf) && s.name.compare(s.name.size() - std::strlen(suf), std::string::npos, suf) == 0;
    };
    const bool ones = ends("affine.bias"), noise_s = ends("noise_strength"), zero = ends(".bias") || ends("w_avg");
    const bool map_w = ends("weight") && s.name.rfind("mapping.fc", 0) == 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (ones) p[i] = 1.f;
      else if (noise_s) p[i] = 0.1f;
      else if (zero) p[i] = 0.f;
      else if (map_w) p[i] = rng.normal(uint64_t(i)) / float(c.mapping.lr_multiplier);
      else p[i] = rng.normal(uint64_t(i));
    }
    if (ends("resample_filter")) continue;  // optional constant: leave it out
    t.emplace(s.name, std::move(x));
  }
  return StyleGan2Model::build(c, t, kind);
}

// The Generator: images from (seed, index, class) as documented above.
class StyleGan2Generator : public Generator {
 public:
  StyleGan2Generator(std::shared_ptr<const StyleGan2Model> model, StyleGan2Options opt = {})
      : model_(std::move(model)), opt_(opt) {}

  static Result<std::unique_ptr<StyleGan2Generator>> load(const std::string& path, StyleGan2Options opt = {}) {
    QF_ASSIGN_OR_RETURN(StyleGan2Model m, StyleGan2Model::load(path));
    if (opt.truncation_psi != 1.0f && !m.config().mapping.has_w_avg)
      return make_error(path, ": truncation psi != 1 needs mapping.w_avg");
    return std::make_unique<StyleGan2Generator>(std::make_shared<const StyleGan2Model>(std::move(m)), opt);
  }

  GeneratorInfo info() const override {
    const auto& c = model_->config();
    GeneratorInfo i;
    i.name = "stylegan2";
    i.height = i.width = c.img_resolution;
    i.channels = c.img_channels;
    i.latent_dim = c.z_dim;
    i.num_classes = c.c_dim;
    return i;
  }

  const StyleGan2Model& model() const { return *model_; }
  const StyleGan2Options& options() const { return opt_; }

  // z of image `index` in run `seed` (generate.py --seeds): RandomState(seed + index).randn(z_dim) as float32.
  static Result<std::vector<float>> latent(uint64_t seed, int64_t index, int64_t z_dim) {
    if (index < 0) return make_error("image index ", index, " is negative");
    uint64_t s = seed + uint64_t(index);
    if (s < seed || s > 0xFFFFFFFFull)
      return make_error("seed ", seed, " + index ", index, " is outside numpy RandomState's range [0, 2^32)");
    NumpyRandomState rs(static_cast<uint32_t>(s));
    std::vector<float> z(static_cast<size_t>(z_dim));
    for (auto& v : z) v = float(rs.standard_normal());
    return z;
  }

  Result<Tensor> generate(const GenerateRequest& req) const override {
    const auto& c = model_->config();
    const int64_t N = req.count;
    if (N < 0) return make_error("generate: negative count ", N);
    if (!req.classes.empty() && int64_t(req.classes.size()) != N)
      return make_error("generate: ", req.classes.size(), " classes for ", N, " images");
    Tensor z(DType::f32, {N, c.z_dim});
    Tensor lab(DType::f32, {N, c.c_dim});
    std::vector<int64_t> index(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) {
      index[size_t(n)] = req.first + n;
      if (c.z_dim > 0) {
        QF_ASSIGN_OR_RETURN(std::vector<float> zv, latent(req.seed, req.first + n, c.z_dim));
        std::copy(zv.begin(), zv.end(), z.data<float>() + n * c.z_dim);
      }
      if (c.c_dim > 0) {
        int64_t k = req.classes.empty() ? (req.first + n) % c.c_dim : req.classes[size_t(n)];
        if (k < 0 || k >= c.c_dim) return make_error("generate: class ", k, " outside [0, ", c.c_dim, ")");
        lab.data<float>()[n * c.c_dim + k] = 1.0f;
      }
    }
    return model_->run(z, lab, opt_, req.seed, index);
  }

 private:
  std::shared_ptr<const StyleGan2Model> model_;
  StyleGan2Options opt_;
};

}  // namespace qforge::gen
