// Quantize pass + int8 executor on small hand-built graphs: int8 vs fp32 closeness, exact per-layer integer
// semantics against an independent double-precision recomputation, fp32 fallback (--exclude), data-movement ops,
// s8 activations, 4-bit, bias correction, degenerate graphs (dead branch, never-observed value), batch slices.
#include <doctest/doctest.h>

#include <cstring>

#include "qforge/quant/report.hpp"
#include "test_quant_util.hpp"

TEST_CASE("quantize + int8 executor: small residual net close to fp32, per-layer integer semantics exact") {
  Graph g = small_net();
  Tensor calib = randn({32, 1, 8, 8}, 11);
  auto stats = calibrate(g, calib);
  CHECK(stats.count("unused") == 1);  // observed in fp32, but pruned from the int8 graph
  QuantizeOptions o;
  o.act.method = Calibrator::MinMax;
  QuantizeInfo info;
  auto qg = quantize_graph(prepared(g), stats, o, &info);
  REQUIRE_OK(qg);
  CHECK(info.float_nodes.empty());
  // Quantize, c1(+relu), c2, add(+relu), maxpool, flatten, fc (float out)
  REQUIRE(qg->nodes.size() == 7);
  CHECK(qg->nodes[0].op == QOp::Quantize);
  CHECK(qg->nodes[1].op == QOp::Conv);
  CHECK(qg->nodes[1].act.kind == FusedAct::Kind::Relu);
  CHECK(qg->nodes[3].op == QOp::Add);
  CHECK(qg->nodes[4].op == QOp::MaxPool);
  CHECK(qg->nodes[5].op == QOp::Reshape);
  CHECK(qg->nodes[6].op == QOp::Gemm);
  CHECK(!qg->value("y")->quantized);
  // relu outputs: zero point 0 in u8
  CHECK(qg->value("r1o")->q.zero_point == 0);
  CHECK(qg->value("r1o")->q.scale == doctest::Approx(stats.at("r1o").max / 255.0f));

  auto ex = QExecutor::prepare(qg.value());
  REQUIRE_OK(ex);
  Tensor test = randn({16, 1, 8, 8}, 12);
  std::map<std::string, Tensor> seen;
  QExecutor::Observer obs = [&](const std::string& n, const QValue&, const Tensor& t) { seen[n] = t; };
  auto out = ex->run({test}, &obs);
  REQUIRE(out.ok());
  Tensor ref = fp32_out(g, test);
  const double rel = max_diff(out.value()[0], ref) / max_abs(ref);
  MESSAGE("int8 vs fp32 max |diff| / max |y| = ", rel);
  CHECK(rel < 0.05);

  // Layer c1 exactly: q = clamp(round(Σ x̂·ŵ / (s_in s_w) + bias_q) · s_in s_w / s_out) + zp) recomputed in double
  // from the stored integers must match the executor within float rounding of the multiplier (≤ 1 LSB, rarely).
  const QNode& c1 = qg->nodes[1];
  const QValue& xin = *qg->value("x::q");
  const QValue& yv = *qg->value("r1o");
  const Tensor& xq = seen.at("x::q");  // NHWC [16,8,8,1]
  const Tensor& yq = seen.at("r1o");   // NHWC [16,8,8,4]
  REQUIRE(yq.shape() == Shape{16, 8, 8, 4});
  int mism = 0, total = 0;
  for (int b = 0; b < 16; ++b)
    for (int h = 0; h < 8; ++h)
      for (int w = 0; w < 8; ++w)
        for (int oc = 0; oc < 4; ++oc) {
          long acc = 0;
          for (int kh = 0; kh < 3; ++kh)
            for (int kw = 0; kw < 3; ++kw) {
              int ih = h + kh - 1, iw = w + kw - 1;
              if (ih < 0 || ih > 7 || iw < 0 || iw > 7) continue;
              acc += long(int(xq.data<uint8_t>()[(b * 8 + ih) * 8 + iw]) - xin.q.zero_point) *
                     c1.weight.data<int8_t>()[oc * 9 + kh * 3 + kw];
            }
          acc += c1.bias.data<int32_t>()[oc];
          double real = double(acc) * xin.q.scale * c1.w_scale[size_t(oc)];
          long q = std::lround(std::nearbyint(real / yv.q.scale)) + yv.q.zero_point;
          q = std::clamp<long>(q, yv.q.zero_point, 255);  // fused relu
          int got = yq.data<uint8_t>()[((b * 8 + h) * 8 + w) * 4 + oc];
          mism += std::abs(got - q) > 0;
          CHECK(std::abs(got - q) <= 1);
          ++total;
        }
  CHECK(mism * 100 < total);  // differences only at exact rounding ties of the float multiplier
  // MaxPool keeps parameters, Flatten keeps them too
  CHECK(qg->value("mpo")->q == qg->value("r2o")->q);
  CHECK(qg->value("flo")->q == qg->value("r2o")->q);
  // The flattened int8 tensor is in NCHW order (Reshape un-permutes NHWC): compare with fp32 flatten values
  const Tensor& flq = seen.at("flo");
  std::map<std::string, Tensor> vals;
  REQUIRE(run_fp32(g, test, nullptr, &vals).ok());
  const Tensor& flf = vals.at("flo");
  const QParams& fp = qg->value("flo")->q;
  double md = 0;
  for (int64_t i = 0; i < flf.numel(); ++i)
    md = std::max(md, double(std::fabs(dequantize_value(flq.data<uint8_t>()[i], fp) - flf.data<float>()[i])));
  CHECK(md < 6 * fp.scale);  // a few LSB after three quantized layers
}

TEST_CASE("--exclude keeps a node in fp32 with Quantize/Dequantize at its edges; s8 and 4-bit; bias correction") {
  Graph g = small_net();
  Tensor calib = randn({32, 1, 8, 8}, 21);
  auto stats = calibrate(g, calib, 5);
  Tensor test = randn({8, 1, 8, 8}, 22);
  Tensor ref = fp32_out(g, test);

  QuantizeOptions o;
  o.exclude = {"c2"};
  QuantizeInfo info;
  auto qg = quantize_graph(prepared(g), stats, o, &info);
  REQUIRE(qg.ok());
  REQUIRE(info.float_nodes.size() == 1);
  CHECK(info.float_nodes[0].find("c2") == 0);
  int nq = 0, ndq = 0, nf = 0;
  for (auto& n : qg->nodes) {
    nq += n.op == QOp::Quantize;
    ndq += n.op == QOp::Dequantize;
    nf += n.op == QOp::Float;
  }
  CHECK(nf == 1);
  CHECK(ndq == 1);  // r1o -> float for c2
  CHECK(nq == 2);   // x and c2o
  CHECK(qg->value("r1o::q")->quantized);
  CHECK(!qg->value("r1o")->quantized);
  auto ex = QExecutor::prepare(qg.value());
  REQUIRE_OK(ex);
  auto out = ex->run({test});
  REQUIRE(out.ok());
  CHECK(max_diff(out.value()[0], ref) / max_abs(ref) < 0.05);

  auto bad = quantize_graph(prepared(g), stats, [] { QuantizeOptions q; q.exclude = {"nope"}; return q; }());
  REQUIRE(!bad.ok());
  CHECK(bad.error().message.find("nope") != std::string::npos);

  // s8 activations: relu outputs get zp -128
  QuantizeOptions s8;
  s8.act_signed = true;
  auto qs = quantize_graph(prepared(g), stats, s8);
  REQUIRE(qs.ok());
  CHECK(qs->value("r1o")->q.dtype == DType::i8);
  CHECK(qs->value("r1o")->q.zero_point == -128);
  auto exs = QExecutor::prepare(qs.value());
  REQUIRE(exs.ok());
  auto outs = exs->run({test});
  REQUIRE(outs.ok());
  const double e8 = max_diff(outs.value()[0], ref) / max_abs(ref);
  CHECK(e8 < 0.05);

  // 4-bit weights and activations: still runs, error grows but stays bounded
  QuantizeOptions q4;
  q4.weight_bits = 4;
  q4.act.bits = 4;
  auto g4 = quantize_graph(prepared(g), stats, q4);
  REQUIRE(g4.ok());
  CHECK(g4->value("r1o")->q.qmax == 15);
  int wmax = 0;
  for (int64_t i = 0; i < g4->nodes[1].weight.numel(); ++i)
    wmax = std::max(wmax, std::abs(int(g4->nodes[1].weight.data<int8_t>()[i])));
  CHECK(wmax == 7);
  auto ex4 = QExecutor::prepare(g4.value());
  REQUIRE(ex4.ok());
  auto out4 = ex4->run({test});
  REQUIRE(out4.ok());
  const double e4 = max_diff(out4.value()[0], ref) / max_abs(ref);
  MESSAGE("4-bit error ", e4, " vs 8-bit ", e8);
  CHECK(e4 > e8);
  CHECK(e4 < 0.5);

  // bias correction moves the int32 biases by the weight error times the input means
  QuantizeOptions bc;
  bc.weight_bits = 4;
  bc.bias_correction = true;
  auto gb = quantize_graph(prepared(g), stats, bc);
  REQUIRE(gb.ok());
  QuantizeOptions nb;
  nb.weight_bits = 4;
  auto gn = quantize_graph(prepared(g), stats, nb);
  REQUIRE(gn.ok());
  int changed = 0;
  for (int c = 0; c < 4; ++c) changed += gb->nodes[2].bias.data<int32_t>()[c] != gn->nodes[2].bias.data<int32_t>()[c];
  CHECK(changed > 0);
  // and reduces the mean output error of the corrected layer on calibration data (checked on the logits' mean)
  auto exb = QExecutor::prepare(gb.value());
  auto exn = QExecutor::prepare(gn.value());
  REQUIRE(exb.ok());
  REQUIRE(exn.ok());
  Tensor cref = fp32_out(g, calib);
  auto yb = exb->run({calib}), yn = exn->run({calib});
  REQUIRE(yb.ok());
  REQUIRE(yn.ok());
  auto mean_err = [&](const Tensor& y) {
    double s = 0;
    for (int64_t i = 0; i < y.numel(); ++i) s += double(y.data<float>()[i]) - cref.data<float>()[i];
    return std::fabs(s / double(y.numel()));
  };
  MESSAGE("mean logit bias: corrected ", mean_err(yb.value()[0]), ", plain ", mean_err(yn.value()[0]));
  CHECK(mean_err(yb.value()[0]) <= mean_err(yn.value()[0]) + 1e-3);
}

TEST_CASE("never-observed value: the node falls back to fp32 with a warning; empty calibration set is an error") {
  Graph g = small_net();
  Tensor calib = randn({8, 1, 8, 8}, 31);
  auto stats = calibrate(g, calib);
  stats.erase("c2o");  // as if c2 had never run during calibration
  QuantizeInfo info;
  auto qg = quantize_graph(prepared(g), stats, QuantizeOptions{}, &info);
  REQUIRE(qg.ok());
  bool found = false;
  for (auto& f : info.float_nodes) found |= f.find("c2o") != std::string::npos && f.find("never observed") != std::string::npos;
  CHECK(found);
  auto ex = QExecutor::prepare(qg.value());
  REQUIRE_OK(ex);
  auto r1 = ex->run({calib});
  REQUIRE_OK(r1);

  CalibrationSet empty;
  auto r = collect_statistics(runner(g), empty, 8, true);
  REQUIRE(!r.ok());
  CHECK(r.error().message.find("empty") != std::string::npos);
  // NaN in image 5 is named
  Tensor bad = calib.clone();
  bad.data<float>()[5 * 64 + 3] = NAN;
  auto rn = collect_statistics(runner(g), make_set(bad), 3, true);
  REQUIRE(!rn.ok());
  CHECK(rn.error().message.find("image 5") != std::string::npos);
}

TEST_CASE("batch size and image order do not change the quantized graph") {
  Graph g = small_net();
  Tensor calib = randn({24, 1, 8, 8}, 41);
  Tensor rev(DType::f32, calib.shape());
  for (int i = 0; i < 24; ++i)
    std::copy(calib.data<float>() + (23 - i) * 64, calib.data<float>() + (24 - i) * 64, rev.data<float>() + i * 64);
  for (auto m : {Calibrator::MinMax, Calibrator::MeanMinMax, Calibrator::Percentile, Calibrator::Entropy, Calibrator::Mse}) {
    QuantizeOptions o;
    o.act.method = m;
    o.bias_correction = true;
    auto a = quantize_graph(prepared(g), calibrate(g, calib, 8), o);
    auto b = quantize_graph(prepared(g), calibrate(g, rev, 5), o);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    for (auto& kv : a->values) {
      CHECK(kv.second.q == b->values.at(kv.first).q);
    }
    for (size_t i = 0; i < a->nodes.size(); ++i)
      if (a->nodes[i].bias.defined())
        CHECK(std::memcmp(a->nodes[i].bias.raw(), b->nodes[i].bias.raw(), a->nodes[i].bias.nbytes()) == 0);
  }
}

TEST_CASE("SQNR report: the input layer matches the uniform-noise formula, layers sorted worst first") {
  Graph g = small_net();
  Tensor calib = randn({64, 1, 8, 8}, 51);
  auto stats = calibrate(g, calib);
  QuantizeOptions o;
  o.act.method = Calibrator::MinMax;
  QuantizeInfo info;
  Graph pg = prepared(g);
  auto qg = quantize_graph(pg, stats, o, &info);
  REQUIRE_OK(qg);
  auto rep = sqnr_report(pg, qg.value(), info, make_set(calib), 16);
  REQUIRE_OK(rep);
  CHECK(rep->images == 64);
  REQUIRE(rep->layers.size() >= 5);
  for (size_t i = 1; i < rep->layers.size(); ++i) CHECK(rep->layers[i - 1].sqnr_db() <= rep->layers[i].sqnr_db());
  const LayerReport* in = nullptr;
  for (auto& l : rep->layers)
    if (l.value == "x") in = &l;
  REQUIRE(in);
  // x ~ N(0, 1) quantized with minmax: noise power Δ²/12, Δ = (max - min)/255 → SQNR = 10 log10(E[x²]·12/Δ²)
  const TensorStats& s = stats.at("x");
  const double delta = (double(s.max) - double(s.min)) / 255.0;
  double ex2 = 0;
  for (int64_t i = 0; i < calib.numel(); ++i) ex2 += double(calib.data<float>()[i]) * calib.data<float>()[i];
  ex2 /= double(calib.numel());
  const double expect = 10.0 * std::log10(ex2 * 12.0 / (delta * delta));
  MESSAGE("input SQNR ", in->sqnr_db(), " dB, uniform-noise model ", expect, " dB");
  CHECK(std::fabs(in->sqnr_db() - expect) < 0.5);
  CHECK(in->has_range);
  CHECK(in->range.lo == s.min);
  CHECK(rep->outputs.size() == 1);
  CHECK(rep->outputs[0].sqnr_db() > 20.0);
  CHECK(rep->top1_agree >= 56);  // 5-way argmax on random inputs: int8 mostly agrees
  const std::string t = rep->table();
  CHECK(t.find("SQNR") != std::string::npos);
  CHECK(rep->to_json().find("layers")->size() == rep->layers.size());
}

TEST_CASE("int8 data movement: channel shuffles run fused, Concat requantizes and Add follows its formula (u8, s8)") {
  // Quantize twice (different params) → Concat (requantizes both) → 2-group channel shuffle (Reshape, Transpose,
  // Reshape) → Add (shuffled + unshuffled) → 4-group shuffle (the generic gather) → Dequantize. Without an observer the
  // shuffles run as one gather each; with one, step by step: both runs must give the same bits.
  for (DType dt : {DType::u8, DType::i8}) {
    const bool s8 = dt == DType::i8;
    auto qp = [&](float scale, int32_t zp) {
      QParams p;
      p.scale = scale;
      p.zero_point = s8 ? zp - 128 : zp;
      p.dtype = dt;
      activation_range(s8, 8, p.qmin, p.qmax);
      return p;
    };
    QGraph q;
    q.inputs.push_back(ValueInfo{"x", DType::f32, {-1, 4, 3, 5}});
    q.outputs.push_back(ValueInfo{"y", DType::f32, {-1, 8, 3, 5}});
    auto val = [&](const std::string& n, const QParams& p, int rank) {
      QValue v;
      v.name = n;
      v.quantized = true;
      v.q = p;
      v.rank = rank;
      q.values[n] = v;
    };
    const QParams pa = qp(0.05f, 128), pb = qp(0.031f, 100), pc = qp(0.043f, 120), pd = qp(0.07f, 30);
    val("xa", pa, 4);
    val("xb", pb, 4);
    val("c", pc, 4);
    val("r1", pc, 5);
    val("t1", pc, 5);
    val("s1", pc, 4);
    val("d", pd, 4);
    val("r2", pd, 5);
    val("t2", pd, 5);
    val("s2", pd, 4);
    QValue yv;
    yv.name = "y";
    yv.rank = 4;
    q.values["y"] = yv;
    auto qn = [&](QOp op, std::vector<std::string> in, std::vector<std::string> out) {
      QNode n;
      n.name = out[0];
      n.op = op;
      n.inputs = std::move(in);
      n.outputs = std::move(out);
      n.clamp_lo = s8 ? -128 : 0;
      n.clamp_hi = s8 ? 127 : 255;
      return n;
    };
    auto ints = [](std::vector<int64_t> v) { return Attribute::make_ints(std::move(v)); };
    auto one = [](int64_t v) { return Attribute::make_int(v); };
    q.nodes.push_back(qn(QOp::Quantize, {"x"}, {"xa"}));
    q.nodes.push_back(qn(QOp::Quantize, {"x"}, {"xb"}));
    q.nodes.push_back(qn(QOp::Concat, {"xa", "xb"}, {"c"}));
    q.nodes.back().attrs["axis"] = one(1);
    q.nodes.push_back(qn(QOp::Reshape, {"c"}, {"r1"}));
    q.nodes.back().attrs["shape"] = ints({-1, 2, 4, 3, 5});
    q.nodes.push_back(qn(QOp::Transpose, {"r1"}, {"t1"}));
    q.nodes.back().attrs["perm"] = ints({0, 2, 1, 3, 4});
    q.nodes.push_back(qn(QOp::Reshape, {"t1"}, {"s1"}));
    q.nodes.back().attrs["shape"] = ints({-1, 8, 3, 5});
    q.nodes.push_back(qn(QOp::Add, {"s1", "c"}, {"d"}));
    q.nodes.push_back(qn(QOp::Reshape, {"d"}, {"r2"}));
    q.nodes.back().attrs["shape"] = ints({0, 4, 2, 3, 5});
    q.nodes.push_back(qn(QOp::Transpose, {"r2"}, {"t2"}));
    q.nodes.back().attrs["perm"] = ints({0, 2, 1, 3, 4});
    q.nodes.push_back(qn(QOp::Reshape, {"t2"}, {"s2"}));
    q.nodes.back().attrs["shape"] = ints({-1, 8, 3, 5});
    q.nodes.push_back(qn(QOp::Dequantize, {"s2"}, {"y"}));
    auto ex = QExecutor::prepare(q);
    REQUIRE_OK(ex);
    CHECK(ex->fused_shuffles() == 2);
    Tensor x = randn({3, 4, 3, 5}, 21, 3.0f);
    auto fused = ex->run({x});
    REQUIRE(fused.ok());
    std::map<std::string, Tensor> seen;
    QExecutor::Observer obs = [&](const std::string& n, const QValue& v, const Tensor& t) {
      seen[n] = v.quantized ? qdetail::logical(t, v) : t;
    };
    auto stepwise = ex->run({x}, &obs);
    REQUIRE(stepwise.ok());
    REQUIRE(fused.value()[0].shape() == Shape{3, 8, 3, 5});
    CHECK(std::memcmp(fused.value()[0].raw(), stepwise.value()[0].raw(), fused.value()[0].nbytes()) == 0);
    // Concat: each input requantized element by element; Add: the element formula of the QGraph contract.
    const Tensor &xa = seen.at("xa"), &xb = seen.at("xb"), &c = seen.at("c"), &s1 = seen.at("s1"), &d = seen.at("d");
    int bad = 0;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t ch = 0; ch < 8; ++ch)
        for (int64_t i = 0; i < 15; ++i) {
          const Tensor& src = ch < 4 ? xa : xb;
          const QParams& ps = ch < 4 ? pa : pb;
          const int32_t in = qdetail::get_q(src, (n * 4 + ch % 4) * 15 + i);
          const int32_t want = qdetail::clamp_round(float(in - ps.zero_point) * (ps.scale / pc.scale), pc.zero_point,
                                                    pc.qmin, pc.qmax);
          bad += qdetail::get_q(c, (n * 8 + ch) * 15 + i) != want;
          // the 2-group shuffle: channel 2j + g of s1 is channel 4g + j of c
          bad += qdetail::get_q(s1, (n * 8 + ch) * 15 + i) != qdetail::get_q(c, (n * 8 + (ch % 2) * 4 + ch / 2) * 15 + i);
        }
    for (int64_t k = 0; k < s1.numel(); ++k) {
      const int32_t a = qdetail::get_q(s1, k), b = qdetail::get_q(c, k);
      const float v = float(a - pc.zero_point) * (pc.scale / pd.scale) + float(b - pc.zero_point) * (pc.scale / pd.scale);
      bad += qdetail::get_q(d, k) != qdetail::clamp_round(v, pd.zero_point, pd.qmin, pd.qmax);
    }
    CHECK(bad == 0);
    // a batch the gather was not derived for still runs (same shapes per image: any batch size works)
    auto b1 = ex->run({x.slice0(1, 2)});
    REQUIRE(b1.ok());
    CHECK(std::memcmp(b1.value()[0].raw(), static_cast<const float*>(fused.value()[0].raw()) + 120, 120 * 4) == 0);
  }
}

TEST_CASE("collect_statistics: a pass-1 value cache (all, some or none of the batches) gives the same statistics") {
  Graph g = small_net();
  Tensor calib = randn({40, 1, 8, 8}, 31);
  auto run = runner(g);
  auto cs = make_set(calib);
  auto plain = collect_statistics(run, cs, 8, true);
  REQUIRE_OK(plain);
  for (size_t budget : {size_t(1) << 30, size_t(20000), size_t(1)}) {
    auto cached = collect_statistics(run, cs, 8, true, budget);
    REQUIRE_OK(cached);
    REQUIRE(cached->size() == plain->size());
    for (auto& kv : *plain) {
      const TensorStats& a = kv.second;
      const TensorStats& b = cached->at(kv.first);
      CHECK(a.min == b.min);
      CHECK(a.max == b.max);
      CHECK(a.count == b.count);
      CHECK(a.hist == b.hist);
      CHECK(a.abs_hist == b.abs_hist);
      CHECK(a.zeros == b.zeros);
      CHECK(a.hist_count == b.hist_count);
    }
  }
}

TEST_CASE("int8 AveragePool: padded, ceil-mode windows follow the integer formula (both count_include_pad)") {
  // x[N,3,8,8] -> 1x1 conv -> relu -> AveragePool(3x3, stride 2, pads 1, ceil_mode) -> Flatten -> Gemm -> y.
  // With 8 inputs the last window covers input 7, one pad and one position past the pads (ceil-mode overhang): the
  // divisor counts the pad only when count_include_pad is 1, and never the overhang.
  for (int include_pad : {0, 1}) {
    Graph g;
    g.inputs = {{"x", DType::f32, {-1, 3, 8, 8}}};
    g.outputs = {{"y", DType::f32, {-1, 4}}};
    g.initializers["w"] = randn({6, 3, 1, 1}, 21, 0.5f);
    g.initializers["b"] = randn({6}, 22, 0.1f);
    g.initializers["wf"] = randn({4, 6 * 5 * 5}, 23, 0.2f);
    g.initializers["bf"] = randn({4}, 24, 0.1f);
    Node c = node("c", "Conv", {"x", "w", "b"}, {"co"});
    c.attrs["kernel_shape"] = Attribute::make_ints({1, 1});
    g.nodes.push_back(c);
    g.nodes.push_back(node("r", "Relu", {"co"}, {"ro"}));
    Node ap = node("ap", "AveragePool", {"ro"}, {"apo"});
    ap.attrs["kernel_shape"] = Attribute::make_ints({3, 3});
    ap.attrs["strides"] = Attribute::make_ints({2, 2});
    ap.attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
    ap.attrs["ceil_mode"] = Attribute::make_int(1);
    ap.attrs["count_include_pad"] = Attribute::make_int(include_pad);
    g.nodes.push_back(ap);
    add_classifier_head(g, "apo", "y");
    REQUIRE(g.validate_and_sort().ok());

    auto stats = calibrate(g, randn({16, 3, 8, 8}, 25));
    auto qg = quantize_graph(prepared(g), stats, QuantizeOptions{});
    REQUIRE_OK(qg);
    auto ex = QExecutor::prepare(qg.value());
    REQUIRE_OK(ex);
    std::map<std::string, Tensor> seen;
    QExecutor::Observer obs = [&](const std::string& n, const QValue&, const Tensor& t) { seen[n] = t; };
    Tensor test = randn({4, 3, 8, 8}, 26);
    auto out = ex->run({test}, &obs);
    REQUIRE_OK(out);
    const double rel = max_diff(out.value()[0], fp32_out(g, test)) / max_abs(fp32_out(g, test));
    CHECK(rel < 0.05);

    const QParams &pi = qg->value("ro")->q, &po = qg->value("apo")->q;
    const Tensor &xq = seen.at("ro"), &yq = seen.at("apo");  // NHWC u8
    REQUIRE(xq.shape() == Shape{4, 8, 8, 6});
    REQUIRE(yq.shape() == Shape{4, 5, 5, 6});
    int off = 0;
    for (int b = 0; b < 4; ++b)
      for (int oh = 0; oh < 5; ++oh)
        for (int ow = 0; ow < 5; ++ow)
          for (int ch = 0; ch < 6; ++ch) {
            long sum = 0;
            int inside = 0, with_pads = 0;
            for (int ih = 2 * oh - 1; ih < 2 * oh + 2; ++ih)
              for (int iw = 2 * ow - 1; iw < 2 * ow + 2; ++iw) {
                with_pads += ih >= -1 && ih <= 8 && iw >= -1 && iw <= 8;  // input 0..7 plus one pad each side
                if (ih < 0 || ih > 7 || iw < 0 || iw > 7) continue;
                ++inside;
                sum += long(xq.data<uint8_t>()[((b * 8 + ih) * 8 + iw) * 6 + ch]) - pi.zero_point;
              }
            const int div = include_pad ? with_pads : inside;
            long q = std::lround(double(sum) * pi.scale / po.scale / div) + po.zero_point;
            q = std::clamp<long>(q, po.qmin, po.qmax);
            const int got = yq.data<uint8_t>()[((b * 5 + oh) * 5 + ow) * 6 + ch];
            CHECK(std::abs(got - q) <= 1);  // float multiplier vs double: a tie may round either way
            off += got != q;
          }
    CHECK(off * 50 < 4 * 5 * 5 * 6);
  }
}

TEST_CASE("batch slices: the plan, the probe's per-image peak, and the same bits as the whole batch at once") {
  using Plan = QExecutor::SlicePlan;
  auto plan = [](int64_t n, int64_t peak, int64_t budget, int t) { return QExecutor::plan_slices(n, peak, budget, t); };
  auto same = [](const Plan& p, int64_t images, int64_t slices, bool parallel) {
    return p.images == images && p.slices == slices && p.parallel == parallel;
  };
  CHECK(same(plan(63, 1500000, 1 << 20, 1), 1, 63, false));  // a layer bigger than the budget: one image a slice
  CHECK(same(plan(63, 1500000, 1 << 20, 2), 1, 63, true));
  CHECK(same(plan(64, 51200, 1 << 20, 1), 16, 4, false));     // 20 fit: 4 slices, evened out to 16 images
  CHECK(same(plan(64, 51200, 1 << 20, 2), 16, 4, true));
  CHECK(same(plan(64, 51200, 1 << 20, 3), 11, 6, true));      // 4 slices → 6, a multiple of the threads
  CHECK(same(plan(3, 10, 1 << 20, 2), 2, 2, true));          // all fit, but two threads get one slice each
  CHECK(same(plan(1, 10, 1 << 20, 2), 1, 1, false));
  CHECK(same(plan(0, 10, 1 << 20, 2), 0, 0, false));

  auto same_bits = [](const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
  };
  Graph g = small_net();
  // The same net with its 4x4x4 features as [-1, 32] (two rows per image) before a 32 -> 5 Gemm, by a Reshape
  // and, as [4N, 16] before a 16 -> 5 Gemm, by Flatten(axis 2): both fold the batch axis, so both stay fp32 nodes
  // that prepare() finds not per image, and the batch runs whole.
  auto folded = [&](bool reshape) {
    Graph f = g;
    for (Node& n : f.nodes)
      if (n.name == "flat") {
        if (reshape) {
          n.op_type = "Reshape";
          n.attrs.clear();
          n.inputs = {"mpo", "shape32"};
        } else {
          n.attrs["axis"] = Attribute::make_int(2);
        }
      }
    f.initializers["shape32"] = Tensor::from_vector<int64_t>({2}, {-1, 32});
    f.initializers["wf"] = randn({5, reshape ? 32 : 16}, 5, 0.2f);
    REQUIRE(f.validate_and_sort().ok());
    return f;
  };
  const Graph by_reshape = folded(true), by_flatten = folded(false);
  Tensor calib = randn({32, 1, 8, 8}, 31);
  Tensor test = randn({13, 1, 8, 8}, 32);
  struct Case {
    const char* name;
    const Graph* g;
    QuantizeOptions q;
    int64_t peak;  // expected per-image peak bytes (0: not per image)
  };
  QuantizeOptions excl;
  excl.exclude = {"c2"};  // an fp32 Conv node in the middle
  // Default net: the largest node is the Add, two u8 inputs and one u8 output of 8x8x4 bytes each.
  for (const Case& c : {Case{"small", &g, QuantizeOptions{}, 3 * 256}, Case{"small, c2 in fp32", &g, excl, -1},
                        Case{"batch folded by a Reshape", &by_reshape, QuantizeOptions{}, 0},
                        Case{"batch folded by Flatten(axis 2)", &by_flatten, QuantizeOptions{}, 0}}) {
    CAPTURE(std::string(c.name));
    auto qg = quantize_graph(prepared(*c.g), calibrate(*c.g, calib), c.q);
    REQUIRE_OK(qg);
    QExecOptions whole;
    whole.threads = 1;
    whole.slice_bytes = -1;
    auto ref_ex = QExecutor::prepare(qg.value(), whole);
    REQUIRE_OK(ref_ex);
    auto ref = ref_ex->run({test});
    REQUIRE_OK(ref);
    CHECK(ref_ex->image_peak_bytes({test}) == -1);  // never sliced, never probed
    CHECK(ref_ex->nodes_are_per_image() == (c.peak != 0));
    for (int64_t budget : {int64_t(1), int64_t(2000), int64_t(0)})
      for (int threads : {1, 2}) {
        CAPTURE(budget);
        CAPTURE(threads);
        QExecOptions o;
        o.threads = threads;
        o.slice_bytes = budget;
        auto ex = QExecutor::prepare(qg.value(), o);
        REQUIRE_OK(ex);
        for (int rep = 0; rep < 2; ++rep) {  // the probe's run, then the cached plan
          auto out = ex->run({test});
          REQUIRE_OK(out);
          CHECK(same_bits(out.value()[0], ref.value()[0]));
        }
        const int64_t peak = ex->image_peak_bytes({test});
        if (c.peak == 0) CHECK(peak == -1);  // a graph that mixes images is never probed
        else if (c.peak > 0) CHECK(peak == c.peak);
        else CHECK(peak > 0);
        auto one = ex->run({test.slice0(4, 5)});  // batch 1: never sliced
        REQUIRE_OK(one);
        if (c.peak != 0) CHECK(std::memcmp(one.value()[0].raw(), ref.value()[0].data<float>() + 4 * 5, 5 * sizeof(float)) == 0);
      }
  }
}

TEST_CASE("input quantization: the vector runs and the NCHW -> NHWC pass equal quantize_value for every value") {
  // Specials (NaN, ±Inf, huge, subnormal, ties at .5 of the scale, values right at the clamp ends) among
  // random values; channel counts 1 (no transpose), 3 (the RGB path), 5; pixel counts off the 16-wide runs and
  // across the 256-pixel blocks.
  const float specials[] = {std::nanf(""), INFINITY, -INFINITY, 3e38f, -3e38f, 1e-40f, -1e-40f, 0.0f, -0.0f};
  for (DType dt : {DType::u8, DType::i8})
    for (int C : {1, 3, 5})
      for (int hw : {7, 17, 300}) {
        CAPTURE(C);
        CAPTURE(hw);
        QValue v;
        v.quantized = true;
        v.rank = 4;
        v.q.dtype = dt;
        v.q.scale = 0.05f;
        v.q.zero_point = dt == DType::u8 ? 117 : -9;
        v.q.qmin = dt == DType::u8 ? 0 : -128;
        v.q.qmax = dt == DType::u8 ? 255 : 127;
        Tensor x = randn({2, C, 1, hw}, uint32_t(C * 1000 + hw), 4.0f);
        float* p = x.data<float>();
        for (int64_t i = 0; i < x.numel(); ++i) {
          if (i % 11 == 0) p[i] = specials[(i / 11) % 9];
          if (i % 13 == 5) p[i] = (float(int(i % 40) - 20) + 0.5f) * v.q.scale;  // ties (as far as x/s is exact)
          if (i % 17 == 3) p[i] = float(v.q.qmax - v.q.zero_point) * v.q.scale * (i % 2 ? 1.0f : -1.0f);
        }
        const Tensor q = quantize_physical(x, v);  // NHWC [2, 1, hw, C]
        REQUIRE(q.shape() == Shape{2, 1, hw, C});
        int bad = 0;
        for (int b = 0; b < 2; ++b)
          for (int c = 0; c < C; ++c)
            for (int i = 0; i < hw; ++i) {
              const int32_t want = quantize_value(p[(b * C + c) * hw + i], v.q);
              const int64_t at = (int64_t(b) * hw + i) * C + c;
              const int32_t got = dt == DType::u8 ? int32_t(q.data<uint8_t>()[at]) : int32_t(q.data<int8_t>()[at]);
              bad += got != want;
            }
        CHECK(bad == 0);
      }
}
