// qforge/graph/ops/loss.hpp — NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (float32 scores, int64/int32
// targets), for evaluation graphs.
//
// Contract (ONNX opset 12/13): input [N, C, d1..dk], target [N, d1..dk], optional weight [C]; ignore_index (a
// target equal to it contributes 0 and no weight); reduction "none" ([N, d1..dk]), "sum" or "mean" (sum divided by
// the total weight of the non-ignored targets). A target outside [0, C) that is not ignore_index is an error.
// SoftmaxCrossEntropyLoss = NLL over log_softmax(scores, axis 1); its optional second output is that log_softmax.
// Sums accumulate in double, in index order.
#pragma once
#include <cmath>
#include <string>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace loss_detail {

struct LossAttrs {
  std::string reduction = "mean";
  bool has_ignore = false;
  int64_t ignore = 0;
};

// x: log-probabilities [N, C, inner...] (float), t: targets [N, inner...].
inline Result<Tensor> nll(const LossAttrs& a, const Tensor& x, const Tensor& t, const Tensor* w) {
  if (x.rank() < 2) return make_error("input has shape ", shape_str(x.shape()), ", expected rank >= 2");
  int64_t N = x.dim(0), C = x.dim(1), inner = dims_product(x.shape(), 2, x.rank());
  Shape ts{N};
  ts.insert(ts.end(), x.shape().begin() + 2, x.shape().end());
  if (t.shape() != ts) return make_error("target has shape ", shape_str(t.shape()), ", expected ", shape_str(ts));
  if (w && (w->rank() != 1 || w->dim(0) != C)) return make_error("weight must have shape [", C, "]");
  QF_ASSIGN_OR_RETURN(std::vector<int64_t> tv, tensor_to_i64(t, "target"));
  const float* px = x.data<float>();
  const float* pw = w ? w->data<float>() : nullptr;
  Tensor per(DType::f32, ts);
  float* pl = per.data<float>();
  double sum = 0, wsum = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t e = n * inner + i, c = tv[size_t(e)];
      if (a.has_ignore && c == a.ignore) {
        pl[e] = 0.f;
        continue;
      }
      if (c < 0 || c >= C) return make_error("target ", c, " is outside [0, ", C, ")");
      float wt = pw ? pw[c] : 1.f;
      float l = -px[(n * C + c) * inner + i] * wt;
      pl[e] = l;
      sum += double(l);
      wsum += double(wt);
    }
  if (a.reduction == "none") return per;
  if (a.reduction == "sum") return Tensor::scalar<float>(float(sum));
  return Tensor::scalar<float>(float(sum / wsum));
}

// Checks a loss node's inputs (scores f32, target i64/i32, optional weights f32) and outputs (1..max_outputs) and
// reads its attributes.
inline Result<LossAttrs> read_loss_node(BuildContext& c, size_t max_outputs) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, max_outputs));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::i64, DType::i32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 2, {DType::f32}));
  LossAttrs a;
  a.reduction = c.node.get_string("reduction", "mean");
  if (a.reduction != "none" && a.reduction != "sum" && a.reduction != "mean")
    return make_error("attribute 'reduction' has unknown value '", a.reduction, "'");
  a.has_ignore = c.node.has("ignore_index");
  a.ignore = c.node.get_int("ignore_index", 0);
  return a;
}

inline Result<KernelPtr> build_nll(BuildContext& c) {
  QF_ASSIGN_OR_RETURN(LossAttrs a, read_loss_node(c, 1));
  c.outputs_as(DType::f32);
  return make_kernel([a](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    QF_ASSIGN_OR_RETURN(out[0], nll(a, *in[0], *in[1], in.size() > 2 ? in[2] : nullptr));
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_sce(BuildContext& c) {
  QF_ASSIGN_OR_RETURN(LossAttrs a, read_loss_node(c, 2));
  c.outputs_as(DType::f32);
  return make_kernel([a](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() < 2) return make_error("scores have shape ", shape_str(x.shape()), ", expected rank >= 2");
    int64_t N = x.dim(0), C = x.dim(1), inner = dims_product(x.shape(), 2, x.rank());
    Tensor lp(DType::f32, x.shape());
    const float* px = x.data<float>();
    float* pl = lp.data<float>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) {
        const float* xp = px + n * C * inner + i;
        float* lq = pl + n * C * inner + i;
        float m = -INFINITY;
        for (int64_t c2 = 0; c2 < C; ++c2) m = std::max(m, xp[c2 * inner]);
        double s = 0;
        for (int64_t c2 = 0; c2 < C; ++c2) s += std::exp(double(xp[c2 * inner] - m));
        float ls = float(std::log(s));
        for (int64_t c2 = 0; c2 < C; ++c2) lq[c2 * inner] = xp[c2 * inner] - m - ls;
      }
    QF_ASSIGN_OR_RETURN(out[0], nll(a, lp, *in[1], in.size() > 2 ? in[2] : nullptr));
    if (out.size() > 1) out[1] = lp;
    return Status::Ok();
  });
}

}  // namespace loss_detail

inline void add_loss_ops(OpTable& t) {
  t["NegativeLogLikelihoodLoss"] = {&loss_detail::build_nll};
  t["SoftmaxCrossEntropyLoss"] = {&loss_detail::build_sce};
}

}  // namespace qforge::ops
