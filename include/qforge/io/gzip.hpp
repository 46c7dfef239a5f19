// qforge/io/gzip.hpp — gzip (RFC 1952) decoding with qforge's own inflater, CRC-32 and size checks.
//
// Contract: the output size is taken from the ISIZE trailer and bounded by max_bytes before anything is
// allocated; the inflater cannot write past it, so a decompression bomb fails cleanly. Single-member files only
// (what gzip(1) writes). (stb_image's inflater rejects valid streams with incomplete Huffman codes, e.g.
// Fashion-MNIST's label files, hence our own.)
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/io/file_util.hpp"
#include "qforge/io/inflate.hpp"

namespace qforge::io {

inline uint32_t crc32(const uint8_t* p, size_t n) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

inline bool is_gzip(const std::vector<uint8_t>& d) { return d.size() >= 2 && d[0] == 0x1f && d[1] == 0x8b; }

inline Result<std::vector<uint8_t>> gunzip(const std::vector<uint8_t>& d, const std::string& name,
                                          uint64_t max_bytes = uint64_t(1) << 30) {
  if (d.size() < 18 || !is_gzip(d)) return make_error(name, ": not a gzip file");
  if (d[2] != 8) return make_error(name, ": gzip compression method ", int(d[2]), " is not deflate");
  uint8_t flg = d[3];
  size_t pos = 10;
  auto need = [&](size_t k) { return pos + k <= d.size() - 8; };
  if (flg & 4) {  // FEXTRA
    if (!need(2)) return make_error(name, ": truncated gzip header");
    size_t xlen = d[pos] | (size_t(d[pos + 1]) << 8);
    pos += 2;
    if (!need(xlen)) return make_error(name, ": truncated gzip header");
    pos += xlen;
  }
  for (int bit : {8, 16}) {  // FNAME, FCOMMENT: zero-terminated
    if (flg & bit) {
      while (pos < d.size() - 8 && d[pos] != 0) ++pos;
      if (pos >= d.size() - 8) return make_error(name, ": truncated gzip header");
      ++pos;
    }
  }
  if (flg & 2) pos += 2;  // FHCRC
  if (pos > d.size() - 8) return make_error(name, ": truncated gzip header");
  const uint8_t* tr = d.data() + d.size() - 8;
  uint32_t crc = tr[0] | (tr[1] << 8) | (tr[2] << 16) | (uint32_t(tr[3]) << 24);
  uint32_t isize = tr[4] | (tr[5] << 8) | (tr[6] << 16) | (uint32_t(tr[7]) << 24);
  if (isize > max_bytes)
    return make_error(name, ": gzip member claims ", isize, " bytes, over the limit");
  QF_ASSIGN_OR_RETURN(auto out, inflate(d.data() + pos, d.size() - 8 - pos, size_t(isize), name));
  if (out.size() != isize) return make_error(name, ": inflated ", out.size(), " bytes but the trailer says ", isize);
  if (crc32(out.data(), out.size()) != crc) return make_error(name, ": CRC-32 mismatch");
  return out;
}

// Reads a file, inflating it when it is gzip-compressed.
inline Result<std::vector<uint8_t>> read_maybe_gzip(const std::string& path) {
  QF_ASSIGN_OR_RETURN(auto raw, read_file_bytes(path));
  if (!is_gzip(raw)) return raw;
  return gunzip(raw, path);
}

}  // namespace qforge::io
