// `qforge generate` end to end: files, index.csv, grids, determinism, --seeds vs --seed, sizes, argument errors.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "qforge/io/file_util.hpp"
#include "qforge/io/image_read.hpp"

namespace fs = std::filesystem;
using namespace qforge;

namespace {

std::string tmpdir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("qforge_test_gen_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

// Runs `qforge generate ARGS`, returns the exit code; stderr goes to `err`.
int gen(const std::string& args, std::string* err = nullptr) {
  std::string errfile = tmpdir("stderr") + ".txt";
  std::string cmd = std::string(QFORGE_EXE) + " generate " + args + " >/dev/null 2>" + errfile;
  int rc = std::system(cmd.c_str());
  if (err) {
    std::ifstream f(errfile);
    std::stringstream ss;
    ss << f.rdbuf();
    *err = ss.str();
  }
  fs::remove(errfile);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::vector<uint8_t> bytes(const std::string& p) {
  auto b = io::read_file_bytes(p);
  REQUIRE_MESSAGE(b.ok(), p);
  return *b;
}

}  // namespace

TEST_CASE("generate writes n PNGs, index.csv and a grid") {
  std::string d = tmpdir("basic");
  REQUIRE(gen("--source fractal -n 5 --seed 3 --out " + d + " --grid " + d + "/grid.png --grid-cols 5") == 0);
  for (int k = 0; k < 5; ++k) {
    char name[16];
    std::snprintf(name, sizeof name, "/%06d.png", k);
    auto img = io::load_image(d + name);
    REQUIRE(img.ok());
    CHECK(img->height == 32);
    CHECK(img->width == 32);
    CHECK(img->channels == 3);
  }
  CHECK(!fs::exists(d + "/000005.png"));
  auto csv = bytes(d + "/index.csv");
  std::string s(csv.begin(), csv.end());
  CHECK(s.rfind("file,seed,index,class\n000000.png,3,0,-1\n", 0) == 0);
  CHECK(s.find("000004.png,3,4,-1\n") != std::string::npos);
  auto grid = io::load_image(d + "/grid.png");
  REQUIRE(grid.ok());
  CHECK(grid->width == 5 * 34 + 2);
  CHECK(grid->height == 34 + 2);
  for (auto& e : fs::directory_iterator(d)) CHECK(e.path().string().find(".tmp") == std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("generate is deterministic; --seeds S equals image 0 of --seed S") {
  std::string a = tmpdir("a"), b = tmpdir("b"), c = tmpdir("c");
  REQUIRE(gen("--source noise:pink -n 3 --seed 7 --out " + a) == 0);
  REQUIRE(gen("--source noise:pink -n 3 --seed 7 --out " + b) == 0);
  REQUIRE(gen("--source noise:pink --seeds 8,7 --out " + c) == 0);
  CHECK(bytes(a + "/000001.png") == bytes(b + "/000001.png"));
  CHECK(bytes(a + "/000000.png") == bytes(c + "/000001.png"));
  CHECK(bytes(a + "/000000.png") != bytes(c + "/000000.png"));
  fs::remove_all(a);
  fs::remove_all(b);
  fs::remove_all(c);
}

TEST_CASE("generate --size and --channels; conditional fractal classes round-robin") {
  std::string d = tmpdir("size");
  REQUIRE(gen("--source fractal:ifs -n 2 --size 20x28 --channels 1 --out " + d) == 0);
  auto img = io::load_image(d + "/000001.png");
  REQUIRE(img.ok());
  CHECK(img->height == 20);
  CHECK(img->width == 28);
  CHECK(img->channels == 1);
  fs::remove_all(d);
  REQUIRE(gen("--source fractal,systems=10 --classes 2-4 -n 4 --out " + d) == 0);
  auto csv = bytes(d + "/index.csv");
  std::string s(csv.begin(), csv.end());
  CHECK(s.find("000000.png,0,0,2\n000001.png,0,1,3\n000002.png,0,2,4\n000003.png,0,3,2\n") != std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("generate rejects bad arguments with a message and usage exit code") {
  std::string d = tmpdir("bad"), err;
  CHECK(gen("-n 3 --out " + d, &err) == 2);
  CHECK(err.find("--source is required") != std::string::npos);
  CHECK(gen("--source fractal -n 3", &err) == 2);
  CHECK(err.find("--out") != std::string::npos);
  CHECK(gen("--source fractal --out " + d, &err) == 2);
  CHECK(gen("--source fractal -n 0 --out " + d, &err) == 2);
  CHECK(gen("--source fractal -n 3 --size 0x5 --out " + d, &err) == 2);
  CHECK(err.find("--size") != std::string::npos);
  CHECK(gen("--source fractal -n 3 --channels 2 --out " + d, &err) == 2);
  CHECK(gen("--source fractal -n 3 --classes 1 --out " + d, &err) == 2);
  CHECK(err.find("unconditional") != std::string::npos);
  CHECK(gen("--source fractal,systems=4 -n 3 --classes 3-5 --out " + d, &err) == 2);
  CHECK(err.find("class 4") != std::string::npos);
  CHECK(gen("--source fractal -n 3 --psi 0.7 --out " + d, &err) == 2);
  CHECK(gen("--source fractal -n 3 --seeds 1-4 --out " + d, &err) == 2);
  CHECK(gen("--source fractal -n 3 --seeds 4-1 --out " + d, &err) == 2);
  CHECK(gen("--source fractal -n 3 --filter magic --model m.onnx --out " + d, &err) == 2);
  CHECK(gen("--source fractal -n 3 --filter energy --out " + d, &err) == 2);
  CHECK(err.find("--model") != std::string::npos);
  CHECK(gen("--source fractal -n 3 --frobnicate 1 --out " + d, &err) == 2);
  CHECK(err.find("frobnicate") != std::string::npos);
  CHECK(gen("--source fractal:mandelbrot -n 3 --out " + d, &err) == 1);
  CHECK(err.find("unknown fractal method") != std::string::npos);
  CHECK(gen("--source stylegan2:/nonexistent/g.qft -n 3 --out " + d, &err) == 1);
  CHECK(err.find("/nonexistent/g.qft") != std::string::npos);
  CHECK(gen("--source fractal -n 3 --grid g.png --grid-max x --out " + d, &err) == 2);
  CHECK(err.find("--grid-max") != std::string::npos);
  CHECK(gen("--source fractal -n 3 --filter energy --model m.onnx --keep 1.5 --out " + d, &err) == 2);
  CHECK(err.find("--keep") != std::string::npos);
  CHECK(gen("--source fractal -n 3 --filter bn --model /nonexistent/m.onnx --out " + d, &err) == 1);
  CHECK(err.find("/nonexistent/m.onnx") != std::string::npos);
  fs::remove_all(d);
  CHECK(!fs::exists(d));  // nothing was created for a rejected usage
}
