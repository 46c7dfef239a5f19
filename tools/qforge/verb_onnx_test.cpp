// qforge onnx-test DIR — run one ONNX backend-test case (DIR/model.onnx + test_data_set_*/{input,output}_*.pb)
// through the fp32 executor. Prints PASS, FAIL (with the worst element) or UNSUPPORTED (with the reason).
// Exit code: 0 PASS, 1 FAIL, 3 UNSUPPORTED, 2 usage.
#include <cstdio>
#include <string>
#include <vector>

#include "cli.hpp"
#include "qforge/graph/onnx_case.hpp"

// A named namespace, not an anonymous one: the verbs compile as one unity translation unit (CMakeLists.txt).
namespace verb_onnx_test {

int run(const std::vector<std::string>& argv) {
  qforge::cli::Args a(argv, {});
  auto unknown = a.unknown({"rtol", "atol", "threads"});
  if (!unknown.empty() || a.positional().size() != 1) {
    std::fprintf(stderr,
                 "usage: qforge onnx-test DIR [--rtol 1e-3] [--atol 1e-7] [--threads N]\n"
                 "  DIR holds model.onnx and test_data_set_*/input_*.pb, output_*.pb\n");
    if (!unknown.empty()) std::fprintf(stderr, "unknown flag --%s\n", unknown[0].c_str());
    return 2;
  }
  qforge::OnnxCaseOptions o;
  try {
    if (a.has("rtol")) o.rtol = std::stod(a.get("rtol"));
    if (a.has("atol")) o.atol = std::stod(a.get("atol"));
  } catch (...) {
    std::fprintf(stderr, "qforge onnx-test: --rtol/--atol need a number\n");
    return 2;
  }
  if (a.has("threads")) {
    auto t = a.get_int("threads");
    if (!t || *t < 0) {
      std::fprintf(stderr, "qforge onnx-test: --threads needs a non-negative integer\n");
      return 2;
    }
    o.exec.threads = int(*t);
  }
  const std::string& dir = a.positional()[0];
  auto r = qforge::run_onnx_case(dir, o);
  using S = qforge::OnnxCaseResult::Status;
  if (r.status == S::Pass) {
    std::printf("PASS %s (%d data set%s)\n", dir.c_str(), r.data_sets, r.data_sets == 1 ? "" : "s");
    return 0;
  }
  std::printf("%s %s: %s\n", r.status_name(), dir.c_str(), r.message.c_str());
  return r.status == S::Fail ? 1 : 3;
}

qforge::cli::Verb reg{"onnx-test", "run an ONNX backend test case dir through the fp32 executor", run};

}  // namespace verb_onnx_test
