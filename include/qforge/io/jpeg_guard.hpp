// qforge/io/jpeg_guard.hpp — checks a JPEG's marker segments before stb_image decodes it.
//
// Why: Debian's stb_image (v2.27) trusts the symbol counts of a DHT (Huffman table) segment; a table claiming more
// than 256 symbols writes past stb's fixed arrays (found by tests/fuzz/fuzz_image). This walker finds every
// marker segment (skipping entropy-coded data, where 0xFF is followed by 0x00 or a restart marker), and rejects
// segments that run past the file and DHT tables whose counts exceed 256 or the segment. It decodes nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "qforge/core/error.hpp"

namespace qforge::io {

// The offset just past the start-of-image marker when stb would take `d` for a JPEG (it skips any number of 0xFF
// fill bytes before 0xD8), else 0.
inline size_t jpeg_soi_end(const uint8_t* d, size_t n) {
  size_t i = 0;
  if (n == 0 || d[0] != 0xFF) return 0;
  while (i < n && d[i] == 0xFF) ++i;
  return i < n && d[i] == 0xD8 ? i + 1 : 0;
}

inline bool is_jpeg(const uint8_t* d, size_t n) { return jpeg_soi_end(d, n) != 0; }

inline Status check_jpeg_segments(const uint8_t* d, size_t n, const std::string& name) {
  size_t p = jpeg_soi_end(d, n);
  while (p < n) {
    if (d[p] != 0xFF) {  // entropy-coded data: skip to the next real marker
      ++p;
      continue;
    }
    while (p < n && d[p] == 0xFF) ++p;  // fill bytes
    if (p >= n) break;
    const uint8_t m = d[p++];
    if (m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // stuffed byte, RSTn, TEM
    if (m == 0xD9) break;                                               // EOI
    if (p + 2 > n) return make_error(name, ": JPEG marker 0x", std::hex, int(m), " is cut off");
    const size_t len = (size_t(d[p]) << 8) | d[p + 1];
    if (len < 2 || p + len > n)
      return make_error(name, ": JPEG segment 0x", std::hex, int(m), std::dec, " of ", len,
                        " bytes runs past the end of the file");
    if (m == 0xC4) {  // DHT: one or more tables of (class/id, 16 counts, symbols)
      size_t q = p + 2;
      const size_t end = p + len;
      while (q < end) {
        if (q + 17 > end) return make_error(name, ": JPEG Huffman table header is cut off");
        size_t symbols = 0;
        for (int i = 1; i <= 16; ++i) symbols += d[q + size_t(i)];
        if (symbols > 256)
          return make_error(name, ": JPEG Huffman table declares ", symbols, " symbols (at most 256)");
        if (q + 17 + symbols > end) return make_error(name, ": JPEG Huffman table runs past its segment");
        q += 17 + symbols;
      }
    }
    p += len;
  }
  return Status::Ok();
}

}  // namespace qforge::io
