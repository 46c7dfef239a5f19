// tools/qforge/cli.hpp — the CLI's verb registry and argument helpers.
//
// Each verb_<name>.cpp defines `static qforge::cli::Verb reg{"name", "one-line help", run};` and nothing else
// global. run() gets the arguments after the verb and returns the process exit code (0 ok, 1 failure, 2 usage).
#pragma once
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qforge::cli {

using VerbFn = std::function<int(const std::vector<std::string>&)>;

struct VerbInfo {
  std::string help;
  VerbFn run;
};

inline std::map<std::string, VerbInfo>& registry() {
  static std::map<std::string, VerbInfo> r;
  return r;
}

struct Verb {
  Verb(const std::string& name, const std::string& help, VerbFn fn) { registry()[name] = {help, std::move(fn)}; }
};

// Minimal flag parser: positional arguments plus --flag VALUE / --flag=VALUE / boolean --flag.
class Args {
 public:
  Args(const std::vector<std::string>& argv, const std::vector<std::string>& boolean_flags) {
    for (size_t i = 0; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (isdigit((unsigned char)a[1]) || a[1] == '.'))) {
        std::string key = a.substr(a[1] == '-' ? 2 : 1), val;
        auto eq = key.find('=');
        bool is_bool = false;
        for (auto& b : boolean_flags) is_bool |= (b == key);
        if (eq != std::string::npos) {
          val = key.substr(eq + 1);
          key = key.substr(0, eq);
        } else if (is_bool) {
          val = "1";
        } else if (i + 1 < argv.size()) {
          val = argv[++i];
        } else {
          missing_.push_back(key);
          continue;
        }
        flags_[key] = val;
      } else {
        positional_.push_back(a);
      }
    }
  }
  const std::vector<std::string>& positional() const { return positional_; }
  bool has(const std::string& k) const { return flags_.count(k) != 0; }
  std::string get(const std::string& k, const std::string& dflt = "") const {
    auto it = flags_.find(k);
    return it == flags_.end() ? dflt : it->second;
  }
  std::optional<long long> get_int(const std::string& k) const {
    auto it = flags_.find(k);
    if (it == flags_.end()) return std::nullopt;
    try {
      size_t pos = 0;
      long long v = std::stoll(it->second, &pos);
      if (pos != it->second.size()) return std::nullopt;
      return v;
    } catch (...) {
      return std::nullopt;
    }
  }
  // Flags that were given but not in `known`; a verb reports them as a usage error.
  std::vector<std::string> unknown(const std::vector<std::string>& known) const {
    std::vector<std::string> u = missing_;
    for (auto& kv : flags_) {
      bool k = false;
      for (auto& n : known) k |= (n == kv.first);
      if (!k) u.push_back(kv.first);
    }
    return u;
  }

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> flags_;
  std::vector<std::string> missing_;
};

}  // namespace qforge::cli
