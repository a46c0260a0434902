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
// The ops themselves (one function each) and their table are in OnnxOps.cpp.
#include "compiler/import/OnnxImporter.h"
#include "compiler/import/OnnxImporterImpl.h"

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
namespace onnx_import {

//===----------------------------------------------------------------------===//
// Tensors, attributes and values
//===----------------------------------------------------------------------===//

bool Importer::readTensor(const onnx::TensorProto &t, const std::string &what, Value &value) {
  if (t.data_type() == onnx::TensorProto::BOOL)
    return readBoolTensor(t, what, value);
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
    ints.push_back(saturatedInt(d));
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

//===----------------------------------------------------------------------===//
// The graph
//===----------------------------------------------------------------------===//


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
/// or the dynamo exporter does (m = Mul(0.5, a); y = Mul(x, m)), operands of Add and Mul in
/// either order, each intermediate read only by the next.
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
    if (n.op_type() == "Constant" && n.output_size() == 1 && n.attribute_size() == 1 &&
        n.attribute(0).name() == "value" &&
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
    if (it == readers.end() || it->second.size() != 1 || it->second[0]->op_type() != op ||
        it->second[0]->output_size() != 1)
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
    if (erf.op_type() != "Erf" || erf.input_size() != 1 || erf.output_size() != 1)
      continue;
    auto div = producer.find(erf.input(0));
    if (div == producer.end() || div->second->op_type() != "Div" || div->second->input_size() != 2 ||
        !isScalar(div->second->input(1), std::sqrt(2.0)) || !onlyReader(erf.input(0), "Erf"))
      continue;
    const std::string &x = div->second->input(0);
    const onnx::NodeProto *add = onlyReader(erf.output(0), "Add");
    if (!add || !isScalar(other(*add, erf.output(0)), 1.0))
      continue;
    // (1 + erf) * x * 0.5 (the TorchScript exporter) or x * ((1 + erf) * 0.5) (dynamo).
    const onnx::NodeProto *first = onlyReader(add->output(0), "Mul");
    const onnx::NodeProto *second = first ? onlyReader(first->output(0), "Mul") : nullptr;
    if (!second)
      continue;
    std::string a = other(*first, add->output(0)), b = other(*second, first->output(0));
    if (!(a == x && isScalar(b, 0.5)) && !(isScalar(a, 0.5) && b == x))
      continue;
    folded.insert({div->second, &erf, add, first});
    geluInput[second] = x;
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
    v.initializer = !v.mask;
    v.origin = t.name();
  }
  findMaskInitializers();
  for (const onnx::ValueInfoProto &input : g.input())
    if (!values.count(input.name()) && !declareInput(input))
      return false;
  if (!matchGeluPatterns())
    return false;
  matchLayerNormPatterns();

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
    if (layerNormAt.count(&n)) {
      if (!importFusedLayerNorm(n))
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

} // namespace onnx_import

using onnx_import::Importer;
using onnx_import::opTable;

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
