// qforge/io/tensor_file.hpp — the qforge weight container: named tensors + string metadata, safetensors layout.
//
// Layout (all integers little-endian; any safetensors reader can read the tensors):
//   u64 N                 length of the JSON header in bytes
//   N bytes               JSON object {"__metadata__": {string: string, ...},
//                                      "<tensor name>": {"dtype": "F32|I8|U8|I32|I64|BOOL",
//                                                        "shape": [d0, d1, ...],
//                                                        "data_offsets": [begin, end]}, ...}
//                         padded with trailing spaces so the data section starts at a 64-byte file offset
//   data section          packed tensor bytes (row-major, little-endian), offsets relative to its start
// Contract:
// - The writer always stores metadata "format":"qforge" and "qforge.version":"1.0" (MAJOR.MINOR), writes tensors
//   in name order with no holes, and writes via temp file + rename (no half-written files).
// - The reader accepts plain safetensors files too (no qforge.version), rejects a qforge.version whose MAJOR is
//   not 1, ignores unknown keys, and validates everything before allocating: header length vs file size, JSON,
//   dtypes, shapes (checked_numel), data_offsets inside the data, end-begin == numel*dtype size, and that the
//   tensors tile the data section exactly (no overlap, no hole, no trailing bytes). Duplicate names are a JSON
//   error. Errors name the file and the tensor/key at fault. BOOL bytes other than 0/1 are read as 1.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/io/file_util.hpp"
#include "qforge/io/json.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "qforge file formats assume a little-endian host"
#endif

namespace qforge {

struct TensorFile {
  std::map<std::string, std::string> metadata;
  std::map<std::string, Tensor> tensors;
};

constexpr const char* kTensorFileFormat = "qforge";
constexpr const char* kTensorFileVersion = "1.0";
constexpr int kTensorFileMajor = 1;
// The largest JSON header accepted (the safetensors reference reader uses the same cap).
constexpr uint64_t kMaxTensorFileHeader = uint64_t(100) << 20;

// Safetensors dtype names for qforge dtypes.
inline const char* tensor_file_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::i8: return "I8";
    case DType::u8: return "U8";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::boolean: return "BOOL";
  }
  return "?";
}

inline Result<DType> parse_tensor_file_dtype(const std::string& s) {
  if (s == "F32") return DType::f32;
  if (s == "I8") return DType::i8;
  if (s == "U8") return DType::u8;
  if (s == "I32") return DType::i32;
  if (s == "I64") return DType::i64;
  if (s == "BOOL") return DType::boolean;
  static const char* known_other[] = {"F16", "BF16", "F64", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2"};
  for (auto* k : known_other)
    if (s == k) return make_error("unsupported dtype '", s, "' (qforge reads F32, I8, U8, I32, I64, BOOL)");
  return make_error("unknown dtype '", s, "'");
}

// Checks "qforge.version" if present: "MAJOR.MINOR" with MAJOR == kTensorFileMajor.
inline Status check_tensor_file_version(const std::map<std::string, std::string>& metadata) {
  auto it = metadata.find("qforge.version");
  if (it == metadata.end()) return Status::Ok();
  const std::string& v = it->second;
  size_t dot = v.find('.');
  std::string major = v.substr(0, dot);
  bool digits = !major.empty() && major.size() <= 9 &&
                std::all_of(major.begin(), major.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return make_error("malformed qforge.version '", v, "' (expected MAJOR.MINOR)");
  if (std::stoi(major) != kTensorFileMajor)
    return make_error("unsupported qforge container version '", v, "' (this reader reads ", kTensorFileMajor,
                      ".x; the file needs a newer qforge)");
  return Status::Ok();
}

namespace detail {

struct TensorFileEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

struct TensorFileHeader {
  std::map<std::string, std::string> metadata;
  std::vector<TensorFileEntry> entries;  // in data order
};

inline uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

// Validates the JSON header against a data section of data_size bytes.
inline Result<TensorFileHeader> parse_tensor_file_header(const uint8_t* hdr, size_t n, uint64_t data_size) {
  JsonParseOptions opt;
  opt.max_bytes = size_t(kMaxTensorFileHeader);
  opt.max_values = size_t(4) << 20;
  auto parsed = Json::parse(std::string_view(reinterpret_cast<const char*>(hdr), n), opt);
  if (!parsed.ok()) return parsed.error().wrap("header");
  const Json& j = *parsed;
  if (!j.is_object()) return make_error("header: must be a JSON object, not ", Json::type_name(j.type()));
  TensorFileHeader h;
  for (auto& m : j.as_object()) {
    const std::string& key = m.first;
    const Json& v = m.second;
    if (key == "__metadata__") {
      if (!v.is_object()) return make_error("header: __metadata__ must be an object, not ", Json::type_name(v.type()));
      for (auto& kv : v.as_object()) {
        if (!kv.second.is_string())
          return make_error("header: __metadata__ must map strings to strings; '", kv.first, "' is ",
                            Json::type_name(kv.second.type()));
        h.metadata[kv.first] = kv.second.as_string();
      }
      continue;
    }
    auto where = [&](const std::string& what) { return "tensor '" + key + "': " + what; };
    if (!v.is_object()) return make_error(where("entry must be an object, not "), Json::type_name(v.type()));
    TensorFileEntry e;
    e.name = key;
    auto dt = v.get_string("dtype");
    if (!dt.ok()) return dt.error().wrap("tensor '" + key + "'");
    auto dtype = parse_tensor_file_dtype(*dt);
    if (!dtype.ok()) return dtype.error().wrap("tensor '" + key + "'");
    e.dtype = *dtype;
    const Json* shape = v.find("shape");
    if (!shape) return make_error(where("missing key 'shape'"));
    if (!shape->is_array()) return make_error(where("'shape' must be an array"));
    if (shape->size() > 64) return make_error(where("rank "), shape->size(), " is more than 64");
    for (auto& d : shape->as_array()) {
      if (!d.is_number() || !d.is_int_valued()) return make_error(where("'shape' entries must be integers"));
      e.shape.push_back(d.as_int());
    }
    auto numel = checked_numel(e.shape);
    if (!numel.ok()) return numel.error().wrap("tensor '" + key + "'");
    const Json* off = v.find("data_offsets");
    if (!off) return make_error(where("missing key 'data_offsets'"));
    if (!off->is_array() || off->size() != 2) return make_error(where("'data_offsets' must be [begin, end]"));
    for (size_t k = 0; k < 2; ++k)
      if (!(*off)[k].is_number() || !(*off)[k].is_int_valued() || (*off)[k].as_int() < 0)
        return make_error(where("'data_offsets' must be non-negative integers"));
    e.begin = uint64_t((*off)[0].as_int());
    e.end = uint64_t((*off)[1].as_int());
    if (e.begin > e.end)
      return make_error(where("data_offsets ["), e.begin, ",", e.end, "] end before they begin");
    if (e.end > data_size)
      return make_error(where("data_offsets ["), e.begin, ",", e.end, "] reach past the data section of ",
                        data_size, " bytes");
    uint64_t need = uint64_t(*numel) * dtype_size(e.dtype);
    if (e.end - e.begin != need)
      return make_error(where("data_offsets ["), e.begin, ",", e.end, "] span ", e.end - e.begin, " bytes but ",
                        tensor_file_dtype_name(e.dtype), " ", shape_str(e.shape), " needs ", need);
    h.entries.push_back(std::move(e));
  }
  QF_RETURN_IF_ERROR(check_tensor_file_version(h.metadata));
  // The tensors must tile [0, data_size) exactly.
  std::sort(h.entries.begin(), h.entries.end(), [](const TensorFileEntry& a, const TensorFileEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  const TensorFileEntry* prev = nullptr;
  for (auto& e : h.entries) {
    if (e.begin < at)
      return make_error("tensor '", e.name, "' data_offsets [", e.begin, ",", e.end, "] overlap tensor '",
                        prev->name, "' [", prev->begin, ",", prev->end, "]");
    if (e.begin > at)
      return make_error("hole of ", e.begin - at, " bytes in the data section before tensor '", e.name, "'");
    at = e.end;
    prev = &e;
  }
  if (at != data_size)
    return make_error("data section has ", data_size - at, " bytes after the last tensor that no tensor covers");
  return h;
}

inline void normalize_bool(Tensor& t) {
  if (t.dtype() != DType::boolean) return;
  auto* p = static_cast<uint8_t*>(t.raw());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] != 0;
}

// Splits a file/buffer of `size` bytes into (header length, data offset), checking the length prefix.
inline Result<uint64_t> check_header_length(uint64_t size, const uint8_t* first8) {
  if (size < 8) return make_error("file is ", size, " bytes, too short for the 8-byte header length");
  uint64_t n = read_u64_le(first8);
  if (n > kMaxTensorFileHeader) return make_error("header length ", n, " is more than the limit of ", kMaxTensorFileHeader);
  if (n > size - 8) return make_error("header length ", n, " runs past the end of the ", size, "-byte file");
  if (n < 2) return make_error("header length ", n, " is too small for a JSON object");
  return n;
}

}  // namespace detail

// Parses a container held in memory; errors are prefixed with name_for_errors.
inline Result<TensorFile> parse_tensor_file(const uint8_t* data, size_t size, const std::string& name_for_errors) {
  auto run = [&]() -> Result<TensorFile> {
    QF_ASSIGN_OR_RETURN(uint64_t n, detail::check_header_length(size, data));
    uint64_t data_begin = 8 + n;
    QF_ASSIGN_OR_RETURN(auto header, detail::parse_tensor_file_header(data + 8, size_t(n), size - data_begin));
    TensorFile f;
    f.metadata = std::move(header.metadata);
    for (auto& e : header.entries) {
      QF_ASSIGN_OR_RETURN(Tensor t, Tensor::create(e.dtype, e.shape));
      if (t.nbytes()) std::memcpy(t.raw(), data + data_begin + e.begin, t.nbytes());
      detail::normalize_bool(t);
      f.tensors.emplace(e.name, std::move(t));
    }
    return f;
  };
  auto r = run();
  if (!r.ok()) return r.error().wrap(name_for_errors);
  return r;
}

// Reads a container file: header first (validated against the file size), then each tensor straight into its
// own aligned storage. Errors are prefixed with the path.
inline Result<TensorFile> load_tensor_file(const std::string& path) {
  auto run = [&]() -> Result<TensorFile> {
    QF_ASSIGN_OR_RETURN(io::File f, io::open_for_reading(path));
    QF_ASSIGN_OR_RETURN(uint64_t size, io::file_size(f.get(), path));
    uint8_t len8[8] = {0};
    if (size >= 8) QF_RETURN_IF_ERROR(io::read_exact(f.get(), len8, 8, path, "header length"));
    QF_ASSIGN_OR_RETURN(uint64_t n, detail::check_header_length(size, len8));
    std::vector<uint8_t> hdr(static_cast<size_t>(n));
    QF_RETURN_IF_ERROR(io::read_exact(f.get(), hdr.data(), hdr.size(), path, "header"));
    uint64_t data_size = size - 8 - n;
    QF_ASSIGN_OR_RETURN(auto header, detail::parse_tensor_file_header(hdr.data(), hdr.size(), data_size));
    TensorFile out;
    out.metadata = std::move(header.metadata);
    for (auto& e : header.entries) {  // in data order: a sequential read
      QF_ASSIGN_OR_RETURN(Tensor t, Tensor::create(e.dtype, e.shape));
      QF_RETURN_IF_ERROR(io::read_exact(f.get(), t.raw(), t.nbytes(), path, ("tensor '" + e.name + "'").c_str()));
      detail::normalize_bool(t);
      out.tensors.emplace(e.name, std::move(t));
    }
    return out;
  };
  auto r = run();
  if (!r.ok()) {
    // read errors already name the path; others get it as a prefix
    if (r.error().message.find(path) == std::string::npos) return r.error().wrap(path);
    return r.error();
  }
  return r;
}

namespace detail {
// The padded JSON header for f (metadata + tensor table), after checking names, UTF-8 and storage.
inline Result<std::string> build_tensor_file_header(const TensorFile& f) {
  Json meta = Json::object();
  for (auto& kv : f.metadata) {
    if (kv.first == "format" || kv.first == "qforge.version") continue;
    if (!is_valid_utf8(kv.first)) return make_error("metadata key is not valid UTF-8");
    if (!is_valid_utf8(kv.second)) return make_error("metadata '", kv.first, "': value is not valid UTF-8");
    meta.set(kv.first, kv.second);
  }
  meta.set("format", kTensorFileFormat);
  meta.set("qforge.version", kTensorFileVersion);
  Json header = Json::object();
  header.set("__metadata__", std::move(meta));
  uint64_t at = 0;
  for (auto& kv : f.tensors) {
    const std::string& name = kv.first;
    const Tensor& t = kv.second;
    if (name.empty()) return make_error("tensor with an empty name");
    if (name == "__metadata__") return make_error("tensor name '__metadata__' is reserved");
    if (!is_valid_utf8(name)) return make_error("tensor name is not valid UTF-8");
    if (!t.defined()) return make_error("tensor '", name, "' has no storage");
    Json e = Json::object();
    e.set("dtype", tensor_file_dtype_name(t.dtype()));
    Json shape = Json::array();
    for (auto d : t.shape()) shape.push_back(d);
    e.set("shape", std::move(shape));
    Json off = Json::array();
    off.push_back(at);
    at += t.nbytes();
    off.push_back(at);
    e.set("data_offsets", std::move(off));
    header.set(name, std::move(e));
  }
  std::string text = header.dump();
  if (text.size() > kMaxTensorFileHeader)
    return make_error("header of ", text.size(), " bytes is more than the limit of ", kMaxTensorFileHeader);
  size_t total = 8 + text.size();
  text.append((total + 63) / 64 * 64 - total, ' ');
  return text;
}

inline void put_u64_le(uint8_t* p, uint64_t v) {
  for (int k = 0; k < 8; ++k) p[k] = uint8_t(v >> (8 * k));
}
}  // namespace detail

// Serialises the container into bytes, exactly as save_tensor_file writes it.
inline Result<std::vector<uint8_t>> serialize_tensor_file(const TensorFile& f) {
  QF_ASSIGN_OR_RETURN(std::string text, detail::build_tensor_file_header(f));
  size_t data = 0;
  for (auto& kv : f.tensors) data += kv.second.nbytes();
  std::vector<uint8_t> out(8 + text.size());
  detail::put_u64_le(out.data(), text.size());
  std::memcpy(out.data() + 8, text.data(), text.size());
  out.reserve(out.size() + data);
  for (auto& kv : f.tensors) {
    auto* p = static_cast<const uint8_t*>(kv.second.raw());
    out.insert(out.end(), p, p + kv.second.nbytes());
  }
  return out;
}

// Writes the container via temp file + rename, streaming the tensors; adds "format" and "qforge.version" to the
// metadata. Errors are prefixed with the path.
inline Status save_tensor_file(const std::string& path, const TensorFile& f) {
  auto text = detail::build_tensor_file_header(f);
  if (!text.ok()) return text.error().wrap(path);
  uint8_t len8[8];
  detail::put_u64_le(len8, text->size());
  return io::write_file_atomic(path, [&](std::FILE* fp) -> Status {
    QF_RETURN_IF_ERROR(io::write_bytes(fp, len8, 8, path));
    QF_RETURN_IF_ERROR(io::write_bytes(fp, text->data(), text->size(), path));
    for (auto& kv : f.tensors) QF_RETURN_IF_ERROR(io::write_bytes(fp, kv.second.raw(), kv.second.nbytes(), path));
    return Status::Ok();
  });
}

}  // namespace qforge

// The same API under qforge::io, for callers that spell it io::load_tensor_file.
namespace qforge::io {
using qforge::load_tensor_file;
using qforge::parse_tensor_file;
using qforge::save_tensor_file;
using qforge::TensorFile;
}  // namespace qforge::io
