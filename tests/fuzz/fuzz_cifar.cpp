// Fuzz target: CIFAR-10 binary batches (label byte + 3x32x32 planes per record).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.hpp"
#include "qforge/data/dataset.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qforge;
  std::vector<uint8_t> bytes(data, data + size), all;
  auto s = data::detail::append_cifar_records(bytes, "fuzz.bin", all);
  fuzz::check_error_names(s, "fuzz.bin");
  if (s.ok() && (all.size() != size || size % data::detail::kCifarRecord != 0))
    fuzz::finding("accepted CIFAR batch has the wrong size");
  return 0;
}
