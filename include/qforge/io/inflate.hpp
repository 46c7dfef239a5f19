// qforge/io/inflate.hpp — a raw DEFLATE (RFC 1951) decoder, written for hostile input.
//
// Contract: inflate(src, n, max_out) returns the decoded bytes or an error; it never reads past `src + n`,
// never writes more than max_out bytes, and rejects over-subscribed codes, bad lengths, distances before the
// start of the output and truncated streams. Incomplete codes (e.g. a single distance code, which zlib emits)
// are accepted; only a code that is actually used and has no symbol is an error.
// Decoding uses one direct lookup table per code, indexed by the next 15 bits of the stream.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"

namespace qforge::io {

namespace inflate_detail {

constexpr int kMaxBits = 15;

struct Huffman {
  // entry = symbol << 4 | length; length 0 = no code with this bit pattern.
  std::vector<uint16_t> table = std::vector<uint16_t>(1u << kMaxBits, 0);
};

// Builds the lookup table for code lengths lens[0..n). Returns false for an over-subscribed set.
inline bool build(Huffman& h, const uint8_t* lens, int n) {
  int count[kMaxBits + 1] = {0};
  for (int i = 0; i < n; ++i) count[lens[i]]++;
  count[0] = 0;
  int left = 1;
  for (int len = 1; len <= kMaxBits; ++len) {
    left = left * 2 - count[len];
    if (left < 0) return false;
  }
  int next[kMaxBits + 2] = {0};
  int code = 0;
  for (int len = 1; len <= kMaxBits; ++len) {
    code = (code + count[len - 1]) << 1;
    next[len] = code;
  }
  std::fill(h.table.begin(), h.table.end(), 0);
  for (int sym = 0; sym < n; ++sym) {
    int len = lens[sym];
    if (!len) continue;
    int c = next[len]++;
    int rev = 0;  // codes are sent MSB first into an LSB-first bit stream: index by the reversed code
    for (int b = 0; b < len; ++b) rev |= ((c >> b) & 1) << (len - 1 - b);
    for (int fill = rev; fill < (1 << kMaxBits); fill += (1 << len)) h.table[size_t(fill)] = uint16_t(sym << 4 | len);
  }
  return true;
}

struct Bits {
  const uint8_t* p;
  size_t n, pos = 0;  // pos = bytes loaded into buf
  uint64_t buf = 0;
  int cnt = 0;
  size_t overrun = 0;  // zero bytes fed past the end (an error if they are consumed)

  void refill() {
    while (cnt <= 56) {
      uint64_t byte = 0;
      if (pos < n) byte = p[pos++];
      else ++overrun;
      buf |= byte << cnt;
      cnt += 8;
    }
  }
  bool ok() const { return overrun * 8 <= size_t(cnt); }  // consumed bits never came from padding
  uint32_t get(int k) {
    if (cnt < k) refill();
    uint32_t v = uint32_t(buf & ((uint64_t(1) << k) - 1));
    buf >>= k;
    cnt -= k;
    return v;
  }
  int decode(const Huffman& h) {
    if (cnt < kMaxBits) refill();
    uint16_t e = h.table[buf & ((1u << kMaxBits) - 1)];
    int len = e & 15;
    if (!len) return -1;
    buf >>= len;
    cnt -= len;
    return e >> 4;
  }
  void align() {
    int drop = cnt % 8;
    buf >>= drop;
    cnt -= drop;
  }
};

constexpr uint16_t kLenBase[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr uint8_t kLenExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr uint16_t kDistBase[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr uint8_t kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

}  // namespace inflate_detail

inline Result<std::vector<uint8_t>> inflate(const uint8_t* src, size_t n, size_t max_out, const std::string& name) {
  using namespace inflate_detail;
  Bits in{src, n};
  std::vector<uint8_t> out;
  Huffman lit, dist;
  auto truncated = [&] { return make_error(name, ": truncated deflate stream"); };
  for (bool last = false; !last;) {
    last = in.get(1);
    uint32_t type = in.get(2);
    if (type == 0) {  // stored
      in.align();
      uint32_t len = in.get(16), nlen = in.get(16);
      if (!in.ok()) return truncated();
      if ((len ^ 0xFFFF) != nlen) return make_error(name, ": stored block length check failed");
      if (out.size() + len > max_out) return make_error(name, ": inflated data exceeds ", max_out, " bytes");
      for (uint32_t i = 0; i < len; ++i) out.push_back(uint8_t(in.get(8)));
      if (!in.ok()) return truncated();
      continue;
    }
    if (type == 3) return make_error(name, ": invalid deflate block type 3");
    uint8_t lens[320] = {0};
    int nlit = 288, ndist = 30;
    if (type == 1) {
      for (int i = 0; i < 144; ++i) lens[i] = 8;
      for (int i = 144; i < 256; ++i) lens[i] = 9;
      for (int i = 256; i < 280; ++i) lens[i] = 7;
      for (int i = 280; i < 288; ++i) lens[i] = 8;
      for (int i = 0; i < 30; ++i) lens[288 + i] = 5;
    } else {
      nlit = int(in.get(5)) + 257;
      ndist = int(in.get(5)) + 1;
      int ncode = int(in.get(4)) + 4;
      if (nlit > 286 || ndist > 30) return make_error(name, ": bad dynamic block header");
      static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
      uint8_t cl[19] = {0};
      for (int i = 0; i < ncode; ++i) cl[order[i]] = uint8_t(in.get(3));
      Huffman clh;
      if (!build(clh, cl, 19)) return make_error(name, ": over-subscribed code-length code");
      for (int i = 0; i < nlit + ndist;) {
        int sym = in.decode(clh);
        if (sym < 0 || !in.ok()) return make_error(name, ": bad code-length code");
        if (sym < 16) {
          lens[i++] = uint8_t(sym);
          continue;
        }
        int rep, val = 0;
        if (sym == 16) {
          if (i == 0) return make_error(name, ": repeat of a length before the first");
          val = lens[i - 1];
          rep = 3 + int(in.get(2));
        } else if (sym == 17) {
          rep = 3 + int(in.get(3));
        } else {
          rep = 11 + int(in.get(7));
        }
        if (i + rep > nlit + ndist) return make_error(name, ": code lengths overflow the table");
        while (rep--) lens[i++] = uint8_t(val);
      }
      if (lens[256] == 0) return make_error(name, ": no end-of-block code");
      // Move the distance lengths to their fixed slot at 288.
      uint8_t dl[30] = {0};
      for (int i = 0; i < ndist; ++i) dl[i] = lens[nlit + i];
      for (int i = nlit; i < 320; ++i) lens[i] = 0;
      for (int i = 0; i < 30; ++i) lens[288 + i] = dl[i];
    }
    if (!build(lit, lens, nlit) || !build(dist, lens + 288, 30))
      return make_error(name, ": over-subscribed Huffman code");
    for (;;) {
      int sym = in.decode(lit);
      if (sym < 0) return make_error(name, ": invalid literal/length code");
      if (sym < 256) {
        if (out.size() >= max_out) return make_error(name, ": inflated data exceeds ", max_out, " bytes");
        out.push_back(uint8_t(sym));
        continue;
      }
      if (sym == 256) break;
      sym -= 257;
      if (sym >= 29) return make_error(name, ": invalid length symbol");
      size_t len = kLenBase[sym] + in.get(kLenExtra[sym]);
      int ds = in.decode(dist);
      if (ds < 0 || ds >= 30) return make_error(name, ": invalid distance code");
      size_t d = kDistBase[ds] + in.get(kDistExtra[ds]);
      if (!in.ok()) return truncated();
      if (d > out.size()) return make_error(name, ": distance ", d, " reaches before the start of the data");
      if (out.size() + len > max_out) return make_error(name, ": inflated data exceeds ", max_out, " bytes");
      size_t from = out.size() - d;
      for (size_t k = 0; k < len; ++k) out.push_back(out[from + k]);
    }
    if (!in.ok()) return truncated();
  }
  if (!in.ok()) return truncated();
  return out;
}

}  // namespace qforge::io
