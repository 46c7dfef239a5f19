// tests/fuzz/fuzz_check.hpp — what every fuzz target asserts about a reader's answer.
//
// A reader given arbitrary bytes must either succeed or return an error whose message names the input (the
// name we passed) and says something; a crash, a sanitizer report, a hang or an empty message is a finding.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <string>

#include "qforge/core/error.hpp"

namespace qforge::fuzz {

// Aborts (a finding) when a failed read's error does not name `name` or is empty.
template <class R>
inline void check_error_names(const R& r, const std::string& name) {
  if (r.ok()) return;
  const std::string& m = r.error().message;
  if (m.empty() || m.find(name) == std::string::npos) {
    std::fprintf(stderr, "fuzz finding: error does not name '%s': '%s'\n", name.c_str(), m.c_str());
    std::abort();
  }
}

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what.c_str());
  std::abort();
}

}  // namespace qforge::fuzz
