// qforge/io/npy.hpp — NumPy .npy files (format 1.0/2.0/3.0), little-endian, C order.
//
// Contract: reads <f4, <i8, <i4, |i1, |u1, |b1 into a Tensor (f8 is converted to float32); Fortran order and
// big-endian data are rejected with a message naming the file. Writes format 1.0 atomically.
#pragma once
#include <cstring>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/io/file_util.hpp"

namespace qforge::io {

namespace npy_detail {
inline std::string descr_of(DType t) {
  switch (t) {
    case DType::f32: return "<f4";
    case DType::i64: return "<i8";
    case DType::i32: return "<i4";
    case DType::i8: return "|i1";
    case DType::u8: return "|u1";
    case DType::boolean: return "|b1";
  }
  return "";
}
// Value of 'key' in the header dict, as raw text up to the next top-level comma or brace.
inline Result<std::string> dict_value(const std::string& h, const std::string& key, const std::string& file) {
  auto k = h.find("'" + key + "'");
  if (k == std::string::npos) return make_error(file, ": .npy header has no '", key, "'");
  auto colon = h.find(':', k);
  if (colon == std::string::npos) return make_error(file, ": malformed .npy header");
  size_t i = colon + 1;
  while (i < h.size() && h[i] == ' ') ++i;
  if (i < h.size() && h[i] == '(') {
    auto e = h.find(')', i);
    if (e == std::string::npos) return make_error(file, ": malformed shape in .npy header");
    return h.substr(i, e - i + 1);
  }
  size_t e = i;
  if (e < h.size() && h[e] == '\'') {
    e = h.find('\'', i + 1);
    if (e == std::string::npos) return make_error(file, ": malformed .npy header");
    return h.substr(i + 1, e - i - 1);
  }
  while (e < h.size() && h[e] != ',' && h[e] != '}') ++e;
  return h.substr(i, e - i);
}
}  // namespace npy_detail

inline Result<Tensor> parse_npy(const std::vector<uint8_t>& d, const std::string& file) {
  using namespace npy_detail;
  if (d.size() < 10 || std::memcmp(d.data(), "\x93NUMPY", 6) != 0) return make_error(file, ": not a .npy file");
  int major = d[6];
  size_t hlen, hstart;
  if (major == 1) {
    hlen = d[8] | (size_t(d[9]) << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (d.size() < 12) return make_error(file, ": truncated .npy header");
    hlen = d[8] | (size_t(d[9]) << 8) | (size_t(d[10]) << 16) | (size_t(d[11]) << 24);
    hstart = 12;
  } else {
    return make_error(file, ": unsupported .npy format version ", major);
  }
  if (hstart + hlen > d.size()) return make_error(file, ": truncated .npy header");
  std::string h(reinterpret_cast<const char*>(d.data() + hstart), hlen);
  QF_ASSIGN_OR_RETURN(std::string descr, dict_value(h, "descr", file));
  QF_ASSIGN_OR_RETURN(std::string fortran, dict_value(h, "fortran_order", file));
  QF_ASSIGN_OR_RETURN(std::string shape_s, dict_value(h, "shape", file));
  if (fortran.find("True") != std::string::npos) return make_error(file, ": Fortran-order .npy is not supported");
  Shape shape;
  {
    std::string inner = shape_s.substr(1, shape_s.size() - 2);
    size_t i = 0;
    while (i < inner.size()) {
      while (i < inner.size() && (inner[i] == ' ' || inner[i] == ',')) ++i;
      if (i >= inner.size()) break;
      size_t j = i;
      while (j < inner.size() && inner[j] >= '0' && inner[j] <= '9') ++j;
      if (j == i || j - i > 18) return make_error(file, ": bad shape ", shape_s, " in .npy header");
      shape.push_back(std::stoll(inner.substr(i, j - i)));
      i = j;
    }
  }
  QF_ASSIGN_OR_RETURN(int64_t n, checked_numel(shape));
  bool f64 = descr == "<f8";
  DType dt;
  if (descr == "<f4" || f64) dt = DType::f32;
  else if (descr == "<i8") dt = DType::i64;
  else if (descr == "<i4") dt = DType::i32;
  else if (descr == "|i1") dt = DType::i8;
  else if (descr == "|u1") dt = DType::u8;
  else if (descr == "|b1") dt = DType::boolean;
  else return make_error(file, ": unsupported .npy dtype '", descr, "'");
  size_t esz = f64 ? 8 : dtype_size(dt);
  size_t off = hstart + hlen;
  if (uint64_t(n) * esz != d.size() - off)
    return make_error(file, ": data holds ", d.size() - off, " bytes but shape ", shape_str(shape), " of ", descr,
                      " needs ", uint64_t(n) * esz);
  Tensor t(dt, shape);
  if (f64) {
    float* o = t.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, d.data() + off + size_t(i) * 8, 8);
      o[i] = float(v);
    }
  } else if (n) {
    std::memcpy(t.raw(), d.data() + off, size_t(n) * esz);
  }
  return t;
}

inline Result<Tensor> load_npy(const std::string& path) {
  QF_ASSIGN_OR_RETURN(auto d, read_file_bytes(path));
  return parse_npy(d, path);
}

inline std::vector<uint8_t> encode_npy(const Tensor& t) {
  std::string h = "{'descr': '" + npy_detail::descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.rank(); ++i) h += std::to_string(t.shape()[i]) + (t.rank() == 1 ? "," : (i + 1 < t.rank() ? ", " : ""));
  h += "), }";
  size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  std::vector<uint8_t> out(10 + h.size() + t.nbytes());
  const uint8_t magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::memcpy(out.data(), magic, 8);
  out[8] = uint8_t(h.size() & 0xFF);
  out[9] = uint8_t(h.size() >> 8);
  std::memcpy(out.data() + 10, h.data(), h.size());
  if (t.nbytes()) std::memcpy(out.data() + 10 + h.size(), t.raw(), t.nbytes());
  return out;
}

inline Status save_npy(const std::string& path, const Tensor& t) {
  auto bytes = encode_npy(t);
  return write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace qforge::io
