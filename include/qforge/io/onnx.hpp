// qforge/io/onnx.hpp — native ONNX reader and writer (ModelProto <-> Graph) on qforge's own protobuf codec.
//
// Contract (reader):
// - Decodes ModelProto (ir_version, opset_import, producer_name, graph, metadata_props), GraphProto (node, name,
//   initializer, input, output, value_info), NodeProto, AttributeProto (FLOAT, INT, STRING, TENSOR, FLOATS, INTS,
//   STRINGS), TensorProto and ValueInfoProto/TypeProto/TensorShapeProto, with the field numbers of onnx.proto.
// - Tensor element types FLOAT, UINT8, INT8, INT32, INT64, BOOL are supported, from raw_data (little-endian) or the
//   typed fields (float_data, int32_data, int64_data; packed or not). Anything else — DOUBLE, FLOAT16, STRING,
//   sequences/maps/optionals, subgraph attributes (If/Loop/Scan), sparse tensors, external data, model-local
//   functions, segments — fails with a message containing "unsupported" that names the tensor/node/attribute.
//   (DOUBLE is rejected, not converted: a lossy silent conversion would hide precision bugs.)
// - Graph inputs that are also initializers are not listed in Graph::inputs (ONNX IR < 4 lists them). The
//   default-domain opset goes to Graph::opset (1 if the model imports none), "ai.onnx" becomes "", metadata_props
//   go to Graph::metadata. A dim with dim_param or no value is -1. A tensor type without a shape (unknown rank) is
//   read as an empty shape. value_info is decoded (wire errors fail) but not kept: the IR has no place for it.
// - The graph is validated and topologically sorted (Graph::validate_and_sort); every error is prefixed with the
//   file name given, and decoding errors carry the byte offset.
// Contract (writer): save_onnx writes ir_version 8 (9 for opset 19–20, 10 for ≥ 21), opset_import for the
// default domain (Graph::opset) and version 1 for any other domain used by a node, the graph (named "qforge" if
// Graph::name is empty), initializers as raw_data, inputs/outputs with their shapes (-1 → anonymous dim) and
// metadata_props; via temp file + rename. load → save → load gives the same Graph.
#pragma once
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/graph/ir.hpp"
#include "qforge/io/file_util.hpp"
#include "qforge/io/protobuf.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "qforge file formats assume a little-endian host"
#endif

namespace qforge {

namespace onnx_detail {

// TensorProto.DataType values.
enum DataType : int {
  kUndefined = 0, kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7, kString = 8,
  kBool = 9, kFloat16 = 10, kDouble = 11, kUint32 = 12, kUint64 = 13, kComplex64 = 14, kComplex128 = 15,
  kBfloat16 = 16
};

inline std::string data_type_name(int64_t t) {
  static const char* names[] = {"UNDEFINED", "FLOAT",  "UINT8",  "INT8",   "UINT16",    "INT16",
                                "INT32",     "INT64",  "STRING", "BOOL",   "FLOAT16",   "DOUBLE",
                                "UINT32",    "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN",
                                "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4"};
  if (t >= 0 && t < int64_t(sizeof names / sizeof names[0])) return names[t];
  return "UNKNOWN";
}

inline Result<DType> dtype_from_onnx(int64_t t) {
  switch (t) {
    case kFloat: return DType::f32;
    case kUint8: return DType::u8;
    case kInt8: return DType::i8;
    case kInt32: return DType::i32;
    case kInt64: return DType::i64;
    case kBool: return DType::boolean;
    case kUndefined: return make_error("data type is UNDEFINED (0)");
    default:
      if (data_type_name(t) == "UNKNOWN") return make_error("unknown data type ", t);
      return make_error("unsupported data type ", data_type_name(t), " (", t,
                        "); qforge reads FLOAT, UINT8, INT8, INT32, INT64, BOOL");
  }
}

inline int onnx_from_dtype(DType t) {
  switch (t) {
    case DType::f32: return kFloat;
    case DType::u8: return kUint8;
    case DType::i8: return kInt8;
    case DType::i32: return kInt32;
    case DType::i64: return kInt64;
    case DType::boolean: return kBool;
  }
  return kUndefined;
}

constexpr size_t kMaxRank = 64;

// ---------------------------------------------------------------------------------------------------- decoding

struct DecodedTensor {
  std::string name;
  Tensor tensor;
};

inline Result<DecodedTensor> decode_tensor(pb::Reader r) {
  std::vector<int64_t> dims;
  int64_t data_type = 0;
  std::string name;
  const uint8_t* raw = nullptr;
  size_t raw_size = 0;
  bool has_raw = false, external = false, segment = false;
  std::vector<float> floats;
  std::vector<int32_t> int32s;
  std::vector<int64_t> int64s;
  size_t n_double = 0, n_uint64 = 0, n_string = 0;
  int64_t data_location = 0;
  pb::Field f;
  while (!r.done()) {
    QF_RETURN_IF_ERROR(r.next(f));
    switch (f.number) {
      case 1:
        QF_RETURN_IF_ERROR(pb::for_each_varint(f, "dims", [&](uint64_t v) { dims.push_back(int64_t(v)); }));
        if (dims.size() > kMaxRank) return make_error("rank ", dims.size(), " is more than ", kMaxRank);
        break;
      case 2: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kVarint, "data_type")); data_type = f.as_int32(); break;
      case 3: segment = true; break;
      case 4:
        QF_RETURN_IF_ERROR(pb::for_each_fixed32(f, "float_data", [&](uint32_t u) {
          float x;
          std::memcpy(&x, &u, 4);
          floats.push_back(x);
        }));
        break;
      case 5:
        QF_RETURN_IF_ERROR(pb::for_each_varint(f, "int32_data", [&](uint64_t v) { int32s.push_back(int32_t(uint32_t(v))); }));
        break;
      case 6: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "string_data")); ++n_string; break;
      case 7:
        QF_RETURN_IF_ERROR(pb::for_each_varint(f, "int64_data", [&](uint64_t v) { int64s.push_back(int64_t(v)); }));
        break;
      case 8: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "name")); name = f.as_string(); break;
      case 9:
        QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "raw_data"));
        raw = f.data;
        raw_size = f.size;
        has_raw = true;
        break;
      case 10: QF_RETURN_IF_ERROR(pb::for_each_fixed64(f, "double_data", [&](uint64_t) { ++n_double; })); break;
      case 11: QF_RETURN_IF_ERROR(pb::for_each_varint(f, "uint64_data", [&](uint64_t) { ++n_uint64; })); break;
      case 13: external = true; break;
      case 14:
        QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kVarint, "data_location"));
        data_location = f.as_int64();
        break;
      default: break;  // doc_string and unknown fields
    }
  }
  auto fail = [&](const auto&... a) -> Error {
    return make_error("tensor '", name, "': ", a...);
  };
  if (external || data_location == 1)
    return fail("unsupported external data (keep all tensors inside the .onnx file)");
  if (segment) return fail("unsupported segmented tensor");
  auto dtype = dtype_from_onnx(data_type);
  if (!dtype.ok()) return dtype.error().wrap("tensor '" + name + "'");
  auto numel = checked_numel(dims);
  if (!numel.ok()) return numel.error().wrap("tensor '" + name + "'");
  const int64_t n = *numel;
  const size_t esize = dtype_size(*dtype);
  // Exactly one source of values (or none for an empty tensor).
  int sources = int(has_raw) + int(!floats.empty()) + int(!int32s.empty()) + int(!int64s.empty()) +
                int(n_double > 0) + int(n_uint64 > 0) + int(n_string > 0);
  if (sources > 1) return fail("values stored in more than one field (raw_data and typed data)");
  const char* typed_field = !floats.empty() ? "float_data" : !int32s.empty() ? "int32_data"
                          : !int64s.empty() ? "int64_data" : n_double ? "double_data"
                          : n_uint64 ? "uint64_data" : n_string ? "string_data" : nullptr;
  if (typed_field) {
    bool ok = (*dtype == DType::f32 && !floats.empty()) || (*dtype == DType::i64 && !int64s.empty()) ||
              ((*dtype == DType::i32 || *dtype == DType::i8 || *dtype == DType::u8 || *dtype == DType::boolean) &&
               !int32s.empty());
    if (!ok) return fail("values in ", typed_field, ", which cannot hold ", data_type_name(data_type));
  }
  size_t count = has_raw ? raw_size : floats.size() + int32s.size() + int64s.size() + n_double + n_uint64 + n_string;
  if (has_raw) {
    if (uint64_t(raw_size) != uint64_t(n) * esize)
      return fail("raw_data has ", raw_size, " bytes but dims ", shape_str(dims), " of ", data_type_name(data_type),
                  " need ", uint64_t(n) * esize);
  } else if (typed_field) {
    if (uint64_t(count) != uint64_t(n))
      return fail(typed_field, " has ", count, " values but dims ", shape_str(dims), " need ", n);
  } else if (n != 0) {
    return fail("has no data but dims ", shape_str(dims), " need ", n, " values");
  }
  auto t = Tensor::create(*dtype, dims);
  if (!t.ok()) return t.error().wrap("tensor '" + name + "'");
  Tensor& out = *t;
  if (has_raw) {
    if (raw_size) std::memcpy(out.raw(), raw, raw_size);
    if (*dtype == DType::boolean)
      for (int64_t i = 0; i < n; ++i) static_cast<uint8_t*>(out.raw())[i] = static_cast<uint8_t*>(out.raw())[i] != 0;
  } else if (!floats.empty()) {
    std::memcpy(out.raw(), floats.data(), floats.size() * 4);
  } else if (!int64s.empty()) {
    std::memcpy(out.raw(), int64s.data(), int64s.size() * 8);
  } else if (!int32s.empty()) {
    for (int64_t i = 0; i < n; ++i) {
      int32_t v = int32s[size_t(i)];
      switch (*dtype) {
        case DType::i32: out.data<int32_t>()[i] = v; break;
        case DType::i8:
          if (v < -128 || v > 127) return fail("int32_data value ", v, " at index ", i, " is out of range for INT8");
          out.data<int8_t>()[i] = int8_t(v);
          break;
        case DType::u8:
          if (v < 0 || v > 255) return fail("int32_data value ", v, " at index ", i, " is out of range for UINT8");
          out.data<uint8_t>()[i] = uint8_t(v);
          break;
        case DType::boolean: static_cast<uint8_t*>(out.raw())[i] = v != 0; break;
        default: break;
      }
    }
  }
  return DecodedTensor{std::move(name), std::move(out)};
}

struct DecodedValueInfo {
  ValueInfo info;
  std::string unsupported;  // non-empty: the type cannot be represented (sequence, map, DOUBLE, ...)
};

inline Status decode_shape(pb::Reader r, Shape& shape) {
  pb::Field f;
  while (!r.done()) {
    QF_RETURN_IF_ERROR(r.next(f));
    if (f.number != 1) continue;
    QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "dim"));
    if (shape.size() >= kMaxRank) return make_error("rank is more than ", kMaxRank);
    int64_t d = -1;
    pb::Reader dr(f);
    pb::Field g;
    while (!dr.done()) {
      QF_RETURN_IF_ERROR(dr.next(g));
      if (g.number == 1) {
        QF_RETURN_IF_ERROR(pb::expect_wire(g, pb::kVarint, "dim_value"));
        if (g.as_int64() < 0) return make_error("negative dim_value ", g.as_int64(), " at axis ", shape.size());
        d = g.as_int64();
      } else if (g.number == 2) {
        QF_RETURN_IF_ERROR(pb::expect_wire(g, pb::kLen, "dim_param"));
        d = -1;
      }
    }
    shape.push_back(d);
  }
  return Status::Ok();
}

inline Result<DecodedValueInfo> decode_value_info(pb::Reader r) {
  DecodedValueInfo out;
  bool has_type = false;
  pb::Field f;
  std::vector<pb::Field> types;
  while (!r.done()) {
    QF_RETURN_IF_ERROR(r.next(f));
    if (f.number == 1) {
      QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "name"));
      out.info.name = f.as_string();
    } else if (f.number == 2) {
      QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "type"));
      types.push_back(f);
      has_type = true;
    }
  }
  if (!has_type) {
    out.unsupported = "has no type";
    return out;
  }
  // TypeProto: the last occurrence wins (protobuf merge semantics for a singular message are close enough).
  pb::Reader tr(types.back());
  bool tensor = false;
  while (!tr.done()) {
    QF_RETURN_IF_ERROR(tr.next(f));
    switch (f.number) {
      case 1: {  // tensor_type
        QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "tensor_type"));
        tensor = true;
        pb::Reader ttr(f);
        pb::Field g;
        int64_t elem = 0;
        Shape shape;
        while (!ttr.done()) {
          QF_RETURN_IF_ERROR(ttr.next(g));
          if (g.number == 1) {
            QF_RETURN_IF_ERROR(pb::expect_wire(g, pb::kVarint, "elem_type"));
            elem = g.as_int32();
          } else if (g.number == 2) {
            QF_RETURN_IF_ERROR(pb::expect_wire(g, pb::kLen, "shape"));
            shape.clear();
            QF_RETURN_IF_ERROR(decode_shape(pb::Reader(g), shape));
          }
        }
        auto dt = dtype_from_onnx(elem);
        if (!dt.ok()) out.unsupported = dt.error().message;
        else out.info.dtype = *dt;
        out.info.shape = std::move(shape);
        break;
      }
      case 4: out.unsupported = "unsupported type: sequence (qforge handles tensors only)"; break;
      case 5: out.unsupported = "unsupported type: map (qforge handles tensors only)"; break;
      case 8: out.unsupported = "unsupported type: sparse tensor"; break;
      case 9: out.unsupported = "unsupported type: optional (qforge handles tensors only)"; break;
      default: break;
    }
  }
  if (!tensor && out.unsupported.empty()) out.unsupported = "unsupported type (not a tensor)";
  return out;
}

inline const char* attribute_type_name(int64_t t) {
  switch (t) {
    case 0: return "UNDEFINED";
    case 1: return "FLOAT";
    case 2: return "INT";
    case 3: return "STRING";
    case 4: return "TENSOR";
    case 5: return "GRAPH";
    case 6: return "FLOATS";
    case 7: return "INTS";
    case 8: return "STRINGS";
    case 9: return "TENSORS";
    case 10: return "GRAPHS";
    case 11: return "SPARSE_TENSOR";
    case 12: return "SPARSE_TENSORS";
    case 13: return "TYPE_PROTO";
    case 14: return "TYPE_PROTOS";
  }
  return "unknown";
}

// Decodes an AttributeProto into (name, Attribute).
inline Result<std::pair<std::string, Attribute>> decode_attribute(pb::Reader r) {
  std::string name;
  int64_t type = 0;
  Attribute a;
  bool has_f = false, has_i = false, has_s = false, has_t = false, has_g = false, has_other = false;
  bool has_floats = false, has_ints = false, has_strings = false, has_ref = false;
  std::vector<pb::Field> tensor_fields;
  pb::Field f;
  while (!r.done()) {
    QF_RETURN_IF_ERROR(r.next(f));
    switch (f.number) {
      case 1: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "name")); name = f.as_string(); break;
      case 20: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kVarint, "type")); type = f.as_int32(); break;
      case 2: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kFixed32, "f")); a.f = f.as_float(); has_f = true; break;
      case 3: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kVarint, "i")); a.i = f.as_int64(); has_i = true; break;
      case 4: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "s")); a.s = f.as_string(); has_s = true; break;
      case 5: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "t")); tensor_fields.push_back(f); has_t = true; break;
      case 6: case 11: has_g = true; break;
      case 7:
        QF_RETURN_IF_ERROR(pb::for_each_fixed32(f, "floats", [&](uint32_t u) {
          float x;
          std::memcpy(&x, &u, 4);
          a.floats.push_back(x);
        }));
        has_floats = true;
        break;
      case 8:
        QF_RETURN_IF_ERROR(pb::for_each_varint(f, "ints", [&](uint64_t v) { a.ints.push_back(int64_t(v)); }));
        has_ints = true;
        break;
      case 9:
        QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "strings"));
        a.strings.push_back(f.as_string());
        has_strings = true;
        break;
      case 10: case 14: case 15: case 22: case 23: has_other = true; break;
      case 21: has_ref = true; break;
      default: break;
    }
  }
  auto where = "attribute '" + name + "'";
  if (has_ref) return make_error(where, ": unsupported reference attribute (ref_attr_name, used inside functions)");
  if (type == 0) {  // old files: infer from the field that is set
    type = has_f ? 1 : has_i ? 2 : has_s ? 3 : has_t ? 4 : has_g ? 5 : has_floats ? 6 : has_ints ? 7
         : has_strings ? 8 : has_other ? 9 : 0;
    if (type == 0) return make_error(where, ": no type and no value");
  }
  switch (type) {
    case 1: a.kind = Attribute::Kind::Float; break;
    case 2: a.kind = Attribute::Kind::Int; break;
    case 3: a.kind = Attribute::Kind::String; break;
    case 4: {
      a.kind = Attribute::Kind::Tensor;
      if (tensor_fields.empty()) return make_error(where, ": TENSOR attribute without a tensor");
      auto t = decode_tensor(pb::Reader(tensor_fields.back()));
      if (!t.ok()) return t.error().wrap(where);
      a.t = std::move(t->tensor);
      break;
    }
    case 6: a.kind = Attribute::Kind::Floats; break;
    case 7: a.kind = Attribute::Kind::Ints; break;
    case 8: a.kind = Attribute::Kind::Strings; break;
    case 5: case 10:
      return make_error(where, ": unsupported attribute type ", attribute_type_name(type),
                        " (subgraphs: If/Loop/Scan are not supported)");
    default:
      return make_error(where, ": unsupported attribute type ", attribute_type_name(type), " (", type, ")");
  }
  return std::make_pair(std::move(name), std::move(a));
}

inline std::string node_where(const Node& n, size_t index) {
  std::string s = "node #" + std::to_string(index);
  if (!n.name.empty()) s += " '" + n.name + "'";
  if (!n.op_type.empty()) s += " (" + n.op_type + ")";
  return s;
}

inline Result<Node> decode_node(pb::Reader r, size_t index) {
  Node n;
  std::vector<pb::Field> attrs;
  pb::Field f;
  while (!r.done()) {
    QF_RETURN_IF_ERROR(r.next(f));
    switch (f.number) {
      case 1: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "input")); n.inputs.push_back(f.as_string()); break;
      case 2: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "output")); n.outputs.push_back(f.as_string()); break;
      case 3: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "name")); n.name = f.as_string(); break;
      case 4: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "op_type")); n.op_type = f.as_string(); break;
      case 7: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "domain")); n.domain = f.as_string(); break;
      case 5: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "attribute")); attrs.push_back(f); break;
      default: break;
    }
  }
  if (n.domain == "ai.onnx") n.domain.clear();
  auto where = node_where(n, index);
  if (n.op_type.empty()) return make_error(where, ": missing op_type");
  for (auto& af : attrs) {
    auto a = decode_attribute(pb::Reader(af));
    if (!a.ok()) return a.error().wrap(where);
    if (a->first.empty()) return make_error(where, ": attribute without a name");
    if (!n.attrs.emplace(a->first, std::move(a->second)).second)
      return make_error(where, ": attribute '", a->first, "' appears twice");
  }
  return n;
}

inline Status decode_graph(pb::Reader r, Graph& g) {
  std::vector<pb::Field> nodes, inits, inputs, outputs, value_infos;
  pb::Field f;
  while (!r.done()) {
    QF_RETURN_IF_ERROR(r.next(f));
    switch (f.number) {
      case 1: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "node")); nodes.push_back(f); break;
      case 2: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "name")); g.name = f.as_string(); break;
      case 5: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "initializer")); inits.push_back(f); break;
      case 11: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "input")); inputs.push_back(f); break;
      case 12: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "output")); outputs.push_back(f); break;
      case 13: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "value_info")); value_infos.push_back(f); break;
      case 15: return make_error("unsupported sparse_initializer (at byte ", f.offset, ")");
      default: break;
    }
  }
  for (size_t k = 0; k < inits.size(); ++k) {
    auto t = decode_tensor(pb::Reader(inits[k]));
    if (!t.ok()) return t.error().wrap("initializer #" + std::to_string(k));
    if (t->name.empty()) return make_error("initializer #", k, " has no name");
    if (!g.initializers.emplace(t->name, std::move(t->tensor)).second)
      return make_error("initializer '", t->name, "' appears twice");
  }
  std::set<std::string> seen_inputs;
  for (auto& fi : inputs) {
    auto vi = decode_value_info(pb::Reader(fi));
    if (!vi.ok()) return vi.error().wrap("graph input");
    const std::string& name = vi->info.name;
    if (name.empty()) return make_error("graph input without a name");
    if (!seen_inputs.insert(name).second) return make_error("graph input '", name, "' appears twice");
    if (g.initializers.count(name)) continue;  // IR < 4: initializers are listed as inputs too
    if (!vi->unsupported.empty()) return make_error("graph input '", name, "': ", vi->unsupported);
    g.inputs.push_back(std::move(vi->info));
  }
  std::set<std::string> seen_outputs;
  for (auto& fo : outputs) {
    auto vi = decode_value_info(pb::Reader(fo));
    if (!vi.ok()) return vi.error().wrap("graph output");
    const std::string& name = vi->info.name;
    if (name.empty()) return make_error("graph output without a name");
    if (!seen_outputs.insert(name).second) return make_error("graph output '", name, "' appears twice");
    if (!vi->unsupported.empty()) return make_error("graph output '", name, "': ", vi->unsupported);
    g.outputs.push_back(std::move(vi->info));
  }
  for (auto& fv : value_infos) {  // checked for well-formedness, not kept
    auto vi = decode_value_info(pb::Reader(fv));
    if (!vi.ok()) return vi.error().wrap("value_info");
  }
  g.nodes.reserve(nodes.size());
  for (size_t k = 0; k < nodes.size(); ++k) {
    QF_ASSIGN_OR_RETURN(Node n, decode_node(pb::Reader(nodes[k]), k));
    g.nodes.push_back(std::move(n));
  }
  return Status::Ok();
}

inline Status decode_string_pair(pb::Reader r, std::string& key, std::string& value) {
  pb::Field f;
  while (!r.done()) {
    QF_RETURN_IF_ERROR(r.next(f));
    if (f.number == 1) { QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "key")); key = f.as_string(); }
    if (f.number == 2) { QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "value")); value = f.as_string(); }
  }
  return Status::Ok();
}

inline Result<Graph> decode_model(const uint8_t* data, size_t n) {
  pb::Reader r(data, n);
  Graph g;
  g.opset = 1;  // ONNX: no default-domain import means opset 1
  bool has_graph = false;
  pb::Field graph_field;
  pb::Field f;
  while (!r.done()) {
    QF_RETURN_IF_ERROR(r.next(f));
    switch (f.number) {
      case 1: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kVarint, "ir_version")); break;
      case 2: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "producer_name")); g.producer = f.as_string(); break;
      case 7: QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "graph")); graph_field = f; has_graph = true; break;
      case 8: {
        QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "opset_import"));
        pb::Reader o(f);
        pb::Field g2;
        std::string domain;
        int64_t version = 0;
        while (!o.done()) {
          QF_RETURN_IF_ERROR(o.next(g2));
          if (g2.number == 1) { QF_RETURN_IF_ERROR(pb::expect_wire(g2, pb::kLen, "domain")); domain = g2.as_string(); }
          if (g2.number == 2) { QF_RETURN_IF_ERROR(pb::expect_wire(g2, pb::kVarint, "version")); version = g2.as_int64(); }
        }
        if (domain.empty() || domain == "ai.onnx") g.opset = version;
        break;
      }
      case 14: {
        QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "metadata_props"));
        std::string k, v;
        QF_RETURN_IF_ERROR(decode_string_pair(pb::Reader(f), k, v));
        g.metadata[k] = v;
        break;
      }
      case 25:
        QF_RETURN_IF_ERROR(pb::expect_wire(f, pb::kLen, "functions"));
        return make_error("unsupported model-local functions (at byte ", f.offset, ")");
      default: break;
    }
  }
  if (!has_graph) return make_error("model has no graph");
  QF_RETURN_IF_ERROR(decode_graph(pb::Reader(graph_field), g));
  QF_RETURN_IF_ERROR(g.validate_and_sort());
  return g;
}

// ---------------------------------------------------------------------------------------------------- encoding

inline pb::Writer encode_tensor(const Tensor& t, const std::string& name) {
  pb::Writer w;
  for (auto d : t.shape()) w.int64_field(1, d);
  w.int32_field(2, onnx_from_dtype(t.dtype()));
  if (!name.empty()) w.string_field(8, name);
  w.bytes_field(9, t.raw(), t.nbytes());
  return w;
}

inline pb::Writer encode_value_info(const ValueInfo& v) {
  pb::Writer shape;
  for (auto d : v.shape) {
    pb::Writer dim;
    if (d >= 0) dim.int64_field(1, d);
    shape.message_field(1, dim);
  }
  pb::Writer tensor_type;
  tensor_type.int32_field(1, onnx_from_dtype(v.dtype));
  tensor_type.message_field(2, shape);
  pb::Writer type;
  type.message_field(1, tensor_type);
  pb::Writer w;
  w.string_field(1, v.name);
  w.message_field(2, type);
  return w;
}

inline Result<pb::Writer> encode_attribute(const std::string& name, const Attribute& a) {
  pb::Writer w;
  w.string_field(1, name);
  switch (a.kind) {
    case Attribute::Kind::Float: w.int32_field(20, 1); w.float_field(2, a.f); break;
    case Attribute::Kind::Int: w.int32_field(20, 2); w.int64_field(3, a.i); break;
    case Attribute::Kind::String: w.int32_field(20, 3); w.string_field(4, a.s); break;
    case Attribute::Kind::Tensor:
      if (!a.t.defined()) return make_error("attribute '", name, "': TENSOR attribute has no tensor");
      w.int32_field(20, 4);
      w.message_field(5, encode_tensor(a.t, ""));
      break;
    case Attribute::Kind::Floats: w.int32_field(20, 6); w.packed_float_field(7, a.floats); break;
    case Attribute::Kind::Ints: w.int32_field(20, 7); w.packed_int64_field(8, a.ints); break;
    case Attribute::Kind::Strings:
      w.int32_field(20, 8);
      for (auto& s : a.strings) w.string_field(9, s);
      break;
  }
  return w;
}

inline int64_t ir_version_for_opset(int64_t opset) {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  return 8;
}

inline Result<std::vector<uint8_t>> encode_model(const Graph& g) {
  pb::Writer graph;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    if (n.op_type.empty()) return make_error(node_where(n, k), ": missing op_type");
    pb::Writer node;
    for (auto& s : n.inputs) node.string_field(1, s);
    for (auto& s : n.outputs) node.string_field(2, s);
    if (!n.name.empty()) node.string_field(3, n.name);
    node.string_field(4, n.op_type);
    for (auto& kv : n.attrs) {
      auto a = encode_attribute(kv.first, kv.second);
      if (!a.ok()) return a.error().wrap(node_where(n, k));
      node.message_field(5, *a);
    }
    if (!n.domain.empty()) node.string_field(7, n.domain);
    graph.message_field(1, node);
  }
  graph.string_field(2, g.name.empty() ? std::string("qforge") : g.name);
  for (auto& kv : g.initializers) {
    if (!kv.second.defined()) return make_error("initializer '", kv.first, "' has no tensor");
    graph.message_field(5, encode_tensor(kv.second, kv.first));
  }
  for (auto& v : g.inputs) graph.message_field(11, encode_value_info(v));
  for (auto& v : g.outputs) graph.message_field(12, encode_value_info(v));

  // The graph goes last, so a file cut anywhere before its end is missing the graph or truncates it: every
  // strict prefix of what we write fails to load instead of loading as a smaller valid model.
  pb::Writer model;
  model.int64_field(1, ir_version_for_opset(g.opset));
  if (!g.producer.empty()) model.string_field(2, g.producer);
  {
    pb::Writer op;
    op.string_field(1, "");
    op.int64_field(2, g.opset);
    model.message_field(8, op);
  }
  std::set<std::string> domains;
  for (auto& n : g.nodes) if (!n.domain.empty()) domains.insert(n.domain);
  for (auto& d : domains) {
    pb::Writer op;
    op.string_field(1, d);
    op.int64_field(2, 1);
    model.message_field(8, op);
  }
  for (auto& kv : g.metadata) {
    pb::Writer p;
    p.string_field(1, kv.first);
    p.string_field(2, kv.second);
    model.message_field(14, p);
  }
  model.message_field(7, graph);
  return std::move(model.bytes());
}

}  // namespace onnx_detail

// Parses a serialized ModelProto held in memory; errors are prefixed with `name`.
inline Result<Graph> parse_onnx(const uint8_t* data, size_t n, const std::string& name) {
  auto g = onnx_detail::decode_model(data, n);
  if (!g.ok()) return g.error().wrap(name);
  return g;
}

// Loads an .onnx file: decodes, validates and topologically sorts the graph. Errors are prefixed with the path.
inline Result<Graph> load_onnx(const std::string& path) {
  auto bytes = io::read_file_bytes(path, uint64_t(1) << 32);
  if (!bytes.ok()) return bytes.error();
  return parse_onnx(bytes->data(), bytes->size(), path);
}

// Parses a serialized TensorProto held in memory.
inline Result<Tensor> parse_tensor_proto(const uint8_t* data, size_t n, const std::string& name) {
  auto t = onnx_detail::decode_tensor(pb::Reader(data, n));
  if (!t.ok()) return t.error().wrap(name);
  return std::move(t->tensor);
}

// Loads a serialized TensorProto (.pb), as in the ONNX test data (test_data_set_N/input_K.pb).
inline Result<Tensor> load_tensor_proto(const std::string& path) {
  auto bytes = io::read_file_bytes(path, uint64_t(1) << 32);
  if (!bytes.ok()) return bytes.error();
  return parse_tensor_proto(bytes->data(), bytes->size(), path);
}

// Serialises a Graph as an ONNX ModelProto.
inline Result<std::vector<uint8_t>> serialize_onnx(const Graph& g) { return onnx_detail::encode_model(g); }

// Writes a Graph as .onnx via temp file + rename. Errors are prefixed with the path.
inline Status save_onnx(const std::string& path, const Graph& g) {
  auto bytes = onnx_detail::encode_model(g);
  if (!bytes.ok()) return bytes.error().wrap(path);
  return io::write_file_atomic(path, bytes->data(), bytes->size());
}

// Writes a tensor as a serialized TensorProto (.pb) with the given name, via temp file + rename.
inline Status save_tensor_proto(const std::string& path, const Tensor& t, const std::string& name = "") {
  if (!t.defined()) return make_error(path, ": tensor has no storage");
  auto w = onnx_detail::encode_tensor(t, name);
  return io::write_file_atomic(path, w.bytes().data(), w.size());
}

}  // namespace qforge

// The same API under qforge::io, for callers that spell it io::load_onnx.
namespace qforge::io {
using qforge::load_onnx;
using qforge::load_tensor_proto;
using qforge::parse_onnx;
using qforge::parse_tensor_proto;
using qforge::save_onnx;
using qforge::save_tensor_proto;
using qforge::serialize_onnx;
}  // namespace qforge::io
