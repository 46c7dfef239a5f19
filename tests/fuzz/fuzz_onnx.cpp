// Fuzz target: the ONNX reader (protobuf wire format, TensorProto data, graph checks), then the fp32 executor's
// prepare step (kind/attribute checks, constant folding, shape inference) on whatever loads.
// A model that loads must also serialize and load again.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include "qforge/graph/executor.hpp"
#include "qforge/io/onnx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qforge;
  auto g = parse_onnx(data, size, "fuzz.onnx");
  fuzz::check_error_names(g, "fuzz.onnx");
  if (!g.ok()) return 0;
  auto bytes = serialize_onnx(*g);
  if (bytes.ok()) {
    auto again = parse_onnx(bytes->data(), bytes->size(), "round-trip.onnx");
    if (!again.ok()) fuzz::finding("a loaded model does not load after serialize_onnx: " + again.error().message);
  }
  ExecOptions o;
  o.threads = 1;
  auto ex = Executor::prepare(std::move(*g), o);
  (void)ex;
  return 0;
}
