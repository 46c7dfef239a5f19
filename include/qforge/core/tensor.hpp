// qforge/core/tensor.hpp — dense tensors: dtype, shape, 64-byte aligned shared storage, views.
//
// Contract: row-major (C order), NCHW for fp32 image tensors at the API. A Tensor is a cheap handle: copies
// share storage (use clone() for a deep copy). reshape() returns a view on the same bytes. Element counts are
// computed with overflow checks (checked_numel) before anything is allocated, so hostile shapes fail cleanly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "qforge/core/error.hpp"

namespace qforge {

enum class DType : uint8_t { f32, i8, u8, i32, i64, boolean };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::i8: return 1;
    case DType::u8: return 1;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::boolean: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::i8: return "int8";
    case DType::u8: return "uint8";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::boolean: return "bool";
  }
  return "?";
}

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::i8; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::boolean; };

using Shape = std::vector<int64_t>;

inline std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

// Largest tensor qforge will allocate (elements): 2^34 bytes worth of floats guards against hostile files.
constexpr int64_t kMaxTensorElements = int64_t(1) << 32;

// Element count of a shape, rejecting negative dims and products that overflow or exceed kMaxTensorElements.
inline Result<int64_t> checked_numel(const Shape& s) {
  int64_t n = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] < 0) return make_error("negative dimension ", s[i], " at axis ", i, " of shape ", shape_str(s));
    if (s[i] != 0 && n > kMaxTensorElements / s[i])
      return make_error("shape ", shape_str(s), " has more than ", kMaxTensorElements, " elements");
    n *= s[i];
  }
  return n;
}

class Tensor {
 public:
  static constexpr size_t kAlign = 64;

  Tensor() = default;

  // Uninitialised storage (zero-filled, for determinism). Aborts on invalid shapes: callers that take shapes
  // from files must validate with checked_numel first, or use Tensor::create.
  Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
    auto n = checked_numel(shape_);
    QF_CHECK(n.ok(), n.ok() ? "" : n.error().message);
    numel_ = n.value();
    allocate();
  }

  // Like the constructor but returns an error for invalid shapes (file input).
  static Result<Tensor> create(DType dtype, Shape shape) {
    auto n = checked_numel(shape);
    if (!n.ok()) return n.error();
    return Tensor(dtype, std::move(shape));
  }

  template <class T>
  static Tensor from_vector(Shape shape, const std::vector<T>& v) {
    Tensor t(dtype_of<T>::value, std::move(shape));
    QF_CHECK(int64_t(v.size()) == t.numel(), "from_vector: ", v.size(), " values for shape ", shape_str(t.shape()));
    if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * sizeof(T));
    return t;
  }

  template <class T>
  static Tensor scalar(T v) { return from_vector<T>({}, {v}); }

  // False for a default-constructed handle.
  bool defined() const { return has_storage_; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return size_t(numel_) * dtype_size(dtype_); }

  void* raw() { return buf_ ? buf_.get() + offset_ : nullptr; }
  const void* raw() const { return buf_ ? buf_.get() + offset_ : nullptr; }

  template <class T>
  T* data() {
    QF_CHECK(dtype_of<T>::value == dtype_, "tensor holds ", dtype_name(dtype_), ", asked for ",
             dtype_name(dtype_of<T>::value));
    return static_cast<T*>(raw());
  }
  template <class T>
  const T* data() const {
    QF_CHECK(dtype_of<T>::value == dtype_, "tensor holds ", dtype_name(dtype_), ", asked for ",
             dtype_name(dtype_of<T>::value));
    return static_cast<const T*>(raw());
  }
  template <class T> T& at(int64_t i) { return data<T>()[i]; }
  template <class T> const T& at(int64_t i) const { return data<T>()[i]; }

  // A view with another shape over the same elements.
  Result<Tensor> reshape(Shape s) const {
    auto n = checked_numel(s);
    if (!n.ok()) return n.error();
    if (n.value() != numel_)
      return make_error("cannot reshape ", shape_str(shape_), " (", numel_, " elements) to ", shape_str(s));
    Tensor t = *this;
    t.shape_ = std::move(s);
    return t;
  }

  // A view of items [begin, end) along axis 0 (contiguous).
  Tensor slice0(int64_t begin, int64_t end) const {
    QF_CHECK(rank() >= 1 && begin >= 0 && begin <= end && end <= shape_[0], "slice0 [", begin, ",", end,
             ") of ", shape_str(shape_));
    Tensor t = *this;
    int64_t inner = shape_[0] ? numel_ / shape_[0] : 0;
    t.shape_[0] = end - begin;
    t.numel_ = inner * (end - begin);
    t.offset_ += size_t(begin * inner) * dtype_size(dtype_);
    return t;
  }

  Tensor clone() const {
    Tensor t(dtype_, shape_);
    if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
    return t;
  }

  bool same_storage(const Tensor& o) const { return buf_ == o.buf_; }

 private:
  void allocate() {
    size_t bytes = nbytes();
    size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    if (rounded == 0) rounded = kAlign;
    auto* p = static_cast<std::byte*>(::operator new[](rounded, std::align_val_t(kAlign)));
    std::memset(p, 0, rounded);
    buf_ = std::shared_ptr<std::byte>(p, [](std::byte* q) { ::operator delete[](q, std::align_val_t(kAlign)); });
    has_storage_ = true;
  }

  std::shared_ptr<std::byte> buf_;
  size_t offset_ = 0;
  DType dtype_ = DType::f32;
  Shape shape_;
  int64_t numel_ = 0;
  bool has_storage_ = false;
};

}  // namespace qforge
