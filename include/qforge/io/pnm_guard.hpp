// qforge/io/pnm_guard.hpp — checks a binary PNM (P5/P6) header before stb_image reads it.
//
// Why: Debian's stb_image (v2.27) accumulates each header number (width, height, maxval) in an int without a bound,
// so a header like "P6 2222222222222" overflows a signed int, which is undefined behaviour (found by
// tests/fuzz/fuzz_image under UBSan). This reads the header with stb's own grammar (whitespace and '#' comments
// between the numbers, a byte past the end reads as 0) and rejects any number above 2^24, far beyond any image
// qforge accepts (2^24 pixels) and any maxval (65535). It decodes nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "qforge/core/error.hpp"

namespace qforge::io {

// stb reads P5 (grey) and P6 (RGB) only; any other "P?" is not a PNM to it.
inline bool is_binary_pnm(const uint8_t* d, size_t n) { return n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6'); }

inline Status check_pnm_header(const uint8_t* d, size_t n, const std::string& name) {
  constexpr int64_t kMaxNumber = int64_t(1) << 24;
  size_t p = 2;
  auto at_end = [&] { return p >= n; };
  auto next = [&]() -> char { return p < n ? char(d[p++]) : char(0); };
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  char c = next();
  static const char* const kField[3] = {"width", "height", "maxval"};
  for (const char* field : kField) {
    for (;;) {  // whitespace, then any '#' comment up to the end of its line, repeated
      while (!at_end() && is_space(c)) c = next();
      if (at_end() || c != '#') break;
      while (!at_end() && c != '\n' && c != '\r') c = next();
    }
    int64_t value = 0;
    while (!at_end() && c >= '0' && c <= '9') {
      value = value * 10 + (c - '0');
      if (value > kMaxNumber)
        return make_error(name, ": PNM header ", field, " is larger than ", kMaxNumber);
      c = next();
    }
  }
  return Status::Ok();
}

}  // namespace qforge::io
