// fp32 executor life cycle (input checks, errors naming nodes, observers, threads) and graph passes (BN folding,
// activation fusion, constant folding, BN statistics) on hand-built graphs.
#include <set>
#include <thread>

#include "test_exec_common.hpp"

using namespace qft;

namespace {

bool contains(const std::string& s, const std::string& p) { return s.find(p) != std::string::npos; }

// x[N,3,12,12] -> Conv(8,3x3,pad1) -> BN -> Relu -> MaxPool2 -> Conv(8, depthwise) -> BN -> Clip(0,6)
//   -> GlobalAveragePool -> Flatten -> Gemm(10, transB) -> BN1d -> LeakyRelu -> y
Graph small_cnn(int64_t batch) {
  Graph g;
  g.opset = 13;
  g.name = "small_cnn";
  g.inputs = {vi("x", {batch, 3, 12, 12})};
  auto bn_params = [&](const std::string& p, int64_t c, uint64_t seed) {
    g.initializers[p + "_s"] = randn({c}, seed, 0.5f);
    g.initializers[p + "_b"] = randn({c}, seed + 1, 0.5f);
    g.initializers[p + "_m"] = randn({c}, seed + 2, 0.5f);
    Tensor v = randn({c}, seed + 3, 0.5f);
    for (int64_t i = 0; i < c; ++i) v.data<float>()[i] = std::fabs(v.data<float>()[i]) + 0.1f;
    g.initializers[p + "_v"] = v;
    return std::vector<std::string>{p + "_s", p + "_b", p + "_m", p + "_v"};
  };
  g.initializers["w1"] = randn({8, 3, 3, 3}, 11, 0.3f);
  g.initializers["b1"] = randn({8}, 12, 0.1f);
  g.initializers["w2"] = randn({8, 1, 3, 3}, 13, 0.3f);
  g.initializers["w3"] = randn({10, 8}, 14, 0.3f);
  g.initializers["b3"] = randn({10}, 15, 0.1f);
  g.initializers["lo"] = Tensor::scalar<float>(0.f);
  g.initializers["hi"] = Tensor::scalar<float>(6.f);
  auto p1 = bn_params("bn1", 8, 20), p2 = bn_params("bn2", 8, 30), p3 = bn_params("bn3", 10, 40);
  g.nodes = {
      node("Conv", {"x", "w1", "b1"}, {"c1"}, {{"pads", Attribute::make_ints({1, 1, 1, 1})}}, "conv1"),
      node("BatchNormalization", {"c1", p1[0], p1[1], p1[2], p1[3]}, {"n1"}, {}, "bn1"),
      node("Relu", {"n1"}, {"r1"}, {}, "relu1"),
      node("MaxPool", {"r1"}, {"p1"}, {{"kernel_shape", Attribute::make_ints({2, 2})}, {"strides", Attribute::make_ints({2, 2})}}),
      node("Conv", {"p1", "w2"}, {"c2"}, {{"group", Attribute::make_int(8)}, {"pads", Attribute::make_ints({1, 1, 1, 1})}}, "conv2"),
      node("BatchNormalization", {"c2", p2[0], p2[1], p2[2], p2[3]}, {"n2"}, {{"epsilon", Attribute::make_float(1e-3f)}}, "bn2"),
      node("Clip", {"n2", "lo", "hi"}, {"r2"}, {}, "clip2"),
      node("GlobalAveragePool", {"r2"}, {"gap"}),
      node("Flatten", {"gap"}, {"flat"}),
      node("Gemm", {"flat", "w3", "b3"}, {"fc"}, {{"transB", Attribute::make_int(1)}}, "fc"),
      node("BatchNormalization", {"fc", p3[0], p3[1], p3[2], p3[3]}, {"n3"}, {}, "bn3"),
      node("LeakyRelu", {"n3"}, {"y"}, {{"alpha", Attribute::make_float(0.1f)}}, "lrelu"),
  };
  g.outputs = {vi("y", {})};
  return g;
}

}  // namespace

TEST_CASE("run checks input count, dtype and shape; dynamic dims are accepted") {
  Graph g;
  g.inputs = {vi("x", {-1, 3})};
  g.nodes = {node("Relu", {"x"}, {"y"})};
  g.outputs = {vi("y", {})};
  auto ex = Executor::prepare(g);
  REQUIRE(ex.ok());
  auto r0 = ex->run({});
  REQUIRE(!r0.ok());
  CHECK(contains(r0.error().message, "takes 1 inputs"));
  auto r1 = ex->run({Tensor(DType::i64, {2, 3})});
  REQUIRE(!r1.ok());
  CHECK(contains(r1.error().message, "dtype int64"));
  auto r2 = ex->run({Tensor(DType::f32, {2, 4})});
  REQUIRE(!r2.ok());
  CHECK(contains(r2.error().message, "shape [2,4]"));
  Tensor x = Tensor::from_vector<float>({2, 3}, {-1, 2, -3, 4, -5, 6});
  auto r3 = ex->run({x});
  REQUIRE(r3.ok());
  CHECK((*r3)[0].data<float>()[0] == 0.f);
  CHECK((*r3)[0].data<float>()[5] == 6.f);
  Tensor big(DType::f32, {7, 3});
  CHECK(ex->run({big}).ok());
}

TEST_CASE("prepare rejects unsupported ops and bad attributes, naming the node") {
  Graph g;
  g.inputs = {vi("x", {1, 2, 4, 4})};
  g.nodes = {node("FancyOp", {"x"}, {"y"}, {}, "my_node")};
  g.outputs = {vi("y", {})};
  auto ex = Executor::prepare(g);
  REQUIRE(!ex.ok());
  CHECK(contains(ex.error().message, "FancyOp"));
  CHECK(contains(ex.error().message, "my_node"));

  g.initializers["w"] = randn({2, 2, 3, 3}, 1);
  g.nodes = {node("Conv", {"x", "w"}, {"y"}, {{"auto_pad", Attribute::make_string("BOGUS")}}, "conv_a")};
  auto ex2 = Executor::prepare(g);
  REQUIRE(!ex2.ok());
  CHECK(contains(ex2.error().message, "conv_a"));
  CHECK(contains(ex2.error().message, "auto_pad"));

  g.nodes = {node("MaxPool", {"x"}, {"y"}, {}, "pool_a")};  // kernel_shape missing
  auto ex3 = Executor::prepare(g);
  REQUIRE(!ex3.ok());
  CHECK(contains(ex3.error().message, "pool_a"));
  CHECK(contains(ex3.error().message, "kernel_shape"));

  g.nodes = {node("Relu", {"nope"}, {"y"}, {}, "relu_a")};
  auto ex4 = Executor::prepare(g);
  REQUIRE(!ex4.ok());
  CHECK(contains(ex4.error().message, "nope"));

  // A node without outputs (a fuzzing find: the kernel wrote its first output into an empty list).
  g.initializers.clear();
  g.initializers["c"] = randn({2, 2}, 2);
  g.nodes = {node("Relu", {"c"}, {}, {}, "mute"), node("Relu", {"x"}, {"y"}, {}, "relu_b")};
  auto ex5 = Executor::prepare(g);
  REQUIRE(!ex5.ok());
  CHECK(contains(ex5.error().message, "mute"));
  CHECK(contains(ex5.error().message, "the node has no outputs"));
}

TEST_CASE("a shape that does not fit an op is a run-time error naming the node") {
  Graph g;
  g.inputs = {vi("a", {-1, -1}), vi("b", {-1, -1})};
  g.nodes = {node("MatMul", {"a", "b"}, {"y"}, {}, "mm_node")};
  g.outputs = {vi("y", {})};
  auto ex = Executor::prepare(g);
  REQUIRE(ex.ok());
  auto r = ex->run({Tensor(DType::f32, {2, 3}), Tensor(DType::f32, {4, 5})});
  REQUIRE(!r.ok());
  CHECK(contains(r.error().message, "mm_node"));
  CHECK(contains(r.error().message, "[2,3]"));
}

TEST_CASE("observer sees inputs and every produced value in order") {
  Graph g;
  g.inputs = {vi("x", {4})};
  g.initializers["two"] = Tensor::scalar<float>(2.f);
  g.nodes = {node("Mul", {"x", "two"}, {"m"}), node("Relu", {"m"}, {"r"}), node("Neg", {"r"}, {"y"})};
  g.outputs = {vi("y", {})};
  ExecOptions o;
  o.fuse = false;
  auto ex = Executor::prepare(g, o);
  REQUIRE(ex.ok());
  std::vector<std::string> seen;
  std::vector<float> firsts;
  Tensor x = Tensor::from_vector<float>({4}, {-1, 1, 2, -3});
  auto r = ex->run({x}, [&](const std::string& n, const Tensor& t) {
    seen.push_back(n);
    firsts.push_back(t.data<float>()[1]);
  });
  REQUIRE(r.ok());
  CHECK(seen == std::vector<std::string>{"x", "m", "r", "y"});
  CHECK(firsts == std::vector<float>{1.f, 2.f, 2.f, -2.f});
  CHECK((*r)[0].data<float>()[3] == 0.f);
}

TEST_CASE("BN folding and activation fusion keep the outputs (1e-5 rel) and remove the nodes") {
  Graph g = small_cnn(-1);
  Tensor x = randn({3, 3, 12, 12}, 77);
  ExecOptions plain;
  plain.fold_bn = false;
  plain.fuse = false;
  auto e0 = Executor::prepare(g, plain);
  auto e1 = Executor::prepare(g);
  REQUIRE(e0.ok());
  REQUIRE(e1.ok());
  int bn0 = 0, bn1 = 0, act1 = 0, fused = 0;
  for (auto& n : e0->graph().nodes) bn0 += n.op_type == "BatchNormalization";
  for (auto& n : e1->graph().nodes) {
    bn1 += n.op_type == "BatchNormalization";
    act1 += n.op_type == "Relu" || n.op_type == "Clip" || n.op_type == "LeakyRelu";
    fused += n.has("activation");
  }
  CHECK(bn0 == 3);
  CHECK(bn1 == 0);
  CHECK(act1 == 0);
  CHECK(fused == 3);
  CHECK(e1->graph().nodes.size() == 6);
  auto y0 = e0->run({x});
  auto y1 = e1->run({x});
  REQUIRE(y0.ok());
  REQUIRE(y1.ok());
  CHECK((*y0)[0].shape() == Shape{3, 10});
  CHECK(max_rel_diff((*y1)[0], (*y0)[0]) < 1e-5f);
  // The unfolded output is not trivially zero: LeakyRelu of BN'd logits has both signs.
  int neg = 0;
  for (int64_t i = 0; i < 30; ++i) neg += (*y0)[0].data<float>()[i] < 0.f;
  CHECK(neg > 0);
  CHECK(neg < 30);
}

TEST_CASE("BN is not folded when the conv output has another consumer; activations only after Conv/Gemm") {
  Graph g;
  g.inputs = {vi("x", {1, 2, 5, 5})};
  g.initializers["w"] = randn({2, 2, 1, 1}, 3);
  for (auto p : {"s", "b", "m"}) g.initializers[p] = randn({2}, 5);
  g.initializers["v"] = Tensor::from_vector<float>({2}, {1.f, 2.f});
  g.nodes = {node("Conv", {"x", "w"}, {"c"}), node("BatchNormalization", {"c", "s", "b", "m", "v"}, {"n"}),
             node("Add", {"c", "n"}, {"a"}), node("Relu", {"a"}, {"y"})};
  g.outputs = {vi("y", {})};
  auto ex = Executor::prepare(g);
  REQUIRE(ex.ok());
  std::vector<std::string> ops;
  for (auto& n : ex->graph().nodes) ops.push_back(n.op_type);
  CHECK(ops == std::vector<std::string>{"Conv", "BatchNormalization", "Add", "Relu"});
}

TEST_CASE("collect_bn_stats reports each BN's input value and running stats") {
  Graph g = small_cnn(1);
  auto st = collect_bn_stats(g);
  REQUIRE(st.size() == 3);
  CHECK(st[0].input_value == "c1");
  CHECK(st[1].input_value == "c2");
  CHECK(st[2].input_value == "fc");
  CHECK(st[1].node == "bn2");
  CHECK(st[1].epsilon == doctest::Approx(1e-3f));
  CHECK(st[0].mean.numel() == 8);
  CHECK(st[2].var.numel() == 10);
  CHECK(st[0].mean.data<float>()[3] == g.initializers["bn1_m"].data<float>()[3]);
  CHECK(st[2].var.data<float>()[9] == g.initializers["bn3_v"].data<float>()[9]);
  // With fold_bn off the BN inputs exist at run time for an observer.
  ExecOptions o;
  o.fold_bn = false;
  o.fuse = false;
  auto ex = Executor::prepare(g, o);
  REQUIRE(ex.ok());
  std::set<std::string> seen;
  auto r = ex->run({randn({1, 3, 12, 12}, 9)}, [&](const std::string& n, const Tensor&) { seen.insert(n); });
  REQUIRE(r.ok());
  for (auto& s : st) CHECK(seen.count(s.input_value) == 1);
}

TEST_CASE("results are bitwise identical across thread counts and concurrent runs") {
  Graph g = small_cnn(-1);
  Tensor x = randn({4, 3, 12, 12}, 5);
  ExecOptions o1, o2;
  o1.threads = 1;
  o2.threads = 2;
  auto e1 = Executor::prepare(g, o1);
  auto e2 = Executor::prepare(g, o2);
  REQUIRE(e1.ok());
  REQUIRE(e2.ok());
  Tensor y1 = (*e1->run({x}))[0], y2 = (*e2->run({x}))[0];
  CHECK(std::memcmp(y1.raw(), y2.raw(), y1.nbytes()) == 0);
  // The same executor from two threads at once.
  std::vector<Tensor> outs(4);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] { outs[size_t(t)] = (*e2->run({x}))[0]; });
  for (auto& t : ts) t.join();
  for (auto& y : outs) CHECK(std::memcmp(y.raw(), y1.raw(), y1.nbytes()) == 0);
}

TEST_CASE("Shape->Gather->Unsqueeze->Concat->Reshape folds when the input shape is static") {
  auto make = [](int64_t batch) {
    Graph g;
    g.inputs = {vi("x", {batch, 3, 4, 5})};
    g.initializers["zero"] = Tensor::scalar<int64_t>(0);
    g.initializers["minus1"] = Tensor::from_vector<int64_t>({1}, {-1});
    g.initializers["ax0"] = Tensor::from_vector<int64_t>({1}, {0});
    g.nodes = {node("Shape", {"x"}, {"s"}), node("Gather", {"s", "zero"}, {"n"}),
               node("Unsqueeze", {"n", "ax0"}, {"n1"}), node("Concat", {"n1", "minus1"}, {"shape"}, {{"axis", Attribute::make_int(0)}}),
               node("Reshape", {"x", "shape"}, {"y"})};
    g.outputs = {vi("y", {})};
    return g;
  };
  auto es = Executor::prepare(make(2));
  REQUIRE(es.ok());
  CHECK(es->graph().nodes.size() == 1);
  CHECK(es->graph().nodes[0].op_type == "Reshape");
  auto ys = es->run({randn({2, 3, 4, 5}, 1)});
  REQUIRE(ys.ok());
  CHECK((*ys)[0].shape() == Shape{2, 60});
  auto ed = Executor::prepare(make(-1));
  REQUIRE(ed.ok());
  CHECK(ed->graph().nodes.size() == 5);
  Tensor x = randn({3, 3, 4, 5}, 2);
  auto yd = ed->run({x});
  REQUIRE(yd.ok());
  CHECK((*yd)[0].shape() == Shape{3, 60});
  CHECK((*yd)[0].data<float>()[61] == x.data<float>()[61]);
}

TEST_CASE("infer_values gives static shapes and dtypes") {
  auto m = infer_values(small_cnn(2));
  REQUIRE(m.ok());
  CHECK(m->at("c1").shape == Shape{2, 8, 12, 12});
  CHECK(m->at("p1").shape == Shape{2, 8, 6, 6});
  CHECK(m->at("y").shape == Shape{2, 10});
  CHECK(m->at("y").dtype == DType::f32);
}

TEST_CASE("numpy broadcasting, legacy axis broadcasting and Softmax axis semantics") {
  Tensor a = randn({2, 3, 4}, 1), b = randn({3, 1}, 2);
  Graph g;
  g.inputs = {vi("a", {2, 3, 4}), vi("b", {3, 1})};
  g.nodes = {node("Sub", {"a", "b"}, {"y"})};
  g.outputs = {vi("y", {})};
  Tensor y = run_ok(g, {a, b})[0];
  REQUIRE(y.shape() == Shape{2, 3, 4});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        CHECK(y.data<float>()[(i * 3 + j) * 4 + k] == a.data<float>()[(i * 3 + j) * 4 + k] - b.data<float>()[j]);

  // opset 6: B [3] aligned at axis 1 of A [2,3,4].
  Graph l;
  l.opset = 6;
  l.inputs = {vi("a", {2, 3, 4}), vi("b", {3})};
  l.nodes = {node("Add", {"a", "b"}, {"y"}, {{"broadcast", Attribute::make_int(1)}, {"axis", Attribute::make_int(1)}})};
  l.outputs = {vi("y", {})};
  Tensor b3 = Tensor::from_vector<float>({3}, {10, 20, 30});
  Tensor yl = run_ok(l, {a, b3})[0];
  CHECK(yl.data<float>()[4 * 2 + 1] == a.data<float>()[9] + 30.f);
  CHECK(yl.data<float>()[12 + 4 + 3] == a.data<float>()[19] + 20.f);

  // Softmax axis=1 on [2,3,4]: opset 13 normalises over dim 1 only; opset 11 over dims 1..2 together.
  for (int64_t opset : {11, 13}) {
    Graph s;
    s.opset = opset;
    s.inputs = {vi("a", {2, 3, 4})};
    s.nodes = {node("Softmax", {"a"}, {"y"}, {{"axis", Attribute::make_int(1)}})};
    s.outputs = {vi("y", {})};
    Tensor ys = run_ok(s, {a})[0];
    double sum_dim1 = 0, sum_block = 0;
    for (int j = 0; j < 3; ++j) sum_dim1 += ys.data<float>()[j * 4 + 2];
    for (int k = 0; k < 12; ++k) sum_block += ys.data<float>()[k];
    CAPTURE(opset);
    if (opset == 13) CHECK(sum_dim1 == doctest::Approx(1.0).epsilon(1e-5));
    else CHECK(sum_block == doctest::Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("Slice with negative steps, Pad reflect, Resize nearest, MaxPool ceil_mode by hand") {
  Tensor x = Tensor::from_vector<float>({2, 5}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  Graph g;
  g.inputs = {vi("x", {2, 5})};
  g.initializers["st"] = Tensor::from_vector<int64_t>({1}, {-1});
  g.initializers["en"] = Tensor::from_vector<int64_t>({1}, {-100});
  g.initializers["ax"] = Tensor::from_vector<int64_t>({1}, {1});
  g.initializers["sp"] = Tensor::from_vector<int64_t>({1}, {-2});
  g.nodes = {node("Slice", {"x", "st", "en", "ax", "sp"}, {"y"})};
  g.outputs = {vi("y", {})};
  Tensor y = run_ok(g, {x})[0];
  CHECK(y.shape() == Shape{2, 3});
  CHECK(std::vector<float>(y.data<float>(), y.data<float>() + 6) == std::vector<float>{4, 2, 0, 9, 7, 5});

  Graph p;
  p.inputs = {vi("x", {2, 5})};
  p.initializers["pads"] = Tensor::from_vector<int64_t>({4}, {0, 2, 0, 1});
  p.nodes = {node("Pad", {"x", "pads"}, {"y"}, {{"mode", Attribute::make_string("reflect")}})};
  p.outputs = {vi("y", {})};
  Tensor yp = run_ok(p, {x})[0];
  CHECK(yp.shape() == Shape{2, 8});
  CHECK(std::vector<float>(yp.data<float>(), yp.data<float>() + 8) == std::vector<float>{2, 1, 0, 1, 2, 3, 4, 3});

  Graph r;
  r.inputs = {vi("x", {1, 1, 2, 2})};
  r.initializers["scales"] = Tensor::from_vector<float>({4}, {1, 1, 2, 1.5f});
  r.nodes = {node("Resize", {"x", "", "scales"}, {"y"},
                  {{"coordinate_transformation_mode", Attribute::make_string("asymmetric")},
                   {"nearest_mode", Attribute::make_string("floor")}})};
  r.outputs = {vi("y", {})};
  Tensor yr = run_ok(r, {Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4})})[0];
  CHECK(yr.shape() == Shape{1, 1, 4, 3});
  CHECK(std::vector<float>(yr.data<float>(), yr.data<float>() + 12) ==
        std::vector<float>{1, 1, 2, 1, 1, 2, 3, 3, 4, 3, 3, 4});

  Graph m;
  m.inputs = {vi("x", {1, 1, 2, 5})};
  m.nodes = {node("MaxPool", {"x"}, {"y"},
                  {{"kernel_shape", Attribute::make_ints({2, 2})}, {"strides", Attribute::make_ints({2, 2})},
                   {"ceil_mode", Attribute::make_int(1)}})};
  m.outputs = {vi("y", {})};
  Tensor ym = run_ok(m, {x.reshape({1, 1, 2, 5}).value()})[0];
  CHECK(ym.shape() == Shape{1, 1, 1, 3});
  CHECK(std::vector<float>(ym.data<float>(), ym.data<float>() + 3) == std::vector<float>{6, 8, 9});
}
