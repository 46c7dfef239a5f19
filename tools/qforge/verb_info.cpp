// `qforge info MODEL [--json]`: what a model or container holds — ops with counts, inputs/outputs with shapes,
// parameter count, metadata (e.g. qforge.mean/std). Works for .onnx, graph containers (.qf) and any other qforge
// or safetensors container (tensor table summary).
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli.hpp"
#include "qforge/io/model_file.hpp"

// A named namespace, not an anonymous one: the verbs compile as one unity translation unit (CMakeLists.txt).
namespace verb_info {

using namespace qforge;

std::string dims_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + (s[i] < 0 ? std::string("?") : std::to_string(s[i]));
  return r + "]";
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) { b /= 1024; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", b, units[u]);
  return buf;
}

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out += ',';
    out += *it;
    ++n;
  }
  return std::string(out.rbegin(), out.rend());
}

// Shortened metadata value for display (graph JSON and configs can be long).
std::string short_value(const std::string& v) {
  std::string s = v.size() > 100 ? v.substr(0, 97) + "..." : v;
  for (auto& c : s) if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (v.size() > 100) s += " (" + std::to_string(v.size()) + " bytes)";
  return s;
}

Json vi_json(const std::vector<ValueInfo>& vs) {
  Json a = Json::array();
  for (auto& v : vs) {
    Json o = Json::object();
    o.set("name", v.name);
    o.set("dtype", tensor_file_dtype_name(v.dtype));
    Json s = Json::array();
    for (auto d : v.shape) s.push_back(d);
    o.set("shape", std::move(s));
    a.push_back(std::move(o));
  }
  return a;
}

int graph_info(const std::string& path, const char* format, const Graph& g, bool json) {
  std::map<std::string, int> ops;
  std::vector<std::string> order;
  for (auto& n : g.nodes) {
    std::string op = n.domain.empty() ? n.op_type : n.domain + "." + n.op_type;
    if (!ops.count(op)) order.push_back(op);
    ++ops[op];
  }
  std::sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
    return ops[a] != ops[b] ? ops[a] > ops[b] : a < b;
  });
  int64_t params = 0;
  size_t bytes = 0;
  for (auto& kv : g.initializers) {
    params += kv.second.numel();
    bytes += kv.second.nbytes();
  }
  if (json) {
    Json j = Json::object();
    j.set("path", path);
    j.set("format", format);
    j.set("name", g.name);
    j.set("producer", g.producer);
    j.set("opset", g.opset);
    j.set("inputs", vi_json(g.inputs));
    j.set("outputs", vi_json(g.outputs));
    Json o = Json::object();
    for (auto& op : order) o.set(op, ops[op]);
    j.set("ops", std::move(o));
    j.set("nodes", g.nodes.size());
    j.set("initializers", g.initializers.size());
    j.set("parameters", params);
    j.set("parameter_bytes", bytes);
    Json m = Json::object();
    for (auto& kv : g.metadata) m.set(kv.first, kv.second);
    j.set("metadata", std::move(m));
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s: %s model, graph '%s'", path.c_str(), format, g.name.c_str());
  if (!g.producer.empty()) std::printf(", producer '%s'", g.producer.c_str());
  std::printf(", opset %lld\n", static_cast<long long>(g.opset));
  std::printf("inputs:\n");
  for (auto& v : g.inputs)
    std::printf("  %-24s %-4s %s\n", v.name.c_str(), tensor_file_dtype_name(v.dtype), dims_str(v.shape).c_str());
  std::printf("outputs:\n");
  for (auto& v : g.outputs)
    std::printf("  %-24s %-4s %s\n", v.name.c_str(), tensor_file_dtype_name(v.dtype), dims_str(v.shape).c_str());
  std::printf("ops (%zu nodes):\n", g.nodes.size());
  for (auto& op : order) std::printf("  %-24s %d\n", op.c_str(), ops[op]);
  std::printf("parameters: %s in %zu initializers (%s)\n", with_commas(params).c_str(), g.initializers.size(),
              human_bytes(double(bytes)).c_str());
  if (!g.metadata.empty()) {
    std::printf("metadata:\n");
    for (auto& kv : g.metadata) std::printf("  %s = %s\n", kv.first.c_str(), short_value(kv.second).c_str());
  }
  return 0;
}

// A container that holds no fp32 graph (an int8 model, generator weights, plain safetensors).
int container_info(const std::string& path, const TensorFile& f, bool json) {
  int64_t params = 0;
  size_t bytes = 0;
  std::map<std::string, int> by_dtype;
  for (auto& kv : f.tensors) {
    params += kv.second.numel();
    bytes += kv.second.nbytes();
    ++by_dtype[tensor_file_dtype_name(kv.second.dtype())];
  }
  auto kind = f.metadata.count("qforge.kind") ? f.metadata.at("qforge.kind") : std::string();
  if (json) {
    Json j = Json::object();
    j.set("path", path);
    j.set("format", "qforge container");
    j.set("kind", kind);
    j.set("tensors", f.tensors.size());
    j.set("parameters", params);
    j.set("parameter_bytes", bytes);
    Json d = Json::object();
    for (auto& kv : by_dtype) d.set(kv.first, kv.second);
    j.set("dtypes", std::move(d));
    Json m = Json::object();
    for (auto& kv : f.metadata) m.set(kv.first, kv.second);
    j.set("metadata", std::move(m));
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s: qforge container%s\n", path.c_str(), kind.empty() ? "" : (", kind '" + kind + "'").c_str());
  std::printf("tensors: %zu (", f.tensors.size());
  bool first = true;
  for (auto& kv : by_dtype) {
    std::printf("%s%d %s", first ? "" : ", ", kv.second, kv.first.c_str());
    first = false;
  }
  std::printf("), %s values, %s\n", with_commas(params).c_str(), human_bytes(double(bytes)).c_str());
  std::vector<std::pair<std::string, const Tensor*>> big;
  for (auto& kv : f.tensors) big.push_back({kv.first, &kv.second});
  std::sort(big.begin(), big.end(), [](auto& a, auto& b) { return a.second->numel() > b.second->numel(); });
  if (!big.empty()) std::printf("largest tensors:\n");
  for (size_t k = 0; k < big.size() && k < 8; ++k)
    std::printf("  %-40s %-4s %s\n", big[k].first.c_str(), tensor_file_dtype_name(big[k].second->dtype()),
                dims_str(big[k].second->shape()).c_str());
  if (!f.metadata.empty()) {
    std::printf("metadata:\n");
    for (auto& kv : f.metadata) std::printf("  %s = %s\n", kv.first.c_str(), short_value(kv.second).c_str());
  }
  return 0;
}

int info_main(const std::vector<std::string>& argv) {
  cli::Args a(argv, {"json"});
  auto unknown = a.unknown({"json"});
  if (a.positional().size() != 1 || !unknown.empty()) {
    std::fprintf(stderr, "usage: qforge info MODEL [--json]\n  MODEL  an .onnx model or a qforge container (.qf)\n");
    return 2;
  }
  const std::string& path = a.positional()[0];
  bool json = a.has("json");
  uint8_t head[16] = {0};
  size_t got = 0;
  {
    auto f = io::open_for_reading(path);
    if (!f.ok()) {
      std::fprintf(stderr, "qforge info: %s\n", f.error().message.c_str());
      return 1;
    }
    got = std::fread(head, 1, sizeof head, f->get());
  }
  ModelFormat fmt = guess_model_format(head, got);
  if (fmt == ModelFormat::onnx) {
    auto g = load_onnx(path);
    if (!g.ok()) {
      std::fprintf(stderr, "qforge info: %s\n", g.error().message.c_str());
      return 1;
    }
    return graph_info(path, "ONNX", *g, json);
  }
  if (fmt == ModelFormat::container) {
    auto f = load_tensor_file(path);
    if (!f.ok()) {
      std::fprintf(stderr, "qforge info: %s\n", f.error().message.c_str());
      return 1;
    }
    auto kind = f->metadata.find("qforge.kind");
    if (kind != f->metadata.end() && kind->second == kModelKindGraph) {
      auto g = model_from_tensor_file(*f);
      if (!g.ok()) {
        std::fprintf(stderr, "qforge info: %s: %s\n", path.c_str(), g.error().message.c_str());
        return 1;
      }
      return graph_info(path, "qforge", *g, json);
    }
    return container_info(path, *f, json);
  }
  std::fprintf(stderr, "qforge info: %s: neither an ONNX model nor a qforge container\n", path.c_str());
  return 1;
}

cli::Verb reg{"info", "show a model's inputs/outputs, ops, parameter count and metadata (.onnx or .qf)", info_main};

}  // namespace verb_info
