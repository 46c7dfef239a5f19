// qforge/quant/qexecutor.hpp — the int8 executor: runs a QGraph (qgraph.hpp).
//
// Contract: prepare() checks the graph once (kinds, weights, attributes, fp32 fallback nodes built through the
// fp32 op table) and returns an immutable executor; run() may be called from many threads at once. Inputs are
// float32 NCHW tensors (one per graph input, any batch size); outputs are float32. Integer semantics are those of
// kernels/ref (qgemm_ref.hpp, qconv_ref.hpp): every Conv/Gemm goes through the one kernel entry point below
// (QKernels), which packs the weights once per ISA (QExecOptions: QFORGE_ISA or the best available) and runs
// the fast kernels of kernels/qgemm.hpp and kernels/qconv.hpp, bit for bit the ref kernels. Run-time errors name the node and the shapes.
// The observer, when given, sees every value a node produces, as stored (quantized rank-4 values are NHWC), with
// its QValue description; dequantize_logical() turns one into a float NCHW tensor.
// Batches: when every node treats the images of a batch independently (checked at prepare(), and on the first
// image of the first batch of each image shape), a batch runs in slices of images whose largest layer (input +
// output) fits QExecOptions::slice_bytes (default: the L2 cache), and with several threads the slices run in
// parallel, one thread each. A layer-by-layer run of a big batch streams every activation through memory (a
// 224×224 MobileNetV2 at batch 64 ran at half its batch-1 speed), and one layer split over threads waits at
// every layer's end. Integer results are the same whatever the slicing; the logits too (each row's arithmetic
// does not depend on the other rows).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <kernels/qconv.hpp>
#include <kernels/qgemm.hpp>
#if defined(__x86_64__)
#include <kernels/x86/avx512vbmi/lut.hpp>
#include <kernels/x86/avx512vnni/qadd.hpp>
#endif

#include "qforge/core/cpu.hpp"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ops/op.hpp"
#include "qforge/graph/ops/window.hpp"
#include "qforge/quant/qgraph.hpp"
#include "qforge/quant/qparams.hpp"
#include "qforge/quant/float_ops.hpp"

namespace qforge::quant {

// ------------------------------------------------------------------------------------------- kernel entry point
// The only place the int8 kernels are named: weights are packed once per ISA at prepare (kernels/qconv.hpp,
// kernels/qgemm.hpp; bit for bit the ref kernels), then every Conv/Gemm runs through these two calls.
// TA (activations) is uint8_t or int8_t; TC (output) is float, uint8_t or int8_t. With QFORGE_PRECOMPILED_OPS
// the definitions (every ISA's kernels: most of the compile time of a file that runs an int8 model) are compiled
// once, in qforge/op_tables_int8.cpp, like the fp32 op tables in qforge/op_tables.cpp (graph/ops/registry.hpp).
struct QKernels {
  static kernels::PackedConv pack_conv(const kernels::ConvParams& p, const int8_t* w, Isa isa);
  static kernels::PackedWeights pack_gemm(int N, int K, const int8_t* w, Isa isa);
  template <class TA, class TC>
  static void conv(const kernels::ConvParams& p, const TA* x, int32_t x_zp, const kernels::PackedConv& w,
                   const kernels::Epilogue& ep, TC* y, int threads);
  template <class TA, class TC>
  static void gemm(int M, int N, int K, const TA* A, int lda, int32_t a_zp, const kernels::PackedWeights& W,
                   const kernels::Epilogue& ep, TC* C, int ldc, int threads);
};

// Compiled here (header-only), or once in qforge/op_tables_int8.cpp (QFORGE_PRECOMPILED_OPS).
#if defined(QFORGE_QKERNELS_IMPLEMENTATION)
#define QFORGE_QKERNELS_LINKAGE
#else
#define QFORGE_QKERNELS_LINKAGE inline
#endif
#if !defined(QFORGE_PRECOMPILED_OPS) || defined(QFORGE_QKERNELS_IMPLEMENTATION)
QFORGE_QKERNELS_LINKAGE kernels::PackedConv QKernels::pack_conv(const kernels::ConvParams& p, const int8_t* w,
                                                                Isa isa) {
  return kernels::pack_conv_weights(p, w, isa);
}
QFORGE_QKERNELS_LINKAGE kernels::PackedWeights QKernels::pack_gemm(int N, int K, const int8_t* w, Isa isa) {
  return kernels::pack_weights(N, K, w, K, isa);
}
template <class TA, class TC>
void QKernels::conv(const kernels::ConvParams& p, const TA* x, int32_t x_zp, const kernels::PackedConv& w,
                    const kernels::Epilogue& ep, TC* y, int threads) {
  kernels::qconv2d_nhwc<TA, TC>(p, x, x_zp, w, ep, y, threads);
}
template <class TA, class TC>
void QKernels::gemm(int M, int N, int K, const TA* A, int lda, int32_t a_zp, const kernels::PackedWeights& W,
                    const kernels::Epilogue& ep, TC* C, int ldc, int threads) {
  kernels::qgemm<TA, TC>(M, N, K, A, lda, a_zp, W, ep, C, ldc, threads);
}
#endif
#if defined(QFORGE_QKERNELS_IMPLEMENTATION)
#define QFORGE_QKERNELS_INSTANTIATE(TA, TC)                                                                    \
  template void QKernels::conv<TA, TC>(const kernels::ConvParams&, const TA*, int32_t, const kernels::PackedConv&, \
                                       const kernels::Epilogue&, TC*, int);                                     \
  template void QKernels::gemm<TA, TC>(int, int, int, const TA*, int, int32_t, const kernels::PackedWeights&,     \
                                       const kernels::Epilogue&, TC*, int, int);
QFORGE_QKERNELS_INSTANTIATE(uint8_t, float)
QFORGE_QKERNELS_INSTANTIATE(uint8_t, uint8_t)
QFORGE_QKERNELS_INSTANTIATE(uint8_t, int8_t)
QFORGE_QKERNELS_INSTANTIATE(int8_t, float)
QFORGE_QKERNELS_INSTANTIATE(int8_t, uint8_t)
QFORGE_QKERNELS_INSTANTIATE(int8_t, int8_t)
#undef QFORGE_QKERNELS_INSTANTIATE
#endif

// ------------------------------------------------------------------------------------------- layout helpers
namespace qdetail {

// Moves the channel axis of a rank-4 tensor: NCHW [N,C,H,W] to NHWC [N,H,W,C] when to_nhwc, else back. A view
// when H·W = 1 or C = 1 (the two layouts hold the same bytes).
inline Tensor transpose_channels(const Tensor& t, bool to_nhwc) {
  QF_CHECK(t.rank() == 4, "layout change needs rank 4");
  const int64_t N = t.dim(0);
  const int64_t C = to_nhwc ? t.dim(1) : t.dim(3);
  const int64_t HW = to_nhwc ? t.dim(2) * t.dim(3) : t.dim(1) * t.dim(2);
  const Shape s = to_nhwc ? Shape{N, t.dim(2), t.dim(3), C} : Shape{N, C, t.dim(1), t.dim(2)};
  if (HW == 1 || C == 1) return t.reshape(s).value();
  // Strides of channel c and pixel i in the source and destination layouts (NCHW: HW and 1, NHWC: 1 and C).
  const int64_t sc = to_nhwc ? HW : 1, si = to_nhwc ? 1 : C, dc = to_nhwc ? 1 : HW, di = to_nhwc ? C : 1;
  Tensor r(t.dtype(), s);
  ops::dispatch_all(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t n = 0; n < N; ++n) {
      const T* src = t.data<T>() + n * C * HW;
      T* dst = r.data<T>() + n * C * HW;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < HW; ++i) dst[c * dc + i * di] = src[c * sc + i * si];
    }
  });
  return r;
}
inline Tensor to_nhwc(const Tensor& t) { return transpose_channels(t, true); }
inline Tensor to_nchw(const Tensor& t) { return transpose_channels(t, false); }

// Logical view of a stored value (copy only for NHWC rank-4 values).
inline Tensor logical(const Tensor& t, const QValue& v) { return v.nhwc() ? to_nchw(t) : t; }
inline Tensor physical(const Tensor& t, const QValue& v) { return v.nhwc() ? to_nhwc(t) : t; }

// Physical axis of a logical axis.
inline int64_t physical_axis(int64_t axis, const QValue& v) {
  if (!v.nhwc()) return axis;
  static const int64_t m[4] = {0, 3, 1, 2};
  return m[axis];
}

template <class T>
inline int32_t load_q(const void* p, int64_t i) {
  return int32_t(static_cast<const T*>(p)[i]);
}

inline int32_t clamp_round(float x, int32_t zp, int32_t lo, int32_t hi) {
  float v = std::nearbyint(x) + float(zp);
  v = v > float(lo) ? v : float(lo);
  v = v < float(hi) ? v : float(hi);
  return int32_t(v);
}

// clamp_round without a libm call, the same result for every x (NaN included) when lo, hi and zp lie in
// [-2^16, 2^16]: x is first limited to ±2^20 (which rounds to a value the final clamp maps as it would x; NaN goes
// to the low end, as in clamp_round), then rounded half to even by adding and removing 1.5·2^23 (exact for
// |x| ≤ 2^22 in the default rounding mode). Needs IEEE float arithmetic as written (no -ffast-math).
inline int32_t clamp_round_fast(float x, int32_t zp, int32_t lo, int32_t hi) {
  constexpr float lim = 1048576.0f, magic = 12582912.0f;
  x = x > -lim ? x : -lim;
  x = x < lim ? x : lim;
  float v = ((x + magic) - magic) + float(zp);
  v = v > float(lo) ? v : float(lo);
  v = v < float(hi) ? v : float(hi);
  return int32_t(v);
}

// dst[i] = quantize_value(src[i]) (qparams.hpp) for a run of n floats, as clamp_round_fast computes it. On x86-64
// four at a time with SSE2 (the scalar loop's ternaries keep GCC from vectorizing it): maxps/minps return their
// second operand when either is NaN, exactly the scalar `x > b ? x : b` / `x < b ? x : b`, and the clamped
// values fit the saturating packs unchanged.
template <class T>
inline void quantize_run(const float* __restrict src, T* __restrict dst, int64_t n, float scale, int32_t zp,
                         int32_t lo, int32_t hi) {
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128 vs = _mm_set1_ps(scale), vlim = _mm_set1_ps(1048576.0f), vnlim = _mm_set1_ps(-1048576.0f);
  const __m128 vmagic = _mm_set1_ps(12582912.0f), vzp = _mm_set1_ps(float(zp));
  const __m128 vlo = _mm_set1_ps(float(lo)), vhi = _mm_set1_ps(float(hi));
  auto q4 = [&](const float* p) {
    __m128 x = _mm_div_ps(_mm_loadu_ps(p), vs);
    x = _mm_min_ps(_mm_max_ps(x, vnlim), vlim);
    __m128 v = _mm_add_ps(_mm_sub_ps(_mm_add_ps(x, vmagic), vmagic), vzp);
    v = _mm_min_ps(_mm_max_ps(v, vlo), vhi);
    return _mm_cvttps_epi32(v);
  };
  for (; i + 16 <= n; i += 16) {
    const __m128i a = _mm_packs_epi32(q4(src + i), q4(src + i + 4));
    const __m128i b = _mm_packs_epi32(q4(src + i + 8), q4(src + i + 12));
    const __m128i r = std::is_same_v<T, uint8_t> ? _mm_packus_epi16(a, b) : _mm_packs_epi16(a, b);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), r);
  }
#endif
  for (; i < n; ++i) dst[i] = T(clamp_round_fast(src[i] / scale, zp, lo, hi));
}

// Calls f(T{}) with T = uint8_t or int8_t for a quantized dtype.
template <class F>
inline void dispatch_q(DType t, F&& f) {
  if (t == DType::u8) f(uint8_t{});
  else f(int8_t{});
}

// 256-entry table: stored byte of an input code (params pi) → stored byte of the output code (params po), as
// requantize does element by element (clamp_round of (q - zp_i) · s_i / s_o into [po.qmin, po.qmax]).
inline std::vector<uint8_t> requant_table(const QParams& pi, const QParams& po) {
  std::vector<uint8_t> lut(256);
  const float r = pi.scale / po.scale;
  for (int b = 0; b < 256; ++b) {
    const int32_t q = pi.dtype == DType::u8 ? int32_t(uint8_t(b)) : int32_t(int8_t(uint8_t(b)));
    const int32_t v = clamp_round(float(q - pi.zero_point) * r, po.zero_point, po.qmin, po.qmax);
    lut[size_t(b)] = uint8_t(v);
  }
  return lut;
}

inline void store_q(Tensor& t, int64_t i, int32_t v) {
  if (t.dtype() == DType::u8)
    t.data<uint8_t>()[i] = uint8_t(v);
  else
    t.data<int8_t>()[i] = int8_t(v);
}
inline int32_t get_q(const Tensor& t, int64_t i) {
  return t.dtype() == DType::u8 ? int32_t(t.data<uint8_t>()[i]) : int32_t(t.data<int8_t>()[i]);
}

// The window walk of both quantized pools (NHWC, spatial dims 1 and 2 of a resolved window): for each output pixel
// o = (b*OH + oh)*OW + ow, calls at(o, taps). taps(f) calls f(i) with the input pixel index i = (b*H + ih)*W + iw of
// every window position inside the input, and returns how many positions lie inside the input plus its explicit
// pads (ONNX's count_include_pad divisor, which leaves out ceil-mode overhang).
template <class At>
inline void for_each_pool_window(const ops::Window& w, int64_t N, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 At&& at) {
  for (int64_t b = 0; b < N; ++b)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        auto taps = [&](auto&& f) {
          int64_t cnt_pad = 0;
          for (int64_t kh = 0; kh < w.k[1]; ++kh) {
            const int64_t ih = oh * w.s[1] - w.pb[1] + kh * w.d[1];
            for (int64_t kw = 0; kw < w.k[2]; ++kw) {
              const int64_t iw = ow * w.s[2] - w.pb[2] + kw * w.d[2];
              if (ih >= -w.pb[1] && ih < H + w.pe[1] && iw >= -w.pb[2] && iw < W + w.pe[2]) ++cnt_pad;
              if (ih >= 0 && ih < H && iw >= 0 && iw < W) f((b * H + ih) * W + iw);
            }
          }
          return cnt_pad;
        };
        at((b * OH + oh) * OW + ow, taps);
      }
}

}  // namespace qdetail

// Dequantizes a stored value to a float tensor in logical (NCHW) layout; float values are returned as is.
inline Tensor dequantize_logical(const Tensor& t, const QValue& v) {
  if (!v.quantized) return t;
  Tensor l = qdetail::logical(t, v);
  Tensor r(DType::f32, l.shape());
  float* d = r.data<float>();
  const int64_t n = l.numel();
  qdetail::dispatch_q(l.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = l.data<T>();
    for (int64_t i = 0; i < n; ++i) d[i] = dequantize_value(int32_t(s[i]), v.q);
  });
  return r;
}

// Quantizes a float logical tensor into the stored form of v.
inline Tensor quantize_physical(const Tensor& x, const QValue& v) {
  const float scale = v.q.scale;
  const int32_t zp = v.q.zero_point, lo = v.q.qmin, hi = v.q.qmax;
  const float* s = x.data<float>();
  auto run = [&](const float* src, auto* dst, int64_t n) { qdetail::quantize_run(src, dst, n, scale, zp, lo, hi); };
  const bool transpose = v.nhwc() && x.rank() == 4 && x.dim(1) > 1 && x.dim(2) * x.dim(3) > 1;
  if (!transpose) {
    Tensor q(v.q.dtype, x.shape());
    qdetail::dispatch_q(v.q.dtype, [&](auto tag) { run(s, q.data<decltype(tag)>(), x.numel()); });
    return qdetail::physical(q, v);  // a view when no transpose is needed
  }
  // NCHW float → NHWC codes in one pass: a block of pixels of every channel into a small buffer, then
  // interleaved.
  const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  constexpr int64_t kBlock = 256;
  Tensor q(v.q.dtype, {N, x.dim(2), x.dim(3), C});
  qdetail::dispatch_q(v.q.dtype, [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> buf(size_t(C * kBlock));
    T* d = q.data<T>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i0 = 0; i0 < HW; i0 += kBlock) {
        const int64_t len = std::min(kBlock, HW - i0);
        for (int64_t c = 0; c < C; ++c) run(s + (n * C + c) * HW + i0, buf.data() + c * kBlock, len);
        T* o = d + (n * HW + i0) * C;
        if (C == 3) {  // RGB: a fixed count lets the compiler unroll the interleave
          const T *r = buf.data(), *g = r + kBlock, *b = g + kBlock;
          for (int64_t k = 0; k < len; ++k) {
            o[3 * k] = r[k];
            o[3 * k + 1] = g[k];
            o[3 * k + 2] = b[k];
          }
        } else {
          for (int64_t k = 0; k < len; ++k)
            for (int64_t c = 0; c < C; ++c) o[k * C + c] = buf[size_t(c * kBlock + k)];
        }
      }
  });
  return q;
}

struct QExecOptions {
  int threads = 0;      // 0 = OpenMP default
  bool use_env_isa = true;  // true: select_isa() (QFORGE_ISA or the best one); false: `isa`
  Isa isa = Isa::ref;
  // Batch slices: the largest layer's bytes (input + output) a slice may reach; 0 = this CPU's L2 cache size,
  // < 0 = never slice (the whole batch layer by layer, threads inside each layer).
  int64_t slice_bytes = 0;
};

class QExecutor {
 public:
  using Observer = std::function<void(const std::string& name, const QValue& info, const Tensor& stored)>;

  QExecutor() = default;

  static Result<QExecutor> prepare(QGraph g, const QExecOptions& opt = {}) {
    QF_RETURN_IF_ERROR(g.validate());
    QExecutor ex;
    ex.opt_ = opt;
    if (opt.use_env_isa) {
      QF_ASSIGN_OR_RETURN(ex.isa_, select_isa());
    } else {
      if (!isa_available(opt.isa)) return make_error("ISA ", isa_name(opt.isa), " is not available on this CPU");
      ex.isa_ = opt.isa;
    }
    ex.g_ = std::make_shared<QGraph>(std::move(g));
    const QGraph& G = *ex.g_;
    std::map<std::string, int> slot;
    auto get_slot = [&](const std::string& n) {
      auto it = slot.find(n);
      if (it != slot.end()) return it->second;
      int s = int(slot.size());
      slot[n] = s;
      ex.slot_names_.push_back(n);
      return s;
    };
    for (auto& v : G.inputs) ex.input_slots_.push_back(get_slot(v.name));
    for (auto& kv : G.initializers) {
      int s = get_slot(kv.first);
      ex.constants_.push_back({s, kv.second});
    }
    for (size_t i = 0; i < G.nodes.size(); ++i) {
      const QNode& n = G.nodes[i];
      Step st;
      st.node = &n;
      for (auto& in : n.inputs) st.in.push_back(in.empty() ? -1 : get_slot(in));
      for (auto& o : n.outputs) st.out.push_back(o.empty() ? -1 : get_slot(o));
      for (auto& in : n.inputs) st.in_info.push_back(in.empty() ? nullptr : G.value(in));
      for (auto& o : n.outputs) st.out_info.push_back(o.empty() ? nullptr : G.value(o));
      auto s = ex.prepare_step(st);
      if (!s.ok()) return s.error().wrap(n.label());
      ex.steps_.push_back(std::move(st));
    }
    for (auto& v : G.outputs) ex.output_slots_.push_back(get_slot(v.name));
    ex.num_slots_ = int(slot.size());
    // Last use of every slot (to free intermediates early).
    ex.last_use_.assign(size_t(ex.num_slots_), -1);
    for (size_t i = 0; i < ex.steps_.size(); ++i)
      for (int s : ex.steps_[i].in)
        if (s >= 0) ex.last_use_[size_t(s)] = int(i);
    for (int s : ex.output_slots_) ex.last_use_[size_t(s)] = int(ex.steps_.size());
    ex.fuse_channel_shuffles();
    ex.per_image_ = ex.nodes_per_image();
    ex.probe_ = std::make_shared<SliceProbe>();
    return ex;
  }

  const QGraph& graph() const { return *g_; }
  Isa isa() const { return isa_; }
  // Reshape → Transpose → Reshape chains run as one channel gather (when no observer is attached).
  int fused_shuffles() const {
    int k = 0;
    for (auto& st : steps_) k += !st.chan_perm.empty();
    return k;
  }

  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs, const Observer* obs = nullptr) const {
    if (obs || !per_image_ || opt_.slice_bytes < 0 || inputs.empty()) return run_batch(inputs, obs, opt_.threads);
    Shape sample;  // the per-image shapes of all inputs: the probe's key
    if (!image_shapes(inputs, &sample) || inputs[0].dim(0) <= 1) return run_batch(inputs, obs, opt_.threads);
    const int64_t N = inputs[0].dim(0);
    const int T = kernels::resolve_threads(opt_.threads);
    std::vector<std::vector<Tensor>> parts;  // outputs of each slice, in batch order
    int64_t done = 0, peak = cached_peak(sample);
    if (peak < 0) {  // first batch of this image shape: image 0 alone, measuring its largest layer
      std::vector<Tensor> one;
      for (const Tensor& t : inputs) one.push_back(t.slice0(0, 1));
      ImageStats stats;
      QF_ASSIGN_OR_RETURN(auto r, run_batch(one, nullptr, opt_.threads, &stats));
      peak = stats.per_image ? std::max<int64_t>(1, stats.peak_bytes) : 0;
      {
        std::lock_guard<std::mutex> lock(probe_->mu);
        probe_->peak[sample] = peak;
      }
      parts.push_back(std::move(r));
      done = 1;
    }
    if (peak == 0) return run_batch(inputs, obs, opt_.threads);  // a node mixes the images of a batch
    const SlicePlan plan =
        plan_slices(N - done, peak, opt_.slice_bytes > 0 ? opt_.slice_bytes : l2_cache_bytes(), T);
    const int64_t S = plan.images, ns = plan.slices;
    if (done == 0 && ns == 1) return run_batch(inputs, obs, opt_.threads);
    std::vector<Result<std::vector<Tensor>>> res(size_t(ns), Result<std::vector<Tensor>>(make_error("not run")));
    auto run_slice = [&](int64_t k, int threads) {
      const int64_t a = done + k * S, b = std::min(N, a + S);
      try {
        std::vector<Tensor> in;
        for (const Tensor& t : inputs) in.push_back(t.slice0(a, b));
        res[size_t(k)] = run_batch(in, nullptr, threads);
      } catch (const std::exception& e) {  // nothing may leave an OpenMP region
        res[size_t(k)] = make_error("batch slice [", a, ", ", b, "): ", e.what());
      }
    };
    if (plan.parallel) {
#if defined(_OPENMP)
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
#endif
      for (int64_t k = 0; k < ns; ++k) run_slice(k, 1);
    } else {
      for (int64_t k = 0; k < ns; ++k) run_slice(k, opt_.threads);
    }
    for (auto& r : res) {
      if (!r.ok()) return r.error();
      parts.push_back(std::move(r.value()));
    }
    return join_slices(parts, N);
  }

  // How `remaining` images run: slices of `images` (the last may be shorter) whose largest layer, peak_bytes per
  // image, stays within budget; with threads > 1 and at least as many images, the slices run in parallel and
  // their count is a multiple of the threads (even shares), else they run one after the other.
  struct SlicePlan {
    int64_t images = 0, slices = 0;
    bool parallel = false;
  };
  static SlicePlan plan_slices(int64_t remaining, int64_t peak_bytes, int64_t budget, int threads) {
    SlicePlan p;
    if (remaining <= 0) return p;
    int64_t S = std::clamp<int64_t>(budget / std::max<int64_t>(1, peak_bytes), 1, remaining);
    int64_t ns = (remaining + S - 1) / S;
    p.parallel = threads > 1 && remaining >= threads;
    if (p.parallel) ns = std::min<int64_t>(remaining, (ns + threads - 1) / threads * threads);
    S = (remaining + ns - 1) / ns;
    p.images = S;
    p.slices = (remaining + S - 1) / S;
    return p;
  }
  // The per-image peak bytes the first sliced run measured for inputs of this shape: −1 not yet measured, 0 the
  // graph mixes the images of a batch (no slicing).
  int64_t image_peak_bytes(const std::vector<Tensor>& inputs) const {
    Shape sample;
    return image_shapes(inputs, &sample) ? cached_peak(sample) : -1;
  }
  // Whether prepare() found every node to treat the images of a batch independently.
  bool nodes_are_per_image() const { return per_image_; }

 private:
  // What a run on one image found, for slicing: whether every value it made has the batch (1) as its first
  // dimension, and the largest bytes of one node's non-constant inputs plus outputs.
  struct ImageStats {
    bool per_image = true;
    int64_t peak_bytes = 0;
  };
  struct SliceProbe {
    std::mutex mu;
    std::map<Shape, int64_t> peak;  // per-image input shapes → ImageStats::peak_bytes (0: not per image)
  };

  // The inputs' shapes without their batch axis, one after the other (−1 between them); false when an input has
  // no batch axis or the inputs' batches differ.
  static bool image_shapes(const std::vector<Tensor>& inputs, Shape* sample) {
    for (const Tensor& t : inputs) {
      if (t.rank() < 1 || t.dim(0) != inputs[0].dim(0)) return false;
      sample->insert(sample->end(), t.shape().begin() + 1, t.shape().end());
      sample->push_back(-1);
    }
    return !inputs.empty();
  }

  int64_t cached_peak(const Shape& sample) const {
    std::lock_guard<std::mutex> lock(probe_->mu);
    auto it = probe_->peak.find(sample);
    return it == probe_->peak.end() ? -1 : it->second;
  }

  // The slices' outputs joined along axis 0.
  static Result<std::vector<Tensor>> join_slices(const std::vector<std::vector<Tensor>>& parts, int64_t N) {
    std::vector<Tensor> out;
    for (size_t k = 0; k < parts[0].size(); ++k) {
      const Tensor& f = parts[0][k];
      if (f.rank() < 1) return make_error("output ", k, " has no batch axis");
      Shape os = f.shape();
      os[0] = N;
      Tensor y(f.dtype(), os);
      const size_t row = size_t(f.numel() / std::max<int64_t>(1, f.dim(0))) * dtype_size(f.dtype());
      int64_t at = 0;
      for (const auto& p : parts) {
        const Tensor& t = p[k];
        if (t.dtype() != f.dtype() || t.rank() != os.size() ||
            !std::equal(os.begin() + 1, os.end(), t.shape().begin() + 1) || at + t.dim(0) > N)
          return make_error("output ", k, " of a batch slice has shape ", shape_str(t.shape()), ", expected [",
                            t.dim(0), "] + ", shape_str(Shape(os.begin() + 1, os.end())));
        const size_t bytes = row * size_t(t.dim(0));
        if (bytes != 0) std::memcpy(static_cast<uint8_t*>(y.raw()) + size_t(at) * row, t.raw(), bytes);
        at += t.dim(0);
      }
      if (at != N) return make_error("batch slices hold ", at, " of ", N, " images");
      out.push_back(std::move(y));
    }
    return out;
  }

  // Whether every node treats the images of a batch independently (the static part of the check; the first
  // sliced run confirms that every value keeps the batch as its first axis, e.g. a Reshape to [-1, k]).
  bool nodes_per_image() const {
    const QGraph& G = *g_;
    auto constant = [&](const std::string& v) { return G.initializers.count(v) != 0; };
    auto axis_not_batch = [](int64_t axis, int rank) { return rank > 0 && axis > -rank && axis < rank && axis != 0; };
    for (const Step& st : steps_) {
      const QNode& n = *st.node;
      const int rank = st.in_info.empty() || !st.in_info[0] ? -1 : st.in_info[0]->rank;
      switch (n.op) {
        case QOp::Quantize: case QOp::Dequantize: case QOp::Conv: case QOp::Gemm: case QOp::MaxPool:
        case QOp::AveragePool: case QOp::GlobalAveragePool: case QOp::Clamp:
          break;
        case QOp::Add:
          for (const std::string& v : n.inputs)
            if (constant(v)) return false;
          break;
        case QOp::Concat:
          if (!axis_not_batch(n.get_int("axis", 1), rank)) return false;
          break;
        case QOp::Split:
          if (!axis_not_batch(n.get_int("axis", 0), rank)) return false;
          break;
        case QOp::Reshape:
          if (st.ints.empty() || (st.ints[0] != 0 && st.ints[0] != -1)) return false;
          break;
        case QOp::Transpose:
          if (st.ints.empty() || st.ints[0] != 0) return false;
          break;
        case QOp::Float:
          if (!float_node_per_image(n.float_node, constant, rank)) return false;
          break;
      }
    }
    return true;
  }

  template <class IsConstant>
  static bool float_node_per_image(const Node& f, IsConstant constant, int rank) {
    static const char* const kElementwise[] = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Identity", "Abs",
                                               "Neg", "Exp", "Log", "Sqrt", "Erf", "Elu", "Selu", "HardSigmoid",
                                               "HardSwish", "Softplus", "Softsign", "Floor", "Ceil", "Round"};
    static const char* const kWindowed[] = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                                            "GlobalMaxPool", "BatchNormalization", "Gemm", "MatMul"};
    for (const char* k : kElementwise)
      if (f.op_type == k) return true;
    for (const char* k : kWindowed)  // input 0 is the batch; every other input must be a weight
      if (f.op_type == k) {
        if (f.op_type == "Gemm" && f.get_int("transA", 0) != 0) return false;
        for (size_t i = 1; i < f.inputs.size(); ++i)
          if (!f.inputs[i].empty() && !constant(f.inputs[i])) return false;
        return true;
      }
    if (f.op_type == "Softmax" || f.op_type == "LogSoftmax") {
      const int64_t ax = f.get_int("axis", -1);
      return rank > 0 && ax != 0 && ax != -rank;
    }
    if (f.op_type == "Flatten") {  // [d0·…·d(axis−1), rest]: the batch stays alone only at axis 1
      const int64_t ax = f.get_int("axis", 1);
      return ax == 1 || (rank > 1 && ax == 1 - rank);
    }
    return false;
  }

  // The whole batch layer by layer, `threads` inside each kernel; stats: see ImageStats.
  Result<std::vector<Tensor>> run_batch(const std::vector<Tensor>& inputs, const Observer* obs, int threads,
                                        ImageStats* stats = nullptr) const {
    if (inputs.size() != input_slots_.size())
      return make_error("int8 model takes ", input_slots_.size(), " inputs, got ", inputs.size());
    // With several threads the kernels split each layer: the spin pool's workers then spin between the layers of
    // this run instead of sleeping (kernels/spin_pool.hpp).
    const kernels::SpinPool::HotSection hot(kernels::resolve_threads(threads) > 1);
    std::vector<Tensor> slots(static_cast<size_t>(num_slots_));
    for (auto& c : constants_) slots[size_t(c.first)] = c.second;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].dtype() != DType::f32)
        return make_error("input '", g_->inputs[i].name, "' must be float32, got ", dtype_name(inputs[i].dtype()));
      slots[size_t(input_slots_[i])] = inputs[i];
    }
    auto release_inputs = [&](size_t i) {
      for (int s_in : steps_[i].in)
        if (s_in >= 0 && last_use_[size_t(s_in)] == int(i) && !is_constant(s_in)) slots[size_t(s_in)] = Tensor();
    };
    for (size_t i = 0; i < steps_.size(); ++i) {
      const Step& st = steps_[i];
      for (size_t k = 0; k < st.in.size(); ++k)
        if (st.in[k] >= 0 && !slots[size_t(st.in[k])].defined())
          return make_error(st.node->label(), ": input '", st.node->inputs[k], "' has no value");
      // A fused channel shuffle skips its Transpose and second Reshape (their values are never observed).
      if (!obs && !st.chan_perm.empty() && run_channel_shuffle(st, slots[size_t(st.in[0])], slots[size_t(st.fused_out)])) {
        if (stats) note_image_stats(st, slots, *stats);
        release_inputs(i);
        release_inputs(i + 1);
        release_inputs(i + 2);
        i += 2;
        continue;
      }
      auto s = run_step(st, slots, threads);
      if (!s.ok()) return s.error().wrap(st.node->label());
      if (stats) note_image_stats(st, slots, *stats);
      if (obs)
        for (size_t k = 0; k < st.out.size(); ++k)
          if (st.out[k] >= 0 && st.out_info[k]) (*obs)(st.node->outputs[k], *st.out_info[k], slots[size_t(st.out[k])]);
      release_inputs(i);
    }
    std::vector<Tensor> out;
    for (int s : output_slots_) out.push_back(slots[size_t(s)]);
    return out;
  }

  struct Step {
    const QNode* node = nullptr;
    std::vector<int> in, out;
    std::vector<const QValue*> in_info, out_info;
    std::vector<float> scale;        // Conv/Gemm: per output channel epilogue multiplier
    ops::WindowAttrs win;            // Conv/pools
    std::shared_ptr<const kernels::PackedConv> pconv;      // Conv
    std::shared_ptr<const kernels::PackedWeights> pgemm;   // Gemm
    std::shared_ptr<ops::OpKernel> kernel;  // Float
    std::vector<int64_t> ints;       // Reshape shape / Transpose perm / Split sizes
    std::vector<uint8_t> lut;        // Add: 65536-entry table (a byte << 8 | b byte) → output byte
    std::vector<std::vector<uint8_t>> in_luts;  // Concat: per input, 256-entry requant table (empty: same params)
    // Reshape → Transpose → Reshape that only permutes channels (ShuffleNet's channel shuffle), run as one
    // per-pixel gather in NHWC when no observer is attached: out channel c = input channel chan_perm[c].
    std::vector<int32_t> chan_perm;
    int64_t sh_h = 0, sh_w = 0, sh_c = 0;  // the logical [C, H, W] the gather was derived for
    int fused_out = -1;                    // slot of the last Reshape's output
  };

  // Finds Reshape → Transpose → Reshape chains whose intermediate values have no other reader and that, for
  // every batch size, only permute the channels of an NHWC value (the batch axis stays axis 0 throughout, and
  // the permutation is a per-pixel channel gather), and records that gather on the first Reshape.
  void fuse_channel_shuffles() {
    std::vector<int> readers(size_t(num_slots_), 0);
    for (auto& st : steps_)
      for (int s : st.in)
        if (s >= 0) ++readers[size_t(s)];
    for (int s : output_slots_) readers[size_t(s)] += 1000;
    for (size_t i = 0; i + 2 < steps_.size(); ++i) {
      Step &a = steps_[i], &b = steps_[i + 1], &c = steps_[i + 2];
      if (a.node->op != QOp::Reshape || b.node->op != QOp::Transpose || c.node->op != QOp::Reshape) continue;
      if (a.in.size() != 1 || b.in.size() != 1 || c.in.size() != 1 || a.out.size() != 1 || b.out.size() != 1 ||
          c.out.size() != 1 || a.in[0] < 0 || a.out[0] < 0 || b.out[0] < 0 || c.out[0] < 0)
        continue;
      if (b.in[0] != a.out[0] || c.in[0] != b.out[0]) continue;
      if (readers[size_t(a.out[0])] != 1 || readers[size_t(b.out[0])] != 1) continue;
      if (!a.in_info[0] || !a.in_info[0]->nhwc() || !c.out_info[0] || !c.out_info[0]->nhwc()) continue;
      const std::vector<int64_t>&s1 = a.ints, &p = b.ints, &s2 = c.ints;
      if (s2.size() != 4 || (s2[0] != -1 && s2[0] != 0) || s1.size() < 2 || (s1[0] != -1 && s1[0] != 0)) continue;
      if (p.size() != s1.size() || p[0] != 0) continue;
      const int64_t C = s2[1], H = s2[2], W = s2[3];
      if (C <= 0 || H <= 0 || W <= 0 || C * H * W > (int64_t(1) << 26)) continue;
      int64_t prod = 1;
      bool ok = true;
      for (size_t d = 1; d < s1.size(); ++d) {
        if (s1[d] <= 0) ok = false;
        else prod *= s1[d];
      }
      std::vector<bool> seen(p.size(), false);
      for (int64_t v : p) {
        if (v < 0 || v >= int64_t(p.size()) || seen[size_t(v)]) ok = false;
        else seen[size_t(v)] = true;
      }
      if (!ok || prod != C * H * W) continue;
      // Per image: output element o of the chain reads input element src[o] (logical NCHW order).
      const size_t r = s1.size();
      std::vector<int64_t> dims(s1.begin(), s1.end()), istride(r, 1), os(r), idx(r, 0);
      dims[0] = 1;
      for (size_t d = r; d-- > 1;) istride[d - 1] = istride[d] * dims[d];
      for (size_t d = 0; d < r; ++d) os[d] = dims[size_t(p[d])];
      const int64_t HW = H * W;
      std::vector<int32_t> perm(size_t(C), -1);
      for (int64_t o = 0; o < prod && ok; ++o) {
        int64_t src = 0;
        for (size_t d = 0; d < r; ++d) src += idx[d] * istride[size_t(p[d])];
        const int64_t oc = o / HW, opx = o % HW, ic = src / HW, ipx = src % HW;
        if (ipx != opx || (perm[size_t(oc)] >= 0 && perm[size_t(oc)] != ic)) ok = false;
        perm[size_t(oc)] = int32_t(ic);
        for (size_t d = r; d-- > 0;) {
          if (++idx[d] < os[d]) break;
          idx[d] = 0;
        }
      }
      if (!ok) continue;
      a.chan_perm = std::move(perm);
      a.sh_c = C;
      a.sh_h = H;
      a.sh_w = W;
      a.fused_out = c.out[0];
      i += 2;
    }
  }

  // The fused channel shuffle; false (nothing done) when x is not the NHWC [N, H, W, C] it was derived for.
  bool run_channel_shuffle(const Step& st, const Tensor& x, Tensor& y) const {
    if (x.rank() != 4 || x.dim(1) != st.sh_h || x.dim(2) != st.sh_w || x.dim(3) != st.sh_c) return false;
    if (x.dtype() != st.in_info[0]->q.dtype || (x.dtype() != DType::u8 && x.dtype() != DType::i8)) return false;
    Tensor t(x.dtype(), x.shape());
    const int64_t C = st.sh_c, P = x.dim(0) * st.sh_h * st.sh_w;
    const uint8_t* s = static_cast<const uint8_t*>(x.raw());
    uint8_t* d = static_cast<uint8_t*>(t.raw());
    const int32_t* perm = st.chan_perm.data();
    bool two_way = C % 2 == 0;  // out 2j = in j, out 2j + 1 = in C/2 + j (two groups)
    for (int64_t c = 0; c < C && two_way; ++c) two_way = perm[c] == int32_t((c % 2) * (C / 2) + c / 2);
    if (two_way) {
      const int64_t h = C / 2;
      for (int64_t q = 0; q < P; ++q, s += C, d += C)
        for (int64_t j = 0; j < h; ++j) {
          d[2 * j] = s[j];
          d[2 * j + 1] = s[h + j];
        }
    } else {
      for (int64_t q = 0; q < P; ++q, s += C, d += C)
        for (int64_t c = 0; c < C; ++c) d[c] = s[perm[c]];
    }
    y = std::move(t);
    return true;
  }

  bool is_constant(int s) const {
    for (auto& c : constants_)
      if (c.first == s) return true;
    return false;
  }

  Status prepare_step(Step& st) {
    const QNode& n = *st.node;
    auto need_q = [&](size_t k) -> Status {
      if (k >= st.in_info.size() || !st.in_info[k] || !st.in_info[k]->quantized)
        return make_error("input ", k, " must be a quantized value");
      return Status::Ok();
    };
    auto need_out_q = [&](size_t k) -> Status {
      if (k >= st.out_info.size() || !st.out_info[k] || !st.out_info[k]->quantized)
        return make_error("output ", k, " must be a quantized value");
      return Status::Ok();
    };
    switch (n.op) {
      case QOp::Quantize:
        if (st.in_info.size() != 1 || st.out.size() != 1) return make_error("expects 1 input and 1 output");
        if (st.in_info[0] && st.in_info[0]->quantized) return make_error("input must be float");
        return need_out_q(0);
      case QOp::Dequantize:
        if (st.in.size() != 1 || st.out.size() != 1) return make_error("expects 1 input and 1 output");
        return need_q(0);
      case QOp::Conv:
      case QOp::Gemm: {
        QF_RETURN_IF_ERROR(need_q(0));
        if (st.out.size() != 1 || !st.out_info[0]) return make_error("expects 1 output");
        const bool is_conv = n.op == QOp::Conv;
        if (!n.weight.defined() || n.weight.dtype() != DType::i8 || n.weight.rank() != (is_conv ? 4u : 2u))
          return make_error("weight must be int8 of rank ", is_conv ? 4 : 2);
        const int64_t N = n.weight.dim(0);
        if (int64_t(n.w_scale.size()) != N) return make_error("needs ", N, " weight scales, has ", n.w_scale.size());
        if (n.bias.defined() && (n.bias.dtype() != DType::i32 || n.bias.numel() != N))
          return make_error("bias must be int32 with ", N, " values");
        if (is_conv) {
          if (st.in_info[0]->rank != 4) return make_error("input must have rank 4");
          auto w = ops::read_window_attrs(to_node(n), 2, false);
          if (!w.ok()) return w.error();
          st.win = w.value();
          st.win.kernel = {n.weight.dim(2), n.weight.dim(3)};
          const int64_t g = n.get_int("group", 1);
          if (g < 1 || N % g != 0) return make_error("group ", g, " does not divide ", N, " output channels");
          // pack for a nominal input of the kernel's extent (only channels, kernel and groups must match later)
          kernels::ConvParams p;
          p.in_c = int(n.weight.dim(1) * g);
          p.out_c = int(N);
          p.kernel_h = int(n.weight.dim(2));
          p.kernel_w = int(n.weight.dim(3));
          p.dilation_h = int(st.win.dilations[0]);
          p.dilation_w = int(st.win.dilations[1]);
          p.in_h = (p.kernel_h - 1) * p.dilation_h + 1;
          p.in_w = (p.kernel_w - 1) * p.dilation_w + 1;
          p.groups = int(g);
          if (!p.valid()) return make_error("invalid convolution geometry");
          st.pconv = std::make_shared<const kernels::PackedConv>(QKernels::pack_conv(p, n.weight.data<int8_t>(), isa_));
        } else {
          if (n.weight.dim(1) > 65536) return make_error("K = ", n.weight.dim(1), " is larger than 65536");
          st.pgemm = std::make_shared<const kernels::PackedWeights>(
              QKernels::pack_gemm(int(N), int(n.weight.dim(1)), n.weight.data<int8_t>(), isa_));
        }
        const float s_in = st.in_info[0]->q.scale;
        st.scale.resize(size_t(N));
        const bool qout = st.out_info[0]->quantized;
        for (int64_t c = 0; c < N; ++c) {
          float m = s_in * n.w_scale[size_t(c)];
          if (qout) m = m / st.out_info[0]->q.scale;
          st.scale[size_t(c)] = m;
        }
        return Status::Ok();
      }
      case QOp::Add: {
        if (st.in.size() != 2) return make_error("expects 2 inputs");
        QF_RETURN_IF_ERROR(need_q(0));
        QF_RETURN_IF_ERROR(need_q(1));
        QF_RETURN_IF_ERROR(need_out_q(0));
        // Both inputs are 8-bit codes: the whole operation is a table of 256 × 256 output codes, filled with
        // the element formula of run_add.
        const QParams &pa = st.in_info[0]->q, &pb = st.in_info[1]->q, &po = st.out_info[0]->q;
        const float fa = pa.scale / po.scale, fb = pb.scale / po.scale;
        auto code = [](const QParams& p, int byte) {
          return p.dtype == DType::u8 ? int32_t(uint8_t(byte)) : int32_t(int8_t(uint8_t(byte)));
        };
        st.lut.resize(65536);
        for (int ba = 0; ba < 256; ++ba)
          for (int bb = 0; bb < 256; ++bb) {
            const float v = float(code(pa, ba) - pa.zero_point) * fa + float(code(pb, bb) - pb.zero_point) * fb;
            st.lut[size_t(ba << 8 | bb)] = uint8_t(qdetail::clamp_round(v, po.zero_point, n.clamp_lo, n.clamp_hi));
          }
        return Status::Ok();
      }
      case QOp::Concat:
        for (size_t k = 0; k < st.in.size(); ++k) QF_RETURN_IF_ERROR(need_q(k));
        QF_RETURN_IF_ERROR(need_out_q(0));
        for (size_t k = 0; k < st.in.size(); ++k)
          st.in_luts.push_back(st.in_info[k]->q == st.out_info[0]->q
                                   ? std::vector<uint8_t>()
                                   : qdetail::requant_table(st.in_info[k]->q, st.out_info[0]->q));
        return Status::Ok();
      case QOp::Split: {
        QF_RETURN_IF_ERROR(need_q(0));
        st.ints = n.get_ints("split");
        if (st.ints.size() != st.out.size()) return make_error("attribute 'split' needs one size per output");
        for (size_t k = 0; k < st.out.size(); ++k) {
          QF_RETURN_IF_ERROR(need_out_q(k));
          if (st.out_info[k]->q != st.in_info[0]->q) return make_error("outputs must keep the input's parameters");
        }
        return Status::Ok();
      }
      case QOp::MaxPool:
      case QOp::AveragePool: {
        QF_RETURN_IF_ERROR(need_q(0));
        QF_RETURN_IF_ERROR(need_out_q(0));
        if (st.in_info[0]->rank != 4) return make_error("input must have rank 4");
        if (n.op == QOp::MaxPool && st.out_info[0]->q != st.in_info[0]->q)
          return make_error("output must keep the input's parameters");
        auto w = ops::read_window_attrs(to_node(n), 2, true);
        if (!w.ok()) return w.error();
        st.win = w.value();
        return Status::Ok();
      }
      case QOp::GlobalAveragePool:
        QF_RETURN_IF_ERROR(need_q(0));
        if (st.in_info[0]->rank != 4) return make_error("input must have rank 4");
        return need_out_q(0);
      case QOp::Reshape:
      case QOp::Transpose:
      case QOp::Clamp:
        QF_RETURN_IF_ERROR(need_q(0));
        QF_RETURN_IF_ERROR(need_out_q(0));
        if (st.out_info[0]->q != st.in_info[0]->q) return make_error("output must keep the input's parameters");
        st.ints = n.get_ints(n.op == QOp::Reshape ? "shape" : "perm");
        if (n.op == QOp::Transpose && st.ints.size() != size_t(st.in_info[0]->rank))
          return make_error("attribute 'perm' must have one entry per input dim");
        return Status::Ok();
      case QOp::Float: {
        std::map<std::string, DType> dt;
        for (auto& in : n.inputs)
          if (auto v = g_->value(in)) dt[in] = v->quantized ? v->q.dtype : v->dtype;
        auto k = build_float_kernel(n.float_node, g_->initializers, g_->opset, &dt);
        if (!k.ok()) return k.error();
        st.kernel = std::move(k).value();
        return Status::Ok();
      }
    }
    return make_error("unknown node kind");
  }

  // A plain Node carrying the QNode's attributes (for the shared window-attribute reader).
  static Node to_node(const QNode& q) {
    Node n;
    n.name = q.name;
    n.attrs = q.attrs;
    return n;
  }

  // After a step of a one-image run: its values must keep the batch axis (first dimension 1), and its
  // non-constant inputs plus outputs count toward the peak.
  void note_image_stats(const Step& st, const std::vector<Tensor>& slots, ImageStats& stats) const {
    int64_t bytes = 0;
    for (int s : st.in)
      if (s >= 0 && slots[size_t(s)].defined() && !is_constant(s))
        bytes += slots[size_t(s)].numel() * int64_t(dtype_size(slots[size_t(s)].dtype()));
    std::vector<int> outs = st.out;
    if (!st.chan_perm.empty() && st.fused_out >= 0) outs = {st.fused_out};
    for (int s : outs) {
      if (s < 0 || !slots[size_t(s)].defined()) continue;
      const Tensor& t = slots[size_t(s)];
      if (t.rank() < 1 || t.dim(0) != 1) stats.per_image = false;
      bytes += t.numel() * int64_t(dtype_size(t.dtype()));
    }
    stats.peak_bytes = std::max(stats.peak_bytes, bytes);
  }

  Status run_step(const Step& st, std::vector<Tensor>& s, int threads) const {
    const QNode& n = *st.node;
    const Tensor& x = s[size_t(st.in.empty() ? 0 : st.in[0])];
    Tensor& y = s[size_t(st.out[0])];
    switch (n.op) {
      case QOp::Quantize: {
        if (x.dtype() != DType::f32) return make_error("input must be float32");
        if (st.out_info[0]->rank >= 0 && int(x.rank()) != st.out_info[0]->rank)
          return make_error("input has rank ", x.rank(), ", expected ", st.out_info[0]->rank);
        y = quantize_physical(x, *st.out_info[0]);
        return Status::Ok();
      }
      case QOp::Dequantize: y = dequantize_logical(x, *st.in_info[0]); return Status::Ok();
      case QOp::Conv: return run_conv(st, x, y, threads);
      case QOp::Gemm: return run_gemm(st, x, y, threads);
      case QOp::Add: return run_add(st, x, s[size_t(st.in[1])], y);
      case QOp::Concat: return run_concat(st, s, y);
      case QOp::Split: return run_split(st, x, s);
      case QOp::MaxPool:
      case QOp::AveragePool: return run_pool(st, x, y);
      case QOp::GlobalAveragePool: return run_gap(st, x, y);
      case QOp::Reshape: return run_reshape(st, x, y);
      case QOp::Transpose: return run_transpose(st, x, y);
      case QOp::Clamp: {
        if (x.dtype() != DType::u8 && x.dtype() != DType::i8) return make_error("input must be u8 or s8");
        y = Tensor(x.dtype(), x.shape());
        qdetail::dispatch_q(x.dtype(), [&](auto tag) {
          using T = decltype(tag);
          const T* xp = x.data<T>();
          T* yp = y.data<T>();
          for (int64_t i = 0; i < x.numel(); ++i) yp[i] = T(std::clamp(int32_t(xp[i]), n.clamp_lo, n.clamp_hi));
        });
        return Status::Ok();
      }
      case QOp::Float: {
        std::vector<const Tensor*> in;
        for (int k : st.in) in.push_back(k >= 0 ? &s[size_t(k)] : nullptr);
        std::vector<Tensor> out(st.out.size());
        ops::RunContext rc;
        rc.threads = threads;
        QF_RETURN_IF_ERROR(st.kernel->run(rc, in, out));
        for (size_t k = 0; k < st.out.size(); ++k)
          if (st.out[k] >= 0) s[size_t(st.out[k])] = std::move(out[k]);
        return Status::Ok();
      }
    }
    return make_error("unknown node kind");
  }

  kernels::Epilogue epilogue(const Step& st) const {
    const QNode& n = *st.node;
    kernels::Epilogue ep;
    ep.bias = n.bias.defined() ? n.bias.data<int32_t>() : nullptr;
    ep.scale = st.scale.data();
    if (st.out_info[0]->quantized) {
      ep.out_zp = st.out_info[0]->q.zero_point;
      ep.qmin = n.clamp_lo;
      ep.qmax = n.clamp_hi;
    }
    return ep;
  }

  Status run_conv(const Step& st, const Tensor& x, Tensor& y, int threads) const {
    const QNode& n = *st.node;
    if (x.rank() != 4) return make_error("input must be NHWC rank 4, got ", shape_str(x.shape()));
    const int64_t in_sp[2] = {x.dim(1), x.dim(2)};
    QF_ASSIGN_OR_RETURN(auto w, ops::resolve_window(st.win, in_sp, st.win.kernel));
    kernels::ConvParams p;
    p.batch = int(x.dim(0));
    p.in_h = int(x.dim(1));
    p.in_w = int(x.dim(2));
    p.in_c = int(x.dim(3));
    p.out_c = int(n.weight.dim(0));
    p.kernel_h = int(w.k[1]);
    p.kernel_w = int(w.k[2]);
    p.stride_h = int(w.s[1]);
    p.stride_w = int(w.s[2]);
    p.dilation_h = int(w.d[1]);
    p.dilation_w = int(w.d[2]);
    p.pad_top = int(w.pb[1]);
    p.pad_left = int(w.pb[2]);
    p.pad_bottom = int(w.pe[1]);
    p.pad_right = int(w.pe[2]);
    p.groups = int(n.get_int("group", 1));
    if (p.in_c / p.groups != n.weight.dim(1) || p.in_c % p.groups)
      return make_error("input has ", p.in_c, " channels, weights expect ", n.weight.dim(1) * p.groups);
    if (!p.valid()) return make_error("invalid geometry for input ", shape_str(x.shape()));
    if (p.out_h() != w.out[1] || p.out_w() != w.out[2]) return make_error("unsupported padding mode");
    const kernels::Epilogue ep = epilogue(st);
    const QValue& ov = *st.out_info[0];
    const int th = threads;
    Shape ys{x.dim(0), p.out_h(), p.out_w(), p.out_c};
    const int32_t zp = st.in_info[0]->q.zero_point;
    const kernels::PackedConv& wt = *st.pconv;
    auto go = [&](auto ta) {
      using TA = decltype(ta);
      const TA* xp = x.data<TA>();
      if (!ov.quantized) {
        Tensor yf(DType::f32, ys);
        QKernels::conv<TA, float>(p, xp, zp, wt, ep, yf.data<float>(), th);
        apply_act(n.act, yf);
        y = qdetail::to_nchw(yf);
      } else if (ov.q.dtype == DType::u8) {
        y = Tensor(DType::u8, ys);
        QKernels::conv<TA, uint8_t>(p, xp, zp, wt, ep, y.data<uint8_t>(), th);
      } else {
        y = Tensor(DType::i8, ys);
        QKernels::conv<TA, int8_t>(p, xp, zp, wt, ep, y.data<int8_t>(), th);
      }
    };
    if (x.dtype() == DType::u8) go(uint8_t{});
    else if (x.dtype() == DType::i8) go(int8_t{});
    else return make_error("input must be u8 or s8");
    return Status::Ok();
  }

  static void apply_act(const FusedAct& a, Tensor& t) {
    if (a.kind == FusedAct::Kind::None) return;
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = a.apply(p[i]);
  }

  Status run_gemm(const Step& st, const Tensor& x, Tensor& y, int threads) const {
    const QNode& n = *st.node;
    if (x.rank() != 2) return make_error("input must be rank 2, got ", shape_str(x.shape()));
    const int M = int(x.dim(0)), K = int(x.dim(1)), N = int(n.weight.dim(0));
    if (K != n.weight.dim(1)) return make_error("input has ", K, " features, weights expect ", n.weight.dim(1));
    const kernels::Epilogue ep = epilogue(st);
    const QValue& ov = *st.out_info[0];
    const int32_t zp = st.in_info[0]->q.zero_point;
    const kernels::PackedWeights& wt = *st.pgemm;
    auto go = [&](auto ta, auto tc, Tensor& out) {
      using TA = decltype(ta);
      using TC = decltype(tc);
      QKernels::gemm<TA, TC>(M, N, K, x.data<TA>(), K, zp, wt, ep, out.data<TC>(), N, threads);
    };
    y = Tensor(ov.quantized ? ov.q.dtype : DType::f32, {x.dim(0), N});
    if (x.dtype() != DType::u8 && x.dtype() != DType::i8) return make_error("input must be u8 or s8");
    const bool xu = x.dtype() == DType::u8;
    if (!ov.quantized) {
      if (xu) go(uint8_t{}, float{}, y); else go(int8_t{}, float{}, y);
      apply_act(n.act, y);
    } else if (ov.q.dtype == DType::u8) {
      if (xu) go(uint8_t{}, uint8_t{}, y); else go(int8_t{}, uint8_t{}, y);
    } else {
      if (xu) go(uint8_t{}, int8_t{}, y); else go(int8_t{}, int8_t{}, y);
    }
    return Status::Ok();
  }

  Status run_add(const Step& st, const Tensor& a, const Tensor& b, Tensor& y) const {
    if (a.shape() != b.shape())
      return make_error("inputs have shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
                        " (quantized Add needs equal shapes)");
    const QParams &pa = st.in_info[0]->q, &pb = st.in_info[1]->q, &po = st.out_info[0]->q;
    const float fa = pa.scale / po.scale, fb = pb.scale / po.scale;
    const QNode& n = *st.node;
    y = Tensor(po.dtype, a.shape());
    const int64_t cnt = a.numel();
    if (a.dtype() == pa.dtype && b.dtype() == pb.dtype && st.lut.size() == 65536) {
      const uint8_t* pa8 = static_cast<const uint8_t*>(a.raw());
      const uint8_t* pb8 = static_cast<const uint8_t*>(b.raw());
      uint8_t* py = static_cast<uint8_t*>(y.raw());
#if defined(__x86_64__)
      if (isa_ == Isa::avx512vnni || isa_ == Isa::amx) {
        kernels::QAddParams kp;
        kp.za = pa.zero_point;
        kp.zb = pb.zero_point;
        kp.zo = po.zero_point;
        kp.lo = n.clamp_lo;
        kp.hi = n.clamp_hi;
        kp.fa = fa;
        kp.fb = fb;
        kp.a_s8 = pa.dtype == DType::i8;
        kp.b_s8 = pb.dtype == DType::i8;
        kp.y_s8 = po.dtype == DType::i8;
        kernels::avx512vnni::qadd(pa8, pb8, cnt, kp, py);
        return Status::Ok();
      }
#endif
      const uint8_t* lut = st.lut.data();
      for (int64_t i = 0; i < cnt; ++i) py[i] = lut[size_t(pa8[i]) << 8 | pb8[i]];
      return Status::Ok();
    }
    for (int64_t i = 0; i < cnt; ++i) {
      const float v = float(qdetail::get_q(a, i) - pa.zero_point) * fa + float(qdetail::get_q(b, i) - pb.zero_point) * fb;
      qdetail::store_q(y, i, qdetail::clamp_round(v, po.zero_point, n.clamp_lo, n.clamp_hi));
    }
    return Status::Ok();
  }

  // Requantizes `rows` runs of `count` elements of `src` (params pi; run r at src_off + r·src_stride) into `dst`
  // (run r at dst_off + r·dst_stride): through the 256-entry table when one is given (VBMI byte permutes on
  // AVX-512), an identity copy when the parameters are equal, else element by element.
  void requant_rows(const Tensor& src, const QParams& pi, Tensor& dst, const QParams& po, int64_t src_off,
                    int64_t src_stride, int64_t dst_off, int64_t dst_stride, int64_t rows, int64_t count,
                    const std::vector<uint8_t>* lut) const {
    const uint8_t* s = static_cast<const uint8_t*>(src.raw()) + src_off;
    uint8_t* d = static_cast<uint8_t*>(dst.raw()) + dst_off;
    if (lut && !lut->empty() && src.dtype() == pi.dtype && dst.dtype() == po.dtype) {
      const uint8_t* t = lut->data();
#if defined(__x86_64__)
      if ((isa_ == Isa::avx512vnni || isa_ == Isa::amx) && cpu_features().avx512vbmi) {
        kernels::avx512vbmi::lut_rows(s, src_stride, d, dst_stride, rows, count, t);
        return;
      }
#endif
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < count; ++i) d[r * dst_stride + i] = t[s[r * src_stride + i]];
      return;
    }
    if (pi == po) {
      for (int64_t r = 0; r < rows; ++r) std::memcpy(d + r * dst_stride, s + r * src_stride, size_t(count));
      return;
    }
    const float ratio = pi.scale / po.scale;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < count; ++i)
        qdetail::store_q(dst, dst_off + r * dst_stride + i,
                         qdetail::clamp_round(float(qdetail::get_q(src, src_off + r * src_stride + i) - pi.zero_point) *
                                                  ratio,
                                              po.zero_point, po.qmin, po.qmax));
  }

  Status run_concat(const Step& st, const std::vector<Tensor>& s, Tensor& y) const {
    const QValue& ov = *st.out_info[0];
    const int64_t laxis = st.node->get_int("axis", 1);
    const int64_t rank = int64_t(s[size_t(st.in[0])].rank());
    QF_ASSIGN_OR_RETURN(int64_t la, ops::norm_axis(laxis, rank));
    const int64_t ax = qdetail::physical_axis(la, ov);
    Shape os = s[size_t(st.in[0])].shape();
    int64_t total = 0;
    for (int k : st.in) {
      const Tensor& t = s[size_t(k)];
      if (t.rank() != os.size()) return make_error("inputs have different ranks");
      for (size_t d = 0; d < os.size(); ++d)
        if (int64_t(d) != ax && t.dim(d) != os[d])
          return make_error("input shapes ", shape_str(t.shape()), " and ", shape_str(os), " differ off the axis");
      total += t.dim(size_t(ax));
    }
    os[size_t(ax)] = total;
    y = Tensor(ov.q.dtype, os);
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < ax; ++d) outer *= os[size_t(d)];
    for (size_t d = size_t(ax) + 1; d < os.size(); ++d) inner *= os[d];
    int64_t off = 0;
    for (size_t k = 0; k < st.in.size(); ++k) {
      const Tensor& t = s[size_t(st.in[k])];
      const int64_t len = t.dim(size_t(ax)) * inner;
      const std::vector<uint8_t>* lut = k < st.in_luts.size() ? &st.in_luts[k] : nullptr;
      requant_rows(t, st.in_info[k]->q, y, ov.q, 0, len, off, total * inner, outer, len, lut);
      off += len;
    }
    return Status::Ok();
  }

  Status run_split(const Step& st, const Tensor& x, std::vector<Tensor>& s) const {
    const QValue& iv = *st.in_info[0];
    QF_ASSIGN_OR_RETURN(int64_t la, ops::norm_axis(st.node->get_int("axis", 0), int64_t(iv.rank)));
    const int64_t ax = qdetail::physical_axis(la, iv);
    int64_t sum = 0;
    for (auto v : st.ints) sum += v;
    if (sum != x.dim(size_t(ax)))
      return make_error("split sizes add up to ", sum, " but the axis has ", x.dim(size_t(ax)));
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < ax; ++d) outer *= x.dim(size_t(d));
    for (size_t d = size_t(ax) + 1; d < x.rank(); ++d) inner *= x.dim(d);
    int64_t off = 0;
    const int64_t full = x.dim(size_t(ax)) * inner;
    for (size_t k = 0; k < st.out.size(); ++k) {
      Shape os = x.shape();
      os[size_t(ax)] = st.ints[k];
      Tensor t(x.dtype(), os);
      const int64_t len = st.ints[k] * inner;
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(static_cast<uint8_t*>(t.raw()) + o * len, static_cast<const uint8_t*>(x.raw()) + o * full + off,
                    size_t(len));
      off += len;
      if (st.out[k] >= 0) s[size_t(st.out[k])] = std::move(t);
    }
    return Status::Ok();
  }

  Status run_pool(const Step& st, const Tensor& x, Tensor& y) const {
    const QNode& n = *st.node;
    if (x.rank() != 4) return make_error("input must be NHWC rank 4");
    if (x.dtype() != DType::u8 && x.dtype() != DType::i8) return make_error("input must be u8 or s8");
    const int64_t in_sp[2] = {x.dim(1), x.dim(2)};
    QF_ASSIGN_OR_RETURN(auto w, ops::resolve_window(st.win, in_sp, st.win.kernel));
    const int64_t N = x.dim(0), H = x.dim(1), W = x.dim(2), C = x.dim(3), OH = w.out[1], OW = w.out[2];
    const QParams &pi = st.in_info[0]->q, &po = st.out_info[0]->q;
    y = Tensor(po.dtype, {N, OH, OW, C});
    const bool is_max = n.op == QOp::MaxPool;
    const bool include_pad = n.get_int("count_include_pad", 0) != 0;
    const float ratio = pi.scale / po.scale;
    std::vector<int32_t> acc(static_cast<size_t>(C));
    int32_t* a = acc.data();
    if (is_max && y.dtype() == x.dtype()) {
      // Max of the codes themselves (the output keeps the input's parameters); an empty window gives the zero
      // point, as below.
      qdetail::dispatch_q(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* xp = x.data<T>();
        T* yp = y.data<T>();
        const int64_t nc = C;  // a local copy and restrict pointers: byte stores may alias anything else, and
                               // GCC then re-reads C per byte instead of vectorising the max
        qdetail::for_each_pool_window(w, N, H, W, OH, OW, [&](int64_t o, auto&& taps) {
          T* __restrict py = yp + o * nc;
          bool any = false;
          taps([&](int64_t i) {
            const T* __restrict px = xp + i * nc;
            if (!any) {
              std::memcpy(py, px, size_t(nc) * sizeof(T));
              any = true;
            } else {
              for (int64_t c = 0; c < nc; ++c) py[c] = px[c] > py[c] ? px[c] : py[c];
            }
          });
          if (!any) std::fill(py, py + nc, T(pi.zero_point));
        });
      });
      return Status::Ok();
    }
    qdetail::dispatch_q(x.dtype(), [&](auto ti) {
      using TI = decltype(ti);
      qdetail::dispatch_q(y.dtype(), [&](auto to) {
        using TO = decltype(to);
        const TI* xp = x.data<TI>();
        TO* yp = y.data<TO>();
        const int32_t zp = pi.zero_point;
        qdetail::for_each_pool_window(w, N, H, W, OH, OW, [&](int64_t o, auto&& taps) {
          int64_t cnt = 0;
          std::fill(acc.begin(), acc.end(), is_max ? INT32_MIN : 0);
          const int64_t cnt_pad = taps([&](int64_t i) {
            ++cnt;
            const TI* px = xp + i * C;
            if (is_max) {
              for (int64_t c = 0; c < C; ++c) a[c] = std::max(a[c], int32_t(px[c]));
            } else {
              for (int64_t c = 0; c < C; ++c) a[c] += int32_t(px[c]) - zp;
            }
          });
          TO* py = yp + o * C;
          if (is_max) {
            for (int64_t c = 0; c < C; ++c) py[c] = TO(cnt ? a[c] : pi.zero_point);
          } else {
            const int64_t div = include_pad ? cnt_pad : cnt;
            const float m = div ? ratio / float(div) : 0.0f;
            for (int64_t c = 0; c < C; ++c)
              py[c] = TO(qdetail::clamp_round_fast(float(a[c]) * m, po.zero_point, n.clamp_lo, n.clamp_hi));
          }
        });
      });
    });
    return Status::Ok();
  }

  Status run_gap(const Step& st, const Tensor& x, Tensor& y) const {
    if (x.rank() != 4) return make_error("input must be NHWC rank 4");
    if (x.dtype() != DType::u8 && x.dtype() != DType::i8) return make_error("input must be u8 or s8");
    const int64_t N = x.dim(0), HW = x.dim(1) * x.dim(2), C = x.dim(3);
    const QParams &pi = st.in_info[0]->q, &po = st.out_info[0]->q;
    y = Tensor(po.dtype, {N, 1, 1, C});
    const float m = HW ? (pi.scale / po.scale) / float(HW) : 0.0f;
    std::vector<int32_t> acc(static_cast<size_t>(C));
    int32_t* a = acc.data();
    qdetail::dispatch_q(x.dtype(), [&](auto ti) {
      using TI = decltype(ti);
      qdetail::dispatch_q(y.dtype(), [&](auto to) {
        using TO = decltype(to);
        const TI* xp = x.data<TI>();
        TO* yp = y.data<TO>();
        for (int64_t b = 0; b < N; ++b) {
          std::fill(acc.begin(), acc.end(), 0);
          for (int64_t i = 0; i < HW; ++i) {
            const TI* px = xp + (b * HW + i) * C;
            for (int64_t c = 0; c < C; ++c) a[c] += int32_t(px[c]);
          }
          for (int64_t c = 0; c < C; ++c)
            yp[b * C + c] = TO(qdetail::clamp_round_fast(float(a[c] - int32_t(HW) * pi.zero_point) * m, po.zero_point,
                                                        st.node->clamp_lo, st.node->clamp_hi));
        }
      });
    });
    return Status::Ok();
  }

  Status run_reshape(const Step& st, const Tensor& x, Tensor& y) const {
    const QValue &iv = *st.in_info[0], &ov = *st.out_info[0];
    Tensor l = qdetail::logical(x, iv);
    // shape: -1 once (inferred), 0 copies the input dim (ONNX Reshape without allowzero)
    Shape ns(st.ints.begin(), st.ints.end());
    int64_t known = 1, infer = -1;
    for (size_t d = 0; d < ns.size(); ++d) {
      if (ns[d] == 0 && d < l.rank()) ns[d] = l.dim(d);
      if (ns[d] == -1) {
        if (infer >= 0) return make_error("attribute 'shape' has two -1 entries");
        infer = int64_t(d);
      } else {
        known *= ns[d];
      }
    }
    if (infer >= 0) {
      if (known <= 0 || l.numel() % known) return make_error("cannot reshape ", shape_str(l.shape()), " to ", shape_str(ns));
      ns[size_t(infer)] = l.numel() / known;
    }
    QF_ASSIGN_OR_RETURN(Tensor r, l.reshape(ns));
    if (ov.rank >= 0 && int(r.rank()) != ov.rank) return make_error("output rank ", r.rank(), " expected ", ov.rank);
    y = qdetail::physical(r, ov);
    return Status::Ok();
  }

  Status run_transpose(const Step& st, const Tensor& x, Tensor& y) const {
    const QValue &iv = *st.in_info[0], &ov = *st.out_info[0];
    Tensor l = qdetail::logical(x, iv);
    const size_t r = l.rank();
    if (st.ints.size() != r) return make_error("perm has ", st.ints.size(), " entries for rank ", r);
    Shape os(r);
    std::vector<int64_t> istride(r, 1);
    for (size_t d = r; d-- > 1;) istride[d - 1] = istride[d] * l.dim(d);
    for (size_t d = 0; d < r; ++d) {
      if (st.ints[d] < 0 || st.ints[d] >= int64_t(r)) return make_error("bad perm entry ", st.ints[d]);
      os[d] = l.dim(size_t(st.ints[d]));
    }
    Tensor t(l.dtype(), os);
    if (dtype_size(l.dtype()) != 1) return make_error("Transpose of a ", dtype_name(l.dtype()), " value");
    const uint8_t* src = static_cast<const uint8_t*>(l.raw());
    uint8_t* dst = static_cast<uint8_t*>(t.raw());
    // The innermost output dim is a strided copy; an odometer over the outer dims keeps the source offset
    // (no division per element: this op is ShuffleNet's channel shuffle, on every block).
    const int64_t inner = r ? os[r - 1] : 1;
    const int64_t inner_stride = r ? istride[size_t(st.ints[r - 1])] : 1;
    const int64_t outer = inner > 0 ? t.numel() / inner : 0;
    std::vector<int64_t> idx(r, 0);
    int64_t base = 0;
    for (int64_t o = 0; o < outer; ++o) {
      uint8_t* d = dst + o * inner;
      for (int64_t j = 0; j < inner; ++j) d[j] = src[base + j * inner_stride];
      for (size_t dd = r > 0 ? r - 1 : 0; dd-- > 0;) {
        const int64_t s = istride[size_t(st.ints[dd])];
        if (++idx[dd] < os[dd]) {
          base += s;
          break;
        }
        base -= s * (os[dd] - 1);
        idx[dd] = 0;
      }
    }
    y = qdetail::physical(t, ov);
    return Status::Ok();
  }

  QExecOptions opt_;
  Isa isa_ = Isa::ref;
  std::shared_ptr<QGraph> g_;
  std::vector<Step> steps_;
  std::vector<std::string> slot_names_;
  std::vector<std::pair<int, Tensor>> constants_;
  std::vector<int> input_slots_, output_slots_, last_use_;
  int num_slots_ = 0;
  bool per_image_ = false;              // nodes_per_image()
  std::shared_ptr<SliceProbe> probe_;   // per image shape: the largest layer's bytes (shared by copies)
};

}  // namespace qforge::quant
