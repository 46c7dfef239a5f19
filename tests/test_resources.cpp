// Resource bounds: `qforge quantize` keeps statistics in streaming observers (fixed-size histograms), so its peak
// memory does not grow with the number of calibration images. Measured as the child process's peak RSS
// (wait4's ru_maxrss, what /usr/bin/time -v reports).
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "test_cli_util.hpp"

namespace {

// Runs `qforge args...` (output discarded); returns its peak RSS in MiB, or -1 when it failed.
double peak_rss_mib(const std::vector<std::string>& args) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::FILE* devnull = std::freopen("/dev/null", "w", stdout);
    (void)devnull;
    std::vector<char*> argv;
    std::string exe = QFORGE_EXE;
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  REQUIRE(wait4(pid, &status, 0, &ru) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return double(ru.ru_maxrss) / 1024.0;
}

}  // namespace

#ifdef QFORGE_EXE
TEST_CASE("qforge quantize: peak memory is flat in the number of calibration images (128 vs 1024)") {
  std::string dir = qforge::testing::scratch_dir("qforge_resources");
  std::string model = std::string(QFORGE_SOURCE_DIR) + "/weights/fmnist_resnet.onnx";
  auto run = [&](int n) {
    return peak_rss_mib({"quantize", model, "--calib", "fmnist:train", "-n", std::to_string(n), "--calibrator", "mse",
                         "--threads", "1", "--quiet", "-o", dir + "/m" + std::to_string(n) + ".q.qf"});
  };
  double small = run(128), large = run(1024);
  MESSAGE("peak RSS: ", small, " MiB with 128 images, ", large, " MiB with 1024 images");
  REQUIRE(small > 0);
  REQUIRE(large > 0);
  // 8x the images: a non-streaming observer would hold 8x the activations (ResNet: ~0.4 MB per image).
  CHECK(large < small * 1.15 + 16);
  std::filesystem::remove_all(dir);
}
#endif
