// Fuzz target: the StyleGAN2 generator weight loader (container, config metadata, every tensor's name and shape
// checked against the config, weights repacked into GEMM layout).
#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include "generators/stylegan2/stylegan2_generator.hpp"
#include "qforge/io/tensor_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qforge;
  auto f = parse_tensor_file(data, size, "fuzz_gen.qf");
  fuzz::check_error_names(f, "fuzz_gen.qf");
  if (!f.ok()) return 0;
  auto m = gen::StyleGan2Model::from_tensor_file(*f, "fuzz_gen.qf", gen::sg2::SgemmKind::scalar);
  fuzz::check_error_names(m, "fuzz_gen.qf");
  return 0;
}
