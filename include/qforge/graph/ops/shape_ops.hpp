// qforge/graph/ops/shape_ops.hpp — data-movement and shape ops, on every dtype unless stated.
//
// Contract (ONNX, old attribute forms and opset >= 13 input forms both accepted as the node's opset dictates):
// Identity, Dropout (inference only: Y = X, optional mask of true; training_mode must be absent or a constant
// false), Reshape (0 copies a dim unless allowzero, one -1 inferred), Flatten, Squeeze / Unsqueeze (axes attribute
// or input), Transpose, Concat, Split (split attribute or input, else equal parts), Slice (attributes before
// opset 10, inputs with steps and negative indices after), Pad (constant / reflect / edge; pads attribute before
// opset 11, input after; negative pads crop), Gather, GatherElements, Shape (start/end), Size, Constant, Cast /
// CastLike between the qforge dtypes (float -> int truncates toward zero and saturates, NaN -> 0), Expand, Tile,
// ConstantOfShape, Range, Trilu, DepthToSpace, SpaceToDepth. Views (Reshape-like ops) share the input's storage.
// Integer inputs that name shapes or indices may be int64 or int32.
#pragma once
#include <cstring>
#include <limits>
#include <type_traits>

#include "qforge/graph/ops/op.hpp"

namespace qforge::ops {

// ONNX TensorProto element type <-> DType (only the dtypes qforge holds).
inline Result<DType> dtype_from_onnx(int64_t t) {
  switch (t) {
    case 1: return DType::f32;
    case 2: return DType::u8;
    case 3: return DType::i8;
    case 6: return DType::i32;
    case 7: return DType::i64;
    case 9: return DType::boolean;
    default: return make_error("ONNX element type ", t, " is not supported (float32, uint8, int8, int32, int64, bool)");
  }
}

namespace shape_detail {

template <class F>
decltype(auto) dispatch_size(size_t es, F&& f) {
  switch (es) {
    case 1: return f(uint8_t{});
    case 4: return f(uint32_t{});
    default: return f(uint64_t{});
  }
}

// out[o] = x[base + sum_d o_d * st[d]] over the multi-indices o of out_shape (any dtype).
inline Tensor strided_gather(const RunContext& rc, const Tensor& x, int64_t base, const Shape& out_shape,
                             const std::vector<int64_t>& st) {
  Tensor y(x.dtype(), out_shape);
  if (y.numel() == 0) return y;
  // Coalesce.
  Shape dims;
  std::vector<int64_t> ss;
  for (size_t i = 0; i < out_shape.size(); ++i) {
    if (out_shape[i] == 1) continue;
    if (!dims.empty() && ss.back() == st[i] * out_shape[i]) {
      dims.back() *= out_shape[i];
      ss.back() = st[i];
      continue;
    }
    dims.push_back(out_shape[i]);
    ss.push_back(st[i]);
  }
  if (dims.empty()) { dims.push_back(1); ss.push_back(1); }
  int64_t inner = dims.back(), istr = ss.back(), rows = y.numel() / inner;
  size_t nd = dims.size();
  dispatch_size(dtype_size(x.dtype()), [&](auto tag) {
    using U = decltype(tag);
    const U* px = static_cast<const U*>(x.raw()) + base;
    U* py = static_cast<U*>(y.raw());
    parallel_for(rc, rows, grain_for(inner), [&](int64_t rb, int64_t re) {
      for (int64_t r = rb; r < re; ++r) {
        int64_t rem = r, off = 0;
        for (size_t i = nd - 1; i-- > 0;) {
          off += (rem % dims[i]) * ss[i];
          rem /= dims[i];
        }
        const U* src = px + off;
        U* dst = py + r * inner;
        if (istr == 1) std::memcpy(dst, src, sizeof(U) * size_t(inner));
        else for (int64_t j = 0; j < inner; ++j) dst[j] = src[j * istr];
      }
    });
  });
  return y;
}

inline std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(s.size());
  int64_t a = 1;
  for (size_t i = s.size(); i-- > 0;) { st[i] = a; a *= s[i]; }
  return st;
}

inline Tensor transpose(const RunContext& rc, const Tensor& x, const std::vector<int64_t>& perm) {
  auto st = contiguous_strides(x.shape());
  Shape os(perm.size());
  std::vector<int64_t> ost(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) { os[i] = x.dim(size_t(perm[i])); ost[i] = st[size_t(perm[i])]; }
  return strided_gather(rc, x, 0, os, ost);
}

// Reads optional int input k as a vector; `present` false when absent.
inline Result<std::vector<int64_t>> ints_input(const std::vector<const Tensor*>& in, size_t k, const char* what,
                                                bool* present = nullptr) {
  if (k >= in.size() || !in[k]) {
    if (present) *present = false;
    return std::vector<int64_t>{};
  }
  if (present) *present = true;
  return tensor_to_i64(*in[k], what);
}

inline Status expect_int_input(const BuildContext& c, size_t k) {
  return expect_dtype(c, k, {DType::i64, DType::i32});
}

// ---- Identity / Dropout ---------------------------------------------------------------------------------------

inline Result<KernelPtr> build_identity(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  c.outputs_as(c.dtype(0));
  return make_kernel([](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    out[0] = *in[0];
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_dropout(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 3));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 2));
  if (c.opset < 7 && c.node.get_int("is_test", 0) == 0 && c.node.outputs.size() > 1)
    return make_error("training mode (is_test = 0 with a mask output) is not supported");
  if (c.has(2)) {
    const Tensor* t = c.constant(2);
    if (!t) return make_error("training_mode must be a constant (inference only)");
    if (t->dtype() != DType::boolean || t->numel() != 1) return make_error("training_mode must be a bool scalar");
    if (t->data<bool>()[0]) return make_error("training_mode = true is not supported (inference only)");
  }
  c.out_dtypes = {c.dtype(0)};
  if (c.node.outputs.size() > 1) c.out_dtypes.push_back(DType::boolean);
  bool mask = c.node.outputs.size() > 1 && !c.node.outputs[1].empty();
  return make_kernel([mask](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    out[0] = *in[0];
    if (mask) {
      Tensor m(DType::boolean, in[0]->shape());
      std::memset(m.raw(), 1, m.nbytes());
      out[1] = std::move(m);
    }
    return Status::Ok();
  });
}

// ---- Reshape / Flatten / Squeeze / Unsqueeze -------------------------------------------------------------------

inline Result<Shape> reshape_target(const Shape& in, const std::vector<int64_t>& spec, bool allowzero) {
  Shape out(spec.size());
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t v = spec[i];
    if (v == 0 && !allowzero) {
      if (i >= in.size()) return make_error("shape entry 0 at index ", i, " has no input dim to copy");
      v = in[i];
    }
    if (v == -1) {
      if (infer >= 0) return make_error("shape ", shape_str(spec), " has more than one -1");
      infer = int64_t(i);
      continue;
    }
    if (v < 0) return make_error("shape ", shape_str(spec), " has invalid entry ", v);
    out[i] = v;
    known *= v;
  }
  int64_t n = dims_product(in, 0, in.size());
  if (infer >= 0) {
    if (known == 0 || n % known != 0)
      return make_error("cannot infer -1 in shape ", shape_str(spec), " for input ", shape_str(in));
    out[size_t(infer)] = n / known;
  }
  if (dims_product(out, 0, out.size()) != n)
    return make_error("cannot reshape ", shape_str(in), " to ", shape_str(spec));
  return out;
}

inline Result<KernelPtr> build_reshape(BuildContext& c) {
  bool legacy = c.opset < 5;
  QF_RETURN_IF_ERROR(expect_inputs(c, legacy ? 1 : 2, legacy ? 1 : 2));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  if (!legacy) QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  if (legacy && !c.node.has("shape")) return make_error("attribute 'shape' is required");
  bool allowzero = c.node.get_int("allowzero", 0) != 0;
  std::vector<int64_t> attr = c.node.get_ints("shape");
  c.outputs_as(c.dtype(0));
  return make_kernel([legacy, allowzero, attr](const RunContext&, const std::vector<const Tensor*>& in,
                                               std::vector<Tensor>& out) -> Status {
    std::vector<int64_t> spec = attr;
    if (!legacy) { QF_ASSIGN_OR_RETURN(spec, tensor_to_i64(*in[1], "shape")); }
    QF_ASSIGN_OR_RETURN(Shape s, reshape_target(in[0]->shape(), spec, allowzero));
    QF_ASSIGN_OR_RETURN(out[0], in[0]->reshape(s));
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_flatten(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  int64_t axis = c.node.get_int("axis", 1);
  c.outputs_as(c.dtype(0));
  return make_kernel([axis](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    int64_t r = int64_t(x.rank()), a = axis < 0 ? axis + r : axis;
    if (a < 0 || a > r) return make_error("axis ", axis, " is out of range for rank ", r);
    QF_ASSIGN_OR_RETURN(out[0], x.reshape({dims_product(x.shape(), 0, size_t(a)), dims_product(x.shape(), size_t(a), size_t(r))}));
    return Status::Ok();
  });
}

inline Result<std::vector<int64_t>> axes_of(const BuildContext& c, const std::vector<const Tensor*>& in, bool attr_form,
                                            const std::vector<int64_t>& attr, bool* present) {
  if (attr_form) {
    *present = !attr.empty();
    return attr;
  }
  return ints_input(in, 1, "axes", present);
}

inline Result<KernelPtr> build_squeeze(BuildContext& c) {
  bool attr_form = c.opset < 13;
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, attr_form ? 1 : 2));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  if (!attr_form) QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  std::vector<int64_t> attr = c.node.get_ints("axes");
  bool has_attr = c.node.has("axes");
  c.outputs_as(c.dtype(0));
  return make_kernel([attr_form, attr, has_attr](const RunContext&, const std::vector<const Tensor*>& in,
                                                 std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    int64_t r = int64_t(x.rank());
    bool present = has_attr;
    std::vector<int64_t> axes = attr;
    if (!attr_form) { QF_ASSIGN_OR_RETURN(axes, ints_input(in, 1, "axes", &present)); }
    std::vector<bool> drop(size_t(r), false);
    if (!present) {
      for (int64_t i = 0; i < r; ++i) drop[size_t(i)] = x.dim(size_t(i)) == 1;
    } else {
      for (int64_t a : axes) {
        QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(a, r));
        if (x.dim(size_t(ax)) != 1)
          return make_error("cannot squeeze axis ", a, " of size ", x.dim(size_t(ax)), " in ", shape_str(x.shape()));
        drop[size_t(ax)] = true;
      }
    }
    Shape s;
    for (int64_t i = 0; i < r; ++i)
      if (!drop[size_t(i)]) s.push_back(x.dim(size_t(i)));
    QF_ASSIGN_OR_RETURN(out[0], x.reshape(s));
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_unsqueeze(BuildContext& c) {
  bool attr_form = c.opset < 13;
  QF_RETURN_IF_ERROR(expect_inputs(c, attr_form ? 1 : 2, attr_form ? 1 : 2));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  if (!attr_form) QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  if (attr_form && !c.node.has("axes")) return make_error("attribute 'axes' is required");
  std::vector<int64_t> attr = c.node.get_ints("axes");
  c.outputs_as(c.dtype(0));
  return make_kernel([attr_form, attr](const RunContext&, const std::vector<const Tensor*>& in,
                                       std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    std::vector<int64_t> axes = attr;
    if (!attr_form) { QF_ASSIGN_OR_RETURN(axes, tensor_to_i64(*in[1], "axes")); }
    int64_t r = int64_t(x.rank()) + int64_t(axes.size());
    std::vector<bool> ins(size_t(r), false);
    for (int64_t a : axes) {
      QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(a, r));
      if (ins[size_t(ax)]) return make_error("axis ", a, " is repeated");
      ins[size_t(ax)] = true;
    }
    Shape s;
    size_t k = 0;
    for (int64_t i = 0; i < r; ++i) s.push_back(ins[size_t(i)] ? 1 : x.dim(k++));
    QF_ASSIGN_OR_RETURN(out[0], x.reshape(s));
    return Status::Ok();
  });
}

// ---- Transpose / Concat / Split / Slice ------------------------------------------------------------------------

inline Result<KernelPtr> build_transpose(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  std::vector<int64_t> perm = c.node.get_ints("perm");
  bool has_perm = c.node.has("perm");
  c.outputs_as(c.dtype(0));
  return make_kernel([perm, has_perm](const RunContext& rc, const std::vector<const Tensor*>& in,
                                      std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    size_t r = x.rank();
    std::vector<int64_t> p = perm;
    if (!has_perm) {
      p.resize(r);
      for (size_t i = 0; i < r; ++i) p[i] = int64_t(r - 1 - i);
    }
    if (p.size() != r) return make_error("perm has ", p.size(), " entries for rank ", r);
    std::vector<bool> seen(r, false);
    for (auto& v : p) {
      if (v < 0) v += int64_t(r);
      if (v < 0 || v >= int64_t(r) || seen[size_t(v)]) return make_error("perm ", shape_str(perm), " is not a permutation");
      seen[size_t(v)] = true;
    }
    out[0] = transpose(rc, x, p);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_concat(BuildContext& c) {
  if (c.num_inputs() < 1) return make_error("expects at least 1 input");
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  for (size_t k = 0; k < c.num_inputs(); ++k) {
    if (!c.has(k)) return make_error("input ", k, " is missing");
    if (c.dtype(k) != c.dtype(0))
      return make_error("input ", k, " has dtype ", dtype_name(c.dtype(k)), ", input 0 has ", dtype_name(c.dtype(0)));
  }
  if (!c.node.has("axis") && c.opset >= 4) return make_error("attribute 'axis' is required");
  int64_t axis = c.node.get_int("axis", 1);
  c.outputs_as(c.dtype(0));
  return make_kernel([axis](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x0 = *in[0];
    int64_t r = int64_t(x0.rank());
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, r));
    Shape os = x0.shape();
    os[size_t(ax)] = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      const Shape& s = in[k]->shape();
      if (int64_t(s.size()) != r) return make_error("input ", k, " has rank ", s.size(), ", input 0 has ", r);
      for (int64_t i = 0; i < r; ++i)
        if (i != ax && s[size_t(i)] != x0.dim(size_t(i)))
          return make_error("input ", k, " shape ", shape_str(s), " does not match ", shape_str(x0.shape()),
                            " outside axis ", ax);
      os[size_t(ax)] += s[size_t(ax)];
    }
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x0.dtype(), os));
    size_t es = dtype_size(x0.dtype());
    int64_t outer = dims_product(os, 0, size_t(ax)), inner = dims_product(os, size_t(ax) + 1, size_t(r));
    int64_t orow = os[size_t(ax)] * inner;
    auto* py = static_cast<uint8_t*>(y.raw());
    int64_t off = 0;
    for (const Tensor* t : in) {
      int64_t row = t->dim(size_t(ax)) * inner;
      const auto* pt = static_cast<const uint8_t*>(t->raw());
      for (int64_t o = 0; o < outer && row > 0; ++o)
        std::memcpy(py + (o * orow + off) * es, pt + o * row * es, size_t(row) * es);
      off += row;
    }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_split(BuildContext& c) {
  bool attr_form = c.opset < 13;
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, attr_form ? 1 : 2));
  if (c.node.outputs.empty()) return make_error("expects at least 1 output");
  if (!attr_form) QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  int64_t axis = c.node.get_int("axis", 0);
  std::vector<int64_t> attr = c.node.get_ints("split");
  size_t nout = c.node.outputs.size();
  c.outputs_as(c.dtype(0));
  return make_kernel([axis, attr, attr_form, nout](const RunContext& rc, const std::vector<const Tensor*>& in,
                                                   std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    int64_t r = int64_t(x.rank());
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, r));
    std::vector<int64_t> sp = attr;
    if (!attr_form) { QF_ASSIGN_OR_RETURN(sp, ints_input(in, 1, "split")); }
    int64_t d = x.dim(size_t(ax));
    if (sp.empty()) {
      if (d % int64_t(nout) != 0) return make_error("axis size ", d, " does not split into ", nout, " equal parts");
      sp.assign(nout, d / int64_t(nout));
    }
    if (sp.size() != nout) return make_error("split has ", sp.size(), " entries for ", nout, " outputs");
    int64_t sum = 0;
    for (auto v : sp) {
      if (v < 0) return make_error("split entries must be >= 0");
      sum += v;
    }
    if (sum != d) return make_error("split sizes sum to ", sum, ", axis ", ax, " has size ", d);
    auto st = contiguous_strides(x.shape());
    int64_t start = 0;
    for (size_t k = 0; k < nout; ++k) {
      Shape os = x.shape();
      os[size_t(ax)] = sp[k];
      out[k] = strided_gather(rc, x, start * st[size_t(ax)], os, st);
      start += sp[k];
    }
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_slice(BuildContext& c) {
  bool attr_form = c.opset < 10;
  QF_RETURN_IF_ERROR(expect_inputs(c, attr_form ? 1 : 3, attr_form ? 1 : 5));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  for (size_t k = 1; k < 5; ++k) QF_RETURN_IF_ERROR(expect_int_input(c, k));
  if (attr_form && (!c.node.has("starts") || !c.node.has("ends")))
    return make_error("attributes 'starts' and 'ends' are required");
  std::vector<int64_t> a_starts = c.node.get_ints("starts"), a_ends = c.node.get_ints("ends"),
                       a_axes = c.node.get_ints("axes");
  c.outputs_as(c.dtype(0));
  return make_kernel([=](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    int64_t r = int64_t(x.rank());
    std::vector<int64_t> starts = a_starts, ends = a_ends, axes = a_axes, steps;
    if (!attr_form) {
      QF_ASSIGN_OR_RETURN(starts, tensor_to_i64(*in[1], "starts"));
      QF_ASSIGN_OR_RETURN(ends, tensor_to_i64(*in[2], "ends"));
      QF_ASSIGN_OR_RETURN(axes, ints_input(in, 3, "axes"));
      QF_ASSIGN_OR_RETURN(steps, ints_input(in, 4, "steps"));
    }
    if (ends.size() != starts.size()) return make_error("starts and ends have different lengths");
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (axes.size() != starts.size() || steps.size() != starts.size())
      return make_error("starts, ends, axes and steps must have the same length");
    Shape os = x.shape();
    auto st = contiguous_strides(x.shape());
    std::vector<int64_t> ost = st;
    int64_t base = 0;
    std::vector<bool> seen(size_t(r), false);
    for (size_t i = 0; i < starts.size(); ++i) {
      QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axes[i], r));
      if (seen[size_t(ax)]) return make_error("axis ", axes[i], " is repeated");
      seen[size_t(ax)] = true;
      int64_t d = x.dim(size_t(ax)), step = steps[i], s = starts[i], e = ends[i];
      if (step == 0) return make_error("step must not be 0");
      if (d == 0) {
        os[size_t(ax)] = 0;
        continue;
      }
      if (s < 0) s += d;
      if (e < 0) e += d;
      int64_t n;
      if (step > 0) {
        s = std::clamp<int64_t>(s, 0, d);
        e = std::clamp<int64_t>(e, 0, d);
        n = e > s ? (e - s + step - 1) / step : 0;
      } else {
        s = std::clamp<int64_t>(s, 0, d - 1);
        e = std::clamp<int64_t>(e, -1, d - 1);
        n = s > e ? (s - e + (-step) - 1) / (-step) : 0;
      }
      os[size_t(ax)] = n;
      ost[size_t(ax)] = st[size_t(ax)] * step;
      if (n > 0) base += s * st[size_t(ax)];
    }
    out[0] = strided_gather(rc, x, base, os, ost);
    return Status::Ok();
  });
}

// ---- Pad ---------------------------------------------------------------------------------------------------------

inline Result<KernelPtr> build_pad(BuildContext& c) {
  bool attr_form = c.opset < 11;
  QF_RETURN_IF_ERROR(expect_inputs(c, attr_form ? 1 : 2, attr_form ? 1 : 3));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  if (!attr_form) QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  if (c.has(2) && c.dtype(2) != c.dtype(0)) return make_error("constant_value dtype differs from the input's");
  std::string mode = c.node.get_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") return make_error("mode '", mode, "' is not supported");
  std::vector<int64_t> apads = c.node.get_ints(c.opset < 2 ? "paddings" : "pads");
  float avalue = c.node.get_float("value", 0.f);
  if (attr_form && apads.empty()) return make_error("attribute 'pads' is required");
  if (c.num_inputs() > 3 && c.has(3)) return make_error("the axes input is not supported");
  DType t = c.dtype(0);
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([=](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
      const Tensor& x = *in[0];
      size_t r = x.rank();
      std::vector<int64_t> pads = apads;
      T value = T(avalue);
      if (!attr_form) {
        QF_ASSIGN_OR_RETURN(pads, tensor_to_i64(*in[1], "pads"));
        if (in.size() > 2 && in[2]) {
          if (in[2]->numel() != 1) return make_error("constant_value must be a scalar");
          value = in[2]->data<T>()[0];
        }
      }
      if (pads.size() != 2 * r) return make_error("pads has ", pads.size(), " entries for rank ", r);
      Shape os(r);
      for (size_t i = 0; i < r; ++i) {
        os[i] = x.dim(i) + pads[i] + pads[i + r];
        if (os[i] < 0) return make_error("pads ", shape_str(pads), " give a negative size for ", shape_str(x.shape()));
        if (mode != "constant" && x.dim(i) == 0 && os[i] > 0) return make_error("cannot ", mode, "-pad an empty axis");
      }
      QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), os));
      if (y.numel() == 0) { out[0] = std::move(y); return Status::Ok(); }
      // Maps an output coordinate to an input one; -1 = constant.
      auto map = [&](int64_t o, size_t i) -> int64_t {
        int64_t d = x.dim(i), v = o - pads[i];
        if (v >= 0 && v < d) return v;
        if (mode == "constant") return -1;
        if (mode == "edge") return v < 0 ? 0 : d - 1;
        if (d == 1) return 0;
        int64_t period = 2 * (d - 1);
        v %= period;
        if (v < 0) v += period;
        return v < d ? v : period - v;
      };
      auto xst = contiguous_strides(x.shape());
      int64_t inner = os[r - 1], rows = y.numel() / std::max<int64_t>(inner, 1);
      std::vector<int64_t> imap(static_cast<size_t>(inner));
      for (int64_t j = 0; j < inner; ++j) imap[size_t(j)] = map(j, r - 1);
      const T* px = x.data<T>();
      T* py = y.data<T>();
      parallel_for(rc, rows, 64, [&](int64_t rb, int64_t re) {
        for (int64_t rr = rb; rr < re; ++rr) {
          int64_t rem = rr, off = 0;
          bool constant_row = false;
          for (size_t i = r - 1; i-- > 0;) {
            int64_t o = rem % os[i];
            rem /= os[i];
            int64_t v = map(o, i);
            if (v < 0) constant_row = true;
            else off += v * xst[i];
          }
          T* dst = py + rr * inner;
          if (constant_row) {
            for (int64_t j = 0; j < inner; ++j) dst[j] = value;
            continue;
          }
          for (int64_t j = 0; j < inner; ++j) {
            int64_t v = imap[size_t(j)];
            dst[j] = v < 0 ? value : px[off + v];
          }
        }
      });
      out[0] = std::move(y);
      return Status::Ok();
    });
  });
}

// ---- Gather / GatherElements -----------------------------------------------------------------------------------

inline Result<KernelPtr> build_gather(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  int64_t axis = c.node.get_int("axis", 0);
  c.outputs_as(c.dtype(0));
  return make_kernel([axis](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    int64_t r = int64_t(x.rank());
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, r));
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, tensor_to_i64(*in[1], "indices"));
    int64_t d = x.dim(size_t(ax));
    for (auto& v : idx) {
      if (v < -d || v >= d) return make_error("index ", v, " is out of range for axis ", ax, " of size ", d);
      if (v < 0) v += d;
    }
    Shape os(x.shape().begin(), x.shape().begin() + ax);
    os.insert(os.end(), in[1]->shape().begin(), in[1]->shape().end());
    os.insert(os.end(), x.shape().begin() + ax + 1, x.shape().end());
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), os));
    size_t es = dtype_size(x.dtype());
    int64_t outer = dims_product(x.shape(), 0, size_t(ax)), inner = dims_product(x.shape(), size_t(ax) + 1, size_t(r));
    const auto* px = static_cast<const uint8_t*>(x.raw());
    auto* py = static_cast<uint8_t*>(y.raw());
    int64_t ni = int64_t(idx.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < ni; ++i)
        std::memcpy(py + ((o * ni + i) * inner) * es, px + ((o * d + idx[size_t(i)]) * inner) * es, size_t(inner) * es);
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_gather_elements(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  int64_t axis = c.node.get_int("axis", 0);
  c.outputs_as(c.dtype(0));
  return make_kernel([axis](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    int64_t r = int64_t(x.rank());
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, r));
    if (int64_t(in[1]->rank()) != r) return make_error("indices must have the rank of the data (", r, ")");
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, tensor_to_i64(*in[1], "indices"));
    const Shape& is = in[1]->shape();
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), is));
    auto xst = contiguous_strides(x.shape());
    size_t es = dtype_size(x.dtype());
    const auto* px = static_cast<const uint8_t*>(x.raw());
    auto* py = static_cast<uint8_t*>(y.raw());
    int64_t d = x.dim(size_t(ax));
    for (int64_t e = 0; e < y.numel(); ++e) {
      int64_t rem = e, off = 0;
      for (size_t i = size_t(r); i-- > 0;) {
        int64_t o = rem % is[i];
        rem /= is[i];
        if (int64_t(i) == ax) {
          int64_t v = idx[size_t(e)];
          if (v < -d || v >= d) return make_error("index ", v, " is out of range for axis ", ax, " of size ", d);
          o = v < 0 ? v + d : v;
        } else if (o >= x.dim(i)) {
          return make_error("indices shape ", shape_str(is), " exceeds data shape ", shape_str(x.shape()));
        }
        off += o * xst[i];
      }
      std::memcpy(py + e * int64_t(es), px + off * int64_t(es), es);
    }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

// ---- Shape / Size / Constant / ConstantOfShape / Range -------------------------------------------------------

inline Result<KernelPtr> build_shape(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  bool has_end = c.node.has("end");
  int64_t start = c.node.get_int("start", 0), end = c.node.get_int("end", 0);
  c.outputs_as(DType::i64);
  return make_kernel([=](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Shape& s = in[0]->shape();
    int64_t r = int64_t(s.size());
    int64_t b = start < 0 ? start + r : start, e = has_end ? (end < 0 ? end + r : end) : r;
    b = std::clamp<int64_t>(b, 0, r);
    e = std::clamp<int64_t>(e, 0, r);
    std::vector<int64_t> v;
    for (int64_t i = b; i < e; ++i) v.push_back(s[size_t(i)]);
    out[0] = Tensor::from_vector<int64_t>({int64_t(v.size())}, v);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_size(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  c.outputs_as(DType::i64);
  return make_kernel([](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    out[0] = Tensor::scalar<int64_t>(in[0]->numel());
    return Status::Ok();
  });
}

inline Result<Tensor> constant_value(const Node& n) {
  if (n.attrs.size() != 1) return make_error("expects exactly one value attribute");
  const auto& kv = *n.attrs.begin();
  const Attribute& a = kv.second;
  if (kv.first == "value") {
    if (a.kind != Attribute::Kind::Tensor || !a.t.defined()) return make_error("attribute 'value' must be a tensor");
    return a.t;
  }
  if (kv.first == "value_float") return Tensor::scalar<float>(a.f);
  if (kv.first == "value_int") return Tensor::scalar<int64_t>(a.i);
  if (kv.first == "value_floats") return Tensor::from_vector<float>({int64_t(a.floats.size())}, a.floats);
  if (kv.first == "value_ints") return Tensor::from_vector<int64_t>({int64_t(a.ints.size())}, a.ints);
  return make_error("attribute '", kv.first, "' is not supported");
}

inline Result<KernelPtr> build_constant(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 0, 0));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  QF_ASSIGN_OR_RETURN(Tensor v, constant_value(c.node));
  c.outputs_as(v.dtype());
  return make_kernel([v](const RunContext&, const std::vector<const Tensor*>&, std::vector<Tensor>& out) {
    out[0] = v;
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_constant_of_shape(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_int_input(c, 0));
  Tensor v = Tensor::scalar<float>(0.f);
  if (c.node.has("value")) {
    const Attribute& a = c.node.attrs.at("value");
    if (a.kind != Attribute::Kind::Tensor || !a.t.defined() || a.t.numel() != 1)
      return make_error("attribute 'value' must be a one-element tensor");
    v = a.t;
  }
  c.outputs_as(v.dtype());
  return make_kernel([v](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> s, tensor_to_i64(*in[0], "shape"));
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(v.dtype(), s));
    size_t es = dtype_size(v.dtype());
    auto* p = static_cast<uint8_t*>(y.raw());
    for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(p + i * int64_t(es), v.raw(), es);
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_range(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 3, 3));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64}));
  for (size_t k = 1; k < 3; ++k)
    if (c.dtype(k) != c.dtype(0)) return make_error("inputs must share one dtype");
  DType t = c.dtype(0);
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([t](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
      for (size_t k = 0; k < 3; ++k)
        if (in[k]->numel() != 1) return make_error("input ", k, " must be a scalar");
      T s = in[0]->data<T>()[0], l = in[1]->data<T>()[0], d = in[2]->data<T>()[0];
      if (d == T(0)) return make_error("delta must not be 0");
      double nd = std::ceil((double(l) - double(s)) / double(d));
      int64_t n = nd > 0 ? int64_t(nd) : 0;
      if (n > kMaxTensorElements) return make_error("range of ", n, " elements is too large");
      Tensor y(t, {n});
      T* p = y.data<T>();
      for (int64_t i = 0; i < n; ++i) p[i] = T(s + T(i) * d);
      out[0] = std::move(y);
      return Status::Ok();
    });
  });
}

// ---- Cast ---------------------------------------------------------------------------------------------------------

template <class S, class D>
D cast_one(S v) {
  if constexpr (std::is_same<D, bool>::value) {
    return v != S(0);
  } else if constexpr (std::is_floating_point<S>::value && std::is_integral<D>::value) {
    if (v != v) return D(0);
    if (v <= S(std::numeric_limits<D>::lowest())) return std::numeric_limits<D>::lowest();
    if (v >= S(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    return D(v);
  } else {
    return D(v);
  }
}

inline Tensor cast_tensor(const RunContext& rc, const Tensor& x, DType to) {
  if (x.dtype() == to) return x;
  Tensor y(to, x.shape());
  dispatch_all(x.dtype(), [&](auto stag) {
    using S = decltype(stag);
    dispatch_all(to, [&](auto dtag) {
      using D = decltype(dtag);
      const S* ps = x.data<S>();
      D* pd = y.data<D>();
      parallel_for(rc, x.numel(), 16384, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) pd[i] = cast_one<S, D>(ps[i]);
      });
    });
  });
  return y;
}

inline Result<KernelPtr> build_cast(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 1));
  if (!c.node.has("to")) return make_error("attribute 'to' is required");
  QF_ASSIGN_OR_RETURN(DType to, dtype_from_onnx(c.node.get_int("to", 0)));
  c.outputs_as(to);
  return make_kernel([to](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    out[0] = cast_tensor(rc, *in[0], to);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_castlike(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  DType to = c.dtype(1);
  c.outputs_as(to);
  return make_kernel([to](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) {
    out[0] = cast_tensor(rc, *in[0], to);
    return Status::Ok();
  });
}

// ---- Expand / Tile / Trilu / DepthToSpace / SpaceToDepth ---------------------------------------------------------

inline Result<KernelPtr> build_expand(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  c.outputs_as(c.dtype(0));
  return make_kernel([](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> s, tensor_to_i64(*in[1], "shape"));
    QF_ASSIGN_OR_RETURN(Shape os, broadcast_shapes(x.shape(), s));
    QF_RETURN_IF_ERROR(checked_numel(os));
    auto st = contiguous_strides(x.shape());
    std::vector<int64_t> ost(os.size(), 0);
    size_t off = os.size() - x.rank();
    for (size_t i = 0; i < x.rank(); ++i) ost[off + i] = x.dim(i) == 1 ? 0 : st[i];
    out[0] = strided_gather(rc, x, 0, os, ost);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_tile(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  c.outputs_as(c.dtype(0));
  return make_kernel([](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> rep, tensor_to_i64(*in[1], "repeats"));
    size_t r = x.rank();
    if (rep.size() != r) return make_error("repeats has ", rep.size(), " entries for rank ", r);
    Shape os(r);
    for (size_t i = 0; i < r; ++i) {
      if (rep[i] < 0) return make_error("repeats must be >= 0");
      os[i] = x.dim(i) * rep[i];
    }
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), os));
    auto st = contiguous_strides(x.shape());
    size_t es = dtype_size(x.dtype());
    const auto* px = static_cast<const uint8_t*>(x.raw());
    auto* py = static_cast<uint8_t*>(y.raw());
    for (int64_t e = 0; e < y.numel(); ++e) {
      int64_t rem = e, off = 0;
      for (size_t i = r; i-- > 0;) {
        off += ((rem % os[i]) % x.dim(i)) * st[i];
        rem /= os[i];
      }
      std::memcpy(py + e * int64_t(es), px + off * int64_t(es), es);
    }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_trilu(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 2));
  QF_RETURN_IF_ERROR(expect_int_input(c, 1));
  bool upper = c.node.get_int("upper", 1) != 0;
  c.outputs_as(c.dtype(0));
  return make_kernel([upper](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() < 2) return make_error("input must have rank >= 2");
    int64_t k = 0;
    if (in.size() > 1 && in[1]) {
      QF_ASSIGN_OR_RETURN(std::vector<int64_t> kv, tensor_to_i64(*in[1], "k"));
      if (kv.size() != 1) return make_error("k must be a scalar");
      k = kv[0];
    }
    Tensor y = x.clone();
    int64_t R = x.dim(x.rank() - 2), C = x.dim(x.rank() - 1), mats = (R * C != 0) ? x.numel() / (R * C) : 0;
    size_t es = dtype_size(x.dtype());
    auto* py = static_cast<uint8_t*>(y.raw());
    for (int64_t m = 0; m < mats; ++m)
      for (int64_t i = 0; i < R; ++i)
        for (int64_t j = 0; j < C; ++j) {
          bool keep = upper ? (j - i >= k) : (j - i <= k);
          if (!keep) std::memset(py + ((m * R + i) * C + j) * int64_t(es), 0, es);
        }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

template <bool kToSpace>
Result<KernelPtr> build_depth_space(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  int64_t b = c.node.get_int("blocksize", 0);
  if (b < 1) return make_error("attribute 'blocksize' must be >= 1");
  std::string mode = c.node.get_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return make_error("mode '", mode, "' is not supported");
  c.outputs_as(c.dtype(0));
  return make_kernel([b, mode](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() != 4) return make_error("input must be 4-D, got ", shape_str(x.shape()));
    int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    Tensor v;
    std::vector<int64_t> perm;
    Shape os;
    if (kToSpace) {
      if (C % (b * b)) return make_error("channels ", C, " not divisible by blocksize^2 = ", b * b);
      int64_t Co = C / (b * b);
      if (mode == "DCR") {
        QF_ASSIGN_OR_RETURN(v, x.reshape({N, b, b, Co, H, W}));
        perm = {0, 3, 4, 1, 5, 2};
      } else {
        QF_ASSIGN_OR_RETURN(v, x.reshape({N, Co, b, b, H, W}));
        perm = {0, 1, 4, 2, 5, 3};
      }
      os = {N, Co, H * b, W * b};
    } else {
      if (H % b || W % b) return make_error("spatial dims ", H, "x", W, " not divisible by blocksize ", b);
      QF_ASSIGN_OR_RETURN(v, x.reshape({N, C, H / b, b, W / b, b}));
      perm = {0, 3, 5, 1, 2, 4};
      os = {N, C * b * b, H / b, W / b};
    }
    QF_ASSIGN_OR_RETURN(out[0], transpose(rc, v, perm).reshape(os));
    return Status::Ok();
  });
}

}  // namespace shape_detail

inline void add_shape_ops(OpTable& t) {
  using namespace shape_detail;
  t["Identity"] = {&build_identity};
  t["Dropout"] = {&build_dropout};
  t["Reshape"] = {&build_reshape, 1u << 1};
  t["Flatten"] = {&build_flatten};
  t["Squeeze"] = {&build_squeeze, 1u << 1};
  t["Unsqueeze"] = {&build_unsqueeze, 1u << 1};
  t["Transpose"] = {&build_transpose};
  t["Concat"] = {&build_concat};
  t["Split"] = {&build_split, 1u << 1};
  t["Slice"] = {&build_slice, 0x1Eu};
  t["Pad"] = {&build_pad, 1u << 1};
  t["Gather"] = {&build_gather};
  t["GatherElements"] = {&build_gather_elements};
  t["Shape"] = {&build_shape};
  t["Size"] = {&build_size};
  t["Constant"] = {&build_constant};
  t["ConstantOfShape"] = {&build_constant_of_shape, 1u << 0};
  t["Range"] = {&build_range, 0x7u};
  t["Cast"] = {&build_cast};
  t["CastLike"] = {&build_castlike};
  t["Expand"] = {&build_expand, 1u << 1};
  t["Tile"] = {&build_tile, 1u << 1};
  t["Trilu"] = {&build_trilu};
  t["DepthToSpace"] = {&build_depth_space<true>};
  t["SpaceToDepth"] = {&build_depth_space<false>};
}

}  // namespace qforge::ops
