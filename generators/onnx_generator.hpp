// generators/onnx_generator.hpp — a generator network exported to ONNX (or a .qf model), run by qforge's own fp32
// executor behind the gen::Generator interface (the `onnxgen:G.onnx` source; e.g. DiStyleGAN).
//
// Contract: the graph's first input is the latent z [N, z_dim] (z_dim known); an optional second input is the
// class condition [N, c_dim], fed one-hot. The first output is the image [N, C, H, W]; its size is found at load
// by running one probe sample. Image `index` of run `seed`: z = N(0, 1) (or U(0, 1) with uniform_latent, as
// DiStyleGAN's teacher-data script drew it) element k from CounterRng(seed).fork(index), a pure function of
// (seed, index); class = the requested one, else index % c_dim (balanced). Output values are clamped to
// [-1, 1] (tanh generators are unaffected). A graph whose batch dimension is fixed runs in chunks of that size.
// synthesize(z, classes) runs given latents directly (tests against PyTorch goldens).
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "generators/generator.hpp"
#include "qforge/core/rng.hpp"
#include "qforge/graph/executor.hpp"
#include "qforge/io/model_file.hpp"

namespace qforge::gen {

struct OnnxGeneratorOptions {
  bool uniform_latent = false;  // z ~ U(0, 1) instead of N(0, 1)
  int64_t max_batch = 64;       // images per executor run
};

class OnnxGenerator : public Generator {
 public:
  static Result<std::unique_ptr<OnnxGenerator>> create(Graph g, const std::string& name,
                                                       const OnnxGeneratorOptions& o = {}) {
    if (g.inputs.empty() || g.inputs.size() > 2)
      return make_error(name, ": a generator graph needs 1 input (z) or 2 (z, class), it has ", g.inputs.size());
    if (g.outputs.empty()) return make_error(name, ": the generator graph has no outputs");
    auto dims_ok = [](const ValueInfo& v) { return v.shape.size() == 2 && v.shape[1] > 0; };
    for (auto& in : g.inputs) {
      if (!dims_ok(in))
        return make_error(name, ": input '", in.name, "' has shape ", shape_str(in.shape),
                          "; expected [N, D] with known D");
      if (in.dtype != DType::f32) return make_error(name, ": input '", in.name, "' is ", dtype_name(in.dtype),
                                                    ", expected float32");
    }
    if (o.max_batch < 1) return make_error(name, ": max_batch must be >= 1");
    std::unique_ptr<OnnxGenerator> gen(new OnnxGenerator());
    gen->name_ = name;
    gen->opt_ = o;
    gen->z_dim_ = g.inputs[0].shape[1];
    gen->c_dim_ = g.inputs.size() > 1 ? g.inputs[1].shape[1] : 0;
    gen->fixed_batch_ = g.inputs[0].shape[0] > 0 ? g.inputs[0].shape[0] : 0;
    if (g.inputs.size() > 1 && g.inputs[1].shape[0] > 0 && g.inputs[1].shape[0] != gen->fixed_batch_)
      return make_error(name, ": inputs '", g.inputs[0].name, "' and '", g.inputs[1].name, "' disagree on the batch");
    auto ex = Executor::prepare(std::move(g));
    if (!ex.ok()) return ex.error().wrap(name);
    gen->exec_ = std::make_shared<const Executor>(std::move(*ex));
    // Probe: one sample gives the output's C, H, W.
    Tensor z(DType::f32, {1, gen->z_dim_});
    QF_ASSIGN_OR_RETURN(Tensor y, gen->synthesize(z, {0}, /*probe=*/true));
    if (y.rank() != 4 || y.dim(1) < 1 || y.dim(2) < 1 || y.dim(3) < 1)
      return make_error(name, ": output has shape ", shape_str(y.shape()), ", expected images [N, C, H, W]");
    gen->c_ = y.dim(1);
    gen->h_ = y.dim(2);
    gen->w_ = y.dim(3);
    return gen;
  }

  GeneratorInfo info() const override {
    GeneratorInfo i;
    i.name = "onnxgen";
    i.height = h_;
    i.width = w_;
    i.channels = c_;
    i.latent_dim = z_dim_;
    i.num_classes = c_dim_;
    return i;
  }

  // Runs latents z [N, z_dim] with classes (size N; ignored without a class input) → [N, C, H, W] in [-1, 1].
  Result<Tensor> synthesize(const Tensor& z, const std::vector<int64_t>& classes, bool probe = false) const {
    if (z.dtype() != DType::f32 || z.rank() != 2 || z.dim(1) != z_dim_)
      return make_error(name_, ": latents must be float32 [N, ", z_dim_, "], got ", shape_str(z.shape()));
    const int64_t N = z.dim(0);
    if (c_dim_ > 0 && int64_t(classes.size()) != N)
      return make_error(name_, ": ", classes.size(), " classes for ", N, " latents");
    for (auto c : classes)
      if (c_dim_ > 0 && (c < 0 || c >= c_dim_))
        return make_error(name_, ": class ", c, " is outside 0..", c_dim_ - 1);
    const int64_t B = fixed_batch_ > 0 ? fixed_batch_ : std::min<int64_t>(opt_.max_batch, std::max<int64_t>(N, 1));
    Tensor out;
    int64_t per = 0;
    for (int64_t b0 = 0; b0 < N; b0 += B) {
      const int64_t b1 = std::min(N, b0 + B), run_n = fixed_batch_ > 0 ? fixed_batch_ : b1 - b0;
      Tensor zb(DType::f32, {run_n, z_dim_});
      std::copy(z.data<float>() + b0 * z_dim_, z.data<float>() + b1 * z_dim_, zb.data<float>());
      std::vector<Tensor> inputs{zb};
      if (c_dim_ > 0) {
        Tensor cb(DType::f32, {run_n, c_dim_});
        for (int64_t i = b0; i < b1; ++i) cb.data<float>()[(i - b0) * c_dim_ + classes[size_t(i)]] = 1.0f;
        inputs.push_back(cb);
      }
      auto r = exec_->run(inputs);
      if (!r.ok()) return r.error().wrap(name_);
      const Tensor& y = (*r)[0];
      if (y.dtype() != DType::f32 || y.rank() < 1 || y.dim(0) != run_n)
        return make_error(name_, ": output has shape ", shape_str(y.shape()), " for a batch of ", run_n);
      if (!out.defined()) {
        Shape s = y.shape();
        s[0] = N;
        if (!probe && (s.size() != 4 || s[1] != c_ || s[2] != h_ || s[3] != w_))
          return make_error(name_, ": output shape ", shape_str(y.shape()), " changed since load");
        QF_ASSIGN_OR_RETURN(out, Tensor::create(DType::f32, s));
        per = y.numel() / run_n;
      }
      if (y.numel() / run_n != per) return make_error(name_, ": output size changes between batches");
      const float* src = y.data<float>();
      float* dst = out.data<float>() + b0 * per;
      for (int64_t k = 0; k < (b1 - b0) * per; ++k) dst[k] = std::clamp(src[k], -1.0f, 1.0f);
    }
    if (!out.defined()) {
      QF_ASSIGN_OR_RETURN(out, Tensor::create(DType::f32, {0, c_, h_, w_}));
    }
    return out;
  }

  // The latent of image (seed, index).
  std::vector<float> latent(uint64_t seed, int64_t index) const {
    CounterRng r = CounterRng(seed).fork(uint64_t(index));
    std::vector<float> z(static_cast<size_t>(z_dim_));
    for (int64_t k = 0; k < z_dim_; ++k) z[size_t(k)] = opt_.uniform_latent ? r.uniform(uint64_t(k)) : r.normal(uint64_t(k));
    return z;
  }

  Result<Tensor> generate(const GenerateRequest& req) const override {
    if (req.count < 0 || req.first < 0)
      return make_error(name_, ": bad request first=", req.first, " count=", req.count);
    if (!req.classes.empty() && int64_t(req.classes.size()) != req.count)
      return make_error(name_, ": ", req.classes.size(), " classes for ", req.count, " images");
    Tensor z(DType::f32, {req.count, z_dim_});
    std::vector<int64_t> cls;
    for (int64_t i = 0; i < req.count; ++i) {
      auto v = latent(req.seed, req.first + i);
      std::copy(v.begin(), v.end(), z.data<float>() + i * z_dim_);
      if (c_dim_ > 0) cls.push_back(req.classes.empty() ? (req.first + i) % c_dim_ : req.classes[size_t(i)]);
    }
    return synthesize(z, cls);
  }

 private:
  OnnxGenerator() = default;
  std::string name_;
  OnnxGeneratorOptions opt_;
  int64_t z_dim_ = 0, c_dim_ = 0, fixed_batch_ = 0, c_ = 0, h_ = 0, w_ = 0;
  std::shared_ptr<const Executor> exec_;
};

inline Result<std::unique_ptr<OnnxGenerator>> load_onnx_generator(const std::string& path,
                                                                  const OnnxGeneratorOptions& o = {}) {
  QF_ASSIGN_OR_RETURN(Graph g, load_graph(path));
  return OnnxGenerator::create(std::move(g), path, o);
}

}  // namespace qforge::gen
