// qforge/io/file.hpp — whole-file reads with size limits, and atomic writes (temp file + rename).
//
// Contract: read_file never reads more than max_bytes (a hostile file cannot exhaust memory); write_file_atomic
// writes to "<path>.tmp.<pid>" and renames over the target, so a crash or error never leaves a half-written file.
#pragma once
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include "qforge/core/error.hpp"

namespace qforge::io {

constexpr uint64_t kDefaultMaxFileBytes = uint64_t(4) << 30;

inline Result<std::vector<uint8_t>> read_file(const std::string& path, uint64_t max_bytes = kDefaultMaxFileBytes) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return make_error(path, ": cannot open: ", std::strerror(errno));
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (out.size() + n > max_bytes) {
      std::fclose(f);
      return make_error(path, ": file is larger than the limit of ", max_bytes, " bytes");
    }
    out.insert(out.end(), buf, buf + n);
  }
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) return make_error(path, ": read error");
  return out;
}

// Calls write(FILE*) -> Status on a temporary file, then renames it to `path`. On any failure the temporary
// file is removed and the target is untouched.
template <class WriteFn>
Status write_file_atomic(const std::string& path, WriteFn&& write) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return make_error(path, ": cannot create: ", std::strerror(errno));
  Status st = write(f);
  bool io_err = std::ferror(f) != 0;
  if (std::fclose(f) != 0) io_err = true;
  if (st.ok() && io_err) st = make_error(path, ": write error: ", std::strerror(errno));
  if (!st.ok()) {
    std::remove(tmp.c_str());
    return st;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    return make_error(path, ": cannot rename temporary file into place: ", why);
  }
  return Status::Ok();
}

inline Status write_bytes_atomic(const std::string& path, const void* data, size_t n) {
  return write_file_atomic(path, [&](FILE* f) -> Status {
    if (n && std::fwrite(data, 1, n, f) != n) return make_error(path, ": short write");
    return Status::Ok();
  });
}

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace qforge::io
