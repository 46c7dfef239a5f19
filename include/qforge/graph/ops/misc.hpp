// qforge/graph/ops/misc.hpp — index and selection ops: TopK, OneHot, GatherND, ScatterElements / Scatter,
// ScatterND, NonZero, EyeLike, Compress, ReverseSequence, MaxUnpool, BitShift, MeanVarianceNormalization,
// Hann/Hamming/BlackmanWindow, Det, Unique.
//
// Contract (ONNX): any qforge dtype for data unless stated; indices int64/int32, negative indices count from the
// end; an index out of range is an error naming it (never a crash). TopK: ties keep the lower index first;
// sorted = 0 still returns sorted values. OneHot: out-of-range indices give an all-off row. Scatter* reductions
// none/add/mul; duplicate indices apply in index order. MaxUnpool: indices are flat over the whole output tensor
// (MaxPool's Indices). MeanVarianceNormalization: (x - mean) / (sqrt(var) + 1e-9) over `axes` (default 0,2,3).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "qforge/graph/ops/op.hpp"
#include "qforge/graph/ops/shape_ops.hpp"

namespace qforge::ops {

namespace misc_detail {

using shape_detail::contiguous_strides;

inline Status int_input(const BuildContext& c, size_t k) { return expect_dtype(c, k, {DType::i64, DType::i32}); }

inline Result<KernelPtr> build_topk(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_outputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  QF_RETURN_IF_ERROR(int_input(c, 1));
  if (c.opset < 10) return make_error("TopK before opset 10 (k attribute) is not supported");
  int64_t axis = c.node.get_int("axis", -1);
  bool largest = c.node.get_int("largest", 1) != 0;
  DType t = c.dtype(0);
  c.out_dtypes = {t, DType::i64};
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([=](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
      const Tensor& x = *in[0];
      QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, int64_t(x.rank())));
      QF_ASSIGN_OR_RETURN(std::vector<int64_t> kv, tensor_to_i64(*in[1], "K"));
      if (kv.size() != 1) return make_error("K must have one element");
      int64_t n = x.dim(size_t(ax)), k = kv[0];
      if (k < 0 || k > n) return make_error("K = ", k, " is outside [0, ", n, "]");
      int64_t outer = dims_product(x.shape(), 0, size_t(ax)), inner = dims_product(x.shape(), size_t(ax) + 1, x.rank());
      Shape os = x.shape();
      os[size_t(ax)] = k;
      Tensor vals(x.dtype(), os), idx(DType::i64, os);
      const T* px = x.data<T>();
      std::vector<int64_t> order(static_cast<size_t>(n));
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const T* p = px + o * n * inner + i;
          std::iota(order.begin(), order.end(), 0);
          std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
            return largest ? p[a * inner] > p[b * inner] : p[a * inner] < p[b * inner];
          });
          for (int64_t j = 0; j < k; ++j) {
            int64_t e = (o * k + j) * inner + i;
            vals.data<T>()[e] = p[order[size_t(j)] * inner];
            idx.data<int64_t>()[e] = order[size_t(j)];
          }
        }
      out[0] = std::move(vals);
      out[1] = std::move(idx);
      return Status::Ok();
    });
  });
}

inline Result<KernelPtr> build_onehot(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 3, 3));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  int64_t axis = c.node.get_int("axis", -1);
  DType vt = c.dtype(2);
  c.outputs_as(vt);
  return make_kernel([axis, vt](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    QF_ASSIGN_OR_RETURN(std::vector<float> depth_v, tensor_to_f32(shape_detail::cast_tensor(rc, *in[1], DType::f32), "depth"));
    if (depth_v.size() != 1) return make_error("depth must be a scalar");
    int64_t depth = int64_t(depth_v[0]);
    if (depth < 1) return make_error("depth must be >= 1");
    if (in[2]->numel() != 2) return make_error("values must have 2 elements (off, on)");
    Tensor idxf = shape_detail::cast_tensor(rc, *in[0], DType::f32);
    const Shape& is = in[0]->shape();
    int64_t r = int64_t(is.size()) + 1;
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, r));
    Shape os = is;
    os.insert(os.begin() + ax, depth);
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(vt, os));
    int64_t outer = dims_product(is, 0, size_t(ax)), inner = dims_product(is, size_t(ax), is.size());
    size_t es = dtype_size(vt);
    const auto* pv = static_cast<const uint8_t*>(in[2]->raw());
    auto* py = static_cast<uint8_t*>(y.raw());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t d = 0; d < depth; ++d)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t v = int64_t(idxf.data<float>()[o * inner + i]);
          if (v < 0) v += depth;
          bool on = v == d;
          std::memcpy(py + ((o * depth + d) * inner + i) * int64_t(es), pv + (on ? es : 0), es);
        }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_gathernd(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(int_input(c, 1));
  int64_t bd = c.node.get_int("batch_dims", 0);
  c.outputs_as(c.dtype(0));
  return make_kernel([bd](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    const Shape& ds = x.shape();
    const Shape& is = in[1]->shape();
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, tensor_to_i64(*in[1], "indices"));
    if (is.empty()) return make_error("indices must have rank >= 1");
    int64_t q = int64_t(is.size()), r = int64_t(ds.size()), last = is.back();
    if (bd < 0 || bd >= std::min(q, r)) return make_error("batch_dims ", bd, " is out of range");
    if (last < 1 || bd + last > r) return make_error("indices last dim ", last, " does not fit data rank ", r);
    for (int64_t i = 0; i < bd; ++i)
      if (ds[size_t(i)] != is[size_t(i)]) return make_error("batch dims of data and indices differ");
    Shape os(is.begin(), is.end() - 1);
    os.insert(os.end(), ds.begin() + bd + last, ds.end());
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(x.dtype(), os));
    auto dst = contiguous_strides(ds);
    int64_t batch = dims_product(ds, 0, size_t(bd)), per_batch = dims_product(is, size_t(bd), size_t(q - 1));
    int64_t slice = dims_product(ds, size_t(bd + last), size_t(r)), bstride = bd ? dst[size_t(bd - 1)] : 0;
    size_t es = dtype_size(x.dtype());
    const auto* px = static_cast<const uint8_t*>(x.raw());
    auto* py = static_cast<uint8_t*>(y.raw());
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t = 0; t < per_batch; ++t) {
        const int64_t* iv = idx.data() + (b * per_batch + t) * last;
        int64_t off = b * bstride;
        for (int64_t j = 0; j < last; ++j) {
          int64_t d = ds[size_t(bd + j)], v = iv[j];
          if (v < -d || v >= d) return make_error("index ", v, " is out of range for dim of size ", d);
          off += (v < 0 ? v + d : v) * dst[size_t(bd + j)];
        }
        std::memcpy(py + (b * per_batch + t) * slice * int64_t(es), px + off * int64_t(es), size_t(slice) * es);
      }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

template <class T>
void reduce_into(T& dst, T v, int red) {
  if (red == 0) dst = v;
  else if (red == 1) dst = T(dst + v);
  else dst = T(dst * v);
}

inline Result<int> read_reduction(const Node& n) {
  std::string r = n.get_string("reduction", "none");
  if (r == "none") return 0;
  if (r == "add") return 1;
  if (r == "mul") return 2;
  return make_error("reduction '", r, "' is not supported");
}

inline Result<KernelPtr> build_scatter_elements(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 3, 3));
  QF_RETURN_IF_ERROR(int_input(c, 1));
  if (c.dtype(2) != c.dtype(0)) return make_error("updates dtype differs from data");
  QF_ASSIGN_OR_RETURN(int red, read_reduction(c.node));
  int64_t axis = c.node.get_int("axis", 0);
  DType t = c.dtype(0);
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([axis, red](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
      const Tensor& x = *in[0];
      int64_t r = int64_t(x.rank());
      QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(axis, r));
      const Shape& is = in[1]->shape();
      if (in[2]->shape() != is || int64_t(is.size()) != r) return make_error("indices and updates must share a shape of rank ", r);
      QF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, tensor_to_i64(*in[1], "indices"));
      Tensor y = x.clone();
      auto st = contiguous_strides(x.shape());
      const T* pu = in[2]->data<T>();
      T* py = y.data<T>();
      int64_t d = x.dim(size_t(ax));
      for (int64_t e = 0; e < in[1]->numel(); ++e) {
        int64_t rem = e, off = 0;
        for (size_t i = size_t(r); i-- > 0;) {
          int64_t o = rem % is[i];
          rem /= is[i];
          if (int64_t(i) == ax) {
            int64_t v = idx[size_t(e)];
            if (v < -d || v >= d) return make_error("index ", v, " is out of range for axis of size ", d);
            o = v < 0 ? v + d : v;
          } else if (o >= x.dim(i)) {
            return make_error("indices shape exceeds data shape");
          }
          off += o * st[i];
        }
        reduce_into(py[off], pu[e], red);
      }
      out[0] = std::move(y);
      return Status::Ok();
    });
  });
}

inline Result<KernelPtr> build_scatternd(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 3, 3));
  QF_RETURN_IF_ERROR(int_input(c, 1));
  if (c.dtype(2) != c.dtype(0)) return make_error("updates dtype differs from data");
  QF_ASSIGN_OR_RETURN(int red, read_reduction(c.node));
  DType t = c.dtype(0);
  c.outputs_as(t);
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([red](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
      const Tensor& x = *in[0];
      const Shape& ds = x.shape();
      const Shape& is = in[1]->shape();
      if (is.empty()) return make_error("indices must have rank >= 1");
      int64_t last = is.back(), r = int64_t(ds.size());
      if (last < 1 || last > r) return make_error("indices last dim ", last, " does not fit data rank ", r);
      Shape us(is.begin(), is.end() - 1);
      us.insert(us.end(), ds.begin() + last, ds.end());
      if (in[2]->shape() != us) return make_error("updates shape ", shape_str(in[2]->shape()), ", expected ", shape_str(us));
      QF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, tensor_to_i64(*in[1], "indices"));
      Tensor y = x.clone();
      auto st = contiguous_strides(ds);
      int64_t n = dims_product(is, 0, is.size() - 1), slice = dims_product(ds, size_t(last), ds.size());
      const T* pu = in[2]->data<T>();
      T* py = y.data<T>();
      for (int64_t t2 = 0; t2 < n; ++t2) {
        int64_t off = 0;
        for (int64_t j = 0; j < last; ++j) {
          int64_t d = ds[size_t(j)], v = idx[size_t(t2 * last + j)];
          if (v < -d || v >= d) return make_error("index ", v, " is out of range for dim of size ", d);
          off += (v < 0 ? v + d : v) * st[size_t(j)];
        }
        for (int64_t s = 0; s < slice; ++s) reduce_into(py[off + s], pu[t2 * slice + s], red);
      }
      out[0] = std::move(y);
      return Status::Ok();
    });
  });
}

inline Result<KernelPtr> build_nonzero(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  c.outputs_as(DType::i64);
  return make_kernel([](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    Tensor b = shape_detail::cast_tensor(rc, *in[0], DType::boolean);
    const bool* p = b.data<bool>();
    int64_t r = int64_t(b.rank()), nnz = 0;
    for (int64_t i = 0; i < b.numel(); ++i) nnz += p[i];
    Tensor y(DType::i64, {r, nnz});
    int64_t k = 0;
    for (int64_t i = 0; i < b.numel(); ++i) {
      if (!p[i]) continue;
      int64_t rem = i;
      for (int64_t d = r; d-- > 0;) {
        y.data<int64_t>()[d * nnz + k] = rem % b.dim(size_t(d));
        rem /= b.dim(size_t(d));
      }
      ++k;
    }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_eyelike(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  DType t = c.dtype(0);
  if (c.node.has("dtype")) { QF_ASSIGN_OR_RETURN(t, dtype_from_onnx(c.node.get_int("dtype", 1))); }
  int64_t k = c.node.get_int("k", 0);
  c.outputs_as(t);
  return make_kernel([t, k](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    if (in[0]->rank() != 2) return make_error("input must be 2-D");
    int64_t R = in[0]->dim(0), C = in[0]->dim(1);
    Tensor f(DType::f32, {R, C});
    for (int64_t i = 0; i < R; ++i)
      if (i + k >= 0 && i + k < C) f.data<float>()[i * C + i + k] = 1.f;
    out[0] = shape_detail::cast_tensor(rc, f, t);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_compress(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::boolean}));
  bool has_axis = c.node.has("axis");
  int64_t axis = c.node.get_int("axis", 0);
  c.outputs_as(c.dtype(0));
  return make_kernel([=](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    Tensor x = *in[0];
    if (!has_axis) { QF_ASSIGN_OR_RETURN(x, x.reshape({x.numel()})); }
    QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(has_axis ? axis : 0, int64_t(x.rank())));
    const bool* pc = in[1]->data<bool>();
    int64_t nc = std::min(in[1]->numel(), x.dim(size_t(ax)));
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < nc; ++i)
      if (pc[i]) keep.push_back(i);
    int64_t outer = dims_product(x.shape(), 0, size_t(ax)), inner = dims_product(x.shape(), size_t(ax) + 1, x.rank());
    Shape os = x.shape();
    os[size_t(ax)] = int64_t(keep.size());
    Tensor y(x.dtype(), os);
    size_t es = dtype_size(x.dtype());
    int64_t d = x.dim(size_t(ax)), nk = int64_t(keep.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < nk; ++j)
        std::memcpy(static_cast<uint8_t*>(y.raw()) + ((o * nk + j) * inner) * int64_t(es),
                    static_cast<const uint8_t*>(x.raw()) + ((o * d + keep[size_t(j)]) * inner) * int64_t(es),
                    size_t(inner) * es);
    (void)rc;
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_reverse_sequence(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(int_input(c, 1));
  int64_t ba = c.node.get_int("batch_axis", 1), ta = c.node.get_int("time_axis", 0);
  if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0))) return make_error("batch_axis/time_axis must be 0/1 or 1/0");
  c.outputs_as(c.dtype(0));
  return make_kernel([ba, ta](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() < 2) return make_error("input must have rank >= 2");
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> lens, tensor_to_i64(*in[1], "sequence_lens"));
    int64_t B = x.dim(size_t(ba)), T = x.dim(size_t(ta)), inner = dims_product(x.shape(), 2, x.rank());
    if (int64_t(lens.size()) != B) return make_error("sequence_lens has ", lens.size(), " entries for batch ", B);
    Tensor y = x.clone();
    size_t es = dtype_size(x.dtype());
    auto off = [&](int64_t b, int64_t t) { return ((ba == 0 ? b * T + t : t * B + b) * inner) * int64_t(es); };
    for (int64_t b = 0; b < B; ++b) {
      int64_t L = lens[size_t(b)];
      if (L < 0 || L > T) return make_error("sequence length ", L, " is outside [0, ", T, "]");
      for (int64_t t = 0; t < L; ++t)
        std::memcpy(static_cast<uint8_t*>(y.raw()) + off(b, t), static_cast<const uint8_t*>(x.raw()) + off(b, L - 1 - t),
                    size_t(inner) * es);
    }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_maxunpool(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 3));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  QF_RETURN_IF_ERROR(int_input(c, 1));
  QF_RETURN_IF_ERROR(int_input(c, 2));
  std::vector<int64_t> ks = c.node.get_ints("kernel_shape");
  if (ks.empty()) return make_error("attribute 'kernel_shape' is required");
  size_t nsp = ks.size();
  std::vector<int64_t> st = c.node.get_ints("strides", std::vector<int64_t>(nsp, 1));
  std::vector<int64_t> pads = c.node.get_ints("pads", std::vector<int64_t>(2 * nsp, 0));
  if (st.size() != nsp || pads.size() != 2 * nsp) return make_error("strides/pads do not match kernel_shape");
  c.outputs_as(DType::f32);
  return make_kernel([=](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() != nsp + 2) return make_error("input rank ", x.rank(), " does not match kernel_shape");
    if (in[1]->shape() != x.shape()) return make_error("indices shape differs from input shape");
    // Indices are flat over the default output shape; an explicit output_shape keeps their coordinates.
    Shape ds{x.dim(0), x.dim(1)};
    for (size_t i = 0; i < nsp; ++i) ds.push_back((x.dim(2 + i) - 1) * st[i] + ks[i] - pads[i] - pads[i + nsp]);
    Shape os = ds;
    if (in.size() > 2 && in[2]) {
      QF_ASSIGN_OR_RETURN(os, tensor_to_i64(*in[2], "output_shape"));
      if (os.size() != x.rank()) return make_error("output_shape has the wrong rank");
    }
    QF_ASSIGN_OR_RETURN(Tensor y, Tensor::create(DType::f32, os));
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> idx, tensor_to_i64(*in[1], "indices"));
    int64_t dn = dims_product(ds, 0, ds.size());
    auto ost = contiguous_strides(os);
    for (int64_t e = 0; e < x.numel(); ++e) {
      int64_t v = idx[size_t(e)];
      if (v < 0 || v >= dn) return make_error("index ", v, " is outside the output");
      int64_t rem = v, off = 0;
      for (size_t i = ds.size(); i-- > 0;) {
        int64_t c = rem % ds[i];
        rem /= ds[i];
        if (c >= os[i]) return make_error("index ", v, " does not fit output_shape ", shape_str(os));
        off += c * ost[i];
      }
      y.data<float>()[off] = x.data<float>()[e];
    }
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_bitshift(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 2, 2));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::u8}));
  QF_RETURN_IF_ERROR(expect_dtype(c, 1, {DType::u8}));
  std::string dir = c.node.get_string("direction", "");
  if (dir != "LEFT" && dir != "RIGHT") return make_error("attribute 'direction' must be LEFT or RIGHT");
  bool left = dir == "LEFT";
  c.outputs_as(DType::u8);
  return make_kernel([left](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    QF_ASSIGN_OR_RETURN(Shape s, broadcast_shapes(in[0]->shape(), in[1]->shape()));
    Tensor y(DType::u8, s);
    broadcast_binary<uint8_t, uint8_t, uint8_t>(rc, *in[0], *in[1], y, [left](uint8_t a, uint8_t b) -> uint8_t {
      if (b >= 8) return 0;
      return uint8_t(left ? (a << b) : (a >> b));
    });
    out[0] = std::move(y);
    return Status::Ok();
  });
}

inline Result<KernelPtr> build_mvn(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  std::vector<int64_t> axes = c.node.get_ints("axes", {0, 2, 3});
  c.outputs_as(DType::f32);
  return make_kernel([axes](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    int64_t r = int64_t(x.rank());
    std::vector<bool> red(size_t(r), false);
    for (auto a : axes) {
      QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(a, r));
      red[size_t(ax)] = true;
    }
    auto st = contiguous_strides(x.shape());
    // Group elements by their kept-dims index.
    Shape kept;
    for (int64_t i = 0; i < r; ++i) kept.push_back(red[size_t(i)] ? 1 : x.dim(size_t(i)));
    int64_t groups = dims_product(kept, 0, kept.size());
    std::vector<double> sum(size_t(groups), 0.0), sq(size_t(groups), 0.0);
    std::vector<int64_t> gid(size_t(x.numel()));
    for (int64_t e = 0; e < x.numel(); ++e) {
      int64_t rem = e, g = 0, gm = 1;
      for (int64_t i = r; i-- > 0;) {
        int64_t o = rem % x.dim(size_t(i));
        rem /= x.dim(size_t(i));
        if (!red[size_t(i)]) { g += o * gm; gm *= x.dim(size_t(i)); }
      }
      gid[size_t(e)] = g;
      double v = x.data<float>()[e];
      sum[size_t(g)] += v;
      sq[size_t(g)] += v * v;
    }
    double n = double(x.numel()) / double(std::max<int64_t>(groups, 1));
    Tensor y(DType::f32, x.shape());
    for (int64_t e = 0; e < x.numel(); ++e) {
      size_t g = size_t(gid[size_t(e)]);
      double m = sum[g] / n, var = sq[g] / n - m * m;
      y.data<float>()[e] = float((x.data<float>()[e] - m) / (std::sqrt(std::max(var, 0.0)) + 1e-9));
    }
    out[0] = std::move(y);
    return Status::Ok();
  });
}


// HannWindow / HammingWindow / BlackmanWindow (opset 17): size scalar input; periodic (default 1) divides by
// size, symmetric by size - 1; output dtype from output_datatype (default float).
template <int kKind>
Result<KernelPtr> build_window(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(int_input(c, 0));
  bool periodic = c.node.get_int("periodic", 1) != 0;
  QF_ASSIGN_OR_RETURN(DType t, dtype_from_onnx(c.node.get_int("output_datatype", 1)));
  c.outputs_as(t);
  return make_kernel([periodic, t](const RunContext& rc, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    QF_ASSIGN_OR_RETURN(std::vector<int64_t> sv, tensor_to_i64(*in[0], "size"));
    if (sv.size() != 1 || sv[0] < 0 || sv[0] > kMaxTensorElements) return make_error("size must be a non-negative scalar");
    int64_t n = sv[0];
    double den = double(periodic ? n : n - 1);
    Tensor w(DType::f32, {n});
    const double pi = 3.14159265358979323846;
    for (int64_t i = 0; i < n; ++i) {
      double x = den > 0 ? 2.0 * pi * double(i) / den : 0.0, v;
      if (kKind == 0) v = 0.5 - 0.5 * std::cos(x);
      else if (kKind == 1) v = 25.0 / 46.0 - (1.0 - 25.0 / 46.0) * std::cos(x);
      else v = 0.42 - 0.5 * std::cos(x) + 0.08 * std::cos(2.0 * x);
      w.data<float>()[i] = float(v);
    }
    out[0] = shape_detail::cast_tensor(rc, w, t);
    return Status::Ok();
  });
}

// Det: determinant of the square matrices in the last two dims (LU with partial pivoting, in double).
inline Result<KernelPtr> build_det(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32}));
  c.outputs_as(DType::f32);
  return make_kernel([](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
    const Tensor& x = *in[0];
    if (x.rank() < 2 || x.dim(x.rank() - 1) != x.dim(x.rank() - 2))
      return make_error("input must end in square matrices, got ", shape_str(x.shape()));
    int64_t n = x.dim(x.rank() - 1), mats = n ? x.numel() / (n * n) : 0;
    Shape os(x.shape().begin(), x.shape().end() - 2);
    Tensor y(DType::f32, os);
    std::vector<double> a(static_cast<size_t>(n * n));
    for (int64_t m = 0; m < mats; ++m) {
      for (int64_t i = 0; i < n * n; ++i) a[size_t(i)] = x.data<float>()[m * n * n + i];
      double det = 1.0;
      for (int64_t col = 0; col < n; ++col) {
        int64_t piv = col;
        for (int64_t r = col + 1; r < n; ++r)
          if (std::fabs(a[size_t(r * n + col)]) > std::fabs(a[size_t(piv * n + col)])) piv = r;
        if (a[size_t(piv * n + col)] == 0.0) { det = 0.0; break; }
        if (piv != col) {
          for (int64_t k = 0; k < n; ++k) std::swap(a[size_t(piv * n + k)], a[size_t(col * n + k)]);
          det = -det;
        }
        double d = a[size_t(col * n + col)];
        det *= d;
        for (int64_t r = col + 1; r < n; ++r) {
          double f = a[size_t(r * n + col)] / d;
          for (int64_t k = col; k < n; ++k) a[size_t(r * n + k)] -= f * a[size_t(col * n + k)];
        }
      }
      y.data<float>()[m] = float(det);
    }
    out[0] = std::move(y);
    return Status::Ok();
  });
}


// Unique: unique elements (no axis: of the flattened input) or unique slices along `axis`; sorted = 1 orders
// them ascending (slices lexicographically), 0 by first occurrence. Outputs Y, indices (first occurrence),
// inverse_indices, counts (int64), each optional.
inline Result<KernelPtr> build_unique(BuildContext& c) {
  QF_RETURN_IF_ERROR(expect_inputs(c, 1, 1));
  QF_RETURN_IF_ERROR(expect_outputs(c, 1, 4));
  QF_RETURN_IF_ERROR(expect_dtype(c, 0, {DType::f32, DType::i32, DType::i64, DType::i8, DType::u8}));
  bool has_axis = c.node.has("axis"), sorted = c.node.get_int("sorted", 1) != 0;
  int64_t axis = c.node.get_int("axis", 0);
  DType t = c.dtype(0);
  c.out_dtypes = {t, DType::i64, DType::i64, DType::i64};
  c.out_dtypes.resize(c.node.outputs.size());
  return dispatch_all(t, [&](auto tag) -> Result<KernelPtr> {
    using T = decltype(tag);
    return make_kernel([=](const RunContext&, const std::vector<const Tensor*>& in, std::vector<Tensor>& out) -> Status {
      Tensor x = *in[0];
      if (!has_axis) { QF_ASSIGN_OR_RETURN(x, x.reshape({x.numel()})); }
      QF_ASSIGN_OR_RETURN(int64_t ax, norm_axis(has_axis ? axis : 0, int64_t(x.rank())));
      int64_t outer = dims_product(x.shape(), 0, size_t(ax)), n = x.dim(size_t(ax)),
              inner = dims_product(x.shape(), size_t(ax) + 1, x.rank());
      const T* px = x.data<T>();
      auto cmp = [&](int64_t a, int64_t b) -> int {  // lexicographic compare of slices a and b
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i) {
            T va = px[(o * n + a) * inner + i], vb = px[(o * n + b) * inner + i];
            if (va < vb) return -1;
            if (vb < va) return 1;
          }
        return 0;
      };
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
      // Groups of equal slices: first occurrence (smallest index, thanks to the stable sort) and count.
      std::vector<int64_t> first, count, inverse(static_cast<size_t>(n));
      for (size_t k = 0; k < order.size(); ++k) {
        if (k == 0 || cmp(order[k - 1], order[k]) != 0) {
          first.push_back(order[k]);
          count.push_back(0);
        }
        ++count.back();
        inverse[size_t(order[k])] = int64_t(first.size()) - 1;
      }
      int64_t u = int64_t(first.size());
      std::vector<int64_t> rank(static_cast<size_t>(u));  // output position of each group
      std::iota(rank.begin(), rank.end(), 0);
      if (!sorted) {
        std::vector<int64_t> by_first(static_cast<size_t>(u));
        std::iota(by_first.begin(), by_first.end(), 0);
        std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) { return first[size_t(a)] < first[size_t(b)]; });
        for (int64_t p = 0; p < u; ++p) rank[size_t(by_first[size_t(p)])] = p;
      }
      Shape ys = x.shape();
      ys[size_t(ax)] = u;
      Tensor y(x.dtype(), ys), idx(DType::i64, {u}), inv(DType::i64, {n}), cnt(DType::i64, {u});
      for (int64_t g = 0; g < u; ++g) {
        int64_t p = rank[size_t(g)];
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i) y.data<T>()[(o * u + p) * inner + i] = px[(o * n + first[size_t(g)]) * inner + i];
        idx.data<int64_t>()[p] = first[size_t(g)];
        cnt.data<int64_t>()[p] = count[size_t(g)];
      }
      for (int64_t j = 0; j < n; ++j) inv.data<int64_t>()[j] = rank[size_t(inverse[size_t(j)])];
      out[0] = std::move(y);
      if (out.size() > 1) out[1] = std::move(idx);
      if (out.size() > 2) out[2] = std::move(inv);
      if (out.size() > 3) out[3] = std::move(cnt);
      return Status::Ok();
    });
  });
}

}  // namespace misc_detail

inline void add_misc_ops(OpTable& t) {
  using namespace misc_detail;
  t["TopK"] = {&build_topk, 1u << 1};
  t["OneHot"] = {&build_onehot, 1u << 1};
  t["GatherND"] = {&build_gathernd};
  t["ScatterElements"] = {&build_scatter_elements};
  t["Scatter"] = {&build_scatter_elements};
  t["ScatterND"] = {&build_scatternd};
  t["NonZero"] = {&build_nonzero, 1u << 0};
  t["EyeLike"] = {&build_eyelike};
  t["Compress"] = {&build_compress, 1u << 1};
  t["ReverseSequence"] = {&build_reverse_sequence};
  t["MaxUnpool"] = {&build_maxunpool, 1u << 2};
  t["BitShift"] = {&build_bitshift};
  t["MeanVarianceNormalization"] = {&build_mvn};
  t["HannWindow"] = {&build_window<0>, 1u << 0};
  t["HammingWindow"] = {&build_window<1>, 1u << 0};
  t["BlackmanWindow"] = {&build_window<2>, 1u << 0};
  t["Det"] = {&build_det};
  t["Unique"] = {&build_unique, 1u << 0};
}

}  // namespace qforge::ops
