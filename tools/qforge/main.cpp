// qforge CLI entry point: `qforge VERB [args...]`; verbs live in verb_<name>.cpp.
#include <cstdio>
#include <string>
#include <vector>

#include "cli.hpp"

int main(int argc, char** argv) {
  auto& reg = qforge::cli::registry();
  std::string verb = argc > 1 ? argv[1] : "";
  if (verb.empty() || verb == "-h" || verb == "--help" || verb == "help") {
    std::printf("usage: qforge VERB [args]\n\nverbs:\n");
    for (auto& kv : reg) std::printf("  %-12s %s\n", kv.first.c_str(), kv.second.help.c_str());
    return verb.empty() ? 2 : 0;
  }
  auto it = reg.find(verb);
  if (it == reg.end()) {
    std::fprintf(stderr, "qforge: unknown verb '%s' (try qforge --help)\n", verb.c_str());
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  return it->second.run(args);
}
