// Helpers for tests that drive the qforge binary (QFORGE_EXE): a per-process scratch folder, running the CLI with
// its output captured in a log file, reading a file whole.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace qforge::testing {

// <tmp>/<prefix>_<pid>, created.
inline std::string scratch_dir(const std::string& prefix) {
  auto d = std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

// Runs `qforge ARGS` with stdout and stderr in `log`; returns the exit code (-1 if it did not exit).
inline int run_cli(const std::string& args, const std::string& log) {
  std::string cmd = std::string(QFORGE_EXE) + " " + args + " > " + log + " 2>&1";
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace qforge::testing
