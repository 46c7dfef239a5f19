// qforge/io/protobuf.hpp — a protobuf wire-format decoder and encoder (no libprotobuf, no schema compiler).
//
// Contract (decoder): a Reader walks the fields of one message held in memory, never reading outside it.
// - Varints are at most 10 bytes and must fit 64 bits; a truncated or overlong varint is an error.
// - Length-delimited fields are bounds-checked against the enclosing message; fixed32/fixed64 too.
// - Field number 0, numbers above 2^29-1 and wire types 6/7 are errors. Groups (wire types 3/4, deprecated) are
//   skipped with a nesting limit; an end-group tag without its start is an error.
// - Every field is returned (number, wire type, payload); callers pick the ones they know and ignore the rest,
//   so unknown fields of every wire type are skipped. Repeated scalars can be packed or unpacked: the
//   for_each_* helpers accept both.
// - Errors carry the absolute byte offset of the field in the outermost buffer.
// Contract (encoder): Writer appends fields in the given order; negative int32/int64 are written as 10-byte
// varints (protobuf's int32/int64 encoding); repeated scalars are written packed.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"

namespace qforge::pb {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

inline const char* wire_type_name(uint32_t w) {
  switch (w) {
    case kVarint: return "varint";
    case kFixed64: return "fixed64";
    case kLen: return "length-delimited";
    case kStartGroup: return "start-group";
    case kEndGroup: return "end-group";
    case kFixed32: return "fixed32";
  }
  return "invalid";
}

constexpr uint32_t kMaxFieldNumber = (1u << 29) - 1;
constexpr int kMaxGroupDepth = 32;

// Reads a varint at *p (< end), advancing p. Fails on truncation, more than 10 bytes, or bits beyond 64.
inline bool read_varint(const uint8_t*& p, const uint8_t* end, uint64_t& out, const char** why) {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (p >= end) { *why = "truncated varint"; return false; }
    uint8_t b = *p++;
    if (i == 9 && (b & 0x80)) { *why = "varint longer than 10 bytes"; return false; }
    if (i == 9 && b > 1) { *why = "varint overflows 64 bits"; return false; }
    v |= uint64_t(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) { out = v; return true; }
  }
  *why = "varint longer than 10 bytes";  // not reached: the 10th byte ends or fails above
  return false;
}

struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t value = 0;              // varint, fixed32 or fixed64 payload
  const uint8_t* data = nullptr;   // length-delimited (or group) payload
  size_t size = 0;
  size_t offset = 0;               // absolute offset of the tag
  size_t data_offset = 0;          // absolute offset of data

  int64_t as_int64() const { return int64_t(value); }
  int32_t as_int32() const { return int32_t(uint32_t(value)); }  // int32 is sign-extended to 64 bits on the wire
  uint64_t as_uint64() const { return value; }
  float as_float() const { uint32_t u = uint32_t(value); float f; std::memcpy(&f, &u, 4); return f; }
  double as_double() const { double d; std::memcpy(&d, &value, 8); return d; }
  std::string as_string() const { return std::string(reinterpret_cast<const char*>(data), size); }
};

class Reader {
 public:
  // base_offset: absolute offset of data[0] (for error messages of nested messages).
  Reader(const uint8_t* data, size_t size, size_t base_offset = 0)
      : begin_(data), p_(data), end_(data + size), base_(base_offset) {}
  explicit Reader(const Field& f) : Reader(f.data, f.size, f.data_offset) {}

  bool done() const { return p_ >= end_; }
  size_t offset() const { return base_ + size_t(p_ - begin_); }

  // Reads the next field. Call only while !done().
  Status next(Field& f) {
    f = Field{};
    f.offset = offset();
    uint64_t tag;
    const char* why = nullptr;
    if (!read_varint(p_, end_, tag, &why)) return fail(f.offset, why, " in field tag");
    if (tag > 0xFFFFFFFFull) return fail(f.offset, "field tag ", tag, " does not fit 32 bits");
    f.number = uint32_t(tag >> 3);
    f.wire = uint32_t(tag & 7);
    if (f.number == 0) return fail(f.offset, "field number 0 is invalid");
    switch (f.wire) {
      case kVarint:
        if (!read_varint(p_, end_, f.value, &why)) return fail(f.offset, why, " in field ", f.number);
        return Status::Ok();
      case kFixed64:
        if (end_ - p_ < 8) return fail(f.offset, "fixed64 field ", f.number, " runs past the end of the message");
        std::memcpy(&f.value, p_, 8);
        p_ += 8;
        return Status::Ok();
      case kFixed32: {
        if (end_ - p_ < 4) return fail(f.offset, "fixed32 field ", f.number, " runs past the end of the message");
        uint32_t u;
        std::memcpy(&u, p_, 4);
        f.value = u;
        p_ += 4;
        return Status::Ok();
      }
      case kLen: {
        uint64_t len;
        if (!read_varint(p_, end_, len, &why)) return fail(f.offset, why, " in length of field ", f.number);
        if (len > uint64_t(end_ - p_))
          return fail(f.offset, "field ", f.number, " has length ", len, " but only ", size_t(end_ - p_),
                      " bytes remain in the message");
        f.data = p_;
        f.size = size_t(len);
        f.data_offset = offset();
        p_ += len;
        return Status::Ok();
      }
      case kStartGroup:
        return skip_group(f);
      case kEndGroup:
        return fail(f.offset, "end-group tag for field ", f.number, " without a matching start-group");
      default:
        return fail(f.offset, "invalid wire type ", f.wire, " for field ", f.number);
    }
  }

 private:
  template <class... A>
  Status fail(size_t at, const A&... a) const {
    return make_error(a..., " (at byte ", at, ")");
  }

  // Skips to the end-group that matches f.number, iterating (no recursion) with a depth limit.
  Status skip_group(Field& f) {
    std::vector<uint32_t> open{f.number};
    f.data = p_;
    f.data_offset = offset();
    while (!open.empty()) {
      if (p_ >= end_) return fail(f.offset, "group field ", f.number, " is not closed before the end of the message");
      size_t at = offset();
      const uint8_t* tag_start = p_;
      uint64_t tag;
      const char* why = nullptr;
      if (!read_varint(p_, end_, tag, &why)) return fail(at, why, " in field tag");
      if (tag > 0xFFFFFFFFull) return fail(at, "field tag ", tag, " does not fit 32 bits");
      uint32_t number = uint32_t(tag >> 3), wire = uint32_t(tag & 7);
      if (number == 0) return fail(at, "field number 0 is invalid");
      uint64_t tmp;
      switch (wire) {
        case kVarint:
          if (!read_varint(p_, end_, tmp, &why)) return fail(at, why, " in field ", number);
          break;
        case kFixed64:
          if (end_ - p_ < 8) return fail(at, "fixed64 field ", number, " runs past the end of the message");
          p_ += 8;
          break;
        case kFixed32:
          if (end_ - p_ < 4) return fail(at, "fixed32 field ", number, " runs past the end of the message");
          p_ += 4;
          break;
        case kLen:
          if (!read_varint(p_, end_, tmp, &why)) return fail(at, why, " in length of field ", number);
          if (tmp > uint64_t(end_ - p_)) return fail(at, "field ", number, " has length ", tmp, " past the end");
          p_ += tmp;
          break;
        case kStartGroup:
          if (open.size() >= size_t(kMaxGroupDepth)) return fail(at, "groups nested deeper than ", kMaxGroupDepth);
          open.push_back(number);
          break;
        case kEndGroup:
          if (number != open.back())
            return fail(at, "end-group for field ", number, " closes group ", open.back());
          open.pop_back();
          if (open.empty()) f.size = size_t(tag_start - f.data);
          break;
        default:
          return fail(at, "invalid wire type ", wire, " for field ", number);
      }
    }
    return Status::Ok();
  }

  const uint8_t* begin_;
  const uint8_t* p_;
  const uint8_t* end_;
  size_t base_;
};

// Checks a field's wire type; `name` is the field's name in the schema.
inline Status expect_wire(const Field& f, uint32_t wire, const char* name) {
  if (f.wire == wire) return Status::Ok();
  return make_error("field '", name, "' (", f.number, ") has wire type ", wire_type_name(f.wire), ", expected ",
                    wire_type_name(wire), " (at byte ", f.offset, ")");
}

// Repeated varint field, packed (length-delimited) or not: calls fn(uint64_t) for each value.
template <class Fn>
Status for_each_varint(const Field& f, const char* name, Fn&& fn) {
  if (f.wire == kVarint) { fn(f.value); return Status::Ok(); }
  if (f.wire != kLen) return expect_wire(f, kVarint, name);
  const uint8_t* p = f.data;
  const uint8_t* end = f.data + f.size;
  while (p < end) {
    uint64_t v;
    const char* why = nullptr;
    size_t at = f.data_offset + size_t(p - f.data);
    if (!read_varint(p, end, v, &why))
      return make_error(why, " in packed field '", name, "' (at byte ", at, ")");
    fn(v);
  }
  return Status::Ok();
}

// Repeated fixed32 field (float), packed or not: calls fn(uint32_t bits).
template <class Fn>
Status for_each_fixed32(const Field& f, const char* name, Fn&& fn) {
  if (f.wire == kFixed32) { fn(uint32_t(f.value)); return Status::Ok(); }
  if (f.wire != kLen) return expect_wire(f, kFixed32, name);
  if (f.size % 4)
    return make_error("packed field '", name, "' has ", f.size, " bytes, not a multiple of 4 (at byte ", f.offset, ")");
  for (size_t k = 0; k < f.size; k += 4) {
    uint32_t u;
    std::memcpy(&u, f.data + k, 4);
    fn(u);
  }
  return Status::Ok();
}

// Repeated fixed64 field (double), packed or not: calls fn(uint64_t bits).
template <class Fn>
Status for_each_fixed64(const Field& f, const char* name, Fn&& fn) {
  if (f.wire == kFixed64) { fn(f.value); return Status::Ok(); }
  if (f.wire != kLen) return expect_wire(f, kFixed64, name);
  if (f.size % 8)
    return make_error("packed field '", name, "' has ", f.size, " bytes, not a multiple of 8 (at byte ", f.offset, ")");
  for (size_t k = 0; k < f.size; k += 8) {
    uint64_t u;
    std::memcpy(&u, f.data + k, 8);
    fn(u);
  }
  return Status::Ok();
}

class Writer {
 public:
  const std::vector<uint8_t>& bytes() const { return buf_; }
  std::vector<uint8_t>& bytes() { return buf_; }
  size_t size() const { return buf_.size(); }

  void varint(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(uint8_t(v | 0x80));
      v >>= 7;
    }
    buf_.push_back(uint8_t(v));
  }
  void tag(uint32_t field, uint32_t wire) { varint((uint64_t(field) << 3) | wire); }

  void int64_field(uint32_t field, int64_t v) { tag(field, kVarint); varint(uint64_t(v)); }
  void int32_field(uint32_t field, int32_t v) { tag(field, kVarint); varint(uint64_t(int64_t(v))); }
  void float_field(uint32_t field, float v) {
    tag(field, kFixed32);
    uint32_t u;
    std::memcpy(&u, &v, 4);
    for (int k = 0; k < 4; ++k) buf_.push_back(uint8_t(u >> (8 * k)));
  }
  void bytes_field(uint32_t field, const void* data, size_t n) {
    tag(field, kLen);
    varint(n);
    auto* p = static_cast<const uint8_t*>(data);
    buf_.insert(buf_.end(), p, p + n);
  }
  void string_field(uint32_t field, const std::string& s) { bytes_field(field, s.data(), s.size()); }
  void message_field(uint32_t field, const Writer& m) { bytes_field(field, m.buf_.data(), m.buf_.size()); }

  void packed_int64_field(uint32_t field, const std::vector<int64_t>& v) {
    if (v.empty()) return;
    Writer tmp;
    for (auto x : v) tmp.varint(uint64_t(x));
    message_field(field, tmp);
  }
  void packed_float_field(uint32_t field, const std::vector<float>& v) {
    if (v.empty()) return;
    tag(field, kLen);
    varint(v.size() * 4);
    for (float x : v) {
      uint32_t u;
      std::memcpy(&u, &x, 4);
      for (int k = 0; k < 4; ++k) buf_.push_back(uint8_t(u >> (8 * k)));
    }
  }

 private:
  std::vector<uint8_t> buf_;
};

}  // namespace qforge::pb
