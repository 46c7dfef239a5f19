// bm_conv — int8 NHWC convolutions (batch 1, u8 in → u8 out, requantized with a per-channel scale) on every ISA
// this CPU has against oneDNN's int8 convolution (nhwc u8 src, s8 weights in oneDNN's preferred layout, u8 dst
// with an output scale), in one binary. Weights are packed / reordered outside the timed loop.
// Shapes: ResNet 3×3 stride-1 convs (64ch@56² … 512ch@7²), 1×1 convs, depthwise 3×3 (stride 1 and 2), and the
// two smallest 3×3 convs without padding (_p0).
// Counter GOPS = 2·MACs / s. Names: <kind>/<engine>/<shape>[/threads:2]; run once per oneDNN cap
// (DNNL_MAX_CPU_ISA) as scripts/bench_kernels.sh does.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_common.hpp"
#include "qforge/core/cpu.hpp"
#include <kernels/qconv.hpp>

#if defined(QFORGE_HAVE_DNNL)
#include <dnnl.hpp>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace qforge;
using namespace qforge::kernels;
using qforge::bench::random_bytes;

namespace {

struct ConvShape {
  const char* kind;  // conv3x3 | conv1x1 | dw3x3
  int C, HW, OC, k, stride;
  int pad = -1;  // -1: k/2 ("same"); 0: no padding, named _p0
};
const ConvShape kShapes[] = {
    {"conv3x3", 64, 56, 64, 3, 1},    {"conv3x3", 128, 28, 128, 3, 1}, {"conv3x3", 256, 14, 256, 3, 1},
    {"conv3x3", 512, 7, 512, 3, 1},   {"conv1x1", 256, 56, 64, 1, 1},  {"conv1x1", 64, 56, 256, 1, 1},
    {"conv1x1", 1024, 14, 256, 1, 1}, {"dw3x3", 32, 112, 32, 3, 1},    {"dw3x3", 144, 56, 144, 3, 2},
    {"dw3x3", 384, 14, 384, 3, 1},    {"dw3x3", 960, 7, 960, 3, 1},
    // The two small 3×3 layers again without padding (input 16² / 9² → the same 14² / 7² outputs): every tap is
    // real work, so GOPS compare engines that skip padded taps (oneDNN) and engines that compute them (qforge,
    // whose padded taps read zero-point bytes) on equal terms. The counter counts all taps in both forms.
    {"conv3x3", 256, 16, 256, 3, 1, 0}, {"conv3x3", 512, 9, 512, 3, 1, 0},
};

ConvParams params(const ConvShape& s) {
  ConvParams p;
  p.in_h = p.in_w = s.HW;
  p.in_c = s.C;
  p.out_c = s.OC;
  p.kernel_h = p.kernel_w = s.k;
  p.stride_h = p.stride_w = s.stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = s.pad < 0 ? s.k / 2 : s.pad;
  p.groups = std::string(s.kind) == "dw3x3" ? s.C : 1;
  return p;
}

std::string shape_name(const ConvShape& s) {
  return std::to_string(s.C) + "c" + std::to_string(s.HW) + "x" + std::to_string(s.HW) + "_" +
         std::to_string(s.OC) + "oc_s" + std::to_string(s.stride) + (s.pad == 0 ? "_p0" : "");
}

double macs(const ConvParams& p) {
  return double(p.out_h()) * p.out_w() * p.out_c * (p.in_c / p.groups) * p.kernel_h * p.kernel_w;
}

void BM_qforge(benchmark::State& st, Isa isa, ConvShape s, int threads) {
  const ConvParams p = params(s);
  const auto x = random_bytes<uint8_t>(size_t(p.in_h) * p.in_w * p.in_c, 1);
  const auto w = random_bytes<int8_t>(size_t(p.out_c) * (p.in_c / p.groups) * p.kernel_h * p.kernel_w, 2);
  std::vector<float> scale(size_t(p.out_c), 1.0f / 4096.0f);
  std::vector<int32_t> bias(size_t(p.out_c), 100);
  Epilogue ep;
  ep.scale = scale.data();
  ep.bias = bias.data();
  ep.out_zp = 128;
  std::vector<uint8_t> y(size_t(p.out_h()) * p.out_w() * p.out_c);
  const PackedConv pc = pack_conv_weights(p, w.data(), isa);
  const qforge::bench::LayerThreads layer_threads(threads > 1);
  for (auto _ : st) {
    qconv2d_nhwc<uint8_t, uint8_t>(p, x.data(), 128, pc, ep, y.data(), threads);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.counters["GOPS"] = benchmark::Counter(2.0 * macs(p) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(isa_name(isa));
}

#if defined(QFORGE_HAVE_DNNL)
void BM_dnnl(benchmark::State& st, ConvShape s, int threads) {
#if defined(_OPENMP)
  omp_set_num_threads(threads);
#endif
  using namespace dnnl;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  const ConvParams p = params(s);
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  const int G = p.groups;
  const memory::dims src_d = {1, p.in_c, p.in_h, p.in_w}, dst_d = {1, p.out_c, p.out_h(), p.out_w()};
  const memory::dims w_d = G > 1 ? memory::dims{G, p.out_c / G, p.in_c / G, p.kernel_h, p.kernel_w}
                                 : memory::dims{p.out_c, p.in_c, p.kernel_h, p.kernel_w};
  const memory::dims strides = {p.stride_h, p.stride_w}, dil = {0, 0}, pl = {p.pad_top, p.pad_left},
                     pr = {p.pad_bottom, p.pad_right};
  memory::desc src_md(src_d, dt::u8, tag::nhwc), dst_md(dst_d, dt::u8, tag::nhwc), w_any(w_d, dt::s8, tag::any);
  memory::desc w_user(w_d, dt::s8, G > 1 ? tag::goihw : tag::oihw);
  primitive_attr attr;
  attr.set_output_scales(2, std::vector<float>(size_t(p.out_c), 1.0f / 4096.0f));  // per output channel
  convolution_forward::primitive_desc pd;
  try {
    pd = convolution_forward::primitive_desc(
        convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src_md, w_any, dst_md,
                                  strides, dil, pl, pr),
        attr, eng);
  } catch (const dnnl::error& e) {
    st.SkipWithError(e.what());
    return;
  }
  auto xb = random_bytes<uint8_t>(size_t(p.in_h) * p.in_w * p.in_c, 1);
  auto wb = random_bytes<int8_t>(size_t(p.out_c) * (p.in_c / G) * p.kernel_h * p.kernel_w, 2);
  memory src(src_md, eng, xb.data()), wu(w_user, eng, wb.data());
  memory wp(pd.weights_desc(), eng), dst(pd.dst_desc(), eng);
  reorder(wu, wp).execute(strm, wu, wp);
  convolution_forward prim(pd);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wp}, {DNNL_ARG_DST, dst}};
  for (auto _ : st) {
    prim.execute(strm, args);
    strm.wait();
  }
  st.counters["GOPS"] = benchmark::Counter(2.0 * macs(p) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(std::string(qforge::bench::dnnl_isa_name()) + " " + pd.impl_info_str());
}
#endif

void register_all() {
  qforge::bench::for_each_thread_count([](int threads, const std::string& suffix, const auto& fin) {
    for (const ConvShape& s : kShapes) {
      const std::string kind = s.kind;
      for (Isa isa : available_isas()) {
        if (isa == Isa::ref) continue;
        fin(benchmark::RegisterBenchmark((kind + "/qforge_" + isa_name(isa) + "/" + shape_name(s) + suffix).c_str(),
                                         BM_qforge, isa, s, threads));
      }
#if defined(QFORGE_HAVE_DNNL)
      fin(benchmark::RegisterBenchmark((kind + "/dnnl/" + shape_name(s) + suffix).c_str(), BM_dnnl, s, threads));
#endif
    }
  });
}

}  // namespace

int main(int argc, char** argv) { return qforge::bench::run_benchmarks(argc, argv, register_all); }
