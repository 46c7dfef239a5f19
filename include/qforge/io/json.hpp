// qforge/io/json.hpp — a small JSON value (null/bool/number/string/array/object), a strict parser and a writer.
//
// Contract:
// - Objects keep their keys in insertion order (the writer prints them in that order); the parser rejects
//   duplicate keys. Numbers written without fraction or exponent that fit int64 are kept as exact integers
//   (is_integer()), everything else as double; as_double() works for both.
// - The parser follows RFC 8259 strictly (no comments, trailing commas, leading zeros, NaN, lone surrogates,
//   invalid UTF-8, raw control characters) and is safe on hostile input: it never recurses (explicit stack),
//   and enforces a nesting-depth limit, an input-size limit and a limit on the number of values. Errors give the
//   byte offset, line and column.
// - The writer emits compact (indent < 0) or pretty (indent >= 0 spaces) UTF-8 text; it escapes '"', '\\' and
//   control characters; non-finite numbers are written as null (JSON has no NaN/Inf). Doubles are written in the
//   shortest form that parses back to the same double.
// - Accessors on the wrong type are programmer errors (QF_CHECK aborts); check is_*() first on untrusted input,
//   or use the Result-returning get_* helpers that name the field.
#pragma once
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/io/file_util.hpp"

namespace qforge {

struct JsonParseOptions {
  size_t max_depth = 128;                // arrays/objects nested deeper than this are rejected
  size_t max_bytes = size_t(64) << 20;   // input larger than this is rejected before parsing
  size_t max_values = size_t(1) << 20;   // total scalars + containers (bounds memory: ~100 bytes per value)
};

class Json {
 public:
  enum class Type : uint8_t { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  using Object = std::vector<Member>;

  Json() = default;
  Json(std::nullptr_t) {}                                              // NOLINT
  Json(bool b) : t_(Type::Bool), b_(b) {}                              // NOLINT
  Json(double d) : t_(Type::Number), d_(d) {}                          // NOLINT
  Json(float d) : t_(Type::Number), d_(double(d)) {}                   // NOLINT
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Json(T i) : t_(Type::Number) {                                       // NOLINT
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
      if (i > uint64_t(std::numeric_limits<int64_t>::max())) { d_ = double(i); return; }
    }
    int_ = true;
    i_ = int64_t(i);
  }
  Json(std::string s) : t_(Type::String), s_(std::move(s)) {}         // NOLINT
  Json(std::string_view s) : t_(Type::String), s_(s) {}               // NOLINT
  Json(const char* s) : t_(Type::String), s_(s) {}                    // NOLINT
  Json(Array a) : t_(Type::Array), a_(std::move(a)) {}                // NOLINT
  Json(Object o) : t_(Type::Object), o_(std::move(o)) {}              // NOLINT

  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }

  Type type() const { return t_; }
  bool is_null() const { return t_ == Type::Null; }
  bool is_bool() const { return t_ == Type::Bool; }
  bool is_number() const { return t_ == Type::Number; }
  // An exact int64 (written without fraction/exponent, or constructed from an integer).
  bool is_integer() const { return t_ == Type::Number && int_; }
  bool is_string() const { return t_ == Type::String; }
  bool is_array() const { return t_ == Type::Array; }
  bool is_object() const { return t_ == Type::Object; }

  bool as_bool() const { need(Type::Bool); return b_; }
  double as_double() const {
    need(Type::Number);
    return int_ ? double(i_) : d_;
  }
  // The integer value; a double that holds an exact integer in int64 range also converts.
  int64_t as_int() const {
    need(Type::Number);
    if (int_) return i_;
    auto r = double_to_int(d_);
    QF_CHECK(r.first, "JSON number ", d_, " is not an int64");
    return r.second;
  }
  // True if as_int() would succeed.
  bool is_int_valued() const { return is_number() && (int_ || double_to_int(d_).first); }
  const std::string& as_string() const { need(Type::String); return s_; }
  std::string& as_string() { need(Type::String); return s_; }
  const Array& as_array() const { need(Type::Array); return a_; }
  Array& as_array() { need(Type::Array); return a_; }
  const Object& as_object() const { need(Type::Object); return o_; }
  Object& as_object() { need(Type::Object); return o_; }

  // Elements of an array or members of an object; 0 for scalars.
  size_t size() const {
    if (is_array()) return a_.size();
    if (is_object()) return o_.size();
    return 0;
  }
  const Json& operator[](size_t i) const { return as_array().at(i); }
  Json& push_back(Json v) { auto& a = as_array(); a.push_back(std::move(v)); return a.back(); }

  // Object member by key (linear search); nullptr if absent or not an object.
  const Json* find(std::string_view key) const {
    if (!is_object()) return nullptr;
    for (auto& m : o_) if (m.first == key) return &m.second;
    return nullptr;
  }
  Json* find(std::string_view key) {
    if (!is_object()) return nullptr;
    for (auto& m : o_) if (m.first == key) return &m.second;
    return nullptr;
  }
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Sets key (replacing an existing member in place, else appending). Returns the stored value.
  Json& set(std::string key, Json v) {
    auto& o = as_object();
    for (auto& m : o) if (m.first == key) { m.second = std::move(v); return m.second; }
    o.emplace_back(std::move(key), std::move(v));
    return o.back().second;
  }

  // Typed member access for untrusted input: errors name the key and the expected type.
  Result<std::string> get_string(std::string_view key) const {
    const Json* v = find(key);
    if (!v) return make_error("missing key '", key, "'");
    if (!v->is_string()) return make_error("key '", key, "' must be a string, not ", type_name(v->type()));
    return v->as_string();
  }
  Result<int64_t> get_int(std::string_view key) const {
    const Json* v = find(key);
    if (!v) return make_error("missing key '", key, "'");
    if (!v->is_number() || !v->is_int_valued())
      return make_error("key '", key, "' must be an integer, not ", v->is_number() ? "a fraction" : type_name(v->type()));
    return v->as_int();
  }
  Result<double> get_number(std::string_view key) const {
    const Json* v = find(key);
    if (!v) return make_error("missing key '", key, "'");
    if (!v->is_number()) return make_error("key '", key, "' must be a number, not ", type_name(v->type()));
    return v->as_double();
  }

  static const char* type_name(Type t) {
    switch (t) {
      case Type::Null: return "null";
      case Type::Bool: return "a boolean";
      case Type::Number: return "a number";
      case Type::String: return "a string";
      case Type::Array: return "an array";
      case Type::Object: return "an object";
    }
    return "?";
  }

  // Structural equality (object member order matters; 1 and 1.0 are equal numbers).
  friend bool operator==(const Json& a, const Json& b) {
    if (a.type() != b.type()) return false;
    switch (a.type()) {
      case Type::Null: return true;
      case Type::Bool: return a.as_bool() == b.as_bool();
      case Type::Number:
        if (a.is_integer() && b.is_integer()) return a.as_int() == b.as_int();
        return a.as_double() == b.as_double();
      case Type::String: return a.as_string() == b.as_string();
      case Type::Array: return a.as_array() == b.as_array();
      case Type::Object: return a.as_object() == b.as_object();
    }
    return false;
  }
  friend bool operator!=(const Json& a, const Json& b) { return !(a == b); }

  // Serialises: compact when indent < 0, else pretty with `indent` spaces per level.
  std::string dump(int indent = -1) const {
    std::string out;
    write(out, indent, 0);
    return out;
  }

  static Result<Json> parse(std::string_view text, const JsonParseOptions& opt = {});

 private:
  static std::pair<bool, int64_t> double_to_int(double d) {
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || std::floor(d) != d) return {false, 0};
    return {true, int64_t(d)};
  }
  void need(Type t) const {
    QF_CHECK(type() == t, "JSON value is ", type_name(type()), ", expected ", type_name(t));
  }

  static void write_string(std::string& out, const std::string& s) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
          } else {
            out += char(c);
          }
      }
    }
    out += '"';
  }

  static void write_double(std::string& out, double d) {
    if (!std::isfinite(d)) { out += "null"; return; }
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    out.append(buf, r.ptr);
  }

  static void newline(std::string& out, int indent, int level) {
    out += '\n';
    out.append(size_t(indent) * size_t(level), ' ');
  }

  void write(std::string& out, int indent, int level) const {
    switch (t_) {
      case Type::Null: out += "null"; return;
      case Type::Bool: out += b_ ? "true" : "false"; return;
      case Type::Number:
        if (int_) out += std::to_string(i_);
        else write_double(out, d_);
        return;
      case Type::String: write_string(out, s_); return;
      case Type::Array: {
        auto& a = a_;
        if (a.empty()) { out += "[]"; return; }
        out += '[';
        for (size_t k = 0; k < a.size(); ++k) {
          if (k) out += ',';
          if (indent >= 0) newline(out, indent, level + 1);
          a[k].write(out, indent, level + 1);
        }
        if (indent >= 0) newline(out, indent, level);
        out += ']';
        return;
      }
      case Type::Object: {
        auto& o = o_;
        if (o.empty()) { out += "{}"; return; }
        out += '{';
        for (size_t k = 0; k < o.size(); ++k) {
          if (k) out += ',';
          if (indent >= 0) newline(out, indent, level + 1);
          write_string(out, o[k].first);
          out += indent >= 0 ? ": " : ":";
          o[k].second.write(out, indent, level + 1);
        }
        if (indent >= 0) newline(out, indent, level);
        out += '}';
        return;
      }
    }
  }

  // A tagged value (std::variant trips GCC 12 -Wmaybe-uninitialized false positives in users' builds).
  Type t_ = Type::Null;
  bool b_ = false;
  bool int_ = false;  // Number: i_ is the value (else d_)
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  Array a_;
  Object o_;
};

// Offset of the first byte of the first malformed UTF-8 sequence in s (overlong forms, surrogates and code
// points above U+10FFFF count as malformed), or std::string_view::npos if s is well-formed.
inline size_t utf8_error_offset(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) { ++i; continue; }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

inline bool is_valid_utf8(std::string_view s) { return utf8_error_offset(s) == std::string_view::npos; }

namespace detail {

class JsonParser {
 public:
  JsonParser(std::string_view text, const JsonParseOptions& opt) : s_(text), opt_(opt) {}

  Result<Json> run() {
    if (s_.size() > opt_.max_bytes)
      return make_error("JSON text is ", s_.size(), " bytes, more than the limit of ", opt_.max_bytes);
    struct Frame {
      Json value;                             // the array or object being built
      std::string key;                        // pending key (objects)
      std::unordered_set<std::string> keys;   // seen keys (objects), for duplicate detection
    };
    std::vector<Frame> stack;
    Json root;
    bool have_root = false;
    skip_ws();
    if (pos_ >= s_.size()) return fail("empty input, expected a JSON value");
    // Main loop: parse one value (pushing containers), then attach it to its parent and handle separators.
    for (;;) {
      Json value;
      bool complete = false;  // `value` holds a finished value to attach
      skip_ws();
      if (pos_ >= s_.size()) return fail("unexpected end of input, expected a value");
      if (++values_ > opt_.max_values) return fail("more than ", opt_.max_values, " values");
      char c = s_[pos_];
      if (c == '{' || c == '[') {
        if (stack.size() >= opt_.max_depth) return fail("nesting deeper than ", opt_.max_depth, " levels");
        ++pos_;
        Frame f;
        f.value = c == '{' ? Json::object() : Json::array();
        stack.push_back(std::move(f));
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == (c == '{' ? '}' : ']')) {
          ++pos_;
          value = std::move(stack.back().value);
          stack.pop_back();
          complete = true;
        } else if (c == '{') {
          auto st = read_key(stack.back().key, stack.back().keys);
          if (!st.ok()) return st.error();
          continue;  // now parse the member's value
        } else {
          continue;  // first element of the array
        }
      } else {
        auto st = parse_scalar(value);
        if (!st.ok()) return st.error();
        complete = true;
      }
      // Attach completed values, closing containers as their closing brackets are found.
      while (complete) {
        if (stack.empty()) {
          root = std::move(value);
          have_root = true;
          break;
        }
        Frame& top = stack.back();
        if (top.value.is_array()) top.value.as_array().push_back(std::move(value));
        else top.value.as_object().emplace_back(std::move(top.key), std::move(value));
        skip_ws();
        if (pos_ >= s_.size())
          return fail("unexpected end of input inside ", top.value.is_array() ? "an array" : "an object");
        char d = s_[pos_];
        if (d == ',') {
          ++pos_;
          if (top.value.is_object()) {
            top.key.clear();
            auto st = read_key(top.key, top.keys);
            if (!st.ok()) return st.error();
          }
          complete = false;  // parse the next element
        } else if ((d == ']' && top.value.is_array()) || (d == '}' && top.value.is_object())) {
          ++pos_;
          value = std::move(top.value);
          stack.pop_back();
        } else {
          return fail(top.value.is_array() ? "expected ',' or ']' in array" : "expected ',' or '}' in object");
        }
      }
      if (have_root) break;
    }
    skip_ws();
    if (pos_ != s_.size()) return fail("unexpected text after the JSON value");
    return root;
  }

 private:
  template <class... A>
  Error fail(const A&... a) const {
    size_t line = 1, col = 1;
    size_t end = pos_ < s_.size() ? pos_ : s_.size();
    for (size_t i = 0; i < end; ++i) {
      if (s_[i] == '\n') { ++line; col = 1; } else { ++col; }
    }
    return make_error("JSON error at byte ", pos_, " (line ", line, ", column ", col, "): ", a...);
  }

  void skip_ws() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') ++pos_;
      else break;
    }
  }

  Status read_key(std::string& key, std::unordered_set<std::string>& seen) {
    skip_ws();
    if (pos_ >= s_.size()) return fail("unexpected end of input, expected an object key");
    if (s_[pos_] != '"') return fail("expected a string key in object");
    QF_RETURN_IF_ERROR(parse_string(key));
    if (!seen.insert(key).second) return fail("duplicate key '", key, "'");
    skip_ws();
    if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':' after object key '", key, "'");
    ++pos_;
    return Status::Ok();
  }

  Status parse_scalar(Json& out) {
    char c = s_[pos_];
    if (c == '"') {
      std::string s;
      QF_RETURN_IF_ERROR(parse_string(s));
      out = Json(std::move(s));
      return Status::Ok();
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(out);
    if (literal("true")) { out = Json(true); return Status::Ok(); }
    if (literal("false")) { out = Json(false); return Status::Ok(); }
    if (literal("null")) { out = Json(); return Status::Ok(); }
    if (c == ']' || c == '}') return fail("unexpected '", c, "' (trailing comma?)");
    return fail("unexpected character '", printable(c), "', expected a value");
  }

  static std::string printable(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", u);
    return buf;
  }

  bool literal(const char* w) {
    size_t n = std::strlen(w);
    if (s_.compare(pos_, n, w) == 0) { pos_ += n; return true; }
    return false;
  }

  Status parse_number(Json& out) {
    size_t start = pos_;
    size_t i = pos_;
    auto digit = [&](size_t k) { return k < s_.size() && s_[k] >= '0' && s_[k] <= '9'; };
    if (s_[i] == '-') ++i;
    if (!digit(i)) { pos_ = i; return fail("expected a digit in number"); }
    if (s_[i] == '0') {
      ++i;
      if (digit(i)) { pos_ = i; return fail("leading zeros are not allowed in numbers"); }
    } else {
      while (digit(i)) ++i;
    }
    bool integer = true;
    if (i < s_.size() && s_[i] == '.') {
      integer = false;
      ++i;
      if (!digit(i)) { pos_ = i; return fail("expected a digit after the decimal point"); }
      while (digit(i)) ++i;
    }
    if (i < s_.size() && (s_[i] == 'e' || s_[i] == 'E')) {
      integer = false;
      ++i;
      if (i < s_.size() && (s_[i] == '+' || s_[i] == '-')) ++i;
      if (!digit(i)) { pos_ = i; return fail("expected a digit in the exponent"); }
      while (digit(i)) ++i;
    }
    const char* b = s_.data() + start;
    const char* e = s_.data() + i;
    if (integer) {
      int64_t v = 0;
      auto r = std::from_chars(b, e, v);
      if (r.ec == std::errc() && r.ptr == e) {
        out = Json(v);
        pos_ = i;
        return Status::Ok();
      }
      // Too large for int64: fall through to double.
    }
    double d = 0;
    auto r = std::from_chars(b, e, d);
    if (r.ec == std::errc::result_out_of_range) {
      // from_chars reports underflow too; only overflow to infinity is an error.
      // Decide by the exponent sign: a negative exponent means the value rounds to zero.
      bool tiny = false;
      for (const char* p = b; p < e; ++p)
        if ((*p == 'e' || *p == 'E') && p + 1 < e && p[1] == '-') tiny = true;
      if (!tiny) return fail("number '", std::string(b, e), "' is out of range");
      d = 0.0;
    } else if (r.ec != std::errc() || r.ptr != e) {
      return fail("malformed number '", std::string(b, e), "'");
    }
    out = Json(d);
    pos_ = i;
    return Status::Ok();
  }

  Status hex4(uint32_t& v) {
    if (pos_ + 4 > s_.size()) return fail("truncated \\u escape");
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[pos_ + k];
      uint32_t d;
      if (c >= '0' && c <= '9') d = uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') d = uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = uint32_t(c - 'A' + 10);
      else return fail("bad hex digit '", printable(c), "' in \\u escape");
      v = v * 16 + d;
    }
    pos_ += 4;
    return Status::Ok();
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  // At '"': reads the string into out, validating escapes and UTF-8.
  Status parse_string(std::string& out) {
    ++pos_;  // opening quote
    out.clear();
    for (;;) {
      // Copy a run of plain characters at once.
      size_t run = pos_;
      while (run < s_.size()) {
        unsigned char c = static_cast<unsigned char>(s_[run]);
        if (c == '"' || c == '\\' || c < 0x20) break;
        ++run;
      }
      if (run > pos_) {
        std::string_view chunk = s_.substr(pos_, run - pos_);
        size_t bad = utf8_error_offset(chunk);
        if (bad != std::string_view::npos) {
          pos_ += bad;
          return fail("invalid UTF-8 in string");
        }
        out.append(chunk);
        pos_ = run;
      }
      if (pos_ >= s_.size()) return fail("unterminated string");
      char c = s_[pos_];
      if (c == '"') { ++pos_; return Status::Ok(); }
      if (c != '\\') return fail("control character ", printable(c), " in string (must be escaped)");
      ++pos_;
      if (pos_ >= s_.size()) return fail("unterminated escape in string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp;
          QF_RETURN_IF_ERROR(hex4(cp));
          if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate in string");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
              return fail("high surrogate not followed by a low surrogate in string");
            pos_ += 2;
            uint32_t lo;
            QF_RETURN_IF_ERROR(hex4(lo));
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("high surrogate not followed by a low surrogate in string");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: --pos_; return fail("invalid escape '\\", printable(e), "' in string");
      }
    }
  }

  std::string_view s_;
  JsonParseOptions opt_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

}  // namespace detail

inline Result<Json> Json::parse(std::string_view text, const JsonParseOptions& opt) {
  return detail::JsonParser(text, opt).run();
}

inline Result<Json> parse_json(std::string_view text, const JsonParseOptions& opt = {}) {
  return Json::parse(text, opt);
}

// Reads and parses a JSON file; errors are prefixed with the path.
inline Result<Json> load_json(const std::string& path, const JsonParseOptions& opt = {}) {
  auto bytes = io::read_file_bytes(path, opt.max_bytes);
  if (!bytes.ok()) return bytes.error();
  auto j = Json::parse(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), opt);
  if (!j.ok()) return j.error().wrap(path);
  return j;
}

// Writes JSON (pretty with 2 spaces by default, plus a final newline) via temp file + rename.
inline Status save_json(const std::string& path, const Json& j, int indent = 2) {
  std::string text = j.dump(indent);
  text += '\n';
  return io::write_file_atomic(path, text.data(), text.size());
}

}  // namespace qforge
