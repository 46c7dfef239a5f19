// qforge/graph/ops/elementwise.hpp — unary and (numpy-)broadcast binary/variadic elementwise ops.
//
// Contract (ONNX semantics): unary activations on float32 (Relu, Sigmoid, Tanh, LeakyRelu, HardSigmoid,
// HardSwish, Clip, Elu, Selu, ... and math functions); Abs/Neg/Sign/Relu also on integers; Clip on float and
// integers (min/max as attributes before opset 11, optional inputs from 11). Add/Sub/Mul/Div/Mod on float32 and
// integer dtypes (both inputs the same dtype; integer division by zero gives 0 instead of trapping), Pow (float or
// integer base, float or integer exponent), PRelu, comparisons (-> bool), And/Or/Xor/Not on bool, Max/Min/Sum/
// Mean (variadic, broadcast), Where. Opset < 7 Add/Sub/Mul/Div/Pow honour broadcast=1 with `axis` (B aligned at
// axis of A). Integer overflow wraps (computed in unsigned arithmetic).
#pragma once
#include <cmath>
#include <limits>
#include <type_traits>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

namespace ew {

template <class T>
constexpr bool is_int = std::is_integral<T>::value && !std::is_same<T, bool>::value;

// ---- unary --------------------------------------------------------------------------------------------------------

// Builds a kernel applying f (float -> float) to a float32 input.
template <class F>
KernelPtr float_unary_kernel(F f) {
  return make_kernel([f](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    const Tensor& x = *in[0];
    Tensor y(DType::f32, x.shape());
    const float* px = x.data<float>();
    float* py = y.data<float>();
    parallel_for(rc, x.numel(), 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) py[i] = f(px[i]);
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

template <class T, class F>
KernelPtr typed_unary_kernel(F f, DType out_t) {
  return make_kernel([f, out_t](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    const Tensor& x = *in[0];
    Tensor y(out_t, x.shape());
    const T* px = x.data<T>();
    using O = decltype(f(T{}));
    O* py = y.data<O>();
    parallel_for(rc, x.numel(), 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) py[i] = f(px[i]);
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

// Unary float op: MakeF(const Node&) -> callable float(float).
template <class MakeF>
Result<KernelPtr> build_float_unary(BuildContext& c, MakeF make) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  c.outputs_as(DType::f32);
  return float_unary_kernel(make(c.node));
}

#define QF_FLOAT_UNARY(NAME, EXPR)                                              \
  inline Result<KernelPtr> build_##NAME(BuildContext& c) {                      \
    return build_float_unary(c, [](const Node&) { return [](float x) { return EXPR; }; }); \
  }

QF_FLOAT_UNARY(sigmoid, 1.f / (1.f + std::exp(-x)))
QF_FLOAT_UNARY(tanh, std::tanh(x))
QF_FLOAT_UNARY(exp, std::exp(x))
QF_FLOAT_UNARY(log, std::log(x))
QF_FLOAT_UNARY(sqrt, std::sqrt(x))
QF_FLOAT_UNARY(reciprocal, 1.f / x)
QF_FLOAT_UNARY(floor, std::floor(x))
QF_FLOAT_UNARY(ceil, std::ceil(x))
QF_FLOAT_UNARY(round, std::nearbyint(x))
QF_FLOAT_UNARY(erf, std::erf(x))
QF_FLOAT_UNARY(sin, std::sin(x))
QF_FLOAT_UNARY(cos, std::cos(x))
QF_FLOAT_UNARY(tan, std::tan(x))
QF_FLOAT_UNARY(asin, std::asin(x))
QF_FLOAT_UNARY(acos, std::acos(x))
QF_FLOAT_UNARY(atan, std::atan(x))
QF_FLOAT_UNARY(sinh, std::sinh(x))
QF_FLOAT_UNARY(cosh, std::cosh(x))
QF_FLOAT_UNARY(asinh, std::asinh(x))
QF_FLOAT_UNARY(acosh, std::acosh(x))
QF_FLOAT_UNARY(atanh, std::atanh(x))
QF_FLOAT_UNARY(softsign, x / (1.f + std::fabs(x)))
QF_FLOAT_UNARY(softplus, x > 0.f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)))
QF_FLOAT_UNARY(hardswish, x * std::max(0.f, std::min(1.f, x / 6.f + 0.5f)))
#undef QF_FLOAT_UNARY

inline Result<KernelPtr> build_leakyrelu(BuildContext& c) {
  return build_float_unary(c, [](const Node& n) {
    float a = n.get_float("alpha", 0.01f);
    return [a](float x) { return x < 0.f ? a * x : x; };
  });
}
inline Result<KernelPtr> build_hardsigmoid(BuildContext& c) {
  return build_float_unary(c, [](const Node& n) {
    float a = n.get_float("alpha", 0.2f), b = n.get_float("beta", 0.5f);
    return [a, b](float x) { return std::max(0.f, std::min(1.f, a * x + b)); };
  });
}
inline Result<KernelPtr> build_elu(BuildContext& c) {
  return build_float_unary(c, [](const Node& n) {
    float a = n.get_float("alpha", 1.f);
    return [a](float x) { return x < 0.f ? a * (std::exp(x) - 1.f) : x; };
  });
}
inline Result<KernelPtr> build_celu(BuildContext& c) {
  return build_float_unary(c, [](const Node& n) {
    float a = n.get_float("alpha", 1.f);
    return [a](float x) { return std::max(0.f, x) + std::min(0.f, a * (std::exp(x / a) - 1.f)); };
  });
}
inline Result<KernelPtr> build_selu(BuildContext& c) {
  return build_float_unary(c, [](const Node& n) {
    float a = n.get_float("alpha", 1.67326319217681884765625f), g = n.get_float("gamma", 1.05070102214813232421875f);
    return [a, g](float x) { return x <= 0.f ? g * (a * std::exp(x) - a) : g * x; };
  });
}
inline Result<KernelPtr> build_thresholdedrelu(BuildContext& c) {
  return build_float_unary(c, [](const Node& n) {
    float a = n.get_float("alpha", 1.f);
    return [a](float x) { return x > a ? x : 0.f; };
  });
}
inline Result<KernelPtr> build_shrink(BuildContext& c) {
  return build_float_unary(c, [](const Node& n) {
    float l = n.get_float("lambd", 0.5f), b = n.get_float("bias", 0.f);
    return [l, b](float x) { return x < -l ? x + b : (x > l ? x - b : 0.f); };
  });
}

// Unary ops defined on float and signed/unsigned integers.
template <class Op>
Result<KernelPtr> build_numeric_unary(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  DType t = c.dtype(0);
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    if constexpr (std::is_same<T, bool>::value) {
      return make_error("bool input");
    } else {
      return typed_unary_kernel<T>([](T x) { return Op::template apply<T>(x); }, c.dtype(0));
    }
  });
}
struct ReluOp { template <class T> static T apply(T x) { return x > T(0) ? x : T(0); } };
struct AbsOp {
  template <class T> static T apply(T x) {
    if constexpr (std::is_unsigned<T>::value) return x; else return x < T(0) ? T(-x) : x;
  }
};
struct NegOp {
  template <class T> static T apply(T x) {
    if constexpr (std::is_floating_point<T>::value) return -x;
    else return T(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(x));
  }
};
struct SignOp { template <class T> static T apply(T x) { return T((T(0) < x) - (x < T(0))); } };

inline Result<KernelPtr> build_not(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::boolean}));
  c.outputs_as(DType::boolean);
  return typed_unary_kernel<bool>([](bool x) { return !x; }, DType::boolean);
}
inline Result<KernelPtr> build_isnan(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  c.outputs_as(DType::boolean);
  return typed_unary_kernel<float>([](float x) { return bool(std::isnan(x)); }, DType::boolean);
}
inline Result<KernelPtr> build_isinf(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  bool pos = c.node.get_int("detect_positive", 1) != 0, neg = c.node.get_int("detect_negative", 1) != 0;
  c.outputs_as(DType::boolean);
  return typed_unary_kernel<float>(
      [pos, neg](float x) { return std::isinf(x) && ((x > 0 && pos) || (x < 0 && neg)); }, DType::boolean);
}

// Clip: float or integer; bounds from attributes (opset < 11) or optional scalar inputs 1, 2.
inline Result<KernelPtr> build_clip(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, c.opset < 11 ? 1 : 3));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  for (size_t k = 1; k < c.num_inputs(); ++k)
    if (c.has(k) && c.dtype(k) != c.dtype(0))
      return make_error("input ", k, " has dtype ", dtype_name(c.dtype(k)), ", expected ", dtype_name(c.dtype(0)));
  DType t = c.dtype(0);
  c.outputs_as(t);
  bool legacy = c.opset < 11;
  if (legacy && t != DType::f32) return make_error("Clip before opset 11 takes float input");
  float amin = c.node.get_float("min", -std::numeric_limits<float>::infinity());
  float amax = c.node.get_float("max", std::numeric_limits<float>::infinity());
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    if constexpr (std::is_same<T, bool>::value) {
      return make_error("bool input");
    } else {
      return make_kernel([legacy, amin, amax](const RunContext& rc, const std::vector<const Tensor*>& in,
                                              std::vector<Tensor>& out) -> Status {
        T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
        if (legacy) {
          if constexpr (std::is_floating_point<T>::value) {
            lo = T(amin);
            hi = T(amax);
          }
        } else {
          for (size_t k = 1; k < 3 && k < in.size(); ++k) {
            if (!in[k]) continue;
            if (in[k]->numel() != 1) return make_error("bound input ", k, " must be a scalar, has shape ",
                                                       shape_str(in[k]->shape()));
            (k == 1 ? lo : hi) = in[k]->data<T>()[0];
          }
        }
        const Tensor& x = *in[0];
        Tensor y(x.dtype(), x.shape());
        const T* px = x.data<T>();
        T* py = y.data<T>();
        parallel_for(rc, x.numel(), 16384, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) py[i] = std::min(hi, std::max(lo, px[i]));
        });
        out[0] = std::move(y);
        return Status::Ok();
      });
    }
  });
}

// ---- binary -------------------------------------------------------------------------------------------------------

template <class T>
using wide_u = std::make_unsigned_t<T>;

struct AddOp {
  template <class T> static T apply(T a, T b) {
    if constexpr (is_int<T>) return T(wide_u<T>(a) + wide_u<T>(b)); else return a + b;
  }
};
struct SubOp {
  template <class T> static T apply(T a, T b) {
    if constexpr (is_int<T>) return T(wide_u<T>(a) - wide_u<T>(b)); else return a - b;
  }
};
struct MulOp {
  template <class T> static T apply(T a, T b) {
    if constexpr (is_int<T>) return T(wide_u<T>(a) * wide_u<T>(b)); else return a * b;
  }
};
struct DivOp {
  template <class T> static T apply(T a, T b) {
    if constexpr (is_int<T>) {
      if (b == 0) return T(0);
      if constexpr (std::is_signed<T>::value)
        if (b == T(-1)) return T(wide_u<T>(0) - wide_u<T>(a));
      return T(a / b);
    } else {
      return a / b;
    }
  }
};
struct MaxOp { template <class T> static T apply(T a, T b) {
  if constexpr (std::is_floating_point<T>::value) { if (std::isnan(a) || std::isnan(b)) return a + b; }
  return a > b ? a : b; } };
struct MinOp { template <class T> static T apply(T a, T b) {
  if constexpr (std::is_floating_point<T>::value) { if (std::isnan(a) || std::isnan(b)) return a + b; }
  return a < b ? a : b; } };

// Opset < 7 broadcast=1 with axis: view B as rank(A) with its dims starting at axis.
inline Result<Tensor> legacy_align(const Tensor& b, size_t rank_a, int64_t axis) {
  int64_t rb = int64_t(b.rank());
  if (axis < 0) axis += int64_t(rank_a);
  if (axis < 0 || axis + rb > int64_t(rank_a))
    return make_error("legacy broadcast axis ", axis, " does not fit shape ", shape_str(b.shape()), " into rank ",
                      rank_a);
  Shape s(rank_a, 1);
  for (int64_t i = 0; i < rb; ++i) s[size_t(axis + i)] = b.shape()[size_t(i)];
  return b.reshape(s);
}

struct BinarySpec {
  bool legacy = false;  // opset < 7, broadcast=1 with axis given
  int64_t axis = 0;
};

inline BinarySpec binary_spec(const BuildContext& c) {
  BinarySpec s;
  if (c.opset < 7 && c.node.get_int("broadcast", 0) != 0 && c.node.has("axis")) {
    s.legacy = true;
    s.axis = c.node.get_int("axis", 0);
  }
  return s;
}

// out = f(a, b) broadcast; TA/TB input types, TO output type.
template <class TA, class TB, class TO, class F>
KernelPtr binary_kernel(F f, BinarySpec spec, DType out_t) {
  return make_kernel([f, spec, out_t](const RunContext& rc, const std::vector<const Tensor*>& in,
                                      std::vector<Tensor>& out) -> Status {
    Tensor a = *in[0], b = *in[1];
    if (spec.legacy) { QF_ASSIGN_OR_RETURN(b, legacy_align(b, a.rank(), spec.axis)); }
    QF_ASSIGN_OR_RETURN(Shape s, broadcast_shapes(a.shape(), b.shape()));
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(out_t, s));
    broadcast_binary<TA, TB, TO>(rc, a, b, y, f);
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Status same_dtype(const BuildContext& c, size_t a, size_t b) {
  if (c.dtype(a) != c.dtype(b))
    return make_error("inputs ", a, " and ", b, " have different dtypes (", dtype_name(c.dtype(a)), ", ",
                      dtype_name(c.dtype(b)), ")");
  return Status::Ok();
}

// Arithmetic on same-typed numeric inputs.
template <class Op>
Result<KernelPtr> build_arith(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  QF_RETURN_IF_ERROR(same_dtype(c, 0, 1));
  DType t = c.dtype(0);
  c.outputs_as(t);
  BinarySpec spec = binary_spec(c);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    if constexpr (std::is_same<T, bool>::value) return make_error("bool input");
    else return binary_kernel<T, T, T>([](T a, T b) { return Op::template apply<T>(a, b); }, spec, t);
  });
}

inline Result<KernelPtr> build_mod(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  QF_RETURN_IF_ERROR(same_dtype(c, 0, 1));
  DType t = c.dtype(0);
  bool fmod = c.node.get_int("fmod", 0) != 0;
  if (t == DType::f32 && !fmod) return make_error("fmod must be 1 for float inputs");
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    if constexpr (std::is_same<T, bool>::value) {
      return make_error("bool input");
    } else if constexpr (std::is_floating_point<T>::value) {
      return binary_kernel<T, T, T>([](T a, T b) { return std::fmod(a, b); }, BinarySpec{}, t);
    } else {
      return binary_kernel<T, T, T>(
          [fmod](T a, T b) -> T {
            if (b == 0) return T(0);
            if constexpr (std::is_signed<T>::value)
              if (b == T(-1)) return T(0);
            T r = T(a % b);
            if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = T(r + b);
            return r;
          },
          BinarySpec{}, t);
    }
  });
}

inline Result<KernelPtr> build_pow(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::f32, DType::i32, DType::i64}));
  DType ta = c.dtype(0), tb = c.dtype(1);
  c.outputs_as(ta);
  BinarySpec spec = binary_spec(c);
  return dispatch_all(ta, [&](auto taga) -> Result<KernelPtr> {
    using A = decltype(taga);
    return dispatch_all(tb, [&](auto tagb) -> Result<KernelPtr> {
      using B = decltype(tagb);
      if constexpr (std::is_same<A, bool>::value || std::is_same<B, bool>::value ||
                    std::is_same<A, int8_t>::value || std::is_same<B, int8_t>::value ||
                    std::is_same<A, uint8_t>::value || std::is_same<B, uint8_t>::value) {
        return make_error("unsupported dtype");
      } else if constexpr (std::is_same<A, float>::value && std::is_same<B, float>::value) {
        return binary_kernel<A, B, A>([](float a, float b) { return std::pow(a, b); }, spec, ta);
      } else {
        return binary_kernel<A, B, A>([](A a, B b) { return A(std::pow(double(a), double(b))); }, spec, ta);
      }
    });
  });
}

// PRelu: y = x < 0 ? slope * x : x, slope broadcast unidirectionally onto x.
inline Result<KernelPtr> build_prelu(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::f32}));
  c.outputs_as(DType::f32);
  bool legacy = c.opset < 7;
  return make_kernel([legacy](const RunContext& rc, const std::vector<const Tensor*>& in,
                              std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    Tensor s = *in[1];
    // Before opset 7 a 1-D slope of length C applies per channel (axis 1).
    if (legacy && s.rank() == 1 && x.rank() >= 2 && s.dim(0) == x.dim(1)) {
      QF_ASSIGN_OR_RETURN(s, legacy_align(s, x.rank(), 1));
    }
    QF_ASSIGN_OR_RETURN(Shape bs, broadcast_shapes(x.shape(), s.shape()));
    if (bs != x.shape())
      return make_error("slope shape ", shape_str(s.shape()), " does not broadcast to ", shape_str(x.shape()));
    Tensor y(DType::f32, x.shape());
    broadcast_binary<float, float, float>(rc, x, s, y, [](float a, float b) { return a < 0.f ? a * b : a; });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

// Comparisons -> bool.
template <class Cmp>
Result<KernelPtr> build_compare(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(same_dtype(c, 0, 1));
  DType t = c.dtype(0);
  c.outputs_as(DType::boolean);
  BinarySpec spec = binary_spec(c);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return binary_kernel<T, T, bool>([](T a, T b) { return Cmp{}(a, b); }, spec, DType::boolean);
  });
}

template <class L>
Result<KernelPtr> build_logical(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::boolean}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::boolean}));
  c.outputs_as(DType::boolean);
  return binary_kernel<bool, bool, bool>([](bool a, bool b) { return L{}(a, b); }, binary_spec(c), DType::boolean);
}
struct XorL { bool operator()(bool a, bool b) const { return a != b; } };

// Max/Min/Sum/Mean over 1..n inputs with broadcasting.
template <class Op, bool kMean>
Result<KernelPtr> build_variadic(BuildContext& c) {
  if (c.num_inputs() < 1) return make_error("expects at least 1 input");
  for (size_t k = 0; k < c.num_inputs(); ++k) {
    if (!c.has(k)) return make_error("input ", k, " is missing");
    QF_RETURN_IF_ERROR(same_dtype(c, 0, k));
  }
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  DType t = c.dtype(0);
  if (kMean && t != DType::f32) return make_error("Mean needs float inputs");
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    if constexpr (std::is_same<T, bool>::value) {
      return make_error("bool input");
    } else {
      return make_kernel([t](const RunContext& rc, const std::vector<const Tensor*>& in,
                             std::vector<Tensor>& out) -> Status {
        Tensor acc = *in[0];
        if (in.size() == 1) acc = acc.clone();
        for (size_t k = 1; k < in.size(); ++k) {
          QF_ASSIGN_OR_RETURN(Shape s, broadcast_shapes(acc.shape(), in[k]->shape()));
          QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(t, s));
          broadcast_binary<T, T, T>(rc, acc, *in[k], y, [](T a, T b) { return Op::template apply<T>(a, b); });
          acc = std::move(y);
        }
        if constexpr (kMean && std::is_floating_point<T>::value) {
          T* p = acc.data<T>();
          T n = T(in.size());
          for (int64_t i = 0; i < acc.numel(); ++i) p[i] /= n;
        }
        out[0] = std::move(acc);
        return Status::Ok();
      });
    }
  });
}

inline Result<KernelPtr> build_where(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 3, 3));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::boolean}));
  QF_RETURN_IF_ERROR(same_dtype(c, 1, 2));
  DType t = c.dtype(1);
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([t](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
      QF_ASSIGN_OR_RETURN(Shape s0, broadcast_shapes(in[0]->shape(), in[1]->shape()));
      QF_ASSIGN_OR_RETURN(Shape s, broadcast_shapes(s0, in[2]->shape()));
      QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(t, s));
      auto plan = BroadcastPlan<3>::make(s, {&in[0]->shape(), &in[1]->shape(), &in[2]->shape()});
      const bool* pc = in[0]->data<bool>();
      const T* px = in[1]->data<T>();
      const T* py = in[2]->data<T>();
      T* po = y.data<T>();
      plan.for_rows(rc, [&](const std::array<int64_t, 3>& off, const std::array<int64_t, 3>& st, int64_t n, int64_t oo) {
        for (int64_t j = 0; j < n; ++j)
          po[oo + j] = pc[off[0] + j * st[0]] ? px[off[1] + j * st[1]] : py[off[2] + j * st[2]];
      });
      out[0] = std::move(y);
      return Status::Ok();
    });
  });
}

}  // namespace ew

inline void add_elementwise_ops(OpTable& t) {
  using namespace ew;
  t["Relu"] = {&build_numeric_unary<ReluOp>};
  t["Abs"] = {&build_numeric_unary<AbsOp>};
  t["Neg"] = {&build_numeric_unary<NegOp>};
  t["Sign"] = {&build_numeric_unary<SignOp>};
  t["Sigmoid"] = {&build_sigmoid};
  t["Tanh"] = {&build_tanh};
  t["Exp"] = {&build_exp};
  t["Log"] = {&build_log};
  t["Sqrt"] = {&build_sqrt};
  t["Reciprocal"] = {&build_reciprocal};
  t["Floor"] = {&build_floor};
  t["Ceil"] = {&build_ceil};
  t["Round"] = {&build_round};
  t["Erf"] = {&build_erf};
  t["Sin"] = {&build_sin};
  t["Cos"] = {&build_cos};
  t["Tan"] = {&build_tan};
  t["Asin"] = {&build_asin};
  t["Acos"] = {&build_acos};
  t["Atan"] = {&build_atan};
  t["Sinh"] = {&build_sinh};
  t["Cosh"] = {&build_cosh};
  t["Asinh"] = {&build_asinh};
  t["Acosh"] = {&build_acosh};
  t["Atanh"] = {&build_atanh};
  t["Softsign"] = {&build_softsign};
  t["Softplus"] = {&build_softplus};
  t["HardSwish"] = {&build_hardswish};
  t["LeakyRelu"] = {&build_leakyrelu};
  t["HardSigmoid"] = {&build_hardsigmoid};
  t["Elu"] = {&build_elu};
  t["Celu"] = {&build_celu};
  t["Selu"] = {&build_selu};
  t["ThresholdedRelu"] = {&build_thresholdedrelu};
  t["Shrink"] = {&build_shrink};
  t["Not"] = {&build_not};
  t["IsNaN"] = {&build_isnan};
  t["IsInf"] = {&build_isinf};
  t["Clip"] = {&build_clip};
  t["Add"] = {&build_arith<AddOp>};
  t["Sub"] = {&build_arith<SubOp>};
  t["Mul"] = {&build_arith<MulOp>};
  t["Div"] = {&build_arith<DivOp>};
  t["Mod"] = {&build_mod};
  t["Pow"] = {&build_pow};
  t["PRelu"] = {&build_prelu};
  t["Equal"] = {&build_compare<std::equal_to<>>};
  t["Less"] = {&build_compare<std::less<>>};
  t["LessOrEqual"] = {&build_compare<std::less_equal<>>};
  t["Greater"] = {&build_compare<std::greater<>>};
  t["GreaterOrEqual"] = {&build_compare<std::greater_equal<>>};
  t["And"] = {&build_logical<std::logical_and<>>};
  t["Or"] = {&build_logical<std::logical_or<>>};
  t["Xor"] = {&build_logical<XorL>};
  t["Max"] = {&build_variadic<MaxOp, false>};
  t["Min"] = {&build_variadic<MinOp, false>};
  t["Sum"] = {&build_variadic<AddOp, false>};
  t["Mean"] = {&build_variadic<AddOp, true>};
  t["Where"] = {&build_where};
}

}  // namespace qforge::ops
