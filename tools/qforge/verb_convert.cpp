// `qforge convert IN -o OUT`: ONNX <-> qforge container (.qf). The input format is recognised from its bytes,
// the output format from OUT's extension (.onnx, or .qf / .safetensors for the container).
#include <cstdio>
#include <string>

#include "cli.hpp"
#include "qforge/io/model_file.hpp"

// A named namespace, not an anonymous one: the verbs compile as one unity translation unit (CMakeLists.txt).
namespace verb_convert {

using namespace qforge;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int convert_main(const std::vector<std::string>& argv) {
  cli::Args a(argv, {});
  auto unknown = a.unknown({"o", "output"});
  std::string out = a.has("o") ? a.get("o") : a.get("output");
  if (a.positional().size() != 1 || out.empty() || !unknown.empty()) {
    std::fprintf(stderr,
                 "usage: qforge convert IN -o OUT\n"
                 "  IN   an .onnx model or a qforge container (.qf), recognised by content\n"
                 "  OUT  *.onnx writes ONNX; *.qf or *.safetensors writes the qforge container\n");
    return 2;
  }
  const std::string& in = a.positional()[0];
  bool to_onnx = ends_with(out, ".onnx");
  bool to_qf = ends_with(out, ".qf") || ends_with(out, ".safetensors");
  if (!to_onnx && !to_qf) {
    std::fprintf(stderr, "qforge convert: cannot tell the output format of '%s' (use .onnx, .qf or .safetensors)\n",
                 out.c_str());
    return 2;
  }
  auto g = load_graph(in);
  if (!g.ok()) {
    std::fprintf(stderr, "qforge convert: %s\n", g.error().message.c_str());
    return 1;
  }
  Status st = to_onnx ? save_onnx(out, *g) : save_model(out, *g);
  if (!st.ok()) {
    std::fprintf(stderr, "qforge convert: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("wrote %s (%s): %zu nodes, %zu initializers, %zu inputs, %zu outputs\n", out.c_str(),
              to_onnx ? "ONNX" : "qforge container", g->nodes.size(), g->initializers.size(), g->inputs.size(),
              g->outputs.size());
  return 0;
}

cli::Verb reg{"convert", "convert a model between ONNX (.onnx) and the qforge container (.qf)", convert_main};

}  // namespace verb_convert
