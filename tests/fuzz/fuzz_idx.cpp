// Fuzz target: IDX files (Fashion-MNIST/MNIST), gzip-compressed or not: the gzip container, the DEFLATE decoder
// and the IDX header/size checks. Inflated data that loads must match its header.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/io/gzip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qforge;
  std::vector<uint8_t> bytes(data, data + size);
  if (io::is_gzip(bytes)) {
    auto in = io::gunzip(bytes, "fuzz.idx.gz", uint64_t(64) << 20);
    fuzz::check_error_names(in, "fuzz.idx.gz");
    if (!in.ok()) return 0;
    bytes = std::move(*in);
  }
  for (int nd : {1, 3}) {
    std::vector<int64_t> dims;
    auto px = data::detail::parse_idx(bytes, "fuzz.idx", nd, dims);
    fuzz::check_error_names(px, "fuzz.idx");
    if (!px.ok()) continue;
    uint64_t n = 1;
    for (auto d : dims) n *= uint64_t(d);
    if (px->size() != n) fuzz::finding("IDX payload size disagrees with its dims");
  }
  return 0;
}
