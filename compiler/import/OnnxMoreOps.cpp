// More ONNX ops, each a composition of nn ops whose gradients come from their parts (so every
// one trains, on CPU and CUDA, with no new kernel): the dynamo exporter's sequences
// (SplitToSequence, SequenceAt), Softplus, Sign, Shrink, Min/Max, Tile, Pad's reflect and edge
// modes and nonzero fill, Softmax's flattening axis before opset 13, InstanceNormalization and
// ConvTranspose. ONNX's backend test data (scripts/onnx_conformance.py) and
// test/onnx/more_ops.test check them against NumPy, test/numerics/check_grads.py their
// gradients.
#include "compiler/import/OnnxImporterImpl.h"

#include <cmath>

namespace nnc::onnx_import {

/// The float-only check every elementwise op here starts with.
bool Importer::floatInput(const onnx::NodeProto &n, const Value *x) {
  if (!x)
    return false;
  if (x->dtype != F32)
    return unsupportedAttr(n, "a " + DType_Name(x->dtype) + " input (float only)");
  return true;
}

/// `input` reshaped, as the tensor "<node>/<what>": named after the node, not the input, so
/// that two nodes reading one input never name their tensors alike.
std::string Importer::reshapeOwn(const std::string &what, const std::string &input,
                                 const Shape &shape) {
  return emitAux(what, "reshape", {input}, {{"shape", intsAttribute(shape)}},
                 nodeName + "/" + what);
}

//===----------------------------------------------------------------------===//
// Sequences (the dynamo exporter's torch.split)
//===----------------------------------------------------------------------===//

/// SplitToSequence: one nn.slice per part, kept as the sequence's elements for SequenceAt. The
/// split is known at import: a scalar chunk length (the last chunk smaller), a 1-D list of
/// lengths, or absent (parts of 1, squeezed when keepdims is 0).
bool Importer::importSplitToSequence(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"axis", "keepdims"}))
    return false;
  int64_t rank = x->shape.size(), axis = intAttr(n, "axis", 0);
  if (rank == 0)
    return fail(opName(n) + ": cannot split a scalar");
  if (!normalizeAxis(axis, rank, "axis"))
    return false;
  int64_t dim = x->shape[axis];
  std::vector<int64_t> sizes;
  bool squeeze = false;
  if (n.input_size() > 1 && !n.input(1).empty()) {
    std::optional<std::vector<int64_t>> split = constInts(n, 1, "split");
    if (!split)
      return false;
    if (values[n.input(1)].shape.empty()) { // one chunk length
      if ((*split)[0] < 1)
        return fail(opName(n) + ": split length " + std::to_string((*split)[0]));
      for (int64_t at = 0; at < dim; at += (*split)[0])
        sizes.push_back(std::min((*split)[0], dim - at));
    } else {
      sizes = *split;
    }
  } else {
    sizes.assign(dim, 1);
    squeeze = intAttr(n, "keepdims", 1) == 0;
  }
  int64_t total = 0;
  for (int64_t s : sizes)
    total += s < 1 ? dim + 1 : s; // a part below 1 never covers the dimension
  if (total != dim)
    return fail(opName(n) + ": split " + listString(sizes) + " does not cover dimension " +
                std::to_string(axis) + " of " + shapeString(x->shape));
  std::vector<Value> &parts = sequences[n.output(0)];
  Shape start(rank, 0), limit = x->shape;
  for (size_t i = 0; i < sizes.size(); ++i) {
    limit[axis] = start[axis] + sizes[i];
    Value part{x->dtype, x->shape, std::nullopt, false, n.output(0) + "/" + std::to_string(i),
               ""};
    part.shape[axis] = sizes[i];
    part.name = emit("slice", {use(*x)},
                     {{"start", intsAttribute(start)}, {"limit", intsAttribute(limit)}},
                     part.origin);
    if (squeeze) {
      part.shape.erase(part.shape.begin() + axis);
      part.name = reshapeOwn("squeeze" + std::to_string(i), part.name, part.shape);
    }
    parts.push_back(part);
    start[axis] = limit[axis];
  }
  return true;
}

/// SequenceAt with a position known at import: that element, no node.
bool Importer::importSequenceAt(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {}) || n.input_size() < 2)
    return n.input_size() < 2 ? fail(opName(n) + ": needs a sequence and a position") : false;
  auto sequence = sequences.find(n.input(0));
  if (sequence == sequences.end())
    return fail(opName(n) + ": input '" + n.input(0) +
                "' is not a sequence from SplitToSequence (the only sequences nnc imports)");
  std::optional<std::vector<int64_t>> position = constInts(n, 1, "the position");
  if (!position)
    return false;
  int64_t count = sequence->second.size(), at = (*position)[0];
  if (position->size() != 1 || at < -count || at >= count)
    return fail(opName(n) + ": position " + listString(*position) + " of a sequence of " +
                std::to_string(count));
  values[n.output(0)] = sequence->second[at < 0 ? at + count : at];
  return true;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

/// Softplus: log(1 + exp(x)) = -log_softmax([0, x])[0], which nn has without a log op: stable
/// for large |x| (log_softmax subtracts the maximum), and its gradient is sigmoid(x).
bool Importer::importSoftplus(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!floatInput(n, x) || !checkAttrs(n, {}))
    return false;
  Shape column = x->shape;
  column.push_back(1);
  Shape pair = x->shape;
  pair.push_back(2);
  std::string out = n.output(0), in = reshapeOwn("column", use(*x), column);
  std::string zeros = emit("mul", {in, scalar("zero", 0)}, {}, out + "/zeros");
  std::string both = emit("concat", {zeros, in}, {{"axis", intAttribute(-1)}}, out + "/pair");
  std::string logp = emit("log_softmax", {both}, {{"axis", intAttribute(-1)}}, out + "/logp");
  Shape first(pair.size(), 0), limit = pair;
  limit.back() = 1;
  std::string picked = emit("slice", {logp},
                            {{"start", intsAttribute(first)}, {"limit", intsAttribute(limit)}},
                            out + "/picked");
  std::string flat = reshapeOwn("flat", picked, x->shape);
  define(n, 0, F32, x->shape, emit("mul", {flat, scalar("minus_one", -1)}, {}, out));
  return true;
}

/// 1 where x > 0, else 0 (NaN: 0), passing no gradient: 1 - (relu(x) == 0).
std::string Importer::positiveMask(const std::string &x, const std::string &what) {
  std::string positive =
      emitAux(what + "_relu", "relu", {x}, {}, nodeName + "/" + what + "_relu");
  std::string zero = emitAux(what + "_eq", "equal", {positive, scalar(what + "_zero", 0)}, {},
                             nodeName + "/" + what + "_eq");
  return emitAux(what, "sub", {scalar(what + "_one", 1), zero}, {}, nodeName + "/" + what);
}

/// Sign: (x > 0) - (x < 0), zero gradient as PyTorch's sign.
bool Importer::importSign(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!floatInput(n, x) || !checkAttrs(n, {}))
    return false;
  std::string in = emit("stop_gradient", {use(*x)}, {}, n.output(0) + "/detached");
  std::string negated = emit("mul", {in, scalar("minus_one", -1)}, {}, n.output(0) + "/negated");
  std::string above = positiveMask(in, "above"), below = positiveMask(negated, "below");
  define(n, 0, F32, x->shape, emit("sub", {above, below}, {}, n.output(0)));
  return true;
}

/// Shrink(lambd, bias): x - bias where x > lambd, x + bias where x < -lambd, else 0; written
/// relu(x - lambd) - relu(-x - lambd) + (lambd - bias) * ((x > lambd) - (x < -lambd)), whose
/// gradient is 1 outside [-lambd, lambd] and 0 inside, as PyTorch's hard/softshrink.
bool Importer::importShrink(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!floatInput(n, x) || !checkAttrs(n, {"lambd", "bias"}))
    return false;
  double lambd = floatAttr(n, "lambd", 0.5), bias = floatAttr(n, "bias", 0);
  if (lambd < 0)
    return unsupportedAttr(n, "lambd=" + std::to_string(lambd) + " below 0");
  std::string in = use(*x), out = n.output(0);
  std::string above = emit("sub", {in, scalar("lambd", lambd)}, {}, out + "/above");
  std::string negated = emit("mul", {in, scalar("minus_one", -1)}, {}, out + "/negated");
  std::string below = emit("sub", {negated, scalar("lambd2", lambd)}, {}, out + "/below");
  std::string up = emit("relu", {above}, {}, out + "/up");
  std::string down = emit("relu", {below}, {}, out + "/down");
  std::string ramp = emit("sub", {up, down}, {}, lambd == bias ? out : out + "/ramp");
  if (lambd == bias) { // softshrink: the ramps alone
    define(n, 0, F32, x->shape, ramp);
    return true;
  }
  std::string aboveDetached = emit("stop_gradient", {above}, {}, out + "/above_detached");
  std::string belowDetached = emit("stop_gradient", {below}, {}, out + "/below_detached");
  std::string side = emit("sub", {positiveMask(aboveDetached, "is_above"),
                                  positiveMask(belowDetached, "is_below")},
                          {}, out + "/side");
  std::string step = emit("mul", {side, scalar("step", lambd - bias)}, {}, out + "/steps");
  define(n, 0, F32, x->shape, emit("add", {ramp, step}, {}, out));
  return true;
}

/// Min/Max over any number of broadcasting inputs: each broadcast to the common shape and
/// stacked on a new leading axis, then reduce_max (Min: of the negations), so the gradient goes
/// to the input that is the extreme (to every one on a tie).
bool Importer::importMinMax(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {}) || n.input_size() == 0)
    return n.input_size() ? false : fail(opName(n) + ": no inputs");
  bool isMin = n.op_type() == "Min";
  Shape shape;
  for (int i = 0; i < n.input_size(); ++i) {
    const Value *v = input(n, i);
    if (!floatInput(n, v))
      return false;
    std::optional<Shape> joined = broadcastShapes(shape, v->shape);
    if (!joined)
      return fail(opName(n) + ": input " + std::to_string(i) + " " + shapeString(v->shape) +
                  " does not broadcast to " + shapeString(shape));
    shape = *joined;
  }
  if (n.input_size() == 1 && values[n.input(0)].shape == shape)
    return importIdentity(n);
  Shape row = shape;
  row.insert(row.begin(), 1);
  std::vector<std::string> rows;
  std::string out = n.output(0);
  for (int i = 0; i < n.input_size(); ++i) {
    const Value &v = values[n.input(i)];
    std::string term = use(v), tag = "/" + std::to_string(i);
    if (isMin)
      term = emit("mul", {term, scalar("minus_one" + tag.substr(1), -1)}, {}, out + "/negated" + tag);
    if (v.shape != shape)
      term = emit("broadcast", {term}, {{"shape", intsAttribute(shape)}}, out + "/broadcast" + tag);
    rows.push_back(reshapeOwn("row" + std::to_string(i), term, row));
  }
  std::string stacked = emit("concat", rows, {{"axis", intAttribute(0)}}, out + "/stacked");
  std::string extreme = emit("reduce_max", {stacked}, {{"axes", intsAttribute({0})}},
                             isMin ? out + "/max_of_negated" : out);
  if (isMin)
    extreme = emit("mul", {extreme, scalar("minus_one_out", -1)}, {}, out);
  define(n, 0, F32, shape, extreme);
  return true;
}

//===----------------------------------------------------------------------===//
// Shapes: Tile, Pad modes
//===----------------------------------------------------------------------===//

/// Tile with repeats known at import: per repeated axis, a concat of that many copies.
bool Importer::importTile(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {}))
    return false;
  std::optional<std::vector<int64_t>> repeats = constInts(n, 1, "repeats");
  if (!repeats)
    return false;
  int64_t rank = x->shape.size();
  if (int64_t(repeats->size()) != rank ||
      std::any_of(repeats->begin(), repeats->end(), [](int64_t r) { return r < 1; }))
    return fail(opName(n) + ": repeats " + listString(*repeats) + " for an input of shape " +
                shapeString(x->shape) + " (one positive count per dimension)");
  std::string current = use(*x);
  Shape shape = x->shape;
  for (int64_t axis = 0; axis < rank; ++axis) {
    int64_t r = (*repeats)[axis];
    if (r == 1)
      continue;
    shape[axis] *= r;
    current = emit("concat", std::vector<std::string>(r, current),
                   {{"axis", intAttribute(axis)}},
                   n.output(0) + "/tiled" + std::to_string(axis));
  }
  if (current == use(*x))
    return importIdentity(n);
  define(n, 0, x->dtype, shape, current);
  return true;
}

/// The slice of `x` (shape `shape`) from `from` to `to` along `axis`, as "<node>/<what>".
std::string Importer::sliceAxis(const std::string &x, const Shape &shape, int64_t axis,
                                int64_t from, int64_t to, const std::string &what) {
  Shape start(shape.size(), 0), limit = shape;
  start[axis] = from, limit[axis] = to;
  return emitAux(what, "slice", {x},
                 {{"start", intsAttribute(start)}, {"limit", intsAttribute(limit)}},
                 nodeName + "/" + what);
}

/// Pad in mode reflect (x[p], ..., x[1] before, mirrored after) or edge (the border element
/// repeated): per padded axis, slices of the input concatenated around it.
bool Importer::padByCopies(const onnx::NodeProto &n, const Value &x,
                           const std::vector<int64_t> &low, const std::vector<int64_t> &high,
                           bool reflect) {
  std::string current = use(x);
  Shape shape = x.shape;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    int64_t dim = shape[axis];
    if (low[axis] == 0 && high[axis] == 0)
      continue;
    if (reflect ? std::max(low[axis], high[axis]) >= dim : dim == 0)
      return fail(opName(n) + ": pads " + std::to_string(low[axis]) + ", " +
                  std::to_string(high[axis]) + " of dimension " + std::to_string(axis) +
                  " (size " + std::to_string(dim) + ") in mode " +
                  (reflect ? "reflect need a larger dimension" : "edge need a nonempty one"));
    std::string tag = std::to_string(axis) + "_";
    std::vector<std::string> pieces;
    auto element = [&](int64_t i, const std::string &what) {
      return sliceAxis(current, shape, axis, i, i + 1, what + tag + std::to_string(i));
    };
    for (int64_t k = low[axis]; k >= 1; --k) // before: x[k] (reflect) or x[0] (edge)
      pieces.push_back(element(reflect ? k : 0, "before" + std::to_string(k) + "_"));
    pieces.push_back(current);
    for (int64_t k = 1; k <= high[axis]; ++k)
      pieces.push_back(element(reflect ? dim - 1 - k : dim - 1, "after" + std::to_string(k) + "_"));
    shape[axis] += low[axis] + high[axis];
    current = emit("concat", pieces, {{"axis", intAttribute(axis)}},
                   n.output(0) + "/padded" + std::to_string(axis));
  }
  define(n, 0, x.dtype, shape, current);
  return true;
}

/// `x` (shape `shape`) padded by `low` and `high` with `fill`, as the tensor `output`: nn.pad's
/// zeros plus a constant that is `fill` outside the input and 0 inside, built at import, so the
/// input's values stay exact. Empty (and `error` set) when that constant would be too large to
/// fold.
std::string Importer::padFilled(const onnx::NodeProto &n, const std::string &x,
                                const Shape &shape, const std::vector<int64_t> &low,
                                const std::vector<int64_t> &high, double fill,
                                const std::string &output) {
  Shape out = shape;
  for (size_t i = 0; i < out.size(); ++i)
    out[i] += low[i] + high[i];
  if (!checkFoldSize(n, out))
    return "";
  std::vector<double> border(numElements(out), fill);
  int64_t rank = out.size();
  for (int64_t k = 0; k < int64_t(border.size()); ++k) {
    bool inside = true;
    for (int64_t d = rank - 1, rest = k; d >= 0; rest /= out[d], --d) {
      int64_t at = rest % out[d] - low[d];
      inside = inside && at >= 0 && at < shape[d];
    }
    if (inside)
      border[k] = 0;
  }
  Value borderValue{F32, out, std::move(border), false, nodeName + "/border", ""};
  std::string padded = emitAux("zero_padded", "pad", {x},
                               {{"low", intsAttribute(low)}, {"high", intsAttribute(high)}},
                               nodeName + "/zero_padded");
  return emitAux("filled", "add", {padded, use(borderValue)}, {}, output);
}

/// Pad with a constant fill other than 0 (padFilled).
bool Importer::padWithFill(const onnx::NodeProto &n, const Value &x,
                           const std::vector<int64_t> &low, const std::vector<int64_t> &high,
                           double fill) {
  std::string padded = padFilled(n, use(x), x.shape, low, high, fill, n.output(0));
  if (padded.empty())
    return false;
  Shape out = x.shape;
  for (size_t i = 0; i < out.size(); ++i)
    out[i] += low[i] + high[i];
  define(n, 0, x.dtype, out, padded);
  return true;
}

/// 2-D max pooling with dilations over `x` (N, C, H, W): the input padded with -inf, one strided
/// slice per kernel tap (the tap's element of every window), stacked, reduce_max; its gradient
/// goes to each window's maximum as max_pool2d's does. Returns the result, (N, C, OH, OW).
std::string Importer::dilatedMaxPool(const onnx::NodeProto &n, const std::string &x,
                                     const Shape &shape, const std::vector<int64_t> &kernel,
                                     const std::vector<int64_t> &strides,
                                     const std::vector<int64_t> &pads,
                                     const std::vector<int64_t> &dilations,
                                     const std::string &output) {
  // One slice per tap: fine for the 3x3 or 2x3 kernels of dilated CNNs, not for huge ones.
  constexpr int64_t kMaxTaps = 256;
  if (kernel[0] * kernel[1] > kMaxTaps) {
    unsupportedAttr(n, "dilations with a kernel of " + std::to_string(kernel[0] * kernel[1]) +
                           " taps (at most " + std::to_string(kMaxTaps) + ")");
    return "";
  }
  std::vector<int64_t> low = {0, 0, pads[0], pads[1]};
  std::string padded = padFilled(n, x, shape, low, low, -INFINITY, nodeName + "/filled");
  if (padded.empty())
    return "";
  Shape window = {shape[0], shape[1]}, row = {1};
  for (int i = 0; i < 2; ++i)
    window.push_back((shape[2 + i] + 2 * pads[i] - dilations[i] * (kernel[i] - 1) - 1) /
                         strides[i] + 1);
  row.insert(row.end(), window.begin(), window.end());
  std::vector<std::string> taps;
  for (int64_t i = 0; i < kernel[0]; ++i)
    for (int64_t j = 0; j < kernel[1]; ++j) {
      std::vector<int64_t> start = {0, 0, i * dilations[0], j * dilations[1]};
      std::vector<int64_t> limit = {shape[0], shape[1],
                                    start[2] + (window[2] - 1) * strides[0] + 1,
                                    start[3] + (window[3] - 1) * strides[1] + 1};
      std::string tag = "tap" + std::to_string(i) + "_" + std::to_string(j);
      std::string tap = emitAux(tag, "slice", {padded},
                                {{"start", intsAttribute(start)},
                                 {"limit", intsAttribute(limit)},
                                 {"step", intsAttribute({1, 1, strides[0], strides[1]})}},
                                nodeName + "/" + tag);
      taps.push_back(reshapeOwn(tag + "_row", tap, row));
    }
  std::string stacked =
      emitAux("taps", "concat", taps, {{"axis", intAttribute(0)}}, nodeName + "/taps");
  return emitAux("max", "reduce_max", {stacked}, {{"axes", intsAttribute({0})}}, output);
}

//===----------------------------------------------------------------------===//
// Softmax before opset 13, InstanceNormalization
//===----------------------------------------------------------------------===//

/// Softmax/LogSoftmax before opset 13 with an axis other than the last: ONNX then flattens the
/// input to (product of dims before axis, product from axis) and normalizes each row.
bool Importer::flatSoftmax(const onnx::NodeProto &n, const Value &x, int64_t axis,
                           const std::string &op) {
  Shape rows = {1, 1};
  for (size_t d = 0; d < x.shape.size(); ++d)
    rows[int64_t(d) < axis ? 0 : 1] *= x.shape[d];
  std::string flat = reshapeOwn("rows", use(x), rows);
  std::string normalized =
      emit(op, {flat}, {{"axis", intAttribute(1)}}, n.output(0) + "/rows_" + op);
  define(n, 0, x.dtype, x.shape, reshapeOwn("unflatten", normalized, x.shape));
  return true;
}

/// InstanceNormalization over (N, C, ...): each sample's channel normalized over its spatial
/// dimensions (biased variance), then scale and B per channel; reduce_mean, sub, mul, sqrt, div.
bool Importer::importInstanceNorm(const onnx::NodeProto &n) {
  const Value *x = input(n, 0), *scale = x ? input(n, 1) : nullptr,
              *bias = scale ? input(n, 2) : nullptr;
  if (!floatInput(n, x) || !bias || !checkAttrs(n, {"epsilon"}))
    return false;
  int64_t rank = x->shape.size();
  if (rank < 3 || scale->shape != Shape{x->shape[1]} || bias->shape != Shape{x->shape[1]})
    return fail(opName(n) + ": input " + shapeString(x->shape) + ", scale " +
                shapeString(scale->shape) + " and B " + shapeString(bias->shape) +
                " (expected (N, C, ...) with (C) each)");
  std::vector<int64_t> spatial;
  Shape perChannel = {x->shape[1]};
  for (int64_t d = 2; d < rank; ++d)
    spatial.push_back(d), perChannel.push_back(1);
  std::string in = use(*x), out = n.output(0);
  Attribute keep;
  keep.set_b(true);
  std::map<std::string, Attribute> reduce = {{"axes", intsAttribute(spatial)}, {"keepdim", keep}};
  std::string mean = emit("reduce_mean", {in}, reduce, out + "/mean");
  std::string centered = emit("sub", {in, mean}, {}, out + "/centered");
  std::string squared = emit("mul", {centered, centered}, {}, out + "/squared");
  std::string variance = emit("reduce_mean", {squared}, reduce, out + "/variance");
  std::string shifted =
      emit("add", {variance, scalar("epsilon", floatAttr(n, "epsilon", 1e-5))}, {}, out + "/eps");
  std::string deviation = emit("sqrt", {shifted}, {}, out + "/deviation");
  std::string normalized = emit("div", {centered, deviation}, {}, out + "/normalized");
  std::string scaled = emit("mul", {normalized, reshapeOwn("scale_c11", use(*scale), perChannel)},
                            {}, out + "/scaled");
  define(n, 0, F32, x->shape,
         emit("add", {scaled, reshapeOwn("bias_c11", use(*bias), perChannel)}, {}, out));
  return true;
}

//===----------------------------------------------------------------------===//
// ConvTranspose
//===----------------------------------------------------------------------===//

/// `w` (C, M / g, KH, KW), ConvTranspose's weight, as the weight (M, C / g, KH, KW) of the
/// convolution that computes it: kernels flipped in H and W (slices concatenated in reverse),
/// input and output channels swapped within each group.
std::string Importer::transposedConvWeight(const std::string &w, const Shape &shape,
                                           int64_t groups) {
  std::string flipped = w;
  for (int64_t axis = 2; axis < 4; ++axis) {
    if (shape[axis] == 1)
      continue;
    std::vector<std::string> taps;
    for (int64_t k = shape[axis] - 1; k >= 0; --k)
      taps.push_back(sliceAxis(flipped, shape, axis, k, k + 1,
                               "flip" + std::to_string(axis) + "_" + std::to_string(k)));
    flipped = emitAux("flip" + std::to_string(axis), "concat", taps,
                      {{"axis", intAttribute(axis)}}, nodeName + "/flipped" + std::to_string(axis));
  }
  int64_t c = shape[0], m = shape[1] * groups, kh = shape[2], kw = shape[3];
  std::string grouped = reshapeOwn("grouped", flipped, {groups, c / groups, m / groups, kh, kw});
  std::string swapped = emitAux("swap", "transpose", {grouped},
                                {{"permutation", intsAttribute({0, 2, 1, 3, 4})}},
                                nodeName + "/swapped");
  return reshapeOwn("as_conv", swapped, {m, c / groups, kh, kw});
}

/// ConvTranspose (2-D): the convolution of the input spread out by the stride (nn.pad's interior
/// zeros) and padded by dilation * (kernel - 1) - pads (plus output_padding after), with the
/// flipped, channel-swapped weight, stride 1. Its gradient is that of pad, slices and conv2d
/// (oneDNN's convolution backward).
bool Importer::importConvTranspose(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {"auto_pad", "dilations", "group", "kernel_shape", "output_padding",
                      "output_shape", "pads", "strides"}))
    return false;
  const Value *x = input(n, 0), *w = x ? input(n, 1) : nullptr;
  if (!floatInput(n, x) || !w)
    return false;
  const Value *b = input(n, 2, /*optional=*/true);
  if (!error.empty())
    return false;
  if (x->shape.size() != 4 || w->shape.size() != 4)
    return unsupportedAttr(n, "a transposed convolution other than 2-D (input " +
                                  shapeString(x->shape) + ", weight " + shapeString(w->shape) +
                                  ")");
  if (const onnx::AttributeProto *a = attr(n, "auto_pad"); a && a->s() != "NOTSET")
    return unsupportedAttr(n, "auto_pad=" + a->s() + " (export with explicit pads)");
  if (attr(n, "output_shape"))
    return unsupportedAttr(n, "output_shape (export with pads and output_padding)");
  int64_t groups = intAttr(n, "group", 1), channels = x->shape[1];
  if (groups < 1 || channels % groups != 0 || w->shape[0] != channels)
    return fail(opName(n) + ": weight " + shapeString(w->shape) + " and group " +
                std::to_string(groups) + " do not fit the input " + shapeString(x->shape));
  int64_t outChannels = w->shape[1] * groups;
  if (b && b->shape != Shape{outChannels})
    return fail(opName(n) + ": bias " + shapeString(b->shape) + " for " +
                std::to_string(outChannels) + " output channels");
  std::vector<int64_t> ones = {1, 1}, zeros = {0, 0};
  std::vector<int64_t> strides = intsAttr(n, "strides").value_or(ones);
  std::vector<int64_t> dilations = intsAttr(n, "dilations").value_or(ones);
  std::vector<int64_t> extra = intsAttr(n, "output_padding").value_or(zeros);
  std::vector<int64_t> pads = intsAttr(n, "pads").value_or(std::vector<int64_t>(4, 0));
  if (strides.size() != 2 || dilations.size() != 2 || extra.size() != 2 || pads.size() != 4)
    return fail(opName(n) + ": strides, dilations, output_padding (2 each) and pads (4)");
  std::vector<int64_t> low = {0, 0}, high = {0, 0}, interior = {0, 0};
  Shape out = {x->shape[0], outChannels};
  for (int i = 0; i < 2; ++i) {
    int64_t reach = dilations[i] * (w->shape[2 + i] - 1);
    low.push_back(reach - pads[i]);
    high.push_back(reach - pads[2 + i] + extra[i]);
    interior.push_back(strides[i] - 1);
    if (strides[i] < 1 || dilations[i] < 1 || low.back() < 0 || high.back() < 0)
      return unsupportedAttr(n, "strides " + listString(strides) + ", dilations " +
                                    listString(dilations) + ", pads " + listString(pads) +
                                    " (pads up to dilation * (kernel - 1) each)");
    out.push_back(strides[i] * (x->shape[2 + i] - 1) + extra[i] + reach + 1 - pads[i] -
                  pads[2 + i]);
  }
  std::string spread = emit("pad", {use(*x)},
                            {{"low", intsAttribute(low)},
                             {"high", intsAttribute(high)},
                             {"interior", intsAttribute(interior)}},
                            n.output(0) + "/spread");
  std::vector<std::string> operands = {spread, transposedConvWeight(use(*w), w->shape, groups)};
  if (b)
    operands.push_back(use(*b));
  std::map<std::string, Attribute> attrs = {{"dilation", intsAttribute(dilations)}};
  if (groups != 1)
    attrs["groups"] = intAttribute(groups);
  define(n, 0, F32, out, emit("conv2d", operands, attrs, n.output(0)));
  return true;
}

void addMoreOps(std::map<std::string, OpEntry> &table) {
  table.insert({
      {"ConvTranspose",
       {&Importer::importConvTranspose, "conv2d of the input spread by pad (interior zeros), "
                                         "the weight flipped (2-D)"}},
      {"InstanceNormalization",
       {&Importer::importInstanceNorm, "reduce_mean, sub, mul, sqrt, div per sample and channel"}},
      {"Max", {&Importer::importMinMax, "reduce_max over the broadcast inputs stacked"}},
      {"Min", {&Importer::importMinMax, "-reduce_max over the negated inputs stacked"}},
      {"SequenceAt", {&Importer::importSequenceAt, "no node (a SplitToSequence element)"}},
      {"Shrink", {&Importer::importShrink, "relu ramps and a detached step"}},
      {"Sign", {&Importer::importSign, "(x > 0) - (x < 0) from relu and equal, no gradient"}},
      {"Softplus", {&Importer::importSoftplus, "-log_softmax([0, x])[0]"}},
      {"SplitToSequence", {&Importer::importSplitToSequence, "one slice per element"}},
      {"Tile", {&Importer::importTile, "concat of copies (repeats known at import)"}},
  });
}

} // namespace nnc::onnx_import
