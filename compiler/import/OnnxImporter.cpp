// ONNX -> nnc.Model, one function per ONNX op.
//
// 1. Parse the ModelProto (protobuf classes of libonnx-dev; ONNX's checker and shape inference
//    stop at opset 17, so the importer keeps its own op table and shapes).
// 2. Graph inputs get static shapes: a symbolic leading dimension becomes --batch-size.
// 3. Initializers are read (raw, typed or external data). Float ones of rank >= 1 become
//    parameters with stored values when a node first reads them; the rest are constants.
// 4. Nodes, in file order (ONNX requires topological order), map to nn nodes. Every value's
//    shape is tracked, and values known at import time (Constant, integer initializers, the
//    Shape/Gather/Unsqueeze/Concat chains exporters emit around Reshape) are folded instead of
//    becoming nodes, so every nn.reshape gets a static target.
// 5. Optionally a loss over the first output, reading a new labels input.
#include "compiler/import/OnnxImporter.h"

#include "proto/model.pb.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <google/protobuf/stubs/logging.h>
#include "llvm/Support/Path.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

namespace nnc {
namespace {

using Shape = std::vector<int64_t>;

/// What the importer knows about one ONNX tensor.
struct Value {
  DType dtype = DTYPE_UNSET;
  Shape shape;
  /// The values when known at import time (constants, initializers, folded shape arithmetic).
  std::optional<std::vector<double>> constant;
  bool initializer = false; // float initializers become parameters when a node reads them
  std::string origin;       // the ONNX node or initializer it comes from, for names
  std::string name;         // its nnc tensor once materialized; empty before
};

/// Float initializers of rank >= 1 are the model's weights: trained, so never folded.
bool isWeight(const Value &v) { return v.initializer && v.dtype == F32 && !v.shape.empty(); }

/// Whether `v` is known at import and may be folded into what reads it.
bool folds(const Value &v) { return v.constant && !isWeight(v); }

int64_t numElements(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string shapeString(const Shape &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

std::string listString(const std::vector<int64_t> &values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

/// ONNX dtype -> nnc dtype; DTYPE_UNSET for the ones nnc has no counterpart for.
DType convertDType(int onnxType) {
  switch (onnxType) {
  case onnx::TensorProto::FLOAT: return F32;
  case onnx::TensorProto::INT64: return I64;
  case onnx::TensorProto::INT32: return I32;
  default: return DTYPE_UNSET;
  }
}

std::string dtypeError(int onnxType, const std::string &what) {
  if (!onnx::TensorProto::DataType_IsValid(onnxType) || onnxType == 0)
    return what + " has an unknown ONNX dtype " + std::to_string(onnxType);
  return what + " has ONNX dtype " + onnx::TensorProto::DataType_Name(onnxType) +
         ", which nnc does not support (float32, int32 and int64 are)";
}

class Importer;
using OpFn = bool (Importer::*)(const onnx::NodeProto &);

struct OpEntry {
  OpFn fn;
  const char *becomes;
};

const std::map<std::string, OpEntry> &opTable();

class Importer {
public:
  Importer(const onnx::ModelProto &proto, const OnnxImportOptions &options, std::string dir,
           Model &model)
      : proto(proto), options(options), dir(std::move(dir)), model(model) {}

  bool run();
  std::string error;

  // One function per ONNX op (see opTable()).
  bool importGemm(const onnx::NodeProto &n);
  bool importMatMul(const onnx::NodeProto &n);
  bool importBinary(const onnx::NodeProto &n);
  bool importUnary(const onnx::NodeProto &n);
  bool importGelu(const onnx::NodeProto &n);
  bool importErf(const onnx::NodeProto &n);
  bool importSoftmax(const onnx::NodeProto &n);
  bool importConv(const onnx::NodeProto &n);
  bool importPool(const onnx::NodeProto &n);
  bool importFlatten(const onnx::NodeProto &n);
  bool importReshape(const onnx::NodeProto &n);
  bool importTranspose(const onnx::NodeProto &n);
  bool importConcat(const onnx::NodeProto &n);
  bool importDropout(const onnx::NodeProto &n);
  bool importIdentity(const onnx::NodeProto &n);
  bool importConstant(const onnx::NodeProto &n);
  bool importShape(const onnx::NodeProto &n);
  bool importGather(const onnx::NodeProto &n);
  bool importUnsqueeze(const onnx::NodeProto &n);
  bool importSqueeze(const onnx::NodeProto &n);
  bool importCast(const onnx::NodeProto &n);
  bool importPad(const onnx::NodeProto &n);

private:
  // Failing: one line, naming the current node when there is one.
  bool fail(const std::string &message) {
    error = (nodeName.empty() ? "" : "node '" + nodeName + "': ") + message;
    return false;
  }
  /// "ONNX op 'Conv' (opset 17)": how messages name the op.
  std::string opName(const onnx::NodeProto &n) {
    return "ONNX op '" + n.op_type() + "' (opset " + std::to_string(opset) + ")";
  }
  bool unsupportedAttr(const onnx::NodeProto &n, const std::string &what) {
    return fail(opName(n) + ": " + what + " is not supported");
  }

  bool readTensor(const onnx::TensorProto &tensor, const std::string &what, Value &value);
  bool declareInput(const onnx::ValueInfoProto &input);
  bool matchGeluPatterns();
  bool addLoss();

  // Attributes.
  const onnx::AttributeProto *attr(const onnx::NodeProto &n, const std::string &name);
  bool checkAttrs(const onnx::NodeProto &n, std::initializer_list<const char *> known);
  int64_t intAttr(const onnx::NodeProto &n, const std::string &name, int64_t fallback);
  double floatAttr(const onnx::NodeProto &n, const std::string &name, double fallback);
  std::optional<std::vector<int64_t>> intsAttr(const onnx::NodeProto &n, const std::string &name);

  // Values.
  const Value *input(const onnx::NodeProto &n, int i, bool optional = false);
  std::optional<std::vector<int64_t>> constInts(const onnx::NodeProto &n, int i,
                                                const char *what);
  std::string use(const Value &value);
  std::string emit(const std::string &op, const std::vector<std::string> &inputs,
                   std::map<std::string, Attribute> attrs, const std::string &output);
  void define(const onnx::NodeProto &n, int i, DType dtype, Shape shape, std::string name);
  void defineConst(const onnx::NodeProto &n, DType dtype, Shape shape, std::vector<double> v);
  bool normalizeAxis(int64_t &axis, int64_t rank, const char *what);

  const onnx::ModelProto &proto;
  const OnnxImportOptions &options;
  std::string dir;
  Model &model;
  int64_t opset = 0;
  int64_t fileBatch = 0; // the graph inputs' static leading dimension in the file, if any
  int64_t batch = 0;     // the leading dimension nnc compiles for
  std::string nodeName;  // the current ONNX node's (nnc) name
  llvm::StringMap<Value> values;
  std::set<std::string> nodeNames;
  // GELU written out (x * 0.5 * (1 + erf(x / sqrt 2)), as the TorchScript exporter does):
  // the nodes folded into one nn.gelu, and the node that becomes it -> x.
  std::set<const onnx::NodeProto *> folded;
  std::map<const onnx::NodeProto *, std::string> geluInput;
};

//===----------------------------------------------------------------------===//
// Tensors, attributes and values
//===----------------------------------------------------------------------===//

bool Importer::readTensor(const onnx::TensorProto &t, const std::string &what, Value &value) {
  value.dtype = convertDType(t.data_type());
  if (value.dtype == DTYPE_UNSET)
    return fail(dtypeError(t.data_type(), what));
  value.shape.assign(t.dims().begin(), t.dims().end());
  for (int64_t d : value.shape)
    if (d < 0)
      return fail(what + " has a negative dimension " + std::to_string(d));
  int64_t count = numElements(value.shape);
  size_t width = value.dtype == I64 ? 8 : 4;
  std::vector<double> v;
  std::string bytes;
  const std::string *raw = t.has_raw_data() ? &t.raw_data() : nullptr;
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    // external_data: location (relative to the model's directory), offset, length.
    std::string location;
    int64_t offset = 0, length = -1;
    for (const onnx::StringStringEntryProto &entry : t.external_data()) {
      if (entry.key() == "location")
        location = entry.value();
      else if (entry.key() == "offset" || entry.key() == "length")
        (entry.key() == "offset" ? offset : length) = std::atoll(entry.value().c_str());
    }
    if (location.empty() || llvm::sys::path::is_absolute(location) ||
        llvm::StringRef(location).contains(".."))
      return fail(what + ": external data location '" + location +
                  "' must be a file name relative to the model's directory");
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, location);
    auto buffer = llvm::MemoryBuffer::getFile(path, false, false);
    if (!buffer)
      return fail(what + ": cannot read external data file '" + std::string(path) +
                  "': " + buffer.getError().message());
    int64_t size = static_cast<int64_t>((*buffer)->getBufferSize());
    if (length < 0)
      length = size - offset;
    if (offset < 0 || offset + length > size)
      return fail(what + ": external data [" + std::to_string(offset) + ", " +
                  std::to_string(offset + length) + ") lies outside '" + location + "' (" +
                  std::to_string(size) + " bytes)");
    bytes.assign((*buffer)->getBufferStart() + offset, length);
    raw = &bytes;
  }
  if (raw) {
    if (raw->size() != count * width)
      return fail(what + " holds " + std::to_string(raw->size()) + " bytes, its shape " +
                  shapeString(value.shape) + " needs " + std::to_string(count * width));
    for (int64_t i = 0; i < count; ++i) {
      const char *p = raw->data() + i * width; // ONNX raw data is little-endian, as is x86
      if (value.dtype == F32) {
        float f;
        std::memcpy(&f, p, 4);
        v.push_back(f);
      } else if (value.dtype == I32) {
        int32_t x;
        std::memcpy(&x, p, 4);
        v.push_back(x);
      } else {
        int64_t x;
        std::memcpy(&x, p, 8);
        v.push_back(static_cast<double>(x));
      }
    }
  } else if (value.dtype == F32) {
    v.assign(t.float_data().begin(), t.float_data().end());
  } else if (value.dtype == I32) {
    v.assign(t.int32_data().begin(), t.int32_data().end());
  } else {
    for (int64_t x : t.int64_data())
      v.push_back(static_cast<double>(x));
  }
  if (static_cast<int64_t>(v.size()) != count)
    return fail(what + " holds " + std::to_string(v.size()) + " values, its shape " +
                shapeString(value.shape) + " needs " + std::to_string(count));
  value.constant = std::move(v);
  return true;
}

const onnx::AttributeProto *Importer::attr(const onnx::NodeProto &n, const std::string &name) {
  for (const onnx::AttributeProto &a : n.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

bool Importer::checkAttrs(const onnx::NodeProto &n, std::initializer_list<const char *> known) {
  for (const onnx::AttributeProto &a : n.attribute())
    if (std::none_of(known.begin(), known.end(), [&](const char *k) { return a.name() == k; }))
      return unsupportedAttr(n, "attribute '" + a.name() + "'");
  return true;
}

int64_t Importer::intAttr(const onnx::NodeProto &n, const std::string &name, int64_t fallback) {
  const onnx::AttributeProto *a = attr(n, name);
  return a ? a->i() : fallback;
}

double Importer::floatAttr(const onnx::NodeProto &n, const std::string &name, double fallback) {
  const onnx::AttributeProto *a = attr(n, name);
  return a ? a->f() : fallback;
}

std::optional<std::vector<int64_t>> Importer::intsAttr(const onnx::NodeProto &n,
                                                       const std::string &name) {
  const onnx::AttributeProto *a = attr(n, name);
  if (!a)
    return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

const Value *Importer::input(const onnx::NodeProto &n, int i, bool optional) {
  if (i >= n.input_size() || n.input(i).empty()) {
    if (!optional)
      fail(opName(n) + ": input " + std::to_string(i) + " is missing");
    return nullptr;
  }
  auto it = values.find(n.input(i));
  if (it == values.end()) {
    fail("input '" + n.input(i) + "' is not a graph input, initializer or earlier node's output");
    return nullptr;
  }
  return &it->second;
}

std::optional<std::vector<int64_t>> Importer::constInts(const onnx::NodeProto &n, int i,
                                                        const char *what) {
  const Value *v = input(n, i);
  if (!v)
    return std::nullopt;
  if (!v->constant) {
    fail(opName(n) + ": " + what + " ('" + n.input(i) +
         "') is computed at run time; nnc needs it known at import (a constant)");
    return std::nullopt;
  }
  std::vector<int64_t> ints;
  for (double d : *v->constant)
    ints.push_back(static_cast<int64_t>(d));
  return ints;
}

/// The nnc tensor for `value`, creating it on first use: a parameter for a float initializer of
/// rank >= 1, else a constant node.
std::string Importer::use(const Value &value) {
  if (!value.name.empty())
    return value.name;
  Value &v = const_cast<Value &>(value);
  v.name = v.origin;
  TensorValue stored;
  stored.mutable_type()->set_dtype(v.dtype);
  for (int64_t d : v.shape)
    stored.mutable_type()->add_shape(d);
  for (double d : *v.constant)
    stored.add_values(static_cast<float>(d));
  if (isWeight(v)) {
    Parameter *param = model.add_parameters();
    param->set_name(v.name);
    *param->mutable_type() = stored.type();
    *param->mutable_stored() = std::move(stored);
    return v.name;
  }
  // Constant nodes are named after their tensor, which is unique in the ONNX graph.
  Node *node = model.add_nodes();
  node->set_name(v.name);
  node->set_op("constant");
  node->add_outputs(v.name);
  *(*node->mutable_attrs())["value"].mutable_tensor() = std::move(stored);
  return v.name;
}

/// Adds an nn node named after the current ONNX node (with `/output` for the extra nodes one
/// ONNX node becomes) and returns its output tensor.
std::string Importer::emit(const std::string &op, const std::vector<std::string> &inputs,
                           std::map<std::string, Attribute> attrs, const std::string &output) {
  // The first node keeps the ONNX node's name, further ones (Gemm's transpose or scaling) add
  // their op to it.
  std::string name = nodeName;
  for (int k = 1; !nodeNames.insert(name).second; ++k)
    name = nodeName + "/" + op + (k > 1 ? std::to_string(k) : "");
  Node *node = model.add_nodes();
  node->set_name(name);
  node->set_op(op);
  for (const std::string &in : inputs)
    node->add_inputs(in);
  node->add_outputs(output);
  for (auto &[name, a] : attrs)
    (*node->mutable_attrs())[name] = a;
  return output;
}

void Importer::define(const onnx::NodeProto &n, int i, DType dtype, Shape shape, std::string name) {
  Value &v = values[n.output(i)];
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.origin = n.output(i);
  v.name = std::move(name);
}

void Importer::defineConst(const onnx::NodeProto &n, DType dtype, Shape shape,
                           std::vector<double> constant) {
  Value &v = values[n.output(0)];
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.constant = std::move(constant);
  v.origin = n.output(0);
}

bool Importer::normalizeAxis(int64_t &axis, int64_t rank, const char *what) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return fail(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                std::to_string(rank));
  if (axis < 0)
    axis += rank;
  return true;
}

Attribute intAttribute(int64_t i) {
  Attribute a;
  a.set_i(i);
  return a;
}
Attribute floatAttribute(double f) {
  Attribute a;
  a.set_f(f);
  return a;
}
Attribute intsAttribute(const std::vector<int64_t> &values) {
  Attribute a;
  for (int64_t v : values)
    a.mutable_ints()->add_values(v);
  return a;
}

/// NumPy broadcasting of two shapes; nullopt when they do not broadcast.
std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b) {
  Shape out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t x = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    int64_t y = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    if (x != y && x != 1 && y != 1)
      return std::nullopt;
    out[i] = std::max(x, y);
  }
  return out;
}

//===----------------------------------------------------------------------===//
// The ops
//===----------------------------------------------------------------------===//

/// Gemm: alpha * A' B' + beta * C. With transB (PyTorch's nn.Linear) it is nn.linear, whose
/// weight is (out, in); otherwise nn.matmul. alpha and beta other than 1 become multiplies.
bool Importer::importGemm(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {"alpha", "beta", "transA", "transB"}))
    return false;
  const Value *a = input(n, 0), *b = a ? input(n, 1) : nullptr;
  if (!b)
    return false;
  const Value *c = input(n, 2, /*optional=*/true);
  if (!error.empty())
    return false;
  double alpha = floatAttr(n, "alpha", 1), beta = floatAttr(n, "beta", 1);
  bool transA = intAttr(n, "transA", 0), transB = intAttr(n, "transB", 0);
  if (a->shape.size() != 2 || b->shape.size() != 2)
    return fail(opName(n) + ": operands must be matrices, got " + shapeString(a->shape) +
                " and " + shapeString(b->shape));
  int64_t m = a->shape[transA], k = a->shape[!transA];
  int64_t kb = b->shape[transB], nOut = b->shape[!transB];
  if (k != kb)
    return fail(opName(n) + ": A" + shapeString(a->shape) + " and B" + shapeString(b->shape) +
                " do not multiply (transA=" + std::to_string(transA) +
                ", transB=" + std::to_string(transB) + ")");
  std::string lhs = use(*a);
  if (transA)
    lhs = emit("transpose", {lhs}, {{"permutation", intsAttribute({1, 0})}}, n.output(0) + "/a_t");
  bool simple = alpha == 1 && (!c || (beta == 1 && c->shape == Shape{nOut}));
  std::string out = simple ? n.output(0) : n.output(0) + "/product";
  std::vector<std::string> operands = {lhs, use(*b)};
  if (simple && c)
    operands.push_back(use(*c));
  out = emit(transB ? "linear" : "matmul", operands, {}, out);
  if (!simple) {
    if (alpha != 1) {
      Value scale{F32, {}, std::vector<double>{alpha}, false, nodeName + "/alpha", ""};
      out = emit("mul", {out, use(scale)}, {}, c ? n.output(0) + "/scaled" : n.output(0));
    }
    if (c) {
      if (!broadcastShapes({m, nOut}, c->shape))
        return fail(opName(n) + ": C" + shapeString(c->shape) + " does not broadcast to " +
                    shapeString({m, nOut}));
      std::string bias = use(*c);
      if (beta != 1) {
        Value scale{F32, {}, std::vector<double>{beta}, false, nodeName + "/beta", ""};
        bias = emit("mul", {bias, use(scale)}, {}, n.output(0) + "/c_scaled");
      }
      out = emit("add", {out, bias}, {}, n.output(0));
    }
  }
  define(n, 0, F32, {m, nOut}, out);
  return true;
}

/// MatMul: nn.matmul, (..., M, K) x (..., K, N) with NumPy batch broadcasting.
bool Importer::importMatMul(const onnx::NodeProto &n) {
  const Value *a = input(n, 0), *b = a ? input(n, 1) : nullptr;
  if (!b || !checkAttrs(n, {}))
    return false;
  if (a->shape.size() < 2 || b->shape.size() < 2)
    return fail(opName(n) + ": a 1-D operand is not supported (shapes " + shapeString(a->shape) +
                " and " + shapeString(b->shape) + ")");
  if (a->shape.back() != b->shape[b->shape.size() - 2])
    return fail(opName(n) + ": " + shapeString(a->shape) + " and " + shapeString(b->shape) +
                " do not multiply");
  Shape batchA(a->shape.begin(), a->shape.end() - 2), batchB(b->shape.begin(), b->shape.end() - 2);
  std::optional<Shape> out = broadcastShapes(batchA, batchB);
  if (!out)
    return fail(opName(n) + ": batch dimensions of " + shapeString(a->shape) + " and " +
                shapeString(b->shape) + " do not broadcast");
  out->push_back(a->shape[a->shape.size() - 2]);
  out->push_back(b->shape.back());
  define(n, 0, a->dtype, *out, emit("matmul", {use(*a), use(*b)}, {}, n.output(0)));
  return true;
}

/// Add/Sub/Mul/Div: the nn op of the same name (NumPy broadcasting); folded when both operands
/// are known at import (shape arithmetic).
bool Importer::importBinary(const onnx::NodeProto &n) {
  const Value *a = input(n, 0), *b = a ? input(n, 1) : nullptr;
  if (!b || !checkAttrs(n, {}))
    return false;
  if (a->dtype != b->dtype)
    return fail(opName(n) + ": operands have different dtypes (" + DType_Name(a->dtype) + ", " +
                DType_Name(b->dtype) + ")");
  std::optional<Shape> shape = broadcastShapes(a->shape, b->shape);
  if (!shape)
    return fail(opName(n) + ": shapes " + shapeString(a->shape) + " and " + shapeString(b->shape) +
                " do not broadcast");
  const std::string &op = n.op_type();
  if (folds(*a) && folds(*b) &&
      (a->constant->size() == 1 || b->constant->size() == 1 || a->shape == b->shape)) {
    std::vector<double> out;
    bool integer = a->dtype != F32;
    for (int64_t i = 0, e = numElements(*shape); i < e; ++i) {
      double x = (*a->constant)[a->constant->size() == 1 ? 0 : i];
      double y = (*b->constant)[b->constant->size() == 1 ? 0 : i];
      double r = op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y;
      out.push_back(integer && op == "Div" ? std::trunc(r) : r);
    }
    defineConst(n, a->dtype, *shape, std::move(out));
    return true;
  }
  std::string nnOp = op == "Add" ? "add" : op == "Sub" ? "sub" : op == "Mul" ? "mul" : "div";
  define(n, 0, a->dtype, *shape, emit(nnOp, {use(*a), use(*b)}, {}, n.output(0)));
  return true;
}

/// Relu, Tanh, Sigmoid: the nn op of the same name.
bool Importer::importUnary(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {}))
    return false;
  std::string op = llvm::StringRef(n.op_type()).lower();
  define(n, 0, x->dtype, x->shape, emit(op, {use(*x)}, {}, n.output(0)));
  return true;
}

/// Gelu (opset 20): nn.gelu, exact or with the tanh approximation. Also the node that ends a
/// written-out GELU (see matchGeluPatterns).
bool Importer::importGelu(const onnx::NodeProto &n) {
  std::map<std::string, Attribute> attrs;
  const Value *x;
  if (auto it = geluInput.find(&n); it != geluInput.end()) {
    auto found = values.find(it->second);
    if (found == values.end())
      return fail("GELU input '" + it->second + "' is not defined before its use");
    x = &found->second;
  } else {
    x = input(n, 0);
    if (!x || !checkAttrs(n, {"approximate"}))
      return false;
    const onnx::AttributeProto *a = attr(n, "approximate");
    if (a && a->s() != "none" && a->s() != "tanh")
      return unsupportedAttr(n, "approximate='" + a->s() + "'");
    if (a && a->s() == "tanh") {
      Attribute s;
      s.set_s("tanh");
      attrs["approximate"] = s;
    }
  }
  define(n, 0, x->dtype, x->shape, emit("gelu", {use(*x)}, attrs, n.output(0)));
  return true;
}

/// Erf: only as part of GELU, which matchGeluPatterns has folded before the nodes are visited.
bool Importer::importErf(const onnx::NodeProto &n) {
  return fail(opName(n) + " is supported only inside GELU, x * 0.5 * (1 + erf(x / sqrt(2))), "
                          "and this one is not (nnc import --list-ops lists what is)");
}

/// Softmax/LogSoftmax: nn.softmax / nn.log_softmax along `axis`. Before opset 13 ONNX flattens
/// the input at `axis` (default 1), which is a softmax along one axis only when it is the last.
bool Importer::importSoftmax(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"axis"}))
    return false;
  int64_t rank = x->shape.size();
  int64_t axis = intAttr(n, "axis", opset >= 13 ? -1 : 1);
  if (!normalizeAxis(axis, rank, "axis"))
    return false;
  if (opset < 13 && axis != rank - 1)
    return unsupportedAttr(n, "axis=" + std::to_string(axis) + " of a rank-" +
                                  std::to_string(rank) + " input (before opset 13 only the last)");
  std::string op = n.op_type() == "Softmax" ? "softmax" : "log_softmax";
  define(n, 0, x->dtype, x->shape, emit(op, {use(*x)}, {{"axis", intAttribute(axis)}}, n.output(0)));
  return true;
}

/// Symmetric 2-D pads from ONNX's [top, left, bottom, right]; nullopt when asymmetric.
std::optional<std::vector<int64_t>> symmetricPads(const std::vector<int64_t> &pads) {
  if (pads.size() != 4 || pads[0] != pads[2] || pads[1] != pads[3])
    return std::nullopt;
  return std::vector<int64_t>{pads[0], pads[1]};
}

/// Conv: nn.conv2d over NCHW (2-D, group 1, explicit or VALID padding).
bool Importer::importConv(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}))
    return false;
  const Value *x = input(n, 0), *w = x ? input(n, 1) : nullptr;
  if (!w)
    return false;
  const Value *b = input(n, 2, /*optional=*/true);
  if (!error.empty())
    return false;
  if (x->shape.size() != 4 || w->shape.size() != 4)
    return unsupportedAttr(n, "a " + std::to_string(x->shape.size() - 2) +
                                  "-D convolution (input " + shapeString(x->shape) + ")");
  if (int64_t group = intAttr(n, "group", 1); group != 1)
    return unsupportedAttr(n, "group=" + std::to_string(group) + " (grouped convolution)");
  if (const onnx::AttributeProto *a = attr(n, "auto_pad"); a && a->s() != "NOTSET" && a->s() != "VALID")
    return unsupportedAttr(n, "auto_pad=" + a->s() + " (export with explicit padding)");
  std::vector<int64_t> strides = intsAttr(n, "strides").value_or(std::vector<int64_t>{1, 1});
  std::vector<int64_t> dilations = intsAttr(n, "dilations").value_or(std::vector<int64_t>{1, 1});
  std::vector<int64_t> rawPads = intsAttr(n, "pads").value_or(std::vector<int64_t>{0, 0, 0, 0});
  std::optional<std::vector<int64_t>> pads = symmetricPads(rawPads);
  if (!pads)
    return unsupportedAttr(n, "asymmetric pads=" + listString(rawPads));
  auto positive = [](const std::vector<int64_t> &v) {
    return v.size() == 2 && v[0] > 0 && v[1] > 0;
  };
  if (!positive(strides) || !positive(dilations))
    return fail(opName(n) + ": strides " + listString(strides) + " and dilations " +
                listString(dilations) + " must be 2 positive numbers each");
  if (x->shape[1] != w->shape[1])
    return fail(opName(n) + ": input " + shapeString(x->shape) + " has " +
                std::to_string(x->shape[1]) + " channels, weight " + shapeString(w->shape) +
                " expects " + std::to_string(w->shape[1]));
  Shape out = {x->shape[0], w->shape[0]};
  for (int i = 0; i < 2; ++i)
    out.push_back((x->shape[2 + i] + 2 * (*pads)[i] - dilations[i] * (w->shape[2 + i] - 1) - 1) /
                      strides[i] + 1);
  std::vector<std::string> operands = {use(*x), use(*w)};
  if (b)
    operands.push_back(use(*b));
  define(n, 0, x->dtype, out,
         emit("conv2d", operands,
              {{"stride", intsAttribute(strides)}, {"padding", intsAttribute(*pads)},
               {"dilation", intsAttribute(dilations)}},
              n.output(0)));
  return true;
}

/// MaxPool/AveragePool: nn.max_pool2d / nn.avg_pool2d (2-D, floor rounding; average pooling
/// counts padding as PyTorch's default does).
bool Importer::importPool(const onnx::NodeProto &n) {
  bool isMax = n.op_type() == "MaxPool";
  if (!checkAttrs(n, {"auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape",
                      "pads", "storage_order", "strides"}))
    return false;
  const Value *x = input(n, 0);
  if (!x)
    return false;
  if (n.output_size() > 1 && !n.output(1).empty())
    return unsupportedAttr(n, "the Indices output");
  std::optional<std::vector<int64_t>> kernel = intsAttr(n, "kernel_shape");
  if (x->shape.size() != 4 || !kernel || kernel->size() != 2)
    return unsupportedAttr(n, "pooling other than 2-D (input " + shapeString(x->shape) + ")");
  if (int64_t ceil = intAttr(n, "ceil_mode", 0))
    return unsupportedAttr(n, "ceil_mode=" + std::to_string(ceil));
  if (const onnx::AttributeProto *a = attr(n, "auto_pad"); a && a->s() != "NOTSET" && a->s() != "VALID")
    return unsupportedAttr(n, "auto_pad=" + a->s() + " (export with explicit padding)");
  std::vector<int64_t> dilations = intsAttr(n, "dilations").value_or(std::vector<int64_t>{1, 1});
  if (dilations != std::vector<int64_t>{1, 1})
    return unsupportedAttr(n, "dilations=" + listString(dilations));
  if (int64_t order = intAttr(n, "storage_order", 0))
    return unsupportedAttr(n, "storage_order=" + std::to_string(order));
  std::vector<int64_t> strides = intsAttr(n, "strides").value_or(std::vector<int64_t>{1, 1});
  std::vector<int64_t> rawPads = intsAttr(n, "pads").value_or(std::vector<int64_t>{0, 0, 0, 0});
  std::optional<std::vector<int64_t>> pads = symmetricPads(rawPads);
  if (!pads)
    return unsupportedAttr(n, "asymmetric pads=" + listString(rawPads));
  if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1 || (*kernel)[0] < 1 ||
      (*kernel)[1] < 1)
    return fail(opName(n) + ": strides " + listString(strides) + " and kernel_shape " +
                listString(*kernel) + " must be 2 positive numbers each");
  if (!isMax && intAttr(n, "count_include_pad", 0) == 0 && (*pads)[0] + (*pads)[1] > 0)
    return unsupportedAttr(n, "count_include_pad=0 with padding (nnc counts the padding, as "
                              "PyTorch's AvgPool2d does by default)");
  Shape out = {x->shape[0], x->shape[1]};
  for (int i = 0; i < 2; ++i)
    out.push_back((x->shape[2 + i] + 2 * (*pads)[i] - (*kernel)[i]) / strides[i] + 1);
  define(n, 0, x->dtype, out,
         emit(isMax ? "max_pool2d" : "avg_pool2d", {use(*x)},
              {{"kernel_size", intsAttribute(*kernel)}, {"stride", intsAttribute(strides)},
               {"padding", intsAttribute(*pads)}},
              n.output(0)));
  return true;
}

/// Flatten: nn.reshape to (product of dims before axis, product of the rest).
bool Importer::importFlatten(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"axis"}))
    return false;
  int64_t rank = x->shape.size(), axis = intAttr(n, "axis", 1);
  if (axis < -rank || axis > rank)
    return fail(opName(n) + ": axis " + std::to_string(axis) + " is out of range for rank " +
                std::to_string(rank));
  if (axis < 0)
    axis += rank;
  Shape outer(x->shape.begin(), x->shape.begin() + axis), inner(x->shape.begin() + axis, x->shape.end());
  Shape out = {numElements(outer), numElements(inner)};
  define(n, 0, x->dtype, out, emit("reshape", {use(*x)}, {{"shape", intsAttribute(out)}}, n.output(0)));
  return true;
}

/// Reshape: nn.reshape to the shape input, which must be known at import (an initializer, a
/// Constant or a folded Shape chain). 0 copies the input's dimension (allowzero=0), -1 is
/// inferred. A leading dimension equal to the file's static batch follows --batch-size.
bool Importer::importReshape(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"allowzero"}))
    return false;
  std::optional<std::vector<int64_t>> target = constInts(n, 1, "the target shape");
  if (!target)
    return false;
  if (intAttr(n, "allowzero", 0))
    return unsupportedAttr(n, "allowzero=1");
  Shape out = *target;
  int64_t inferred = -1, known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && i < x->shape.size())
      out[i] = x->shape[i];
    if (out[i] == -1 && inferred < 0)
      inferred = i;
    else if (out[i] < 1)
      return fail(opName(n) + ": target shape " + listString(*target) + " is not valid for input " +
                  shapeString(x->shape));
    else
      known *= out[i];
  }
  if (fileBatch && batch != fileBatch && !out.empty() && out[0] == fileBatch &&
      !x->shape.empty() && x->shape[0] == batch)
    known = known / fileBatch * batch, out[0] = batch;
  int64_t total = numElements(x->shape);
  if (inferred >= 0 && known > 0 && total % known == 0)
    out[inferred] = total / known;
  if (numElements(out) != total || (inferred >= 0 && out[inferred] < 1))
    return fail(opName(n) + ": cannot reshape " + shapeString(x->shape) + " to " +
                listString(*target) +
                " (if the model bakes its batch size into the shape, as x.view(16, -1) does, "
                "export it with x.view(x.size(0), -1) or pass that batch size)");
  if (folds(*x)) {
    defineConst(n, x->dtype, out, *x->constant);
    return true;
  }
  define(n, 0, x->dtype, out, emit("reshape", {use(*x)}, {{"shape", intsAttribute(out)}}, n.output(0)));
  return true;
}

/// Transpose: nn.transpose (default permutation: reversed dimensions).
bool Importer::importTranspose(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"perm"}))
    return false;
  int64_t rank = x->shape.size();
  std::vector<int64_t> perm;
  for (int64_t i = rank - 1; i >= 0; --i)
    perm.push_back(i);
  perm = intsAttr(n, "perm").value_or(perm);
  std::vector<bool> seen(rank, false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p] || static_cast<int64_t>(perm.size()) != rank)
      return fail(opName(n) + ": perm " + listString(perm) + " is not a permutation of rank " +
                  std::to_string(rank));
    seen[p] = true;
    out.push_back(x->shape[p]);
  }
  define(n, 0, x->dtype, out,
         emit("transpose", {use(*x)}, {{"permutation", intsAttribute(perm)}}, n.output(0)));
  return true;
}

/// Concat: nn.concat; folded when every input is known (shape vectors).
bool Importer::importConcat(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {"axis"}))
    return false;
  std::vector<const Value *> parts;
  bool allConst = true;
  for (int i = 0; i < n.input_size(); ++i) {
    const Value *v = input(n, i);
    if (!v)
      return false;
    parts.push_back(v);
    allConst = allConst && folds(*v) && v->shape.size() == 1;
  }
  if (parts.empty())
    return fail(opName(n) + ": has no inputs");
  int64_t rank = parts[0]->shape.size(), axis = intAttr(n, "axis", 0);
  if (rank == 0)
    return fail(opName(n) + ": cannot concatenate scalars");
  if (!normalizeAxis(axis, rank, "axis"))
    return false;
  Shape out = parts[0]->shape;
  out[axis] = 0;
  for (const Value *v : parts) {
    Shape expect = out;
    expect[axis] = v->shape.size() == out.size() ? v->shape[axis] : -1;
    if (v->shape != expect || v->dtype != parts[0]->dtype)
      return fail(opName(n) + ": inputs " + shapeString(parts[0]->shape) + " and " +
                  shapeString(v->shape) + " do not concatenate along axis " + std::to_string(axis));
    out[axis] += v->shape[axis];
  }
  if (allConst) {
    std::vector<double> folded;
    for (const Value *v : parts)
      folded.insert(folded.end(), v->constant->begin(), v->constant->end());
    defineConst(n, parts[0]->dtype, out, std::move(folded));
    return true;
  }
  std::vector<std::string> operands;
  for (const Value *v : parts)
    operands.push_back(use(*v));
  define(n, 0, parts[0]->dtype, out, emit("concat", operands, {{"axis", intAttribute(axis)}}, n.output(0)));
  return true;
}

/// Dropout: nn.dropout with the ratio (input 1 from opset 12, else the attribute). nnc drops in
/// training steps and passes through in evaluation and prediction, whatever training_mode says.
bool Importer::importDropout(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {"ratio", "seed"}))
    return false;
  const Value *x = input(n, 0);
  if (!x)
    return false;
  if (n.output_size() > 1 && !n.output(1).empty())
    return unsupportedAttr(n, "the mask output");
  double rate = floatAttr(n, "ratio", 0.5);
  if (n.input_size() > 1 && !n.input(1).empty()) {
    const Value *r = input(n, 1);
    if (!r)
      return false;
    if (!r->constant || r->constant->size() != 1)
      return fail(opName(n) + ": the ratio ('" + n.input(1) + "') must be a constant scalar");
    rate = (*r->constant)[0];
  }
  if (!(rate >= 0 && rate < 1))
    return fail(opName(n) + ": ratio " + std::to_string(rate) + " must be in [0, 1)");
  define(n, 0, x->dtype, x->shape,
         emit("dropout", {use(*x)}, {{"rate", floatAttribute(rate)}}, n.output(0)));
  return true;
}

/// Identity: no node, the output names the input's tensor.
bool Importer::importIdentity(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x)
    return false;
  if (isWeight(*x))
    use(*x); // one parameter however many names it has
  Value copy = *x;
  if (copy.name.empty())
    copy.origin = n.output(0);
  values[n.output(0)] = copy;
  return true;
}

/// Constant: known at import; a node only if a data op reads it.
bool Importer::importConstant(const onnx::NodeProto &n) {
  if (n.attribute_size() != 1)
    return fail(opName(n) + ": expects exactly one value attribute");
  const onnx::AttributeProto &a = n.attribute(0);
  if (a.name() == "value") {
    Value v;
    if (!readTensor(a.t(), "the value of " + opName(n), v))
      return false;
    defineConst(n, v.dtype, v.shape, *v.constant);
  } else if (a.name() == "value_float") {
    defineConst(n, F32, {}, {a.f()});
  } else if (a.name() == "value_floats") {
    defineConst(n, F32, {a.floats_size()}, std::vector<double>(a.floats().begin(), a.floats().end()));
  } else if (a.name() == "value_int") {
    defineConst(n, I64, {}, {static_cast<double>(a.i())});
  } else if (a.name() == "value_ints") {
    std::vector<double> v;
    for (int64_t i : a.ints())
      v.push_back(static_cast<double>(i));
    defineConst(n, I64, {a.ints_size()}, std::move(v));
  } else {
    return unsupportedAttr(n, "attribute '" + a.name() + "'");
  }
  return true;
}

/// Shape: folded to a constant, since every shape is static once the batch is set.
bool Importer::importShape(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"start", "end"}))
    return false;
  int64_t rank = x->shape.size();
  int64_t start = intAttr(n, "start", 0), end = intAttr(n, "end", rank);
  start = std::clamp(start < 0 ? start + rank : start, int64_t(0), rank);
  end = std::clamp(end < 0 ? end + rank : end, int64_t(0), rank);
  std::vector<double> dims;
  for (int64_t i = start; i < end; ++i)
    dims.push_back(static_cast<double>(x->shape[i]));
  Shape shape = {static_cast<int64_t>(dims.size())};
  defineConst(n, I64, shape, std::move(dims));
  return true;
}

/// Gather: folded when data and indices are known (shape chains); nn.embedding for rows of a
/// float table by integer indices (axis 0).
bool Importer::importGather(const onnx::NodeProto &n) {
  const Value *data = input(n, 0), *indices = data ? input(n, 1) : nullptr;
  if (!indices || !checkAttrs(n, {"axis"}))
    return false;
  int64_t axis = intAttr(n, "axis", 0);
  if (!normalizeAxis(axis, data->shape.size(), "axis"))
    return false;
  if (folds(*data) && folds(*indices) && data->shape.size() == 1) {
    std::vector<double> out;
    for (double i : *indices->constant) {
      int64_t index = static_cast<int64_t>(i) < 0 ? static_cast<int64_t>(i) + data->shape[0]
                                                  : static_cast<int64_t>(i);
      if (index < 0 || index >= data->shape[0])
        return fail(opName(n) + ": index " + std::to_string(static_cast<int64_t>(i)) +
                    " is out of range for " + shapeString(data->shape));
      out.push_back((*data->constant)[index]);
    }
    defineConst(n, data->dtype, indices->shape, std::move(out));
    return true;
  }
  if (axis == 0 && data->dtype == F32 && data->shape.size() == 2 && indices->dtype != F32) {
    Shape out = indices->shape;
    out.push_back(data->shape[1]);
    define(n, 0, F32, out, emit("embedding", {use(*indices), use(*data)}, {}, n.output(0)));
    return true;
  }
  return unsupportedAttr(n, "gathering along axis " + std::to_string(axis) + " of " +
                                shapeString(data->shape) + " at run time");
}

/// Unsqueeze: inserts size-1 dimensions (axes: input from opset 13, attribute before): a
/// reshape, or folded for a known value.
bool Importer::importUnsqueeze(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"axes"}))
    return false;
  std::optional<std::vector<int64_t>> axes =
      opset >= 13 ? constInts(n, 1, "axes") : intsAttr(n, "axes");
  if (!axes)
    return error.empty() ? fail(opName(n) + ": has no axes") : false;
  int64_t rank = x->shape.size() + axes->size();
  Shape out(rank, 0);
  for (int64_t a : *axes) {
    if (!normalizeAxis(a, rank, "axis"))
      return false;
    if (out[a] == 1)
      return fail(opName(n) + ": axes " + listString(*axes) + " repeat an axis");
    out[a] = 1;
  }
  auto dim = x->shape.begin();
  for (int64_t i = 0; i < rank; ++i)
    if (out[i] == 0)
      out[i] = *dim++;
  if (folds(*x)) {
    defineConst(n, x->dtype, out, *x->constant);
    return true;
  }
  define(n, 0, x->dtype, out, emit("reshape", {use(*x)}, {{"shape", intsAttribute(out)}}, n.output(0)));
  return true;
}

/// Squeeze: drops the given size-1 dimensions (all of them without axes): a reshape, or folded.
bool Importer::importSqueeze(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"axes"}))
    return false;
  std::optional<std::vector<int64_t>> axes;
  if (opset >= 13 && n.input_size() > 1 && !n.input(1).empty()) {
    if (!(axes = constInts(n, 1, "axes")))
      return false;
  } else if (opset < 13) {
    axes = intsAttr(n, "axes");
  }
  int64_t rank = x->shape.size();
  std::vector<bool> drop(rank, false);
  for (int64_t i = 0; i < rank; ++i)
    drop[i] = !axes && x->shape[i] == 1;
  for (int64_t a : axes.value_or(std::vector<int64_t>{})) {
    if (!normalizeAxis(a, rank, "axis"))
      return false;
    if (x->shape[a] != 1)
      return fail(opName(n) + ": dimension " + std::to_string(a) + " of " +
                  shapeString(x->shape) + " is not 1");
    drop[a] = true;
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[i])
      out.push_back(x->shape[i]);
  if (folds(*x)) {
    defineConst(n, x->dtype, out, *x->constant);
    return true;
  }
  define(n, 0, x->dtype, out, emit("reshape", {use(*x)}, {{"shape", intsAttribute(out)}}, n.output(0)));
  return true;
}

/// Cast: folded for known values (shape arithmetic); a no-op when the dtype does not change.
bool Importer::importCast(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"to", "saturate"}))
    return false;
  int64_t to = intAttr(n, "to", 0);
  DType dtype = convertDType(static_cast<int>(to));
  if (dtype == DTYPE_UNSET)
    return fail(opName(n) + ": " + dtypeError(static_cast<int>(to), "the target"));
  if (folds(*x)) {
    std::vector<double> v = *x->constant;
    if (dtype != F32)
      for (double &d : v)
        d = std::trunc(d);
    defineConst(n, dtype, x->shape, std::move(v));
    return true;
  }
  if (dtype != x->dtype)
    return unsupportedAttr(n, "a run-time cast from " + DType_Name(x->dtype) + " to " +
                                  DType_Name(dtype));
  return importIdentity(n);
}

/// Pad: nn.pad with zeros (constant mode, pads known at import, opset 11 and later); no node when
/// every pad is 0, as PyTorch's export of AvgPool2d emits.
bool Importer::importPad(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"mode"}))
    return false;
  if (const onnx::AttributeProto *mode = attr(n, "mode"); mode && mode->s() != "constant")
    return unsupportedAttr(n, "mode=" + mode->s());
  std::optional<std::vector<int64_t>> pads = constInts(n, 1, "pads");
  if (!pads)
    return false;
  if (n.input_size() > 2 && !n.input(2).empty()) {
    const Value *fill = input(n, 2);
    if (!fill || !fill->constant || fill->constant->size() != 1 || (*fill->constant)[0] != 0)
      return error.empty() ? unsupportedAttr(n, "a constant_value other than 0") : false;
  }
  if (n.input_size() > 3 && !n.input(3).empty())
    return unsupportedAttr(n, "the axes input");
  int64_t rank = x->shape.size();
  if (static_cast<int64_t>(pads->size()) != 2 * rank)
    return fail(opName(n) + ": pads " + listString(*pads) + " do not fit rank " +
                std::to_string(rank));
  std::vector<int64_t> low(pads->begin(), pads->begin() + rank), high(pads->begin() + rank, pads->end());
  if (std::any_of(pads->begin(), pads->end(), [](int64_t p) { return p < 0; }))
    return unsupportedAttr(n, "negative pads " + listString(*pads));
  if (std::all_of(pads->begin(), pads->end(), [](int64_t p) { return p == 0; }))
    return importIdentity(n);
  Shape out = x->shape;
  for (int64_t i = 0; i < rank; ++i)
    out[i] += low[i] + high[i];
  define(n, 0, x->dtype, out,
         emit("pad", {use(*x)}, {{"low", intsAttribute(low)}, {"high", intsAttribute(high)}},
              n.output(0)));
  return true;
}

//===----------------------------------------------------------------------===//
// The graph
//===----------------------------------------------------------------------===//

const std::map<std::string, OpEntry> &opTable() {
  static const std::map<std::string, OpEntry> table = {
      {"Add", {&Importer::importBinary, "add (folded when both operands are constants)"}},
      {"AveragePool", {&Importer::importPool, "avg_pool2d (2-D, floor, padding counted)"}},
      {"Cast", {&Importer::importCast, "folded for constants; identity when the dtype stays"}},
      {"Concat", {&Importer::importConcat, "concat (folded when every input is a constant)"}},
      {"Constant", {&Importer::importConstant, "a constant, a node only where an op reads it"}},
      {"Conv", {&Importer::importConv, "conv2d (2-D, group 1, symmetric padding)"}},
      {"Div", {&Importer::importBinary, "div (folded when both operands are constants)"}},
      {"Dropout", {&Importer::importDropout, "dropout at the given ratio (mask output unsupported)"}},
      {"Erf", {&Importer::importErf, "gelu, inside x * 0.5 * (1 + erf(x / sqrt(2)))"}},
      {"Flatten", {&Importer::importFlatten, "reshape"}},
      {"Gather", {&Importer::importGather, "folded for constants; embedding (axis 0 of a table)"}},
      {"Gelu", {&Importer::importGelu, "gelu (approximate none or tanh)"}},
      {"Gemm", {&Importer::importGemm, "linear (transB=1) or matmul, with alpha/beta multiplies"}},
      {"Identity", {&Importer::importIdentity, "no node"}},
      {"LogSoftmax", {&Importer::importSoftmax, "log_softmax"}},
      {"MatMul", {&Importer::importMatMul, "matmul (operands of rank >= 2)"}},
      {"MaxPool", {&Importer::importPool, "max_pool2d (2-D, floor, no Indices output)"}},
      {"Mul", {&Importer::importBinary, "mul (folded when both operands are constants)"}},
      {"Pad", {&Importer::importPad, "pad with zeros (constant mode); no node when all pads are 0"}},
      {"Relu", {&Importer::importUnary, "relu"}},
      {"Reshape", {&Importer::importReshape, "reshape (the shape known at import)"}},
      {"Shape", {&Importer::importShape, "folded to a constant"}},
      {"Sigmoid", {&Importer::importUnary, "sigmoid"}},
      {"Softmax", {&Importer::importSoftmax, "softmax"}},
      {"Squeeze", {&Importer::importSqueeze, "reshape (folded for constants)"}},
      {"Sub", {&Importer::importBinary, "sub (folded when both operands are constants)"}},
      {"Tanh", {&Importer::importUnary, "tanh"}},
      {"Transpose", {&Importer::importTranspose, "transpose"}},
      {"Unsqueeze", {&Importer::importUnsqueeze, "reshape (folded for constants)"}},
  };
  return table;
}

bool Importer::declareInput(const onnx::ValueInfoProto &input) {
  std::string what = "graph input '" + input.name() + "'";
  if (!input.type().has_tensor_type())
    return fail(what + " is not a tensor");
  const onnx::TypeProto::Tensor &type = input.type().tensor_type();
  Value &v = values[input.name()];
  v.dtype = convertDType(type.elem_type());
  if (v.dtype == DTYPE_UNSET)
    return fail(dtypeError(type.elem_type(), what));
  if (!type.has_shape())
    return fail(what + " has no shape");
  for (int i = 0; i < type.shape().dim_size(); ++i) {
    const onnx::TensorShapeProto::Dimension &dim = type.shape().dim(i);
    if (dim.has_dim_value() && dim.dim_value() > 0) {
      v.shape.push_back(dim.dim_value());
      if (i == 0 && !fileBatch)
        fileBatch = dim.dim_value();
      continue;
    }
    std::string symbol = dim.has_dim_param() ? "'" + dim.dim_param() + "'" : "unknown";
    if (i != 0)
      return fail(what + " dimension " + std::to_string(i) + " is symbolic (" + symbol +
                  "); nnc compiles static shapes and sets only the leading (batch) dimension");
    if (!options.batchSize)
      return fail(what + " has a symbolic batch dimension (" + symbol +
                  "): pass --batch-size B");
    v.shape.push_back(options.batchSize);
  }
  if (v.shape.empty())
    return fail(what + " is a scalar; graph inputs need a leading batch dimension");
  if (options.batchSize)
    v.shape[0] = options.batchSize;
  batch = batch ? batch : v.shape[0];
  v.origin = v.name = input.name();
  GraphInput *in = model.add_inputs();
  in->set_name(input.name());
  in->mutable_type()->set_dtype(v.dtype);
  for (int64_t d : v.shape)
    in->mutable_type()->add_shape(d);
  in->set_role(GraphInput::FEATURES);
  return true;
}

/// Finds GELU written out as the TorchScript exporter writes nn.GELU() before opset 20:
///   d = Div(x, sqrt 2); e = Erf(d); a = Add(e, 1); m = Mul(x, a); y = Mul(m, 0.5)
/// (operands of Add and Mul in either order), each intermediate read only by the next.
bool Importer::matchGeluPatterns() {
  const onnx::GraphProto &g = proto.graph();
  std::map<std::string, std::vector<const onnx::NodeProto *>> readers;
  std::map<std::string, const onnx::NodeProto *> producer;
  std::map<std::string, double> scalars; // Constant nodes of one float
  for (const onnx::NodeProto &n : g.node()) {
    for (const std::string &in : n.input())
      readers[in].push_back(&n);
    for (const std::string &out : n.output())
      producer[out] = &n;
    if (n.op_type() == "Constant" && n.attribute_size() == 1 && n.attribute(0).name() == "value" &&
        n.attribute(0).t().data_type() == onnx::TensorProto::FLOAT) {
      Value v;
      std::string saved = error;
      if (readTensor(n.attribute(0).t(), "", v) && v.constant->size() == 1)
        scalars[n.output(0)] = (*v.constant)[0];
      error = saved;
    }
  }
  for (const onnx::TensorProto &t : g.initializer()) {
    Value v;
    std::string saved = error;
    if (t.data_type() == onnx::TensorProto::FLOAT && readTensor(t, "", v) && v.constant->size() == 1)
      scalars[t.name()] = (*v.constant)[0];
    error = saved;
  }
  auto onlyReader = [&](const std::string &v, const char *op) -> const onnx::NodeProto * {
    auto it = readers.find(v);
    if (it == readers.end() || it->second.size() != 1 || it->second[0]->op_type() != op)
      return nullptr;
    return it->second[0];
  };
  // The operand of binary `n` other than `v`, or "" when `v` is not one of its two.
  auto other = [](const onnx::NodeProto &n, const std::string &v) -> std::string {
    if (n.input_size() != 2)
      return "";
    return n.input(0) == v ? n.input(1) : n.input(1) == v ? n.input(0) : "";
  };
  auto isScalar = [&](const std::string &v, double want) {
    auto it = scalars.find(v);
    return it != scalars.end() && std::abs(it->second - want) < 1e-4 * std::abs(want);
  };
  for (const onnx::NodeProto &erf : g.node()) {
    if (erf.op_type() != "Erf" || erf.input_size() != 1)
      continue;
    auto div = producer.find(erf.input(0));
    if (div == producer.end() || div->second->op_type() != "Div" || div->second->input_size() != 2 ||
        !isScalar(div->second->input(1), std::sqrt(2.0)) || !onlyReader(erf.input(0), "Erf"))
      continue;
    const std::string &x = div->second->input(0);
    const onnx::NodeProto *add = onlyReader(erf.output(0), "Add");
    if (!add || !isScalar(other(*add, erf.output(0)), 1.0))
      continue;
    const onnx::NodeProto *mul = onlyReader(add->output(0), "Mul");
    if (!mul || other(*mul, add->output(0)) != x)
      continue;
    const onnx::NodeProto *half = onlyReader(mul->output(0), "Mul");
    if (!half || !isScalar(other(*half, mul->output(0)), 0.5))
      continue;
    folded.insert({div->second, &erf, add, mul});
    geluInput[half] = x;
  }
  return true;
}

bool Importer::addLoss() {
  if (proto.graph().output_size() == 0)
    return fail("the graph has no output to put a loss on");
  const std::string &outName = proto.graph().output(0).name();
  const Value &out = values[outName];
  auto unique = [&](std::string name) {
    while (values.count(name) || nodeNames.count(name))
      name += "_";
    return name;
  };
  std::string labels = unique("labels"), loss = unique("loss");
  GraphInput *in = model.add_inputs();
  in->set_name(labels);
  in->set_role(GraphInput::LABELS);
  Shape shape = out.shape;
  Node *node = model.add_nodes();
  node->set_name(loss);
  node->add_inputs(out.name);
  node->add_inputs(labels);
  node->add_outputs(loss);
  if (options.loss == "cross-entropy") {
    if (shape.size() < 2)
      return fail("output '" + outName + "' " + shapeString(shape) +
                  " is not (batch, ..., classes) logits for a cross-entropy loss");
    shape.pop_back();
    in->mutable_type()->set_dtype(I64);
    node->set_op("cross_entropy");
    if (options.labelSmoothing != 0)
      (*node->mutable_attrs())["label_smoothing"] = floatAttribute(options.labelSmoothing);
  } else if (options.loss == "mse") {
    in->mutable_type()->set_dtype(out.dtype);
    node->set_op("mse_loss");
  } else {
    return fail("--loss " + options.loss + " is not a loss (cross-entropy, mse)");
  }
  for (int64_t d : shape)
    in->mutable_type()->add_shape(d);
  model.mutable_training()->set_loss(loss);
  return true;
}

bool Importer::run() {
  for (const onnx::OperatorSetIdProto &set : proto.opset_import())
    if (set.domain().empty() || set.domain() == "ai.onnx")
      opset = set.version();
  if (opset == 0)
    return fail("the model imports no version of the default ONNX opset");
  const onnx::GraphProto &g = proto.graph();
  model.set_format_version(FORMAT_VERSION_CURRENT);
  model.set_name(g.name().empty() ? "onnx" : g.name());

  // Control flow first: its condition inputs would otherwise be refused for their dtype.
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto &n = g.node(i);
    if (n.op_type() == "If" || n.op_type() == "Loop" || n.op_type() == "Scan") {
      nodeName = n.name().empty() ? n.op_type() + "_" + std::to_string(i) : n.name();
      return fail("ONNX control flow ('" + n.op_type() +
                  "') is not supported: nnc compiles static graphs (export a model whose "
                  "forward has no data-dependent branches or loops)");
    }
  }
  for (const onnx::TensorProto &t : g.initializer()) {
    Value &v = values[t.name()];
    if (!readTensor(t, "initializer '" + t.name() + "'", v))
      return false;
    v.initializer = true;
    v.origin = t.name();
  }
  for (const onnx::ValueInfoProto &input : g.input())
    if (!values.count(input.name()) && !declareInput(input))
      return false;
  if (!matchGeluPatterns())
    return false;

  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto &n = g.node(i);
    nodeName = n.name().empty() ? n.op_type() + "_" + std::to_string(i) : n.name();
    if (nodeNames.count(nodeName))
      nodeName += "_" + std::to_string(i);
    if (folded.count(&n))
      continue;
    if (geluInput.count(&n)) {
      if (!importGelu(n))
        return false;
      continue;
    }
    auto it = opTable().find(n.op_type());
    if (!(n.domain().empty() || n.domain() == "ai.onnx") || it == opTable().end()) {
      std::string op = n.domain().empty() ? n.op_type() : n.domain() + "." + n.op_type();
      return fail("ONNX op '" + op + "' (opset " + std::to_string(opset) +
                  ") is not supported (nnc import --list-ops lists what is)");
    }
    if (n.output_size() < 1)
      return fail(opName(n) + ": has no output");
    if (!(this->*(it->second.fn))(n))
      return false;
  }
  nodeName.clear();

  for (const onnx::ValueInfoProto &output : g.output()) {
    auto it = values.find(output.name());
    if (it == values.end())
      return fail("graph output '" + output.name() + "' is not produced by any node");
    if (it->second.name.empty())
      return fail("graph output '" + output.name() + "' is a constant; nnc trains computed outputs");
    model.add_outputs(it->second.name);
  }
  return options.loss.empty() || addLoss();
}

} // namespace

bool isOnnxFile(const std::string &path) {
  if (llvm::StringRef(path).ends_with(".onnx"))
    return true;
  if (llvm::StringRef(path).ends_with(".pbtxt"))
    return false;
  auto buffer = llvm::MemoryBuffer::getFile(path, false, false);
  if (!buffer)
    return false;
  llvm::StringRef bytes = (*buffer)->getBuffer();
  // A probe: libprotobuf must not log what fails here (the reader that follows says it once).
  google::protobuf::LogSilencer silence;
  // An nnc model states its format version; an ONNX model its IR version and a graph.
  Model nnc;
  if (nnc.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) && nnc.format_version())
    return false;
  onnx::ModelProto onnxModel;
  return onnxModel.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) &&
         onnxModel.ir_version() > 0 && onnxModel.has_graph();
}

bool importOnnxFile(const std::string &path, const OnnxImportOptions &options, Model &model,
                    std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path, false, false);
  if (!buffer) {
    error = "cannot read the file: " + buffer.getError().message();
    return false;
  }
  llvm::StringRef bytes = (*buffer)->getBuffer();
  if (bytes.empty()) {
    error = "the file is empty";
    return false;
  }
  onnx::ModelProto proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    error = "not a valid ONNX model (truncated or corrupt protobuf)";
    return false;
  }
  if (proto.ir_version() <= 0 || !proto.has_graph()) {
    error = "not an ONNX model (no IR version or no graph)";
    return false;
  }
  if (options.batchSize < 0) {
    error = "--batch-size " + std::to_string(options.batchSize) + " must be positive";
    return false;
  }
  Importer importer(proto, options, llvm::sys::path::parent_path(path).str(), model);
  if (!importer.run()) {
    error = importer.error;
    return false;
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> supportedOnnxOps() {
  std::vector<std::pair<std::string, std::string>> ops;
  for (const auto &[name, entry] : opTable())
    ops.emplace_back(name, entry.becomes);
  return ops;
}

} // namespace nnc
