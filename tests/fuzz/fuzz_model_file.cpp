// Fuzz target: the qforge weight/model container (8-byte length, JSON header, data section) and what is read
// from it: an fp32 graph (.qf) or an int8 graph (.q.qf), then the executor's prepare step for either.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.hpp"
#include "qforge/graph/executor.hpp"
#include "qforge/io/model_file.hpp"
#include "qforge/io/tensor_file.hpp"
#include "qforge/quant/qexecutor.hpp"
#include "qforge/quant/qgraph_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace qforge;
  auto f = parse_tensor_file(data, size, "fuzz.qf");
  fuzz::check_error_names(f, "fuzz.qf");
  if (!f.ok()) return 0;
  auto kind = f->metadata.find("qforge.kind");
  if (kind != f->metadata.end() && kind->second == "int8") {
    auto q = quant::qgraph_from_tensor_file(*f);
    if (!q.ok()) return 0;
    quant::QExecOptions o;
    o.threads = 1;
    auto ex = quant::QExecutor::prepare(std::move(*q), o);
    (void)ex;
    return 0;
  }
  auto g = model_from_tensor_file(*f);
  if (!g.ok()) return 0;
  ExecOptions o;
  o.threads = 1;
  auto ex = Executor::prepare(std::move(*g), o);
  (void)ex;
  return 0;
}
