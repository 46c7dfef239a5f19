// qforge/graph/ops/rnn.hpp — RNN, GRU and LSTM (ONNX opset 7..14) on float32, plain loops.
//
// Contract (ONNX): X [seq, batch, in] (layout 0) or [batch, seq, in] (layout 1); W [dirs, G*H, in],
// R [dirs, G*H, H], optional B [dirs, 2*G*H], sequence_lens [batch], initial_h [dirs, batch, H] (layout 1:
// [batch, dirs, H]), LSTM initial_c and peepholes P [dirs, 3*H]. Gate orders: GRU z,r,h; LSTM i,o,f,c.
// direction forward / reverse / bidirectional; activations Sigmoid, Tanh, Relu, HardSigmoid, LeakyRelu,
// ThresholdedRelu, ScaledTanh, Affine, Elu, Softsign, Softplus (with activation_alpha/beta); clip; GRU
// linear_before_reset; LSTM input_forget. Steps at or past a batch entry's sequence length leave its state
// unchanged and write zeros to Y. Outputs Y, Y_h (and LSTM Y_c), each optional.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace rnn_detail {

struct Act {
  std::string name;
  float alpha = 0.f, beta = 0.f;
  float operator()(float x) const {
    if (name == "Sigmoid") return 1.f / (1.f + std::exp(-x));
    if (name == "Tanh") return std::tanh(x);
    if (name == "Relu") return x > 0.f ? x : 0.f;
    if (name == "HardSigmoid") return std::max(0.f, std::min(1.f, alpha * x + beta));
    if (name == "LeakyRelu") return x < 0.f ? alpha * x : x;
    if (name == "ThresholdedRelu") return x > alpha ? x : 0.f;
    if (name == "ScaledTanh") return alpha * std::tanh(beta * x);
    if (name == "Affine") return alpha * x + beta;
    if (name == "Elu") return x < 0.f ? alpha * (std::exp(x) - 1.f) : x;
    if (name == "Softsign") return x / (1.f + std::fabs(x));
    return std::log1p(std::exp(x));  // Softplus
  }
};

inline bool known_act(const std::string& n) {
  for (const char* k : {"Sigmoid", "Tanh", "Relu", "HardSigmoid", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "Affine",
                        "Elu", "Softsign", "Softplus"})
    if (n == k) return true;
  return false;
}

enum class Cell { Rnn, Gru, Lstm };

struct RnnAttrs {
  Cell cell = Cell::Rnn;
  int64_t hidden = 0;
  int dirs = 1;
  bool reverse = false;  // single reverse direction
  int layout = 0;
  float clip = 0.f;      // 0 = none
  bool linear_before_reset = false, input_forget = false;
  std::vector<Act> acts;  // per direction: 1 (RNN), 2 (GRU), 3 (LSTM)
};

inline int gates(Cell c) { return c == Cell::Rnn ? 1 : c == Cell::Gru ? 3 : 4; }
inline int nacts(Cell c) { return c == Cell::Rnn ? 1 : c == Cell::Gru ? 2 : 3; }

template <Cell kCell>
Result<KernelPtr> build_rnn(BuildContext& c) {
  size_t max_in = kCell == Cell::Lstm ? 8 : 6;
  QF_RETURN_IF_ERROR(expect_inputs(c, 3, max_in));
  QF_RETURN_IF_ERROR(expect_outputs(c, 0, kCell == Cell::Lstm ? 3 : 2));
  for (size_t k = 0; k < max_in; ++k)
    if (k != 4) QF_RETURN_IF_ERROR(expect_dtype(c, k, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 4, {DType::i32, DType::i64}));
  RnnAttrs a;
  a.cell = kCell;
  a.hidden = c.node.get_int("hidden_size", 0);
  if (a.hidden < 1) return make_error("attribute 'hidden_size' is required");
  std::string dir = c.node.get_string("direction", "forward");
  if (dir == "bidirectional") a.dirs = 2;
  else if (dir == "reverse") a.reverse = true;
  else if (dir != "forward") return make_error("direction '", dir, "' is not supported");
  a.layout = int(c.node.get_int("layout", 0));
  a.clip = c.node.get_float("clip", 0.f);
  a.linear_before_reset = c.node.get_int("linear_before_reset", 0) != 0;
  a.input_forget = c.node.get_int("input_forget", 0) != 0;
  std::vector<std::string> names = c.node.attrs.count("activations") ? c.node.attrs.at("activations").strings
                                                                     : std::vector<std::string>{};
  std::vector<float> al = c.node.get_floats("activation_alpha"), be = c.node.get_floats("activation_beta");
  int na = nacts(kCell);
  if (names.empty()) {
    for (int d = 0; d < a.dirs; ++d) {
      if (kCell == Cell::Rnn) names.push_back("Tanh");
      else if (kCell == Cell::Gru) names.insert(names.end(), {"Sigmoid", "Tanh"});
      else names.insert(names.end(), {"Sigmoid", "Tanh", "Tanh"});
    }
  }
  if (int(names.size()) != na * a.dirs) return make_error("attribute 'activations' needs ", na * a.dirs, " entries");
  for (size_t i = 0; i < names.size(); ++i) {
    if (!known_act(names[i])) return make_error("activation '", names[i], "' is not supported");
    Act act{names[i], i < al.size() ? al[i] : 0.f, i < be.size() ? be[i] : 0.f};
    if (names[i] == "LeakyRelu" && i >= al.size()) act.alpha = 0.01f;
    if (names[i] == "HardSigmoid" && i >= al.size()) { act.alpha = 0.2f; act.beta = 0.5f; }
    if ((names[i] == "ThresholdedRelu" || names[i] == "Elu") && i >= al.size()) act.alpha = 1.f;
    a.acts.push_back(act);
  }
  c.outputs_as(DType::f32);
  return make_kernel([a](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& X = *in[0];
    const Tensor& W = *in[1];
    const Tensor& R = *in[2];
    auto opt = [&](size_t k) -> const Tensor* { return k < in.size() ? in[k] : nullptr; };
    if (X.rank() != 3) return make_error("X must be 3-D, got ", shape_str(X.shape()));
    int64_t S = a.layout ? X.dim(1) : X.dim(0), Bn = a.layout ? X.dim(0) : X.dim(1), I = X.dim(2), H = a.hidden;
    int G = gates(a.cell), D = a.dirs;
    if (W.shape() != Shape{D, G * H, I}) return make_error("W has shape ", shape_str(W.shape()), ", expected [", D, ",", G * H, ",", I, "]");
    if (R.shape() != Shape{D, G * H, H}) return make_error("R has shape ", shape_str(R.shape()), ", expected [", D, ",", G * H, ",", H, "]");
    const Tensor* Bt = opt(3);
    if (Bt && Bt->shape() != Shape{D, 2 * G * H}) return make_error("B must be [", D, ",", 2 * G * H, "]");
    std::vector<int64_t> lens(static_cast<size_t>(Bn), S);
    if (const Tensor* sl = opt(4)) {
      QF_ASSIGN_OR_RETURN(lens, tensor_to_i64(*sl, "sequence_lens"));
      if (int64_t(lens.size()) != Bn) return make_error("sequence_lens must have ", Bn, " entries");
      for (auto v : lens) if (v < 0 || v > S) return make_error("sequence length ", v, " is outside [0, ", S, "]");
    }
    Shape hs = a.layout ? Shape{Bn, D, H} : Shape{D, Bn, H};
    const Tensor* h0 = opt(5);
    const Tensor* c0 = a.cell == Cell::Lstm ? opt(6) : nullptr;
    const Tensor* P = a.cell == Cell::Lstm ? opt(7) : nullptr;
    if (h0 && h0->shape() != hs) return make_error("initial_h must be ", shape_str(hs));
    if (c0 && c0->shape() != hs) return make_error("initial_c must be ", shape_str(hs));
    if (P && P->shape() != Shape{D, 3 * H}) return make_error("P must be [", D, ",", 3 * H, "]");
    Shape ys = a.layout ? Shape{Bn, S, D, H} : Shape{S, D, Bn, H};
    Tensor Y(DType::f32, ys), Yh(DType::f32, hs), Yc(DType::f32, hs);
    auto xat = [&](int64_t t, int64_t b) { return X.data<float>() + (a.layout ? (b * S + t) : (t * Bn + b)) * I; };
    auto hidx = [&](int d, int64_t b) { return a.layout ? (b * D + d) * H : (int64_t(d) * Bn + b) * H; };
    auto yidx = [&](int64_t t, int d, int64_t b) { return a.layout ? ((b * S + t) * D + d) * H : ((t * D + d) * Bn + b) * H; };
    auto clipv = [&](float v) { return a.clip > 0.f ? std::max(-a.clip, std::min(a.clip, v)) : v; };
    std::vector<float> gx(static_cast<size_t>(G * H)), gh(static_cast<size_t>(G * H)), hprev(static_cast<size_t>(H)), cprev(static_cast<size_t>(H));
    for (int d = 0; d < D; ++d) {
      bool rev = D == 2 ? d == 1 : a.reverse;
      const float* w = W.data<float>() + int64_t(d) * G * H * I;
      const float* r = R.data<float>() + int64_t(d) * G * H * H;
      const float* wb = Bt ? Bt->data<float>() + int64_t(d) * 2 * G * H : nullptr;
      const float* rb = wb ? wb + G * H : nullptr;
      const float* pp = P ? P->data<float>() + int64_t(d) * 3 * H : nullptr;
      const Act* act = a.acts.data() + size_t(d) * size_t(nacts(a.cell));
      for (int64_t b = 0; b < Bn; ++b) {
        for (int64_t j = 0; j < H; ++j) {
          hprev[size_t(j)] = h0 ? h0->data<float>()[hidx(d, b) + j] : 0.f;
          cprev[size_t(j)] = c0 ? c0->data<float>()[hidx(d, b) + j] : 0.f;
        }
        int64_t L = lens[size_t(b)];
        for (int64_t s = 0; s < L; ++s) {
          int64_t t = rev ? L - 1 - s : s;
          const float* xt = xat(t, b);
          for (int64_t k = 0; k < G * H; ++k) {
            float v = wb ? wb[k] : 0.f, u = rb ? rb[k] : 0.f;
            for (int64_t i = 0; i < I; ++i) v += w[k * I + i] * xt[i];
            for (int64_t i = 0; i < H; ++i) u += r[k * H + i] * hprev[size_t(i)];
            gx[size_t(k)] = v;
            gh[size_t(k)] = u;
          }
          float* yo = Y.data<float>() + yidx(t, d, b);
          if (a.cell == Cell::Rnn) {
            for (int64_t j = 0; j < H; ++j) hprev[size_t(j)] = act[0](clipv(gx[size_t(j)] + gh[size_t(j)]));
          } else if (a.cell == Cell::Gru) {
            std::vector<float> z(static_cast<size_t>(H)), rr(static_cast<size_t>(H)), hn(static_cast<size_t>(H));
            for (int64_t j = 0; j < H; ++j) {
              z[size_t(j)] = act[0](clipv(gx[size_t(j)] + gh[size_t(j)]));
              rr[size_t(j)] = act[0](clipv(gx[size_t(H + j)] + gh[size_t(H + j)]));
            }
            for (int64_t j = 0; j < H; ++j) {
              float u;
              if (a.linear_before_reset) {
                u = rr[size_t(j)] * gh[size_t(2 * H + j)];
              } else {
                u = rb ? rb[2 * H + j] : 0.f;
                for (int64_t i = 0; i < H; ++i) u += r[(2 * H + j) * H + i] * (rr[size_t(i)] * hprev[size_t(i)]);
              }
              hn[size_t(j)] = act[1](clipv(gx[size_t(2 * H + j)] + u));
            }
            for (int64_t j = 0; j < H; ++j)
              hprev[size_t(j)] = (1.f - z[size_t(j)]) * hn[size_t(j)] + z[size_t(j)] * hprev[size_t(j)];
          } else {
            for (int64_t j = 0; j < H; ++j) {
              float pi = pp ? pp[j] : 0.f, po = pp ? pp[H + j] : 0.f, pf = pp ? pp[2 * H + j] : 0.f;
              float ig = act[0](clipv(gx[size_t(j)] + gh[size_t(j)] + pi * cprev[size_t(j)]));
              float fg = act[0](clipv(gx[size_t(2 * H + j)] + gh[size_t(2 * H + j)] + pf * cprev[size_t(j)]));
              if (a.input_forget) fg = 1.f - ig;
              float cc = act[1](clipv(gx[size_t(3 * H + j)] + gh[size_t(3 * H + j)]));
              float cn = fg * cprev[size_t(j)] + ig * cc;
              float og = act[0](clipv(gx[size_t(H + j)] + gh[size_t(H + j)] + po * cn));
              cprev[size_t(j)] = cn;
              gx[size_t(j)] = og * act[2](cn);  // new h, written back below
            }
            for (int64_t j = 0; j < H; ++j) hprev[size_t(j)] = gx[size_t(j)];
          }
          for (int64_t j = 0; j < H; ++j) yo[j] = hprev[size_t(j)];
        }
        for (int64_t j = 0; j < H; ++j) {
          Yh.data<float>()[hidx(d, b) + j] = hprev[size_t(j)];
          Yc.data<float>()[hidx(d, b) + j] = cprev[size_t(j)];
        }
      }
    }
    if (out.size() > 0) out[0] = std::move(Y);
    if (out.size() > 1) out[1] = std::move(Yh);
    if (out.size() > 2) out[2] = std::move(Yc);
    return Status::Ok();
  });
}

}  // namespace rnn_detail

inline void add_rnn_ops(OpTable& t) {
  t["RNN"] = {&rnn_detail::build_rnn<rnn_detail::Cell::Rnn>};
  t["GRU"] = {&rnn_detail::build_rnn<rnn_detail::Cell::Gru>};
  t["LSTM"] = {&rnn_detail::build_rnn<rnn_detail::Cell::Lstm>};
}

}  // namespace qforge::ops
