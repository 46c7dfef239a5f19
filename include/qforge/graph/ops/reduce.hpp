// qforge/graph/ops/reduce.hpp — Reduce* ops and ArgMax / ArgMin.
//
// Contract (ONNX): ReduceMean/Sum/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare over `axes` (attribute; for
// ReduceSum from opset 13 an optional input, with noop_with_empty_axes) and keepdims (default 1); no axes = all
// axes. float32 sums accumulate in double, in a fixed order (deterministic). Max/Min/Sum/Prod also on int32/int64/
// int8/uint8. ArgMax/ArgMin: int64 output, keepdims, select_last_index. Reducing an empty axis gives the op's
// identity (0 for sums, -inf/+inf for max/min).
#pragma once
#include <cmath>
#include <limits>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace reduce_detail {

enum class Red { Mean, Sum, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

struct ReducePlan {
  Shape out_shape;                 // with or without kept dims
  std::vector<int64_t> out_offsets;  // input base offset per output element
  std::vector<int64_t> red_offsets;  // offsets of the reduced elements relative to a base
};

inline Result<ReducePlan> plan_reduce(const Shape& s, std::vector<int64_t> axes, bool keepdims) {
  int64_t r = int64_t(s.size());
  std::vector<bool> red(size_t(r), axes.empty());
  for (auto a : axes) {
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(a, r));
    red[size_t(ax)] = true;
  }
  std::vector<int64_t> st(static_cast<size_t>(r));
  int64_t acc = 1;
  for (size_t i = size_t(r); i-- > 0;) { st[i] = acc; acc *= s[i]; }
  ReducePlan p;
  Shape kept, kept_st, rdims, rst;
  for (int64_t i = 0; i < r; ++i) {
    if (red[size_t(i)]) {
      if (keepdims) p.out_shape.push_back(1);
      rdims.push_back(s[size_t(i)]);
      rst.push_back(st[size_t(i)]);
    } else {
      p.out_shape.push_back(s[size_t(i)]);
      kept.push_back(s[size_t(i)]);
      kept_st.push_back(st[size_t(i)]);
    }
  }
  auto enumerate = [](const Shape& dims, const Shape& strides) {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    std::vector<int64_t> offs(static_cast<size_t>(n));
    for (int64_t e = 0; e < n; ++e) {
      int64_t rem = e, off = 0;
      for (size_t i = dims.size(); i-- > 0;) {
        off += (rem % dims[i]) * strides[i];
        rem /= dims[i];
      }
      offs[size_t(e)] = off;
    }
    return offs;
  };
  p.out_offsets = enumerate(kept, kept_st);
  p.red_offsets = enumerate(rdims, rst);
  return p;
}

template <Red kR, class T>
T reduce_one(const T* base, const std::vector<int64_t>& offs) {
  if constexpr (kR == Red::Max || kR == Red::Min) {
    T m = kR == Red::Max ? (std::is_floating_point<T>::value ? -std::numeric_limits<T>::infinity()
                                                               : std::numeric_limits<T>::lowest())
                         : (std::is_floating_point<T>::value ? std::numeric_limits<T>::infinity()
                                                               : std::numeric_limits<T>::max());
    for (auto o : offs) {
      T v = base[o];
      if (kR == Red::Max ? v > m : v < m) m = v;
    }
    return m;
  } else if constexpr (std::is_floating_point<T>::value) {
    double s = kR == Red::Prod ? 1.0 : 0.0;
    double mx = -INFINITY;
    if (kR == Red::LogSumExp)
      for (auto o : offs) mx = std::max(mx, double(base[o]));
    for (auto o : offs) {
      double v = base[o];
      switch (kR) {
        case Red::Prod: s *= v; break;
        case Red::L1: s += std::fabs(v); break;
        case Red::L2: case Red::SumSquare: s += v * v; break;
        case Red::LogSumExp: s += std::exp(v - mx); break;
        default: s += v; break;
      }
    }
    switch (kR) {
      case Red::Mean: return offs.empty() ? T(NAN) : T(s / double(offs.size()));
      case Red::L2: return T(std::sqrt(s));
      case Red::LogSum: return T(std::log(s));
      case Red::LogSumExp: return offs.empty() ? T(-INFINITY) : T(mx + std::log(s));
      default: return T(s);
    }
  } else {
    using W = std::conditional_t<std::is_signed<T>::value, int64_t, uint64_t>;
    W s = kR == Red::Prod ? 1 : 0;
    for (auto o : offs) {
      W v = W(base[o]);
      switch (kR) {
        case Red::Prod: s *= v; break;
        case Red::L1: s += v < 0 ? W(0) - v : v; break;
        case Red::L2: case Red::SumSquare: s += v * v; break;
        default: s += v; break;
      }
    }
    if (kR == Red::Mean) return offs.empty() ? T(0) : T(s / W(offs.size()));
    if (kR == Red::L2) return T(std::sqrt(double(s)));
    return T(s);
  }
}

template <Red kR>
Result<KernelPtr> build_reduce(BuildContext& c) {
  bool axes_input = kR == Red::Sum && c.opset >= 13;
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, axes_input ? 2 : 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  if (kR == Red::Max || kR == Red::Min || kR == Red::Sum || kR == Red::Prod)
    QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  else
    QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64}));
  if (axes_input) QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::i64}));
  std::vector<int64_t> attr_axes = c.node.get_ints("axes");
  bool keepdims = c.node.get_int("keepdims", 1) != 0;
  bool noop = c.node.get_int("noop_with_empty_axes", 0) != 0;
  DType t = c.dtype(0);
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    if constexpr (std::is_same<T, bool>::value) {
      return make_error("bool input");
    } else {
      return make_kernel([=](const RunContext& rc, const std::vector<const Tensor*>& in,
                             std::vector<Tensor>& out) -> Status {
        const Tensor& x = *in[0];
        std::vector<int64_t> axes = attr_axes;
        if (axes_input && in.size() > 1 && in[1]) {
          QF_ASSIGN_OR_RETURN(axes, tensor_to_i64(*in[1], "axes"));
          if (axes.empty() && noop) {
            out[0] = x;
            return Status::Ok();
          }
        } else if (axes_input && noop) {
          out[0] = x;
          return Status::Ok();
        }
        QF_ASSIGN_OR_RETURN(ReducePlan p, plan_reduce(x.shape(), axes, keepdims));
        Tensor y(x.dtype(), p.out_shape);
        const T* px = x.data<T>();
        T* py = y.data<T>();
        int64_t n = int64_t(p.out_offsets.size());
        parallel_for(rc, n, grain_for(int64_t(p.red_offsets.size())),
                     [&](int64_t b, int64_t e) {
                       for (int64_t i = b; i < e; ++i) py[i] = reduce_one<kR, T>(px + p.out_offsets[size_t(i)], p.red_offsets);
                     });
        out[0] = std::move(y);
        return Status::Ok();
      });
    }
  });
}

template <bool kMax>
Result<KernelPtr> build_arg(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  int64_t axis = c.node.get_int("axis", 0);
  bool keepdims = c.node.get_int("keepdims", 1) != 0, last = c.node.get_int("select_last_index", 0) != 0;
  DType t = c.dtype(0);
  c.outputs_as(DType::i64);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([=](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
      const Tensor& x = *in[0];
      QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, int64_t(x.rank())));
      int64_t outer = dims_product(x.shape(), 0, size_t(ax)), n = x.dim(size_t(ax)),
              inner = dims_product(x.shape(), size_t(ax) + 1, x.rank());
      if (n == 0) return make_error("cannot take the arg-extremum of an empty axis");
      Shape os = x.shape();
      if (keepdims) os[size_t(ax)] = 1; else os.erase(os.begin() + ax);
      Tensor y(DType::i64, os);
      const T* px = x.data<T>();
      int64_t* py = y.data<int64_t>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const T* p = px + o * n * inner + i;
          int64_t best = 0;
          for (int64_t j = 1; j < n; ++j) {
            T v = p[j * inner], b = p[best * inner];
            bool better = kMax ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
            if (better) best = j;
          }
          py[o * inner + i] = best;
        }
      out[0] = std::move(y);
      return Status::Ok();
    });
  });
}

}  // namespace reduce_detail

inline void add_reduce_ops(OpTable& t) {
  using namespace reduce_detail;
  t["ReduceMean"] = {&build_reduce<Red::Mean>};
  t["ReduceSum"] = {&build_reduce<Red::Sum>, 1u << 1};
  t["ReduceMax"] = {&build_reduce<Red::Max>};
  t["ReduceMin"] = {&build_reduce<Red::Min>};
  t["ReduceProd"] = {&build_reduce<Red::Prod>};
  t["ReduceL1"] = {&build_reduce<Red::L1>};
  t["ReduceL2"] = {&build_reduce<Red::L2>};
  t["ReduceLogSum"] = {&build_reduce<Red::LogSum>};
  t["ReduceLogSumExp"] = {&build_reduce<Red::LogSumExp>};
  t["ReduceSumSquare"] = {&build_reduce<Red::SumSquare>};
  t["ArgMax"] = {&build_arg<true>};
  t["ArgMin"] = {&build_arg<false>};
}

}  // namespace qforge::ops
