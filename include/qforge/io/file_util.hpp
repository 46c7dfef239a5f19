// qforge/io/file_util.hpp — whole-file reads with a size cap, and atomic writes (temp file + rename).
//
// Contract: read_file_bytes never reads more than max_bytes (it fails instead), so a hostile or huge file cannot
// exhaust memory. write_file_atomic writes into "<path>.tmp-<unique>" in the same directory, flushes, closes and
// renames it over <path>; on any failure the temp file is removed and <path> is left as it was, so readers never
// see a half-written file. Errors name the path and carry strerror(errno).
#pragma once
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"

namespace qforge::io {

inline std::string errno_text(int e) { return std::strerror(e); }

// An open FILE* that closes itself (owns it).
class File {
 public:
  File() = default;
  explicit File(std::FILE* f) : f_(f) {}
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  File(File&& o) noexcept : f_(o.f_) { o.f_ = nullptr; }
  File& operator=(File&& o) noexcept {
    if (this != &o) { reset(); f_ = o.f_; o.f_ = nullptr; }
    return *this;
  }
  ~File() { reset(); }
  std::FILE* get() const { return f_; }
  explicit operator bool() const { return f_ != nullptr; }
  void reset() {
    if (f_) std::fclose(f_);
    f_ = nullptr;
  }
  // Closes and reports whether buffered data reached the OS.
  bool close() {
    if (!f_) return true;
    int rc = std::fclose(f_);
    f_ = nullptr;
    return rc == 0;
  }

 private:
  std::FILE* f_ = nullptr;
};

inline Result<File> open_for_reading(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return make_error("cannot open '", path, "' for reading: ", errno_text(errno));
  return File(f);
}

// Size of an open seekable file in bytes (restores position 0).
inline Result<uint64_t> file_size(std::FILE* f, const std::string& path) {
  if (std::fseek(f, 0, SEEK_END) != 0) return make_error("'", path, "': cannot seek: ", errno_text(errno));
  long long n = ftello(f);
  if (n < 0) return make_error("'", path, "': cannot tell size: ", errno_text(errno));
  if (std::fseek(f, 0, SEEK_SET) != 0) return make_error("'", path, "': cannot seek: ", errno_text(errno));
  return uint64_t(n);
}

// Reads exactly n bytes or fails with a message naming what was being read.
inline Status read_exact(std::FILE* f, void* dst, size_t n, const std::string& path, const char* what) {
  if (n == 0) return Status::Ok();
  size_t got = std::fread(dst, 1, n, f);
  if (got != n) {
    if (std::ferror(f)) return make_error("'", path, "': read error in ", what, ": ", errno_text(errno));
    return make_error("'", path, "': file ends inside ", what, " (wanted ", n, " bytes, got ", got, ")");
  }
  return Status::Ok();
}

// The whole file, failing if it is larger than max_bytes.
inline Result<std::vector<uint8_t>> read_file_bytes(const std::string& path, uint64_t max_bytes = uint64_t(1) << 34) {
  QF_ASSIGN_OR_RETURN(File f, open_for_reading(path));
  std::vector<uint8_t> out;
  auto size = file_size(f.get(), path);
  if (size.ok()) {
    if (size.value() > max_bytes)
      return make_error("'", path, "' is ", size.value(), " bytes, more than the limit of ", max_bytes);
    out.resize(size_t(size.value()));
    QF_RETURN_IF_ERROR(read_exact(f.get(), out.data(), out.size(), path, "file"));
    return out;
  }
  // Not seekable (pipe, /dev/stdin): read in chunks up to the limit.
  std::clearerr(f.get());
  uint8_t chunk[1 << 16];
  for (;;) {
    size_t got = std::fread(chunk, 1, sizeof chunk, f.get());
    if (out.size() + got > max_bytes) return make_error("'", path, "' is larger than the limit of ", max_bytes, " bytes");
    out.insert(out.end(), chunk, chunk + got);
    if (got < sizeof chunk) {
      if (std::ferror(f.get())) return make_error("'", path, "': read error: ", errno_text(errno));
      break;
    }
  }
  return out;
}

inline std::string unique_temp_path(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  uint64_t t = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t c = counter.fetch_add(1);
  uint64_t mix = t ^ (c * 0x9E3779B97F4A7C15ull) ^ uint64_t(reinterpret_cast<uintptr_t>(&counter));
  char buf[40];
  std::snprintf(buf, sizeof buf, ".tmp-%016llx", static_cast<unsigned long long>(mix));
  return path + buf;
}

// Calls write(FILE*) on a temp file next to `path`, then renames it over `path`. `write` returns a Status; any
// failure (its own, a short fwrite, fflush/fclose, rename) removes the temp file and is returned.
inline Status write_file_atomic(const std::string& path, const std::function<Status(std::FILE*)>& write) {
  std::string tmp = unique_temp_path(path);
  std::FILE* raw = std::fopen(tmp.c_str(), "wb");
  if (!raw) return make_error("cannot create '", tmp, "' (for '", path, "'): ", errno_text(errno));
  File f(raw);
  Status st = write(f.get());
  if (st.ok() && std::fflush(f.get()) != 0) st = make_error("cannot write '", path, "': ", errno_text(errno));
  if (st.ok() && std::ferror(f.get())) st = make_error("cannot write '", path, "': I/O error");
  bool closed = f.close();
  if (st.ok() && !closed) st = make_error("cannot write '", path, "': ", errno_text(errno));
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0)
    st = make_error("cannot rename '", tmp, "' to '", path, "': ", errno_text(errno));
  if (!st.ok()) std::remove(tmp.c_str());
  return st;
}

// fwrite that reports a short write as an error naming the path.
inline Status write_bytes(std::FILE* f, const void* data, size_t n, const std::string& path) {
  if (n == 0) return Status::Ok();
  if (std::fwrite(data, 1, n, f) != n) return make_error("cannot write '", path, "': ", errno_text(errno));
  return Status::Ok();
}

inline Status write_file_atomic(const std::string& path, const void* data, size_t n) {
  return write_file_atomic(path, [&](std::FILE* f) { return write_bytes(f, data, n, path); });
}

}  // namespace qforge::io
