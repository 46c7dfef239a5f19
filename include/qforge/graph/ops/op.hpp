// qforge/graph/ops/op.hpp — what every fp32 graph op is made of: a factory that checks a node once (attributes,
// input dtypes, constant inputs) and returns a const kernel that runs it.
//
// Contract: a factory (OpFactory) gets a BuildContext (the node, the model's opset, what is known about each
// input at prepare: dtype, maybe a shape, maybe a constant value) and either returns an Error (no node label:
// the caller prefixes it) or a kernel plus the dtype of every output. Kernels are immutable after build and may
// run from many threads at once. A kernel never writes into its inputs; outputs are fresh tensors or views of
// inputs (Reshape-like ops). Run-time errors (shapes that don't fit) name the input and the shapes.
// Helpers here: dtype dispatch, axis normalisation, numpy broadcasting and a deterministic parallel_for.
#pragma once
#include <algorithm>
#include <array>
#include <map>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ir.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace qforge::ops {

// What prepare knows about a value: dtype always; shape when has_shape (dims < 0 unknown); value when constant.
struct ValueMeta {
  DType dtype = DType::f32;
  bool has_shape = false;
  Shape shape;
  Tensor value;  // defined() when the value is a constant known at prepare time

  bool is_const() const { return value.defined(); }
  bool shape_static() const {
    if (!has_shape) return false;
    for (auto d : shape)
      if (d < 0) return false;
    return true;
  }
};

struct RunContext {
  int threads = 0;  // 0 = OpenMP default
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  // in[k] is nullptr for an absent optional input; out has node.outputs.size() slots (absent ones may stay empty).
  virtual Status run(const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) const = 0;
};

template <class F>
class FnKernel final : public OpKernel {
 public:
  explicit FnKernel(F f) : f_(std::move(f)) {}
  Status run(const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) const override {
    return f_(rc, in, out);
  }

 private:
  F f_;
};

// Wraps a callable Status(const RunContext&, const std::vector<const Tensor*>&, std::vector<Tensor>&).
template <class F>
std::unique_ptr<OpKernel> make_kernel(F f) {
  return std::make_unique<FnKernel<F>>(std::move(f));
}

struct BuildContext {
  const Node& node;
  int64_t opset = 13;
  std::vector<const ValueMeta*> in;  // one per node input; nullptr when absent (empty name)
  std::vector<DType> out_dtypes;     // set by the factory, one per node output

  size_t num_inputs() const { return in.size(); }
  bool has(size_t k) const { return k < in.size() && in[k] != nullptr; }
  DType dtype(size_t k) const { return in[k]->dtype; }
  const Tensor* constant(size_t k) const { return has(k) && in[k]->is_const() ? &in[k]->value : nullptr; }
  // All node outputs get dtype t.
  void outputs_as(DType t) { out_dtypes.assign(node.outputs.size(), t); }
};

using KernelPtr = std::unique_ptr<OpKernel>;
using OpFactory = Result<KernelPtr> (*)(BuildContext&);

// One registered op type. value_inputs: bit k set when the VALUE of input k (not just its shape) decides the
// output shapes (Reshape's shape, Slice's starts...): prepare infers static shapes only when those are constant.
// foldable: false for ops that must not be evaluated at prepare even on constant inputs.
struct OpDef {
  OpFactory factory = nullptr;
  uint32_t value_inputs = 0;
  bool foldable = true;
};
using OpTable = std::map<std::string, OpDef>;

// ---- small checks shared by factories --------------------------------------------------------------------------

inline Status expect_inputs(const BuildContext& c, size_t min_n, size_t max_n) {
  size_t n = c.in.size();
  while (n > 0 && !c.in[n - 1]) --n;  // trailing absent inputs do not count
  if (n < min_n || c.in.size() > max_n)
    return make_error("expects ", min_n, (min_n == max_n ? "" : ".." + std::to_string(max_n)), " inputs, got ",
                      c.in.size());
  for (size_t k = 0; k < min_n; ++k)
    if (!c.in[k]) return make_error("required input ", k, " is missing");
  return Status::Ok();
}

inline Status expect_outputs(const BuildContext& c, size_t min_n, size_t max_n) {
  size_t n = c.node.outputs.size();
  if (n < min_n || n > max_n)
    return make_error("expects ", min_n, (min_n == max_n ? "" : ".." + std::to_string(max_n)), " outputs, got ", n);
  return Status::Ok();
}

inline Status expect_dtype(const BuildContext& c, size_t k, std::initializer_list<DType> ok) {
  if (!c.has(k)) return Status::Ok();
  for (DType t : ok)
    if (c.dtype(k) == t) return Status::Ok();
  std::string allowed;
  for (DType t : ok) allowed += std::string(allowed.empty() ? "" : "/") + dtype_name(t);
  return make_error("input ", k, " ('", c.node.inputs[k], "') has dtype ", dtype_name(c.dtype(k)), ", expected ",
                    allowed);
}

// Attribute kind check: an attribute present with the wrong kind is an error naming it.
inline Status expect_attr_kind(const Node& n, const std::string& name, Attribute::Kind k) {
  auto it = n.attrs.find(name);
  if (it != n.attrs.end() && it->second.kind != k) return make_error("attribute '", name, "' has the wrong type");
  return Status::Ok();
}

// Normalises axis into [0, rank); rank may be 0 only when allow_scalar.
inline Result<int64_t> norm_axis(int64_t axis, int64_t rank, const char* what = "axis") {
  if (axis < -rank || axis >= rank) return make_error(what, " ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

// Reads an int64/int32 tensor as a vector of int64.
inline Result<std::vector<int64_t>> tensor_to_i64(const Tensor& t, const char* what) {
  std::vector<int64_t> v(size_t(t.numel()));
  if (t.dtype() == DType::i64) {
    for (int64_t i = 0; i < t.numel(); ++i) v[size_t(i)] = t.data<int64_t>()[i];
  } else if (t.dtype() == DType::i32) {
    for (int64_t i = 0; i < t.numel(); ++i) v[size_t(i)] = t.data<int32_t>()[i];
  } else {
    return make_error(what, " must be int64 or int32, got ", dtype_name(t.dtype()));
  }
  return v;
}

inline Result<std::vector<float>> tensor_to_f32(const Tensor& t, const char* what) {
  std::vector<float> v(size_t(t.numel()));
  switch (t.dtype()) {
    case DType::f32: for (int64_t i = 0; i < t.numel(); ++i) v[size_t(i)] = t.data<float>()[i]; break;
    case DType::i64: for (int64_t i = 0; i < t.numel(); ++i) v[size_t(i)] = float(t.data<int64_t>()[i]); break;
    case DType::i32: for (int64_t i = 0; i < t.numel(); ++i) v[size_t(i)] = float(t.data<int32_t>()[i]); break;
    default: return make_error(what, " must be a float or integer tensor, got ", dtype_name(t.dtype()));
  }
  return v;
}

// Calls f(T{}) with T the C++ type of dtype t (all dtypes).
template <class F>
decltype(auto) dispatch_all(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::i8: return f(int8_t{});
    case DType::u8: return f(uint8_t{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::boolean: return f(bool{});
  }
  return f(float{});
}

// ---- threading -------------------------------------------------------------------------------------------------

inline int thread_count(const RunContext& rc) {
#if defined(_OPENMP)
  return rc.threads > 0 ? rc.threads : omp_get_max_threads();
#else
  (void)rc;
  return 1;
#endif
}

// The grain for items of `per_item` elements each: chunks of about `elements` elements (a parked thread's wake-up
// costs more than a few thousand elements of work).
inline int64_t grain_for(int64_t per_item, int64_t elements = 16384) {
  return std::max<int64_t>(1, elements / std::max<int64_t>(per_item, 1));
}

// Calls f(begin, end) over [0, n) in chunks of at least `grain` items, in parallel when worth it. Each item is
// handled by exactly one call, so results never depend on the thread count.
template <class F>
void parallel_for(const RunContext& rc, int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  int nt = thread_count(rc);
  grain = std::max<int64_t>(grain, 1);
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, int64_t(nt) * 4);
#if defined(_OPENMP)
  if (nt > 1 && chunks > 1) {
    int64_t step = (n + chunks - 1) / chunks;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t b = c * step, e = std::min(n, b + step);
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  (void)chunks;
  f(int64_t(0), n);
}

// ---- broadcasting ----------------------------------------------------------------------------------------------

// numpy/ONNX multidirectional broadcast of two shapes.
inline Result<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else return make_error("shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast");
  }
  return out;
}

// The numpy matmul of shapes a and b (MatMul, MatMulInteger, QLinearMatMul): rank-1 operands promoted, batch
// dims broadcast. offsets(t) gives batch t's matrix index into each operand (0 where that operand broadcasts).
struct MatMulShape {
  int64_t M = 0, K = 0, N = 0;
  Shape abatch, bbatch, batch, out;
  int64_t nb = 0;  // batch count (product of batch)

  static Result<MatMulShape> make(const Shape& a0, const Shape& b0) {
    if (a0.empty() || b0.empty()) return make_error("MatMul inputs must have rank >= 1");
    Shape as = a0, bs = b0;
    const bool a1 = as.size() == 1, b1 = bs.size() == 1;
    if (a1) as.insert(as.begin(), 1);
    if (b1) bs.push_back(1);
    MatMulShape m;
    m.M = as[as.size() - 2];
    m.K = as.back();
    m.N = bs.back();
    if (bs[bs.size() - 2] != m.K) return make_error("shapes ", shape_str(a0), " and ", shape_str(b0), " do not multiply");
    m.abatch.assign(as.begin(), as.end() - 2);
    m.bbatch.assign(bs.begin(), bs.end() - 2);
    QF_ASSIGN_OR_RETURN(m.batch, broadcast_shapes(m.abatch, m.bbatch));
    m.out = m.batch;
    if (!a1) m.out.push_back(m.M);
    if (!b1) m.out.push_back(m.N);
    m.nb = 1;
    for (int64_t d : m.batch) m.nb *= d;
    return m;
  }

  std::pair<int64_t, int64_t> offsets(int64_t t) const {
    const size_t r = batch.size();
    int64_t ao = 0, bo = 0, astr = 1, bstr = 1;
    for (size_t i = r; i-- > 0;) {
      const int64_t idx = t % batch[i];
      t /= batch[i];
      const int64_t ad = i < r - abatch.size() ? 1 : abatch[i - (r - abatch.size())];
      const int64_t bd = i < r - bbatch.size() ? 1 : bbatch[i - (r - bbatch.size())];
      if (ad != 1) ao += idx * astr;
      if (bd != 1) bo += idx * bstr;
      astr *= ad;
      bstr *= bd;
    }
    return {ao, bo};
  }
};

// A loop plan over an output shape with K inputs broadcast into it: dims coalesced, inner dimension last.
template <int K>
struct BroadcastPlan {
  Shape dims;                                  // coalesced output dims (at least one)
  std::vector<std::array<int64_t, K>> strides; // per dim, per input element stride (0 = broadcast)
  int64_t numel = 0;

  static BroadcastPlan make(const Shape& out, const std::array<const Shape*, K>& ins) {
    BroadcastPlan p;
    size_t r = out.size();
    std::vector<std::array<int64_t, K>> st(r);
    for (int k = 0; k < K; ++k) {
      const Shape& s = *ins[size_t(k)];
      int64_t acc = 1;
      for (size_t i = r; i-- > 0;) {
        int64_t d = i < r - s.size() ? 1 : s[i - (r - s.size())];
        st[i][size_t(k)] = (d == 1 && out[i] != 1) ? 0 : acc;
        acc *= d;
      }
    }
    p.numel = 1;
    for (auto d : out) p.numel *= d;
    // Coalesce: drop size-1 dims, merge neighbours whose strides are contiguous for every input.
    for (size_t i = 0; i < r; ++i) {
      if (out[i] == 1) continue;
      if (!p.dims.empty()) {
        bool merge = true;
        auto& last = p.strides.back();
        for (int k = 0; k < K; ++k)
          if (last[size_t(k)] != st[i][size_t(k)] * out[i]) merge = false;
        if (merge) {
          p.dims.back() *= out[i];
          last = st[i];
          continue;
        }
      }
      p.dims.push_back(out[i]);
      p.strides.push_back(st[i]);
    }
    if (p.dims.empty()) {
      p.dims.push_back(1);
      std::array<int64_t, K> one;
      one.fill(1);
      p.strides.push_back(one);
    }
    return p;
  }

  // Calls row(offsets, inner_strides, inner_n, out_offset) for every innermost row; rows in parallel.
  template <class RowF>
  void for_rows(const RunContext& rc, RowF&& row) const {
    int64_t inner = dims.back();
    int64_t rows = inner ? numel / inner : 0;
    size_t nd = dims.size();
    std::array<int64_t, K> istr = strides.back();
    int64_t grain = grain_for(inner, 32768);
    parallel_for(rc, rows, grain, [&](int64_t rb, int64_t re) {
      for (int64_t rr = rb; rr < re; ++rr) {
        std::array<int64_t, K> off{};
        int64_t rem = rr;
        for (size_t i = nd - 1; i-- > 0;) {
          int64_t idx = rem % dims[i];
          rem /= dims[i];
          for (int k = 0; k < K; ++k) off[size_t(k)] += idx * strides[i][size_t(k)];
        }
        row(off, istr, inner, rr * inner);
      }
    });
  }
};

// out[i] = f(a[.], b[.]) with numpy broadcasting; out must already have the broadcast shape.
template <class TA, class TB, class TO, class F>
void broadcast_binary(const RunContext& rc, const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* po = out.data<TO>();
  if (a.shape() == b.shape()) {
    parallel_for(rc, out.numel(), 16384, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) po[i] = f(pa[i], pb[i]);
    });
    return;
  }
  auto plan = BroadcastPlan<2>::make(out.shape(), {&a.shape(), &b.shape()});
  plan.for_rows(rc, [&](const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& st, int64_t n, int64_t oo) {
    const TA* x = pa + off[0];
    const TB* y = pb + off[1];
    TO* o = po + oo;
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t j = 0; j < n; ++j) o[j] = f(x[j], y[j]);
    } else if (st[0] == 1 && st[1] == 0) {
      const TB yv = *y;
      for (int64_t j = 0; j < n; ++j) o[j] = f(x[j], yv);
    } else if (st[0] == 0 && st[1] == 1) {
      const TA xv = *x;
      for (int64_t j = 0; j < n; ++j) o[j] = f(xv, y[j]);
    } else {
      for (int64_t j = 0; j < n; ++j) o[j] = f(x[j * st[0]], y[j * st[1]]);
    }
  });
}

// Integer product of dims [b, e) of s.
inline int64_t dims_product(const Shape& s, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e && i < s.size(); ++i) p *= s[i];
  return p;
}

}  // namespace qforge::ops
