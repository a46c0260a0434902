// The ONNX importer's internals, shared by its two files: OnnxImporter.cpp (tensors,
// attributes, values and the graph walk) and OnnxOps.cpp (one function per ONNX op and the op
// table). Not part of the compiler's interface: compiler/import/OnnxImporter.h is.
#pragma once

#include "compiler/import/OnnxImporter.h"

#include "proto/model.pb.h"

#include "llvm/ADT/StringMap.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace nnc::onnx_import {

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
  bool mask = false;        // an ONNX bool, kept as 0/1 floats (nn.equal's convention)
};

/// Float initializers of rank >= 1 are the model's weights: trained, so never folded.
inline bool isWeight(const Value &v) { return v.initializer && v.dtype == F32 && !v.shape.empty(); }

/// Whether `v` is known at import and may be folded into what reads it.
inline bool folds(const Value &v) { return v.constant && !isWeight(v); }

/// a * b for sizes (a, b >= 0), saturated at INT64_MAX, a size the nnc model's own size check
/// refuses after import.
inline int64_t mulSizes(int64_t a, int64_t b) {
  int64_t product;
  return __builtin_mul_overflow(a, b, &product) ? INT64_MAX : product;
}

/// A folded value as an integer, saturated: exporters write INT64_MAX/MIN for "to the end"
/// (Slice), which a double rounds to 2^63, out of int64's range; NaN reads as 0.
inline int64_t saturatedInt(double d) {
  return d >= 0x1p63 ? INT64_MAX : d <= -0x1p63 ? INT64_MIN : d == d ? static_cast<int64_t>(d) : 0;
}

inline int64_t numElements(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n = mulSizes(n, d);
  return n;
}

inline std::string shapeString(const Shape &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

inline std::string listString(const std::vector<int64_t> &values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

/// ONNX dtype -> nnc dtype; DTYPE_UNSET for the ones nnc has no counterpart for.
inline DType convertDType(int onnxType) {
  switch (onnxType) {
  case onnx::TensorProto::FLOAT: return F32;
  case onnx::TensorProto::INT64: return I64;
  case onnx::TensorProto::INT32: return I32;
  default: return DTYPE_UNSET;
  }
}

inline std::string dtypeError(int onnxType, const std::string &what) {
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
/// The transformer half of the table (OnnxTransformerOps.cpp), merged into opTable().
void addTransformerOps(std::map<std::string, OpEntry> &table);
/// Neg, Abs, Elu, Selu, PRelu, Sum (OnnxActivationOps.cpp), merged into opTable().
void addActivationOps(std::map<std::string, OpEntry> &table);
/// Sequences, Softplus, Sign, Shrink, Min/Max, Tile, InstanceNormalization, ConvTranspose
/// (OnnxMoreOps.cpp), merged into opTable().
void addMoreOps(std::map<std::string, OpEntry> &table);

class Importer {
public:
  Importer(const onnx::ModelProto &proto, const OnnxImportOptions &options, std::string dir,
           Model &model)
      : proto(proto), options(options), dir(std::move(dir)), model(model) {}

  bool run();
  std::string error;

  // Transformer ops and their shape arithmetic (OnnxTransformerOps.cpp).
  bool importSlice(const onnx::NodeProto &n);
  bool importSplit(const onnx::NodeProto &n);
  bool importExpand(const onnx::NodeProto &n);
  bool importConstantOfShape(const onnx::NodeProto &n);
  bool importRange(const onnx::NodeProto &n);
  bool importCompare(const onnx::NodeProto &n);
  bool importWhere(const onnx::NodeProto &n);
  bool importPow(const onnx::NodeProto &n);
  bool importTrilu(const onnx::NodeProto &n);
  bool importReduce(const onnx::NodeProto &n);
  bool importLayerNorm(const onnx::NodeProto &n);
  bool importCastToBool(const onnx::NodeProto &n);
  bool importGatherScalar(const onnx::NodeProto &n, const Value &data, int64_t axis);
  bool importFusedLayerNorm(const onnx::NodeProto &n);

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
  bool importCastLike(const onnx::NodeProto &n);
  bool importPad(const onnx::NodeProto &n);
  bool importBatchNorm(const onnx::NodeProto &n);
  bool importGlobalAveragePool(const onnx::NodeProto &n);
  // Activations of mobile and sequence CNNs (OnnxOps.cpp, "Clip and the hard activations").
  bool importClip(const onnx::NodeProto &n);
  bool importHardSigmoid(const onnx::NodeProto &n);
  bool importHardSwish(const onnx::NodeProto &n);
  bool importLeakyRelu(const onnx::NodeProto &n);
  // Further activations and sums (OnnxActivationOps.cpp).
  bool importNeg(const onnx::NodeProto &n);
  bool importAbs(const onnx::NodeProto &n);
  bool importElu(const onnx::NodeProto &n);
  bool importSelu(const onnx::NodeProto &n);
  bool importPRelu(const onnx::NodeProto &n);
  bool importSum(const onnx::NodeProto &n);
  // Sequences, more elementwise ops, Tile, InstanceNormalization, ConvTranspose, and Pad's,
  // Softmax's and MaxPool's further attributes (OnnxMoreOps.cpp).
  bool importSplitToSequence(const onnx::NodeProto &n);
  bool importSequenceAt(const onnx::NodeProto &n);
  bool importSoftplus(const onnx::NodeProto &n);
  bool importSign(const onnx::NodeProto &n);
  bool importShrink(const onnx::NodeProto &n);
  bool importMinMax(const onnx::NodeProto &n);
  bool importTile(const onnx::NodeProto &n);
  bool importInstanceNorm(const onnx::NodeProto &n);
  bool importConvTranspose(const onnx::NodeProto &n);
  bool padByCopies(const onnx::NodeProto &n, const Value &x, const std::vector<int64_t> &low,
                   const std::vector<int64_t> &high, bool reflect);
  bool padWithFill(const onnx::NodeProto &n, const Value &x, const std::vector<int64_t> &low,
                   const std::vector<int64_t> &high, double fill);
  std::string padFilled(const onnx::NodeProto &n, const std::string &x, const Shape &shape,
                        const std::vector<int64_t> &low, const std::vector<int64_t> &high,
                        double fill, const std::string &output);
  std::string dilatedMaxPool(const onnx::NodeProto &n, const std::string &x, const Shape &shape,
                             const std::vector<int64_t> &kernel,
                             const std::vector<int64_t> &strides,
                             const std::vector<int64_t> &pads,
                             const std::vector<int64_t> &dilations, const std::string &output);
  bool flatSoftmax(const onnx::NodeProto &n, const Value &x, int64_t axis, const std::string &op);

private:
  /// Cast's work: `value` as `dtype`, folded for constants, identity when the dtype stays.
  bool castTo(const onnx::NodeProto &n, const Value &value, DType dtype);
  std::string emitElu(const onnx::NodeProto &n, const Value &x, double alpha, double scale);
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
  bool readBoolTensor(const onnx::TensorProto &tensor, const std::string &what, Value &value);
  void findMaskInitializers();
  void matchLayerNormPatterns();
  bool isRead(const std::string &name);
  bool checkFoldSize(const onnx::NodeProto &n, const Shape &shape);
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
  // 1-D convolution and pooling as their 2-D ops with H = 1 (OnnxOps.cpp).
  std::string emitAux(const std::string &what, const std::string &op,
                      const std::vector<std::string> &inputs,
                      std::map<std::string, Attribute> attrs, const std::string &output);
  std::string reshapeAux(const std::string &what, const std::string &input, const Shape &shape);
  std::string scalar(const std::string &what, double value);
  // Helpers of OnnxMoreOps.cpp.
  bool floatInput(const onnx::NodeProto &n, const Value *x);
  std::string positiveMask(const std::string &x, const std::string &what);
  std::string reshapeOwn(const std::string &what, const std::string &input, const Shape &shape);
  std::string transposedConvWeight(const std::string &w, const Shape &shape, int64_t groups);
  std::string sliceAxis(const std::string &x, const Shape &shape, int64_t axis, int64_t from,
                        int64_t to, const std::string &what);

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
  // LayerNorm written out (before opset 17): the node that ends it -> its operands (the other
  // nodes join `folded`).
  struct WrittenLayerNorm {
    std::string input, weight, bias; // weight and bias empty when the pattern has none
    double epsilon;
  };
  std::map<const onnx::NodeProto *, WrittenLayerNorm> layerNormAt;
  // SplitToSequence's outputs -> their elements, for SequenceAt (OnnxMoreOps.cpp).
  std::map<std::string, std::vector<Value>> sequences;
};

inline Attribute intAttribute(int64_t i) {
  Attribute a;
  a.set_i(i);
  return a;
}
inline Attribute floatAttribute(double f) {
  Attribute a;
  a.set_f(f);
  return a;
}
inline Attribute intsAttribute(const std::vector<int64_t> &values) {
  Attribute a;
  for (int64_t v : values)
    a.mutable_ints()->add_values(v);
  return a;
}

/// NumPy broadcasting of two shapes; nullopt when they do not broadcast.
inline std::optional<Shape> broadcastShapes(const Shape &a, const Shape &b) {
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

} // namespace nnc::onnx_import
