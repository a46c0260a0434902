// ONNX ops -> nn nodes: one Importer member per ONNX op, and the table that maps op types to
// them (what `nnc import --list-ops` prints). The graph walk that calls them is in
// OnnxImporter.cpp.
#include "compiler/import/OnnxImporterImpl.h"

#include <cmath>

namespace nnc::onnx_import {

//===----------------------------------------------------------------------===//
// The ops
//===----------------------------------------------------------------------===//

/// Gemm: alpha * A' B' + beta * C. With transB (PyTorch's nn.Linear) it is nn.linear, whose
/// weight is (out, in); otherwise nn.matmul. alpha and beta other than 1 become multiplies.
bool Importer::importGemm(const onnx::NodeProto &n) {
  // Opset 6's `broadcast` flag: C broadcasts either way here (unidirectionally, as from opset 7).
  if (!checkAttrs(n, {"alpha", "beta", "transA", "transB", "broadcast"}))
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
  // Before opset 7 `broadcast` enabled broadcasting; without `axis` it aligns trailing
  // dimensions, as the later (NumPy) rule does.
  if (!b || !checkAttrs(n, {"broadcast"}))
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
  std::string op = n.op_type() == "Softmax" ? "softmax" : "log_softmax";
  if (opset < 13 && axis != rank - 1) // normalizes the rows of a flattened input
    return flatSoftmax(n, *x, axis, op);
  define(n, 0, x->dtype, x->shape, emit(op, {use(*x)}, {{"axis", intAttribute(axis)}}, n.output(0)));
  return true;
}

/// Symmetric pads from ONNX's [begin..., end...] over `spatial` dimensions; nullopt when
/// asymmetric.
std::optional<std::vector<int64_t>> symmetricPads(const std::vector<int64_t> &pads,
                                                  size_t spatial) {
  if (pads.size() != 2 * spatial)
    return std::nullopt;
  for (size_t i = 0; i < spatial; ++i)
    if (pads[i] != pads[i + spatial])
      return std::nullopt;
  return std::vector<int64_t>(pads.begin(), pads.begin() + spatial);
}

/// A 1-D op's per-dimension list as its 2-D op's, with H = 1: {h, v[0]}.
std::vector<int64_t> liftTo2d(const std::vector<int64_t> &v, int64_t h) {
  return v.size() == 1 ? std::vector<int64_t>{h, v[0]} : v;
}

/// (N, C, L) -> (N, C, 1, L): where a 1-D op's tensors enter its 2-D op.
Shape insertH(const Shape &shape) { return {shape[0], shape[1], 1, shape[2]}; }

/// Conv: nn.conv2d over NCHW with explicit or VALID padding, grouped when `group` > 1
/// (depthwise when it is the channel count). A 1-D Conv over (N, C, L) is that conv2d with
/// H = 1 between reshapes; its weight (O, C / group, K) is reshaped too, so the parameter keeps
/// the file's (PyTorch's) shape.
bool Importer::importConv(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}))
    return false;
  const Value *x = input(n, 0), *w = x ? input(n, 1) : nullptr;
  if (!w)
    return false;
  const Value *b = input(n, 2, /*optional=*/true);
  if (!error.empty())
    return false;
  size_t rank = x->shape.size(), spatial = rank - 2;
  if ((rank != 3 && rank != 4) || w->shape.size() != rank)
    return unsupportedAttr(n, "a " + std::to_string(static_cast<int64_t>(rank) - 2) +
                                  "-D convolution (input " + shapeString(x->shape) +
                                  ", weight " + shapeString(w->shape) + ")");
  if (const onnx::AttributeProto *a = attr(n, "auto_pad"); a && a->s() != "NOTSET" && a->s() != "VALID")
    return unsupportedAttr(n, "auto_pad=" + a->s() + " (export with explicit padding)");
  int64_t group = intAttr(n, "group", 1), channels = x->shape[1], outChannels = w->shape[0];
  if (group < 1 || channels % group != 0 || outChannels % group != 0)
    return fail(opName(n) + ": group=" + std::to_string(group) + " does not divide the input's " +
                std::to_string(channels) + " channels and the weight's " +
                std::to_string(outChannels) + " output channels");
  if (mulSizes(w->shape[1], group) != channels)
    return fail(opName(n) + ": input " + shapeString(x->shape) + " has " +
                std::to_string(channels) + " channels, weight " + shapeString(w->shape) +
                " with group=" + std::to_string(group) + " expects " +
                std::to_string(w->shape[1] * group));
  std::vector<int64_t> ones(spatial, 1);
  std::vector<int64_t> strides = intsAttr(n, "strides").value_or(ones);
  std::vector<int64_t> dilations = intsAttr(n, "dilations").value_or(ones);
  std::vector<int64_t> rawPads =
      intsAttr(n, "pads").value_or(std::vector<int64_t>(2 * spatial, 0));
  std::optional<std::vector<int64_t>> pads = symmetricPads(rawPads, spatial);
  if (!pads)
    return unsupportedAttr(n, "asymmetric pads=" + listString(rawPads));
  auto positive = [&](const std::vector<int64_t> &v) {
    return v.size() == spatial &&
           std::all_of(v.begin(), v.end(), [](int64_t d) { return d > 0; });
  };
  if (!positive(strides) || !positive(dilations))
    return fail(opName(n) + ": strides " + listString(strides) + " and dilations " +
                listString(dilations) + " must be " + std::to_string(spatial) +
                " positive numbers each");
  // From here on 2-D: a 1-D conv's input and weight get H = 1 (and so does its output).
  strides = liftTo2d(strides, 1), dilations = liftTo2d(dilations, 1), *pads = liftTo2d(*pads, 0);
  Shape x2d = spatial == 1 ? insertH(x->shape) : x->shape;
  Shape w2d = spatial == 1 ? insertH(w->shape) : w->shape;
  Shape out = {x2d[0], outChannels};
  for (int i = 0; i < 2; ++i) {
    int64_t span = x2d[2 + i] + 2 * (*pads)[i] - dilations[i] * (w2d[2 + i] - 1) - 1;
    if (span < 0)
      return fail(opName(n) + ": the kernel " + shapeString(w->shape) +
                  " does not fit the input " + shapeString(x->shape) +
                  " with these pads and dilations");
    out.push_back(span / strides[i] + 1);
  }
  std::vector<std::string> operands = {use(*x), use(*w)};
  if (spatial == 1) {
    operands[0] = reshapeAux("input_2d", operands[0], x2d);
    operands[1] = reshapeAux("weight_2d", operands[1], w2d);
  }
  if (b)
    operands.push_back(use(*b));
  std::map<std::string, Attribute> attrs = {{"stride", intsAttribute(strides)},
                                            {"padding", intsAttribute(*pads)},
                                            {"dilation", intsAttribute(dilations)}};
  if (group != 1)
    attrs["groups"] = intAttribute(group);
  std::string result = emit("conv2d", operands, attrs, n.output(0) + (spatial == 1 ? "/2d" : ""));
  if (spatial == 1) {
    out.erase(out.begin() + 2); // (N, O, 1, L') -> (N, O, L')
    result = emitAux("output_1d", "reshape", {result}, {{"shape", intsAttribute(out)}},
                     n.output(0));
  }
  define(n, 0, x->dtype, out, result);
  return true;
}

/// MaxPool/AveragePool: nn.max_pool2d / nn.avg_pool2d (floor rounding; average pooling counts
/// padding as PyTorch's default does). 1-D pooling over (N, C, L) is the 2-D op with H = 1
/// between reshapes, as for Conv.
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
  size_t rank = x->shape.size(), spatial = rank - 2;
  if ((rank != 3 && rank != 4) || !kernel || kernel->size() != spatial)
    return unsupportedAttr(n, "pooling other than 1-D or 2-D (input " + shapeString(x->shape) +
                                  ")");
  if (int64_t ceil = intAttr(n, "ceil_mode", 0))
    return unsupportedAttr(n, "ceil_mode=" + std::to_string(ceil));
  if (const onnx::AttributeProto *a = attr(n, "auto_pad"); a && a->s() != "NOTSET" && a->s() != "VALID")
    return unsupportedAttr(n, "auto_pad=" + a->s() + " (export with explicit padding)");
  std::vector<int64_t> ones(spatial, 1);
  std::vector<int64_t> dilations = intsAttr(n, "dilations").value_or(ones);
  if (dilations != ones && (!isMax || dilations.size() != spatial ||
                            std::any_of(dilations.begin(), dilations.end(),
                                        [](int64_t d) { return d < 1; })))
    return unsupportedAttr(n, "dilations=" + listString(dilations));
  if (int64_t order = intAttr(n, "storage_order", 0))
    return unsupportedAttr(n, "storage_order=" + std::to_string(order));
  std::vector<int64_t> strides = intsAttr(n, "strides").value_or(ones);
  std::vector<int64_t> rawPads =
      intsAttr(n, "pads").value_or(std::vector<int64_t>(2 * spatial, 0));
  std::optional<std::vector<int64_t>> pads = symmetricPads(rawPads, spatial);
  if (!pads)
    return unsupportedAttr(n, "asymmetric pads=" + listString(rawPads));
  auto positive = [](const std::vector<int64_t> &v) {
    return std::all_of(v.begin(), v.end(), [](int64_t d) { return d > 0; });
  };
  if (strides.size() != spatial || !positive(strides) || !positive(*kernel))
    return fail(opName(n) + ": strides " + listString(strides) + " and kernel_shape " +
                listString(*kernel) + " must be " + std::to_string(spatial) +
                " positive numbers each");
  if (!isMax && intAttr(n, "count_include_pad", 0) == 0 &&
      std::any_of(pads->begin(), pads->end(), [](int64_t p) { return p > 0; }))
    return unsupportedAttr(n, "count_include_pad=0 with padding (nnc counts the padding, as "
                              "PyTorch's AvgPool2d does by default)");
  *kernel = liftTo2d(*kernel, 1), strides = liftTo2d(strides, 1), *pads = liftTo2d(*pads, 0);
  dilations = liftTo2d(dilations, 1);
  Shape x2d = spatial == 1 ? insertH(x->shape) : x->shape;
  Shape out = {x2d[0], x2d[1]};
  for (int i = 0; i < 2; ++i)
    out.push_back((x2d[2 + i] + 2 * (*pads)[i] - dilations[i] * ((*kernel)[i] - 1) - 1) /
                      strides[i] + 1);
  std::string in = use(*x);
  if (spatial == 1)
    in = reshapeAux("input_2d", in, x2d);
  std::string result;
  if (dilations != std::vector<int64_t>{1, 1}) { // slices per kernel tap (OnnxMoreOps.cpp)
    result = dilatedMaxPool(n, in, x2d, *kernel, strides, *pads, dilations,
                            n.output(0) + (spatial == 1 ? "/2d" : ""));
    if (result.empty())
      return false;
  } else {
    result = emit(isMax ? "max_pool2d" : "avg_pool2d", {in},
                  {{"kernel_size", intsAttribute(*kernel)}, {"stride", intsAttribute(strides)},
                   {"padding", intsAttribute(*pads)}},
                  n.output(0) + (spatial == 1 ? "/2d" : ""));
  }
  if (spatial == 1) {
    out.erase(out.begin() + 2);
    result = emitAux("output_1d", "reshape", {result}, {{"shape", intsAttribute(out)}},
                     n.output(0));
  }
  define(n, 0, x->dtype, out, result);
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
/// Constant or a folded Shape chain). 0 copies the input's dimension (allowzero=0; a 0 with
/// allowzero=1, an empty dimension, is refused), -1 is inferred. A leading dimension equal to the file's static batch follows --batch-size.
bool Importer::importReshape(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"allowzero"}))
    return false;
  std::optional<std::vector<int64_t>> target = constInts(n, 1, "the target shape");
  if (!target)
    return false;
  // allowzero=1 (the dynamo exporter's) only differs when the target holds a 0.
  if (intAttr(n, "allowzero", 0) && std::count(target->begin(), target->end(), 0))
    return unsupportedAttr(n, "allowzero=1 with a 0 in the target shape");
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
      known = mulSizes(known, out[i]);
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
  // A training-mode export names the mask output; nothing reads it.
  if (n.output_size() > 1 && !n.output(1).empty() && isRead(n.output(1)))
    return unsupportedAttr(n, "reading the mask output");
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
      int64_t given = saturatedInt(i);
      int64_t index = given < 0 && given >= -data->shape[0] ? given + data->shape[0] : given;
      if (index < 0 || index >= data->shape[0])
        return fail(opName(n) + ": index " + std::to_string(given) + " is out of range for " +
                    shapeString(data->shape));
      out.push_back((*data->constant)[index]);
    }
    defineConst(n, data->dtype, indices->shape, std::move(out));
    return true;
  }
  if (folds(*indices) && indices->shape.empty())
    return importGatherScalar(n, *data, axis);
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
  if (to == onnx::TensorProto::BOOL)
    return importCastToBool(n);
  DType dtype = convertDType(static_cast<int>(to));
  if (dtype == DTYPE_UNSET)
    return fail(opName(n) + ": " + dtypeError(static_cast<int>(to), "the target"));
  return castTo(n, *x, dtype);
}

/// CastLike (the dynamo exporter's constants): Cast to the dtype of the second input.
bool Importer::importCastLike(const onnx::NodeProto &n) {
  const Value *x = input(n, 0), *like = x ? input(n, 1) : nullptr;
  if (!like || !checkAttrs(n, {"saturate"}))
    return false;
  return castTo(n, *x, like->dtype);
}

bool Importer::castTo(const onnx::NodeProto &n, const Value &value, DType dtype) {
  const Value *x = &value;
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

/// Pad: nn.pad with zeros (constant mode, pads known at import: an input from opset 11, an
/// attribute before); no node when every pad is 0, as PyTorch's export of AvgPool2d emits.
bool Importer::importPad(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"mode", "pads", "value"}))
    return false;
  const onnx::AttributeProto *modeAttr = attr(n, "mode");
  std::string mode = modeAttr ? modeAttr->s() : "constant";
  if (mode != "constant" && mode != "reflect" && mode != "edge")
    return unsupportedAttr(n, "mode=" + mode);
  // Before opset 11 the pads and the fill are attributes.
  std::optional<std::vector<int64_t>> pads =
      opset < 11 ? intsAttr(n, "pads") : constInts(n, 1, "pads");
  if (!pads)
    return error.empty() ? unsupportedAttr(n, "a Pad without pads") : false;
  double fill = opset < 11 ? floatAttr(n, "value", 0) : 0;
  if (n.input_size() > 2 && !n.input(2).empty()) {
    const Value *fillValue = input(n, 2);
    if (!fillValue || !fillValue->constant || fillValue->constant->size() != 1)
      return error.empty() ? unsupportedAttr(n, "a constant_value not known at import") : false;
    fill = (*fillValue->constant)[0];
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
  if (mode != "constant") // reflect, edge: slices of the input around it (OnnxMoreOps.cpp)
    return padByCopies(n, *x, low, high, mode == "reflect");
  if (fill != 0)
    return padWithFill(n, *x, low, high, fill);
  Shape out = x->shape;
  for (int64_t i = 0; i < rank; ++i)
    out[i] += low[i] + high[i];
  define(n, 0, x->dtype, out,
         emit("pad", {use(*x)}, {{"low", intsAttribute(low)}, {"high", intsAttribute(high)}},
              n.output(0)));
  return true;
}

/// BatchNormalization: nn.batch_norm over (N, C) or (N, C, H, W), the running statistics as
/// frozen parameters. Whatever training_mode says, nnc's train steps normalize with the batch's
/// statistics and update the running ones (PyTorch's momentum = 1 - ONNX's), and evaluation and
/// prediction use the running ones, as PyTorch's train() and eval() modes do.
bool Importer::importBatchNorm(const onnx::NodeProto &n) {
  // Opsets 6 and earlier: is_test (evaluation is what nnc's predict does anyway) and
  // consumed_inputs (a legacy in-place hint).
  if (!checkAttrs(n, {"epsilon", "momentum", "training_mode", "spatial", "is_test",
                      "consumed_inputs"}))
    return false;
  std::vector<const Value *> in;
  for (int i = 0; i < 5; ++i) {
    const Value *v = input(n, i);
    if (!v)
      return false;
    in.push_back(v);
  }
  const Value *x = in[0];
  if (x->shape.size() != 2 && x->shape.size() != 4)
    return unsupportedAttr(n, "an input of rank " + std::to_string(x->shape.size()) +
                                  " (only (N, C) and (N, C, H, W))");
  if (intAttr(n, "spatial", 1) != 1)
    return unsupportedAttr(n, "spatial=0");
  for (int i = 1; i < 5; ++i)
    if (in[i]->shape != Shape{x->shape[1]})
      return fail(opName(n) + ": input " + std::to_string(i) + " has shape " +
                  shapeString(in[i]->shape) + ", expected [" + std::to_string(x->shape[1]) + "]");
  if (!isWeight(*in[3]) || !isWeight(*in[4]))
    return unsupportedAttr(n, "running statistics that are not initializers");
  for (int i = 1; i < n.output_size(); ++i)
    if (!n.output(i).empty() && i > 2)
      return unsupportedAttr(n, "the saved mean and variance outputs (export with opset 14 or "
                                "later)");
  std::vector<std::string> operands;
  for (const Value *v : in)
    operands.push_back(use(*v));
  for (Parameter &param : *model.mutable_parameters())
    if (param.name() == operands[3] || param.name() == operands[4])
      param.set_frozen(true); // updated by every train step, never by the optimizer
  std::map<std::string, Attribute> attrs;
  double epsilon = floatAttr(n, "epsilon", 1e-5), momentum = 1.0 - floatAttr(n, "momentum", 0.9);
  if (std::abs(epsilon - 1e-5) > 1e-12)
    attrs["epsilon"] = floatAttribute(epsilon);
  if (std::abs(momentum - 0.1) > 1e-7)
    attrs["momentum"] = floatAttribute(momentum);
  define(n, 0, x->dtype, x->shape, emit("batch_norm", operands, attrs, n.output(0)));
  return true;
}

/// GlobalAveragePool (PyTorch's AdaptiveAvgPool2d(1) and AdaptiveAvgPool1d(1)): the mean over
/// the spatial dimensions of (N, C, H, W) or (N, C, L), kept as size 1.
bool Importer::importGlobalAveragePool(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {}))
    return false;
  if (x->shape.size() != 4 && x->shape.size() != 3)
    return unsupportedAttr(n, "an input of rank " + std::to_string(x->shape.size()) +
                                  " (only (N, C, H, W) and (N, C, L))");
  Attribute keep;
  keep.set_b(true);
  std::vector<int64_t> axes = {2, 3};
  Shape out = {x->shape[0], x->shape[1], 1, 1};
  if (x->shape.size() == 3)
    axes = {2}, out = {x->shape[0], x->shape[1], 1};
  define(n, 0, x->dtype, out,
         emit("reduce_mean", {use(*x)}, {{"axes", intsAttribute(axes)}, {"keepdim", keep}},
              n.output(0)));
  return true;
}

//===----------------------------------------------------------------------===//
// Clip and the hard activations (MobileNet), LeakyRelu: nn.clamp and compositions
//===----------------------------------------------------------------------===//

/// Adds a helper node named "<node>/<what>" (the ONNX node's own name stays for its main op).
std::string Importer::emitAux(const std::string &what, const std::string &op,
                              const std::vector<std::string> &inputs,
                              std::map<std::string, Attribute> attrs, const std::string &output) {
  std::string main = nodeName;
  nodeName = main + "/" + what;
  std::string result = emit(op, inputs, std::move(attrs), output);
  nodeName = main;
  return result;
}

std::string Importer::reshapeAux(const std::string &what, const std::string &input,
                                 const Shape &shape) {
  return emitAux(what, "reshape", {input}, {{"shape", intsAttribute(shape)}},
                 input + "/" + what);
}

/// A float scalar constant "<node>/<what>".
std::string Importer::scalar(const std::string &what, double value) {
  Value v{F32, {}, std::vector<double>{value}, false, nodeName + "/" + what, ""};
  return use(v);
}

/// Clip: nn.clamp, the bounds known at import (inputs from opset 11, attributes before; either
/// may be absent). PyTorch's ReLU6 and Hardtanh export as Clip; NaN stays NaN.
bool Importer::importClip(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {"min", "max"}))
    return false;
  const Value *x = input(n, 0);
  if (!x)
    return false;
  std::map<std::string, Attribute> bounds;
  const char *names[] = {"min", "max"};
  for (int i = 1; i <= 2; ++i) {
    const char *name = names[i - 1];
    if (opset < 11) {
      if (attr(n, name))
        bounds[name] = floatAttribute(floatAttr(n, name, 0));
      continue;
    }
    const Value *bound = input(n, i, /*optional=*/true);
    if (!error.empty())
      return false;
    if (!bound)
      continue;
    if (!bound->constant || bound->constant->size() != 1)
      return unsupportedAttr(n, std::string(name) + " ('" + n.input(i) +
                                    "') computed at run time or not a scalar (nnc needs a "
                                    "constant bound)");
    bounds[name] = floatAttribute((*bound->constant)[0]);
  }
  if (x->dtype != F32)
    return unsupportedAttr(n, "an input of dtype " + DType_Name(x->dtype));
  define(n, 0, x->dtype, x->shape, emit("clamp", {use(*x)}, bounds, n.output(0)));
  return true;
}

/// HardSigmoid: clamp(alpha x + beta, 0, 1); PyTorch's Hardsigmoid exports alpha = 1/6.
bool Importer::importHardSigmoid(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"alpha", "beta"}))
    return false;
  double alpha = floatAttr(n, "alpha", 0.2), beta = floatAttr(n, "beta", 0.5);
  std::string scaled = emit("mul", {use(*x), scalar("alpha", alpha)}, {}, n.output(0) + "/scaled");
  std::string shifted = emit("add", {scaled, scalar("beta", beta)}, {}, n.output(0) + "/shifted");
  define(n, 0, x->dtype, x->shape,
         emit("clamp", {shifted}, {{"min", floatAttribute(0)}, {"max", floatAttribute(1)}},
              n.output(0)));
  return true;
}

/// HardSwish (opset 14; PyTorch's Hardswish): x * clamp(x + 3, 0, 6) / 6, in PyTorch's order.
bool Importer::importHardSwish(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {}))
    return false;
  std::string in = use(*x);
  std::string shifted = emit("add", {in, scalar("three", 3)}, {}, n.output(0) + "/shifted");
  std::string gate = emit("clamp", {shifted},
                          {{"min", floatAttribute(0)}, {"max", floatAttribute(6)}},
                          n.output(0) + "/gate");
  std::string product = emit("mul", {in, gate}, {}, n.output(0) + "/product");
  define(n, 0, x->dtype, x->shape,
         emit("div", {product, scalar("six", 6)}, {}, n.output(0)));
  return true;
}

/// LeakyRelu: relu(x) + alpha * min(x, 0), exact on either side of 0 and NaN for NaN.
bool Importer::importLeakyRelu(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"alpha"}))
    return false;
  std::string in = use(*x);
  std::string positive = emit("relu", {in}, {}, n.output(0) + "/positive");
  std::string negative =
      emit("clamp", {in}, {{"max", floatAttribute(0)}}, n.output(0) + "/negative");
  std::string scaled = emit("mul", {negative, scalar("alpha", floatAttr(n, "alpha", 0.01))}, {},
                            n.output(0) + "/scaled");
  define(n, 0, x->dtype, x->shape, emit("add", {positive, scaled}, {}, n.output(0)));
  return true;
}

const std::map<std::string, OpEntry> &opTable() {
  static const std::map<std::string, OpEntry> table = [] {
    std::map<std::string, OpEntry> ops = {
      {"Add", {&Importer::importBinary, "add (folded when both operands are constants)"}},
      {"AveragePool", {&Importer::importPool, "avg_pool2d (1-D or 2-D, floor, padding counted)"}},
      {"BatchNormalization",
       {&Importer::importBatchNorm, "batch_norm (training_mode 0 or 1: batch statistics in train "
                                    "steps, running ones in evaluation)"}},
      {"Cast", {&Importer::importCast, "folded for constants; identity when the dtype stays"}},
      {"CastLike", {&Importer::importCastLike, "as Cast, to the second input's dtype"}},
      {"Clip", {&Importer::importClip, "clamp (bounds known at import; ReLU6, Hardtanh)"}},
      {"Concat", {&Importer::importConcat, "concat (folded when every input is a constant)"}},
      {"Constant", {&Importer::importConstant, "a constant, a node only where an op reads it"}},
      {"Conv", {&Importer::importConv, "conv2d (1-D as 2-D with H = 1, grouped and depthwise, "
                                       "symmetric padding)"}},
      {"Div", {&Importer::importBinary, "div (folded when both operands are constants)"}},
      {"Dropout", {&Importer::importDropout, "dropout at the given ratio (mask output unread)"}},
      {"Erf", {&Importer::importErf, "gelu, inside x * 0.5 * (1 + erf(x / sqrt(2)))"}},
      {"Flatten", {&Importer::importFlatten, "reshape"}},
      {"Gather",
       {&Importer::importGather, "folded for constants; embedding (axis 0 of a table); slice "
                                 "and reshape for one known index"}},
      {"Gelu", {&Importer::importGelu, "gelu (approximate none or tanh)"}},
      {"GlobalAveragePool",
       {&Importer::importGlobalAveragePool, "reduce_mean over H and W (or L), kept"}},
      {"Gemm", {&Importer::importGemm, "linear (transB=1) or matmul, with alpha/beta multiplies"}},
      {"HardSigmoid", {&Importer::importHardSigmoid, "clamp(alpha x + beta, 0, 1)"}},
      {"HardSwish", {&Importer::importHardSwish, "x * clamp(x + 3, 0, 6) / 6"}},
      {"Identity", {&Importer::importIdentity, "no node"}},
      {"LeakyRelu", {&Importer::importLeakyRelu, "relu(x) + alpha * clamp(x, max 0)"}},
      {"LogSoftmax",
       {&Importer::importSoftmax, "log_softmax (before opset 13 over a flattened input)"}},
      {"MatMul", {&Importer::importMatMul, "matmul (operands of rank >= 2)"}},
      {"MaxPool", {&Importer::importPool, "max_pool2d (1-D or 2-D, floor, no Indices output; "
                                         "dilated: slices per kernel tap and reduce_max)"}},
      {"Mul", {&Importer::importBinary, "mul (folded when both operands are constants)"}},
      {"Pad", {&Importer::importPad, "pad (constant mode; a fill other than 0 adds a constant); "
                                     "reflect and edge: slices concatenated; no node when all "
                                     "pads are 0"}},
      {"Relu", {&Importer::importUnary, "relu"}},
      {"Reshape", {&Importer::importReshape, "reshape (the shape known at import)"}},
      {"Shape", {&Importer::importShape, "folded to a constant"}},
      {"Sigmoid", {&Importer::importUnary, "sigmoid"}},
      {"Softmax", {&Importer::importSoftmax, "softmax (before opset 13 over a flattened input)"}},
      {"Squeeze", {&Importer::importSqueeze, "reshape (folded for constants)"}},
      {"Sub", {&Importer::importBinary, "sub (folded when both operands are constants)"}},
      {"Tanh", {&Importer::importUnary, "tanh"}},
      {"Transpose", {&Importer::importTranspose, "transpose"}},
      {"Unsqueeze", {&Importer::importUnsqueeze, "reshape (folded for constants)"}},
    };
    addTransformerOps(ops);
    addActivationOps(ops);
    addMoreOps(ops);
    return ops;
  }();
  return table;
}

} // namespace nnc::onnx_import
