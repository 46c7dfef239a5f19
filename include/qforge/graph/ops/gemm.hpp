// qforge/graph/ops/gemm.hpp — fp32 Gemm and MatMul on kernels/f32_gemm.hpp.
//
// Contract: Gemm: Y = alpha * A' * B' + beta * C with A' = transA ? A^T : A (2-D), B' likewise, C optional and
// broadcast unidirectionally to [M, N]; a fused activation (passes.hpp) is applied last. MatMul: numpy matmul
// (1-D operands promoted and the added dim removed, batch dims broadcast). Transposed operands are read through
// strides, never copied. float32 only.
#pragma once
#include <memory>
#include <vector>

#include <kernels/f32_gemm.hpp>

#include "qforge/graph/ops/activation.hpp"
#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace gemm_detail {

struct GemmAttrs {
  float alpha = 1.f, beta = 1.f;
  bool ta = false, tb = false;
  Activation act;
};

// `packed_b`: B packed at build time when it is a constant (weights), else null.
inline Status gemm_forward(const RunContext& rc, const GemmAttrs& p, const Tensor& a, const Tensor& b,
                           const Tensor* cin, Tensor& out, const kernels::F32PackedB* packed_b = nullptr) {
  if (a.rank() != 2) return make_error("input A has shape ", shape_str(a.shape()), ", expected rank 2");
  if (b.rank() != 2) return make_error("input B has shape ", shape_str(b.shape()), ", expected rank 2");
  int64_t M = p.ta ? a.dim(1) : a.dim(0), K = p.ta ? a.dim(0) : a.dim(1);
  int64_t Kb = p.tb ? b.dim(1) : b.dim(0), N = p.tb ? b.dim(0) : b.dim(1);
  if (K != Kb)
    return make_error("A ", shape_str(a.shape()), (p.ta ? " (transposed)" : ""), " and B ", shape_str(b.shape()),
                      (p.tb ? " (transposed)" : ""), " do not multiply");
  QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::f32, {M, N}));
  float* py = y.data<float>();
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  // A(i,k): row-major [M,K] -> (K, 1); transposed [K,M] -> (1, M).
  if (packed_b && packed_b->K == K && packed_b->N == N)
    kernels::f32_gemm_packed(M, pa, p.ta ? 1 : K, p.ta ? M : 1, *packed_b, py, N, false, rc.threads);
  else
    kernels::f32_gemm(M, N, K, pa, p.ta ? 1 : K, p.ta ? M : 1, pb, p.tb ? 1 : N, p.tb ? K : 1, py, N, false,
                      rc.threads);
  const float* pc = nullptr;
  bool use_c = cin && p.beta != 0.f;
  if (use_c) {
    QF_ASSIGN_OR_RETURN(Shape bs, broadcast_shapes({M, N}, cin->shape()));
    if (bs != Shape{M, N})
      return make_error("input C has shape ", shape_str(cin->shape()), ", not broadcastable to [", M, ",", N, "]");
    pc = cin->data<float>();
  }
  if (p.alpha == 1.f && !use_c && p.act.kind == Activation::Kind::None) {
    out = std::move(y);
    return Status::Ok();
  }
  // C broadcast as a [M, N] view: strides (sm, sn).
  int64_t sm = 0, sn = 0;
  if (use_c) {
    const Shape& cs = cin->shape();
    int64_t cm = cs.size() == 2 ? cs[0] : 1, cn = cs.empty() ? 1 : cs.back();
    sn = cn == 1 ? 0 : 1;
    sm = cm == 1 ? 0 : cn;
  }
  float alpha = p.alpha, beta = p.beta;
  parallel_for(rc, M, 16, [&](int64_t b0, int64_t e0) {
    for (int64_t i = b0; i < e0; ++i) {
      float* row = py + i * N;
      if (alpha != 1.f)
        for (int64_t j = 0; j < N; ++j) row[j] *= alpha;
      if (use_c)
        for (int64_t j = 0; j < N; ++j) row[j] += beta * pc[i * sm + j * sn];
      p.act.apply(row, N);
    }
  });
  out = std::move(y);
  return Status::Ok();
}

inline Result<KernelPtr> build_gemm(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  for (size_t k = 0; k < 3; ++k) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::f32}));
  GemmAttrs p;
  p.alpha = c.node.get_float("alpha", 1.f);
  p.beta = c.node.get_float("beta", 1.f);
  p.ta = c.node.get_int("transA", 0) != 0;
  p.tb = c.node.get_int("transB", 0) != 0;
  QF_ASSIGN_OR_RETURN(p.act, Activation::from_node(c.node));
  c.outputs_as(DType::f32);
  // Constant B (a Linear layer's weights, usually stored N x K with transB = 1): packed once here instead of at
  // every run, where a transposed B costs one strided read per weight.
  std::shared_ptr<const kernels::F32PackedB> packed;
  if (const Tensor* b = c.constant(1); b && b->rank() == 2 && b->numel() > 0) {
    int64_t K = p.tb ? b->dim(1) : b->dim(0), N = p.tb ? b->dim(0) : b->dim(1);
    packed = std::make_shared<const kernels::F32PackedB>(
        kernels::f32_pack_b(K, N, b->data<float>(), p.tb ? 1 : N, p.tb ? K : 1));
  }
  return make_kernel([p, packed](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    return gemm_forward(rc, p, *in[0], *in[1], in.size() > 2 ? in[2] : nullptr, out[0], packed.get());
  });
}

inline Status matmul_forward(const RunContext& rc, const Tensor& a0, const Tensor& b0, Tensor& out) {
  QF_ASSIGN_OR_RETURN(MatMulShape m, MatMulShape::make(a0.shape(), b0.shape()));
  const int64_t M = m.M, K = m.K, N = m.N;
  QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::f32, m.out));
  const float* pa = a0.data<float>();
  const float* pb = b0.data<float>();
  float* py = y.data<float>();
  if (m.nb == 0 || M == 0 || N == 0) {
    out = std::move(y);
    return Status::Ok();
  }
  if (dims_product(m.bbatch, 0, m.bbatch.size()) == 1 && dims_product(m.abatch, 0, m.abatch.size()) == m.nb) {
    // B shared by every batch and A not broadcast: one GEMM with the batches stacked along M.
    kernels::f32_gemm(m.nb * M, N, K, pa, K, 1, pb, N, 1, py, N, false, rc.threads);
    out = std::move(y);
    return Status::Ok();
  }
  for (int64_t t = 0; t < m.nb; ++t) {  // general case: per batch index, with broadcast offsets
    const auto [ao, bo] = m.offsets(t);
    kernels::f32_gemm(M, N, K, pa + ao * M * K, K, 1, pb + bo * K * N, N, 1, py + t * M * N, N, false, rc.threads);
  }
  out = std::move(y);
  return Status::Ok();
}

inline Result<KernelPtr> build_matmul(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::f32}));
  c.outputs_as(DType::f32);
  return make_kernel([](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    return matmul_forward(rc, *in[0], *in[1], out[0]);
  });
}

}  // namespace gemm_detail

inline void add_gemm_ops(OpTable& t) {
  t["Gemm"] = {&gemm_detail::build_gemm};
  t["MatMul"] = {&gemm_detail::build_matmul};
}

}  // namespace qforge::ops
