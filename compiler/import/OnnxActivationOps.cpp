// ONNX's remaining elementwise activations and n-ary sums, as compositions of nn ops whose
// elementwise parts fuse when lowered and whose gradients come from their parts: Neg, Abs, Elu,
// Selu, PRelu, Sum. ONNX's backend test data (scripts/onnx_conformance.py) exercises them.
#include "compiler/import/OnnxImporterImpl.h"

namespace nnc::onnx_import {

/// Neg: -x as x * -1 (NaN stays NaN).
bool Importer::importNeg(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {}))
    return false;
  if (x->dtype != F32)
    return unsupportedAttr(n, "a " + DType_Name(x->dtype) + " input (float only)");
  define(n, 0, x->dtype, x->shape,
         emit("mul", {use(*x), scalar("minus_one", -1)}, {}, n.output(0)));
  return true;
}

/// Abs: relu(x) + relu(-x); NaN stays NaN, and the gradient at 0 is 0, as PyTorch's sign(0).
bool Importer::importAbs(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {}))
    return false;
  if (x->dtype != F32)
    return unsupportedAttr(n, "a " + DType_Name(x->dtype) + " input (float only)");
  std::string in = use(*x);
  std::string positive = emit("relu", {in}, {}, n.output(0) + "/positive");
  std::string negated = emit("mul", {in, scalar("minus_one", -1)}, {}, n.output(0) + "/negated");
  std::string negative = emit("relu", {negated}, {}, n.output(0) + "/negative");
  define(n, 0, x->dtype, x->shape, emit("add", {positive, negative}, {}, n.output(0)));
  return true;
}

/// scale * (x > 0 ? x : alpha * (exp(x) - 1)) as scale * (relu(x) + alpha * (exp(min(x, 0)) - 1)):
/// exact on either side of 0, and exp never overflows.
std::string Importer::emitElu(const onnx::NodeProto &n, const Value &x, double alpha,
                              double scale) {
  std::string in = use(x), out = n.output(0);
  std::string positive = emit("relu", {in}, {}, out + "/positive");
  std::string clamped = emit("clamp", {in}, {{"max", floatAttribute(0)}}, out + "/clamped");
  std::string exp = emit("exp", {clamped}, {}, out + "/exp");
  std::string expm1 = emit("sub", {exp, scalar("one", 1)}, {}, out + "/expm1");
  std::string negative = emit("mul", {expm1, scalar("alpha", alpha)}, {}, out + "/negative");
  if (scale == 1)
    return emit("add", {positive, negative}, {}, out);
  std::string sum = emit("add", {positive, negative}, {}, out + "/unscaled");
  return emit("mul", {sum, scalar("gamma", scale)}, {}, out);
}

/// Elu(alpha): x for x > 0, alpha * (exp(x) - 1) otherwise.
bool Importer::importElu(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"alpha"}))
    return false;
  define(n, 0, x->dtype, x->shape, emitElu(n, *x, floatAttr(n, "alpha", 1.0), 1.0));
  return true;
}

/// Selu(alpha, gamma): gamma * Elu(alpha), with ONNX's (and PyTorch's) default constants.
bool Importer::importSelu(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"alpha", "gamma"}))
    return false;
  define(n, 0, x->dtype, x->shape,
         emitElu(n, *x, floatAttr(n, "alpha", 1.67326319217681884765625),
                 floatAttr(n, "gamma", 1.05070102214813232421875)));
  return true;
}

/// PRelu(x, slope): relu(x) + slope * min(x, 0); the slope (a trained parameter when it is an
/// initializer) broadcasts to x, as PyTorch's per-channel (C, 1, 1) slope does (before opset 7,
/// a (C) slope is that).
bool Importer::importPRelu(const onnx::NodeProto &n) {
  const Value *x = input(n, 0), *slope = x ? input(n, 1) : nullptr;
  if (!slope || !checkAttrs(n, {}))
    return false;
  std::string slopeName = use(*slope);
  Shape slopeShape = slope->shape;
  if (opset < 7 && x->shape.size() > 2 && slopeShape == Shape{x->shape[1]}) {
    // Before opset 7 a (C) slope is per channel (axis 1), as PyTorch's PReLU(C) exports it.
    slopeShape.resize(x->shape.size() - 1, 1);
    slopeName = reshapeAux("per_channel", slopeName, slopeShape);
  }
  std::optional<Shape> shape = broadcastShapes(x->shape, slopeShape);
  if (!shape || *shape != x->shape)
    return fail(opName(n) + ": slope of shape " + shapeString(slope->shape) +
                " does not broadcast to the input's " + shapeString(x->shape));
  std::string in = use(*x), out = n.output(0);
  std::string positive = emit("relu", {in}, {}, out + "/positive");
  std::string clamped = emit("clamp", {in}, {{"max", floatAttribute(0)}}, out + "/clamped");
  std::string negative = emit("mul", {clamped, slopeName}, {}, out + "/negative");
  define(n, 0, x->dtype, x->shape, emit("add", {positive, negative}, {}, out));
  return true;
}

/// Sum: a chain of broadcasting adds over its inputs (one input: the identity).
bool Importer::importSum(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {}) || n.input_size() == 0)
    return n.input_size() ? false : fail(opName(n) + ": no inputs");
  const Value *first = input(n, 0);
  if (!first)
    return false;
  if (n.input_size() == 1)
    return importIdentity(n);
  std::string sum = use(*first);
  DType dtype = first->dtype;
  Shape shape = first->shape;
  for (int i = 1; i < n.input_size(); ++i) {
    const Value *term = input(n, i);
    if (!term)
      return false;
    std::optional<Shape> joined = broadcastShapes(shape, term->shape);
    if (term->dtype != dtype || !joined)
      return fail(opName(n) + ": input " + std::to_string(i) + " (" + DType_Name(term->dtype) +
                  " " + shapeString(term->shape) + ") does not add to " + DType_Name(dtype) +
                  " " + shapeString(shape));
    shape = *joined;
    bool last = i + 1 == n.input_size();
    sum = emit("add", {sum, use(*term)}, {},
               last ? n.output(0) : n.output(0) + "/partial" + std::to_string(i));
  }
  define(n, 0, dtype, shape, sum);
  return true;
}

void addActivationOps(std::map<std::string, OpEntry> &table) {
  table.insert({
      {"Abs", {&Importer::importAbs, "relu(x) + relu(-x)"}},
      {"Elu", {&Importer::importElu, "relu(x) + alpha * (exp(clamp(x, max 0)) - 1)"}},
      {"Neg", {&Importer::importNeg, "mul by -1"}},
      {"PRelu", {&Importer::importPRelu, "relu(x) + slope * clamp(x, max 0), slope broadcast"}},
      {"Selu", {&Importer::importSelu, "gamma * elu(alpha)"}},
      {"Sum", {&Importer::importSum, "add (a chain over the inputs)"}},
  });
}

} // namespace nnc::onnx_import
