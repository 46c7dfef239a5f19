// qforge/quant/qgraph_io.hpp — QGraph files: the int8 container (.q.qf), the ONNX QDQ export, and fp32/QDQ ONNX
// graphs wrapped as all-Float QGraphs (so the int8 executor can run them with the ONNX quantization ops).
//
// Contract:
//  * save_qgraph / load_qgraph: the tensor container (io/tensor_file.hpp) with metadata "qforge.kind":"int8",
//    "qforge.qgraph" (JSON below) and the source model's metadata (qforge.mean, qforge.std, ...) copied as is.
//    The QGraph's nodes are stored as a graph (io/model_file.hpp graph_to_json): int8 nodes as domain "qforge", op
//    = qop_name (QConv, QGemm, ...), attributes = the node's own plus "qforge.weight" / "qforge.bias" /
//    "qforge.w_scale" (tensors), "qforge.clamp" (ints [lo, hi]), "qforge.act" (string None|Relu|Clip) and
//    "qforge.act_range" (floats [lo, hi]); fp32 fallback nodes as themselves. JSON: {"graph": <graph JSON>,
//    "values": [{"name", "quantized", "rank", "source", "dtype", and when quantized "scale", "zero_point",
//    "qmin", "qmax", "bits"}]}. load → save gives identical bytes; the same QGraph always gives the same bytes.
//    Loading validates everything (errors name the file, node and field).
//  * export_qdq: an fp32 ONNX graph in standard layout (NCHW) with QuantizeLinear/DequantizeLinear around float
//    ops: weights are int8 initializers dequantized per output channel (axis 0), biases int32 dequantized with
//    scale s_in·s_w, activations Quantize→(uint8/int8)→Dequantize; pure data movement (Reshape, Transpose, Split)
//    runs on the quantized tensors. ONNX Runtime fuses the patterns into its int8 kernels.
//  * wrap_float_graph: any fp32/QDQ Graph as a QGraph of Float nodes (dtypes inferred node by node).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/graph/ops/activation.hpp"
#include "qforge/io/json.hpp"
#include "qforge/io/model_file.hpp"
#include "qforge/io/onnx.hpp"
#include "qforge/io/tensor_file.hpp"
#include "qforge/quant/float_ops.hpp"
#include "qforge/quant/qgraph.hpp"

namespace qforge::quant {

constexpr const char* kModelKindInt8 = "int8";
constexpr const char* kQGraphMetadataKey = "qforge.qgraph";

namespace qio {

inline const char* act_name(FusedAct::Kind k) {
  return k == FusedAct::Kind::Relu ? "Relu" : k == FusedAct::Kind::Clip ? "Clip" : "None";
}

inline Json value_json(const QValue& v) {
  Json o = Json::object();
  o.set("name", v.name);
  o.set("quantized", v.quantized);
  o.set("rank", int64_t(v.rank));
  o.set("source", v.source);
  o.set("dtype", tensor_file_dtype_name(v.quantized ? v.q.dtype : v.dtype));
  if (v.quantized) {
    o.set("scale", double(v.q.scale));
    o.set("zero_point", int64_t(v.q.zero_point));
    o.set("qmin", int64_t(v.q.qmin));
    o.set("qmax", int64_t(v.q.qmax));
    o.set("bits", int64_t(v.q.bits));
  }
  return o;
}

inline Result<QValue> value_from_json(const Json& o, const std::string& where) {
  if (!o.is_object()) return make_error(where, ": must be an object");
  QValue v;
  auto name = o.get_string("name");
  if (!name.ok()) return name.error().wrap(where);
  v.name = *name;
  const std::string w = where + " ('" + v.name + "')";
  const Json* q = o.find("quantized");
  if (!q || !q->is_bool()) return make_error(w, ": 'quantized' must be a boolean");
  v.quantized = q->as_bool();
  auto rank = o.get_int("rank");
  if (!rank.ok()) return rank.error().wrap(w);
  if (*rank < -1 || *rank > 8) return make_error(w, ": rank ", *rank, " out of range");
  v.rank = int(*rank);
  auto src = o.get_string("source");
  if (!src.ok()) return src.error().wrap(w);
  v.source = *src;
  auto dts = o.get_string("dtype");
  if (!dts.ok()) return dts.error().wrap(w);
  auto dt = parse_tensor_file_dtype(*dts);
  if (!dt.ok()) return dt.error().wrap(w);
  if (!v.quantized) {
    v.dtype = *dt;
    return v;
  }
  if (*dt != DType::u8 && *dt != DType::i8) return make_error(w, ": a quantized value must be U8 or I8");
  v.q.dtype = *dt;
  auto sc = o.get_number("scale");
  if (!sc.ok()) return sc.error().wrap(w);
  v.q.scale = float(*sc);
  if (!(v.q.scale > 0) || !std::isfinite(v.q.scale)) return make_error(w, ": 'scale' must be positive and finite");
  int64_t zp = 0, lo = 0, hi = 0, bits = 0;
  for (auto kv : {std::pair<const char*, int64_t*>{"zero_point", &zp}, {"qmin", &lo}, {"qmax", &hi}, {"bits", &bits}}) {
    auto x = o.get_int(kv.first);
    if (!x.ok()) return x.error().wrap(w);
    *kv.second = *x;
  }
  const int64_t tlo = *dt == DType::u8 ? 0 : -128, thi = *dt == DType::u8 ? 255 : 127;
  if (lo < tlo || hi > thi || lo > hi || zp < lo || zp > hi)
    return make_error(w, ": qmin/qmax/zero_point ", lo, "/", hi, "/", zp, " do not fit ", *dts);
  if (bits != 8 && bits != 4) return make_error(w, ": 'bits' must be 8 or 4");
  v.q.zero_point = int32_t(zp);
  v.q.qmin = int32_t(lo);
  v.q.qmax = int32_t(hi);
  v.q.bits = int(bits);
  return v;
}

// QGraph -> a Graph whose nodes carry everything (for graph_to_json).
inline Graph to_storage_graph(const QGraph& q) {
  Graph g;
  g.name = q.name;
  g.opset = q.opset;
  g.inputs = q.inputs;
  g.outputs = q.outputs;
  g.initializers = q.initializers;
  for (auto& n : q.nodes) {
    if (n.op == QOp::Float) {
      Node f = n.float_node;
      f.name = n.name;
      f.inputs = n.inputs;
      f.outputs = n.outputs;
      g.nodes.push_back(std::move(f));
      continue;
    }
    Node s;
    s.name = n.name;
    s.op_type = qop_name(n.op);
    s.domain = "qforge";
    s.inputs = n.inputs;
    s.outputs = n.outputs;
    s.attrs = n.attrs;
    if (n.weight.defined()) s.attrs["qforge.weight"] = Attribute::make_tensor(n.weight);
    if (n.bias.defined()) s.attrs["qforge.bias"] = Attribute::make_tensor(n.bias);
    if (!n.w_scale.empty())
      s.attrs["qforge.w_scale"] = Attribute::make_tensor(Tensor::from_vector<float>({int64_t(n.w_scale.size())}, n.w_scale));
    s.attrs["qforge.clamp"] = Attribute::make_ints({n.clamp_lo, n.clamp_hi});
    s.attrs["qforge.act"] = Attribute::make_string(act_name(n.act.kind));
    s.attrs["qforge.act_range"] = Attribute::make_floats({n.act.lo, n.act.hi});
    g.nodes.push_back(std::move(s));
  }
  return g;
}

inline Result<QNode> node_from_storage(const Node& s, size_t k) {
  QNode n;
  n.name = s.name;
  n.inputs = s.inputs;
  n.outputs = s.outputs;
  const std::string where = "node " + std::to_string(k) + " '" + s.name + "'";
  if (s.domain != "qforge") {
    n.op = QOp::Float;
    n.float_node = s;
    return n;
  }
  auto op = parse_qop(s.op_type);
  if (!op.ok()) return op.error().wrap(where);
  n.op = *op;
  n.attrs = s.attrs;
  auto take = [&](const char* key, Attribute::Kind kind, bool required) -> Result<const Attribute*> {
    auto it = n.attrs.find(key);
    if (it == n.attrs.end()) {
      if (required) return make_error(where, ": missing attribute '", key, "'");
      return nullptr;
    }
    if (it->second.kind != kind) return make_error(where, ": attribute '", key, "' has the wrong kind");
    return &it->second;
  };
  QF_ASSIGN_OR_RETURN(auto w, take("qforge.weight", Attribute::Kind::Tensor, false));
  if (w) n.weight = w->t;
  QF_ASSIGN_OR_RETURN(auto b, take("qforge.bias", Attribute::Kind::Tensor, false));
  if (b) n.bias = b->t;
  QF_ASSIGN_OR_RETURN(auto ws, take("qforge.w_scale", Attribute::Kind::Tensor, false));
  if (ws) {
    if (ws->t.dtype() != DType::f32 || ws->t.rank() != 1) return make_error(where, ": 'qforge.w_scale' must be 1-D float");
    n.w_scale.assign(ws->t.data<float>(), ws->t.data<float>() + ws->t.numel());
    for (float v : n.w_scale)
      if (!(v > 0) || !std::isfinite(v)) return make_error(where, ": weight scales must be positive and finite");
  }
  QF_ASSIGN_OR_RETURN(auto cl, take("qforge.clamp", Attribute::Kind::Ints, true));
  if (cl->ints.size() != 2 || cl->ints[0] > cl->ints[1] || cl->ints[0] < -128 || cl->ints[1] > 255)
    return make_error(where, ": 'qforge.clamp' must be [lo, hi] inside -128..255");
  n.clamp_lo = int32_t(cl->ints[0]);
  n.clamp_hi = int32_t(cl->ints[1]);
  QF_ASSIGN_OR_RETURN(auto act, take("qforge.act", Attribute::Kind::String, true));
  QF_ASSIGN_OR_RETURN(auto ar, take("qforge.act_range", Attribute::Kind::Floats, true));
  if (act->s == "Relu") n.act.kind = FusedAct::Kind::Relu;
  else if (act->s == "Clip") n.act.kind = FusedAct::Kind::Clip;
  else if (act->s != "None") return make_error(where, ": unknown activation '", act->s, "'");
  if (ar->floats.size() != 2) return make_error(where, ": 'qforge.act_range' must have 2 values");
  n.act.lo = ar->floats[0];
  n.act.hi = ar->floats[1];
  for (const char* k2 : {"qforge.weight", "qforge.bias", "qforge.w_scale", "qforge.clamp", "qforge.act", "qforge.act_range"})
    n.attrs.erase(k2);
  return n;
}

}  // namespace qio

inline Result<TensorFile> qgraph_to_tensor_file(const QGraph& q) {
  TensorFile f;
  Json j = Json::object();
  QF_ASSIGN_OR_RETURN(Json gj, graph_to_json(qio::to_storage_graph(q), f.tensors));
  j.set("graph", std::move(gj));
  Json vals = Json::array();
  for (auto& kv : q.values) vals.push_back(qio::value_json(kv.second));
  j.set("values", std::move(vals));
  for (auto& kv : q.metadata) f.metadata[kv.first] = kv.second;
  f.metadata["qforge.kind"] = kModelKindInt8;
  f.metadata[kQGraphMetadataKey] = j.dump();
  return f;
}

inline Result<QGraph> qgraph_from_tensor_file(const TensorFile& f) {
  auto kind = f.metadata.find("qforge.kind");
  if (kind == f.metadata.end() || kind->second != kModelKindInt8)
    return make_error("not an int8 qforge model ('qforge.kind' is '",
                      kind == f.metadata.end() ? std::string("missing") : kind->second, "', expected 'int8')");
  auto js = f.metadata.find(kQGraphMetadataKey);
  if (js == f.metadata.end()) return make_error("metadata has no '", kQGraphMetadataKey, "'");
  auto j = Json::parse(js->second);
  if (!j.ok()) return j.error().wrap(kQGraphMetadataKey);
  const Json* gj = j->find("graph");
  if (!gj) return make_error(kQGraphMetadataKey, ": missing 'graph'");
  auto g = graph_from_json(*gj, f.tensors);
  if (!g.ok()) return g.error().wrap(kQGraphMetadataKey);
  QGraph q;
  q.name = g->name;
  q.opset = g->opset;
  q.inputs = g->inputs;
  q.outputs = g->outputs;
  q.initializers = g->initializers;
  for (auto& kv : f.metadata)
    if (kv.first != "qforge.kind" && kv.first != kQGraphMetadataKey && kv.first != "format" &&
        kv.first != "qforge.version")
      q.metadata[kv.first] = kv.second;
  for (size_t k = 0; k < g->nodes.size(); ++k) {
    auto n = qio::node_from_storage(g->nodes[k], k);
    if (!n.ok()) return n.error().wrap(kQGraphMetadataKey);
    q.nodes.push_back(std::move(n).value());
  }
  const Json* vals = j->find("values");
  if (!vals || !vals->is_array()) return make_error(kQGraphMetadataKey, ": 'values' must be an array");
  for (size_t k = 0; k < vals->size(); ++k) {
    auto v = qio::value_from_json((*vals)[k], std::string(kQGraphMetadataKey) + ": values[" + std::to_string(k) + "]");
    if (!v.ok()) return v.error();
    if (!q.values.emplace(v->name, v.value()).second)
      return make_error(kQGraphMetadataKey, ": value '", v->name, "' is listed twice");
  }
  auto s = q.validate();
  if (!s.ok()) return s.error().wrap(kQGraphMetadataKey);
  return q;
}

inline Status save_qgraph(const std::string& path, const QGraph& q) {
  auto f = qgraph_to_tensor_file(q);
  if (!f.ok()) return f.error().wrap(path);
  return save_tensor_file(path, *f);
}

inline Result<QGraph> load_qgraph(const std::string& path) {
  QF_ASSIGN_OR_RETURN(TensorFile f, load_tensor_file(path));
  auto q = qgraph_from_tensor_file(f);
  if (!q.ok()) return q.error().wrap(path);
  return q;
}

// ------------------------------------------------------------------------------------------- ONNX QDQ export
inline Result<Graph> export_qdq(const QGraph& q) {
  Graph g;
  g.name = q.name;
  g.opset = std::max<int64_t>(q.opset, 13);
  g.producer = "qforge";
  g.inputs = q.inputs;
  g.outputs = q.outputs;
  g.metadata = q.metadata;
  for (auto& kv : q.initializers) g.initializers[kv.first] = kv.second;
  auto fresh = [&](const std::string& base) {
    std::string n = base;
    for (int k = 1; g.initializers.count(n) || q.values.count(n); ++k) n = base + "#" + std::to_string(k);
    return n;
  };
  auto add = [&](const std::string& name, const std::string& op, std::vector<std::string> in,
                 std::vector<std::string> out) -> Node& {
    Node n;
    n.name = name;
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    g.nodes.push_back(std::move(n));
    return g.nodes.back();
  };
  std::map<std::string, std::pair<std::string, std::string>> qp_names;  // value -> (scale, zp) initializers
  auto params_of = [&](const std::string& v) -> std::pair<std::string, std::string> {
    auto it = qp_names.find(v);
    if (it != qp_names.end()) return it->second;
    const QValue& qv = q.values.at(v);
    std::string s = fresh(v + "::scale"), z = fresh(v + "::zero_point");
    g.initializers[s] = Tensor::scalar<float>(qv.q.scale);
    g.initializers[z] = qv.q.dtype == DType::u8 ? Tensor::scalar<uint8_t>(uint8_t(qv.q.zero_point))
                                                : Tensor::scalar<int8_t>(int8_t(qv.q.zero_point));
    return qp_names[v] = {s, z};
  };
  std::map<std::string, std::string> dq_of;  // quantized value -> its DequantizeLinear output
  auto dq = [&](const std::string& v) {
    auto it = dq_of.find(v);
    if (it != dq_of.end()) return it->second;
    auto p = params_of(v);
    std::string o = fresh(v + "::dq");
    add(o, "DequantizeLinear", {v, p.first, p.second}, {o});
    return dq_of[v] = o;
  };
  auto quant = [&](const std::string& src, const std::string& v) {
    auto p = params_of(v);
    add(v + "::quantize", "QuantizeLinear", {src, p.first, p.second}, {v});
  };
  // activation after a float op; returns the activated value name
  auto act = [&](const FusedAct& a, const std::string& in, const std::string& out) {
    if (a.kind == FusedAct::Kind::None) return in;
    if (a.kind == FusedAct::Kind::Relu) {
      add(out, "Relu", {in}, {out});
      return out;
    }
    std::string lo = fresh(out + "::min"), hi = fresh(out + "::max");
    g.initializers[lo] = Tensor::scalar<float>(a.lo);
    g.initializers[hi] = Tensor::scalar<float>(a.hi);
    add(out, "Clip", {in, lo, hi}, {out});
    return out;
  };
  for (auto& n : q.nodes) {
    const std::string& o0 = n.outputs.empty() ? std::string() : n.outputs[0];
    const QValue* ov = o0.empty() ? nullptr : q.value(o0);
    switch (n.op) {
      case QOp::Float: {
        Node f = n.float_node;
        f.inputs = n.inputs;
        f.outputs = n.outputs;
        f.attrs.erase(ops::kActivationAttr);
        f.attrs.erase(ops::kActivationParamsAttr);
        auto a = ops::Activation::from_node(n.float_node);
        if (!a.ok()) return a.error().wrap(n.label());
        if (a->kind == ops::Activation::Kind::None) {
          g.nodes.push_back(std::move(f));
          break;
        }
        // expand a fused activation into its ONNX op
        std::vector<std::string> outs = f.outputs;
        std::string mid = fresh(outs[0] + "::preact");
        f.outputs[0] = mid;
        g.nodes.push_back(std::move(f));
        if (a->kind == ops::Activation::Kind::LeakyRelu) {
          Node& l = add(outs[0], "LeakyRelu", {mid}, {outs[0]});
          l.attrs["alpha"] = Attribute::make_float(a->alpha);
        } else {
          FusedAct fa;
          fa.kind = a->kind == ops::Activation::Kind::Relu ? FusedAct::Kind::Relu : FusedAct::Kind::Clip;
          fa.lo = a->lo;
          fa.hi = a->hi;
          act(fa, mid, outs[0]);
        }
        break;
      }
      case QOp::Quantize: quant(n.inputs[0], o0); break;
      case QOp::Dequantize: {
        auto p = params_of(n.inputs[0]);
        add(n.name, "DequantizeLinear", {n.inputs[0], p.first, p.second}, {o0});
        break;
      }
      case QOp::Conv:
      case QOp::Gemm: {
        const QValue& xv = q.values.at(n.inputs[0]);
        const int64_t N = n.weight.dim(0);
        std::string w = fresh(n.name + "::weight"), ws = fresh(n.name + "::weight_scale"), wz = fresh(n.name + "::weight_zp");
        g.initializers[w] = n.weight;
        g.initializers[ws] = Tensor::from_vector<float>({N}, n.w_scale);
        g.initializers[wz] = Tensor(DType::i8, {N});
        std::string wdq = fresh(n.name + "::weight_dq");
        Node& wn = add(wdq, "DequantizeLinear", {w, ws, wz}, {wdq});
        wn.attrs["axis"] = Attribute::make_int(0);
        std::vector<std::string> ins{dq(n.inputs[0]), wdq};
        if (n.bias.defined()) {
          std::string b = fresh(n.name + "::bias"), bs = fresh(n.name + "::bias_scale"), bz = fresh(n.name + "::bias_zp");
          std::vector<float> bsc(n.w_scale.size());
          for (size_t c = 0; c < bsc.size(); ++c) bsc[c] = xv.q.scale * n.w_scale[c];
          g.initializers[b] = n.bias;
          g.initializers[bs] = Tensor::from_vector<float>({N}, bsc);
          g.initializers[bz] = Tensor(DType::i32, {N});
          std::string bdq = fresh(n.name + "::bias_dq");
          Node& bn = add(bdq, "DequantizeLinear", {b, bs, bz}, {bdq});
          bn.attrs["axis"] = Attribute::make_int(0);
          ins.push_back(bdq);
        }
        const bool qout = ov && ov->quantized;
        std::string y = (qout || n.act.kind != FusedAct::Kind::None) ? fresh(o0 + "::float") : o0;
        Node& cn = add(n.name, n.op == QOp::Conv ? "Conv" : "Gemm", ins, {y});
        if (n.op == QOp::Conv) {
          cn.attrs = n.attrs;
        } else {
          cn.attrs["transB"] = Attribute::make_int(1);
        }
        std::string ya = act(n.act, y, qout ? fresh(o0 + "::act") : o0);
        if (qout) quant(ya, o0);
        break;
      }
      case QOp::Add:
      case QOp::Concat:
      case QOp::AveragePool:
      case QOp::GlobalAveragePool:
      case QOp::MaxPool:
      case QOp::Clamp: {
        std::vector<std::string> ins;
        for (auto& in : n.inputs) ins.push_back(dq(in));
        std::string y = fresh(o0 + "::float");
        if (n.op == QOp::Clamp) {
          FusedAct a = n.act;
          act(a, ins[0], y);
        } else {
          const char* op = n.op == QOp::Add ? "Add" : n.op == QOp::Concat ? "Concat" : n.op == QOp::AveragePool
                               ? "AveragePool" : n.op == QOp::GlobalAveragePool ? "GlobalAveragePool" : "MaxPool";
          Node& x = add(n.name, op, ins, {y});
          x.attrs = n.attrs;
          y = act(n.act, y, fresh(o0 + "::act"));
        }
        quant(y, o0);
        break;
      }
      case QOp::Reshape: {
        std::string s = fresh(n.name + "::shape");
        auto sh = n.get_ints("shape");
        g.initializers[s] = Tensor::from_vector<int64_t>({int64_t(sh.size())}, sh);
        add(n.name, "Reshape", {n.inputs[0], s}, {o0});
        break;
      }
      case QOp::Transpose: {
        Node& t = add(n.name, "Transpose", {n.inputs[0]}, {o0});
        t.attrs["perm"] = Attribute::make_ints(n.get_ints("perm"));
        break;
      }
      case QOp::Split: {
        std::string s = fresh(n.name + "::split");
        auto sz = n.get_ints("split");
        g.initializers[s] = Tensor::from_vector<int64_t>({int64_t(sz.size())}, sz);
        Node& t = add(n.name, "Split", {n.inputs[0], s}, n.outputs);
        t.attrs["axis"] = Attribute::make_int(n.get_int("axis", 0));
        break;
      }
    }
  }
  QF_RETURN_IF_ERROR(g.validate_and_sort());
  return g;
}

inline Status save_qdq_onnx(const std::string& path, const QGraph& q) {
  auto g = export_qdq(q);
  if (!g.ok()) return g.error().wrap(path);
  return save_onnx(path, *g);
}

// ------------------------------------------------------------------------------------------- float wrapper
// Any Graph as a QGraph of Float nodes (each node runs through the fp32 op table + ONNX quantization ops).
inline Result<QGraph> wrap_float_graph(const Graph& src) {
  Graph g = src;
  QF_RETURN_IF_ERROR(g.validate_and_sort());
  QGraph q;
  q.name = g.name;
  q.opset = g.opset;
  q.inputs = g.inputs;
  q.outputs = g.outputs;
  q.metadata = g.metadata;
  q.initializers = g.initializers;
  std::map<std::string, DType> dt;
  for (auto& v : g.inputs) {
    dt[v.name] = v.dtype;
    QValue qv;
    qv.name = qv.source = v.name;
    qv.rank = int(v.shape.size());
    qv.dtype = v.dtype;
    q.values[v.name] = qv;
  }
  for (auto& kv : g.initializers) dt[kv.first] = kv.second.dtype();
  for (auto& n : g.nodes) {
    std::vector<DType> outs;
    auto k = build_float_kernel(n, g.initializers, g.opset, &dt, &outs);
    if (!k.ok()) return k.error().wrap(n.label());
    QNode f;
    f.name = n.name;
    f.op = QOp::Float;
    f.inputs = n.inputs;
    f.outputs = n.outputs;
    f.float_node = n;
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      if (n.outputs[o].empty()) continue;
      QValue qv;
      qv.name = qv.source = n.outputs[o];
      qv.dtype = o < outs.size() ? outs[o] : DType::f32;
      dt[n.outputs[o]] = qv.dtype;
      q.values[n.outputs[o]] = qv;
    }
    q.nodes.push_back(std::move(f));
  }
  QF_RETURN_IF_ERROR(q.validate());
  return q;
}

}  // namespace qforge::quant
