// Core: tensor shapes and views, overflow-checked element counts, Result propagation, the counter RNG.
#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "qforge/core/error.hpp"
#include "qforge/core/rng.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ir.hpp"

using namespace qforge;

TEST_CASE("tensor storage is 64-byte aligned, zeroed and shared by views") {
  Tensor t(DType::f32, {2, 3, 5});
  CHECK(t.numel() == 30);
  CHECK(t.nbytes() == 120);
  CHECK(reinterpret_cast<uintptr_t>(t.raw()) % 64 == 0);
  for (int i = 0; i < 30; ++i) CHECK(t.at<float>(i) == 0.0f);
  auto v = t.reshape({6, 5});
  REQUIRE(v.ok());
  v->at<float>(7) = 3.5f;
  CHECK(t.at<float>(7) == 3.5f);
  auto s = t.slice0(1, 2);
  CHECK(s.shape() == Shape{1, 3, 5});
  s.at<float>(0) = 9.0f;
  CHECK(t.at<float>(15) == 9.0f);
  Tensor c = t.clone();
  c.at<float>(15) = 1.0f;
  CHECK(t.at<float>(15) == 9.0f);
  CHECK_FALSE(t.reshape({7, 5}).ok());
}

TEST_CASE("checked_numel rejects negative dims and overflow") {
  CHECK(checked_numel({}).value() == 1);
  CHECK(checked_numel({3, 0, 7}).value() == 0);
  auto neg = checked_numel({3, -1});
  REQUIRE_FALSE(neg.ok());
  CHECK(neg.error().message.find("negative dimension -1") != std::string::npos);
  auto big = checked_numel({int64_t(1) << 40, int64_t(1) << 40});
  REQUIRE_FALSE(big.ok());
  CHECK_FALSE(Tensor::create(DType::f32, {INT64_MAX, 2}).ok());
}

static Result<int> half(int x) {
  if (x % 2) return make_error("odd value ", x);
  return x / 2;
}
static Result<int> quarter(int x) {
  QF_ASSIGN_OR_RETURN(int h, half(x));
  QF_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

TEST_CASE("Result propagation keeps the first error") {
  CHECK(quarter(12).value() == 3);
  auto r = quarter(6);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "odd value 3");
  CHECK(r.error().wrap("f.onnx").message == "f.onnx: odd value 3");
}

TEST_CASE("counter RNG is a pure function of (seed, stream, counter)") {
  CounterRng a(42), b(42), c(43);
  CHECK(a.u32(5) == b.u32(5));
  CHECK(a.u32(5) != c.u32(5));
  CHECK(a.u32(5) != a.u32(6));
  // Known-answer: Philox4x32-10 with key 0 and counter 0 (Random123 test vector).
  auto kat = CounterRng(0, 0).block(0);
  CHECK(kat[0] == 0x6627e8d5u);
  CHECK(kat[1] == 0xe169c58du);
  CHECK(kat[2] == 0xbc57ac4cu);
  CHECK(kat[3] == 0x9b00dbd8u);
  // Normal draws: mean ~0, variance ~1 over many counters.
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double x = a.normal(i);
    s += x;
    s2 += x * x;
  }
  CHECK(std::abs(s / n) < 0.01);
  CHECK(std::abs(s2 / n - 1.0) < 0.02);
  // Values computed from two threads in any split are the same.
  std::vector<float> one(1000), two(1000);
  for (int i = 0; i < 1000; ++i) one[i] = a.uniform(i);
  std::thread t1([&] { for (int i = 0; i < 500; ++i) two[i] = a.uniform(i); });
  std::thread t2([&] { for (int i = 500; i < 1000; ++i) two[i] = a.uniform(i); });
  t1.join();
  t2.join();
  CHECK(one == two);
}

TEST_CASE("graph validation sorts nodes and names missing inputs and cycles") {
  Graph g;
  g.inputs.push_back({"x", DType::f32, {1, 4}});
  Node relu{"r", "Relu", "", {"y"}, {"z"}, {}};
  Node neg{"n", "Neg", "", {"x"}, {"y"}, {}};
  g.nodes = {relu, neg};
  g.outputs.push_back({"z", DType::f32, {}});
  REQUIRE(g.validate_and_sort().ok());
  CHECK(g.nodes[0].name == "n");
  Graph missing = g;
  missing.nodes[1].inputs = {"nothing"};
  auto st = missing.validate_and_sort();
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("'nothing' is never produced") != std::string::npos);
  Graph cyc = g;
  cyc.nodes[0].inputs = {"z"};  // Neg(z) -> y, Relu(y) -> z
  auto cs = cyc.validate_and_sort();
  REQUIRE_FALSE(cs.ok());
  CHECK(cs.error().message.find("cycle") != std::string::npos);
}
