// qforge/core/error.hpp — errors for files and user input, checks for programmer errors.
//
// Contract: functions that read files or user input return Result<T> (or Status); the Error's message names
// the file, node or field at fault. No exception escapes the API. Programmer errors (broken invariants) abort
// through QF_CHECK with the failing condition and a message.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace qforge {

struct Error {
  std::string message;
  // Prefix context, e.g. err.wrap("model.onnx") -> "model.onnx: <message>".
  Error wrap(const std::string& context) const { return Error{context + ": " + message}; }
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <class A, class... R>
void append_all(std::ostringstream& os, const A& a, const R&... r) {
  os << a;
  append_all(os, r...);
}
}  // namespace detail

// Builds an Error from streamable pieces: make_error("node '", name, "': bad kernel_shape").
template <class... A>
Error make_error(const A&... a) {
  std::ostringstream os;
  detail::append_all(os, a...);
  return Error{os.str()};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}       // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const {
    if (ok()) { std::fprintf(stderr, "qforge: error() called on a successful Result\n"); std::abort(); }
    return std::get<1>(v_);
  }

 private:
  void check() const {
    if (!ok()) {
      std::fprintf(stderr, "qforge: value() called on a failed Result: %s\n", std::get<1>(v_).message.c_str());
      std::abort();
    }
  }
  std::variant<T, Error> v_;
};

// Result without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : err_(std::move(e)), failed_(true) {}  // NOLINT
  static Status Ok() { return Status(); }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return err_; }

 private:
  Error err_;
  bool failed_ = false;
};

}  // namespace qforge

// Abort with the condition and a message: for broken invariants only, never for bad input.
#define QF_CHECK(cond, ...)                                                                         \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      std::fprintf(stderr, "qforge check failed at %s:%d: %s: %s\n", __FILE__, __LINE__, #cond,    \
                   ::qforge::make_error(__VA_ARGS__).message.c_str());                              \
      std::abort();                                                                                 \
    }                                                                                               \
  } while (0)

// Propagate a failed Status/Result from the enclosing function (which returns Status or Result<U>).
#define QF_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    auto&& qf_status_ = (expr);                   \
    if (!qf_status_.ok()) return qf_status_.error(); \
  } while (0)

#define QF_CONCAT_INNER_(a, b) a##b
#define QF_CONCAT_(a, b) QF_CONCAT_INNER_(a, b)
// QF_ASSIGN_OR_RETURN(auto x, make_x()); — declares x from a Result, or returns its error.
#define QF_ASSIGN_OR_RETURN(decl, expr) QF_ASSIGN_OR_RETURN_IMPL_(QF_CONCAT_(qf_res_, __LINE__), decl, expr)
#define QF_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.error();               \
  decl = std::move(tmp).value()
