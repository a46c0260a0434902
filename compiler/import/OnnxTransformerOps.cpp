// ONNX ops of transformers -> nn nodes: Slice, Split, Expand, LayerNormalization (and
// LayerNorm written out before opset 17, matched back into one nn.layer_norm), the
// comparisons, Trilu and Where of attention masks, and the shape arithmetic around them
// (ConstantOfShape, Range, Cast to bool), as the TorchScript exporter writes GPT-2- and
// ViT-style models. Values known at import are folded: with the batch size set every shape is
// static, so the mask and position computations become constants and a masked_fill(-inf) of
// a causal mask becomes one nn.causal_mask. The other ops and the table they join are in
// OnnxOps.cpp.
#include "compiler/import/OnnxImporterImpl.h"

#include <cmath>
#include <functional>
#include <tuple>

namespace nnc::onnx_import {

//===----------------------------------------------------------------------===//
// Folding helpers
//===----------------------------------------------------------------------===//

/// The element of a value of shape `in` that NumPy broadcasting reads for flat index `flat`
/// of the broadcast shape `out`.
static int64_t broadcastSource(int64_t flat, const Shape &out, const Shape &in) {
  int64_t source = 0, stride = 1;
  for (int64_t i = out.size() - 1, j = in.size() - 1; i >= 0; --i, --j) {
    int64_t coord = flat % out[i];
    flat /= out[i];
    if (j >= 0) {
      if (in[j] != 1)
        source += coord * stride;
      stride *= in[j];
    }
  }
  return source;
}

/// The most elements a value folded at import may have: masks and shape vectors are far
/// smaller; a crafted shape must not make the importer allocate without bound.
constexpr int64_t kMaxFoldedElements = int64_t(1) << 22;

/// `v`'s known values broadcast to `out`.
static std::vector<double> broadcastValues(const Value &v, const Shape &out) {
  std::vector<double> values;
  for (int64_t i = 0, e = numElements(out); i < e; ++i)
    values.push_back((*v.constant)[broadcastSource(i, out, v.shape)]);
  return values;
}

/// A slice of a known value: per dimension [start, start + size * step) by step.
static std::vector<double> sliceValues(const std::vector<double> &data, const Shape &shape,
                                       const Shape &start, const Shape &step, const Shape &out) {
  std::vector<double> values;
  for (int64_t i = 0, e = numElements(out); i < e; ++i) {
    int64_t rest = i, source = 0, stride = 1;
    for (int64_t d = shape.size() - 1; d >= 0; --d) {
      source += (start[d] + (rest % out[d]) * step[d]) * stride;
      rest /= out[d];
      stride *= shape[d];
    }
    values.push_back(data[source]);
  }
  return values;
}

/// ONNX bool tensors are kept as 0/1 floats, as nn.equal gives them; never parameters.
bool Importer::readBoolTensor(const onnx::TensorProto &t, const std::string &what, Value &value) {
  value.dtype = F32;
  value.mask = true;
  value.shape.assign(t.dims().begin(), t.dims().end());
  for (int64_t d : value.shape)
    if (d < 0)
      return fail(what + " has a negative dimension " + std::to_string(d));
  int64_t count = numElements(value.shape);
  std::vector<double> v;
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    return fail(what + ": a bool tensor in external data is not supported");
  if (t.has_raw_data())
    for (char c : t.raw_data())
      v.push_back(c ? 1.0 : 0.0);
  else
    for (int32_t x : t.int32_data())
      v.push_back(x ? 1.0 : 0.0);
  if (static_cast<int64_t>(v.size()) != count)
    return fail(what + " holds " + std::to_string(v.size()) + " values, its shape " +
                shapeString(value.shape) + " needs " + std::to_string(count));
  value.constant = std::move(v);
  return true;
}

/// Float initializers that reach only comparisons or casts to bool (through shape ops) are
/// buffers, not weights: GPT-2's causal-mask buffer `bias`, read as `bias[:, :, :T, :T] == 0`.
/// Made constants, they fold with the mask they compute instead of becoming trained parameters.
void Importer::findMaskInitializers() {
  std::map<std::string, std::vector<const onnx::NodeProto *>> readers;
  for (const onnx::NodeProto &n : proto.graph().node())
    for (const std::string &in : n.input())
      readers[in].push_back(&n);
  std::set<std::string> outputs;
  for (const onnx::ValueInfoProto &out : proto.graph().output())
    outputs.insert(out.name());
  static const std::set<std::string> comparisons = {"Equal", "Less", "Greater", "Shape"};
  static const std::set<std::string> passThrough = {"Slice", "Reshape", "Unsqueeze", "Squeeze",
                                                    "Transpose", "Cast", "Expand", "Identity"};
  // Whether every use of `name` ends in a comparison (depth-bounded: chains are short;
  // memoized: a crafted graph could fan out at every level).
  std::map<std::string, bool> known;
  std::function<bool(const std::string &, int)> onlyCompared = [&](const std::string &name,
                                                                   int depth) {
    auto it = readers.find(name);
    if (depth > 16 || outputs.count(name) || it == readers.end())
      return false;
    if (auto memo = known.find(name); memo != known.end())
      return memo->second;
    bool only = true;
    for (const onnx::NodeProto *r : it->second) {
      bool toBool = r->op_type() == "Cast" && intAttr(*r, "to", 0) == onnx::TensorProto::BOOL;
      if (comparisons.count(r->op_type()) || toBool)
        continue;
      if (!passThrough.count(r->op_type()) || r->input(0) != name || r->output_size() != 1 ||
          !onlyCompared(r->output(0), depth + 1)) {
        only = false;
        break;
      }
    }
    return known[name] = only;
  };
  for (const onnx::TensorProto &t : proto.graph().initializer()) {
    Value &v = values[t.name()];
    if (isWeight(v) && onlyCompared(t.name(), 0))
      v.initializer = false;
  }
}

/// Whether `shape` is small enough to fold (kMaxFoldedElements); fails naming the node if not.
bool Importer::checkFoldSize(const onnx::NodeProto &n, const Shape &shape) {
  if (numElements(shape) <= kMaxFoldedElements)
    return true;
  return fail(opName(n) + ": folding it at import gives a constant of shape " +
              shapeString(shape) + ", more than " + std::to_string(kMaxFoldedElements) +
              " elements");
}

/// Whether a node or the graph's outputs read `name`.
bool Importer::isRead(const std::string &name) {
  for (const onnx::NodeProto &n : proto.graph().node())
    if (std::find(n.input().begin(), n.input().end(), name) != n.input().end())
      return true;
  for (const onnx::ValueInfoProto &out : proto.graph().output())
    if (out.name() == name)
      return true;
  return false;
}

//===----------------------------------------------------------------------===//
// The ops
//===----------------------------------------------------------------------===//

/// Slice (opset 10 and later): starts, ends, axes and steps known at import, positive steps;
/// nn.slice, or folded for a known value (shape vectors).
bool Importer::importSlice(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {}))
    return false;
  if (opset < 10)
    return unsupportedAttr(n, "Slice before opset 10 (starts and ends as attributes)");
  std::optional<std::vector<int64_t>> starts = constInts(n, 1, "starts");
  std::optional<std::vector<int64_t>> ends = starts ? constInts(n, 2, "ends") : std::nullopt;
  if (!ends)
    return false;
  int64_t rank = x->shape.size();
  if (rank == 0)
    return fail(opName(n) + ": cannot slice a scalar");
  std::vector<int64_t> axes, steps(starts->size(), 1);
  for (int64_t i = 0; i < static_cast<int64_t>(starts->size()); ++i)
    axes.push_back(i);
  if (n.input_size() > 3 && !n.input(3).empty()) {
    std::optional<std::vector<int64_t>> given = constInts(n, 3, "axes");
    if (!given)
      return false;
    axes = *given;
  }
  if (n.input_size() > 4 && !n.input(4).empty()) {
    std::optional<std::vector<int64_t>> given = constInts(n, 4, "steps");
    if (!given)
      return false;
    steps = *given;
  }
  if (ends->size() != starts->size() || axes.size() != starts->size() ||
      steps.size() != starts->size())
    return fail(opName(n) + ": starts " + listString(*starts) + ", ends " + listString(*ends) +
                ", axes " + listString(axes) + " and steps " + listString(steps) +
                " differ in length");
  Shape start(rank, 0), step(rank, 1), out = x->shape;
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t axis = axes[i];
    if (!normalizeAxis(axis, rank, "axis"))
      return false;
    if (steps[i] < 1)
      return unsupportedAttr(n, "step " + std::to_string(steps[i]) + " (only positive steps)");
    int64_t dim = x->shape[axis];
    auto clampIndex = [dim](int64_t v) { return std::clamp(v < 0 ? v + dim : v, int64_t(0), dim); };
    int64_t from = clampIndex((*starts)[i]), to = clampIndex((*ends)[i]);
    start[axis] = from;
    step[axis] = steps[i];
    out[axis] = to > from ? (to - from + steps[i] - 1) / steps[i] : 0;
    if (out[axis] == 0)
      return fail(opName(n) + ": slice [" + std::to_string((*starts)[i]) + ", " +
                  std::to_string((*ends)[i]) + ") of dimension " + std::to_string(axis) + " of " +
                  shapeString(x->shape) + " is empty");
  }
  if (folds(*x)) {
    defineConst(n, x->dtype, out, sliceValues(*x->constant, x->shape, start, step, out));
    return true;
  }
  if (out == x->shape)
    return importIdentity(n);
  Shape limit(rank);
  for (int64_t d = 0; d < rank; ++d)
    limit[d] = start[d] + (out[d] - 1) * step[d] + 1;
  std::map<std::string, Attribute> attrs = {{"start", intsAttribute(start)},
                                            {"limit", intsAttribute(limit)}};
  if (std::any_of(step.begin(), step.end(), [](int64_t s) { return s != 1; }))
    attrs["step"] = intsAttribute(step);
  define(n, 0, x->dtype, out, emit("slice", {use(*x)}, attrs, n.output(0)));
  return true;
}

/// Split: one nn.slice per output along `axis`; the sizes from the split input (opset 13 and
/// later), the attribute (before 13) or equal parts.
bool Importer::importSplit(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"axis", "split", "num_outputs"}))
    return false;
  int64_t rank = x->shape.size(), axis = intAttr(n, "axis", 0);
  if (rank == 0)
    return fail(opName(n) + ": cannot split a scalar");
  if (!normalizeAxis(axis, rank, "axis"))
    return false;
  int64_t parts = n.output_size(), dim = x->shape[axis];
  std::optional<std::vector<int64_t>> sizes;
  if (opset >= 13 && n.input_size() > 1 && !n.input(1).empty()) {
    if (!(sizes = constInts(n, 1, "split")))
      return false;
  } else if (opset < 13) {
    sizes = intsAttr(n, "split");
  }
  if (!sizes) {
    // Equal parts, the last one smaller when they do not divide (opset 18's num_outputs).
    int64_t each = (dim + parts - 1) / parts;
    sizes.emplace();
    for (int64_t i = 0; i < parts; ++i)
      sizes->push_back(std::min(each, dim - i * each));
  }
  int64_t total = 0;
  for (int64_t s : *sizes)
    total += s;
  if (static_cast<int64_t>(sizes->size()) != parts || total != dim ||
      std::any_of(sizes->begin(), sizes->end(), [](int64_t s) { return s < 1; }))
    return fail(opName(n) + ": split " + listString(*sizes) + " into " + std::to_string(parts) +
                " outputs does not cover dimension " + std::to_string(axis) + " of " +
                shapeString(x->shape));
  Shape start(rank, 0), limit = x->shape;
  for (int64_t i = 0; i < parts; ++i) {
    limit[axis] = start[axis] + (*sizes)[i];
    Shape out = x->shape;
    out[axis] = (*sizes)[i];
    if (!n.output(i).empty())
      define(n, i, x->dtype, out,
             emit("slice", {use(*x)},
                  {{"start", intsAttribute(start)}, {"limit", intsAttribute(limit)}},
                  n.output(i)));
    start[axis] = limit[axis];
  }
  return true;
}

/// Expand: bidirectional broadcast to the shape input (known at import); nn.broadcast, no node
/// when the shape stays, folded for a known value.
bool Importer::importExpand(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {}))
    return false;
  std::optional<std::vector<int64_t>> shape = constInts(n, 1, "the shape");
  if (!shape)
    return false;
  std::optional<Shape> out = broadcastShapes(x->shape, *shape);
  if (!out)
    return fail(opName(n) + ": " + shapeString(x->shape) + " does not broadcast to " +
                listString(*shape));
  if (folds(*x)) {
    if (!checkFoldSize(n, *out))
      return false;
    defineConst(n, x->dtype, *out, broadcastValues(*x, *out));
    return true;
  }
  if (*out == x->shape)
    return importIdentity(n);
  define(n, 0, x->dtype, *out,
         emit("broadcast", {use(*x)}, {{"shape", intsAttribute(*out)}}, n.output(0)));
  return true;
}

/// ConstantOfShape: folded (the shape is known at import).
bool Importer::importConstantOfShape(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {"value"}))
    return false;
  std::optional<std::vector<int64_t>> shape = constInts(n, 0, "the shape");
  if (!shape)
    return false;
  for (int64_t d : *shape)
    if (d < 0)
      return fail(opName(n) + ": shape " + listString(*shape) + " has a negative dimension");
  if (!checkFoldSize(n, *shape))
    return false;
  Value fill{F32, {}, std::vector<double>{0.0}, false, "", ""};
  if (const onnx::AttributeProto *a = attr(n, "value")) {
    if (!readTensor(a->t(), "the value of " + opName(n), fill))
      return false;
    if (fill.constant->size() != 1)
      return fail(opName(n) + ": value must hold one element");
  }
  defineConst(n, fill.dtype, *shape, std::vector<double>(numElements(*shape), (*fill.constant)[0]));
  return true;
}

/// Range: folded; positions arange(T) have constant bounds once the shapes are static.
bool Importer::importRange(const onnx::NodeProto &n) {
  if (!checkAttrs(n, {}))
    return false;
  std::vector<double> bounds;
  const Value *first = nullptr;
  for (int i = 0; i < 3; ++i) {
    const Value *v = input(n, i);
    if (!v)
      return false;
    if (!folds(*v) || v->constant->size() != 1)
      return fail(opName(n) + ": input " + std::to_string(i) + " ('" + n.input(i) +
                  "') is computed at run time; nnc needs scalars known at import");
    bounds.push_back((*v->constant)[0]);
    first = first ? first : v;
  }
  double start = bounds[0], limit = bounds[1], delta = bounds[2];
  if (delta == 0)
    return fail(opName(n) + ": delta is 0");
  double steps = std::ceil((limit - start) / delta);
  if (!(steps <= static_cast<double>(kMaxFoldedElements)))
    return fail(opName(n) + ": range(" + std::to_string(start) + ", " + std::to_string(limit) +
                ", " + std::to_string(delta) + ") is too long to fold at import");
  int64_t count = steps > 0 ? static_cast<int64_t>(steps) : 0;
  std::vector<double> out;
  for (int64_t i = 0; i < count; ++i)
    out.push_back(start + i * delta);
  defineConst(n, first->dtype, {count}, std::move(out));
  return true;
}

/// Equal/Less/Greater: folded for known operands (masks from buffers and shapes); Equal of
/// float tensors at run time is nn.equal. The result is a 0/1 float mask.
bool Importer::importCompare(const onnx::NodeProto &n) {
  const Value *a = input(n, 0), *b = a ? input(n, 1) : nullptr;
  if (!b || !checkAttrs(n, {}))
    return false;
  std::optional<Shape> shape = broadcastShapes(a->shape, b->shape);
  if (!shape)
    return fail(opName(n) + ": shapes " + shapeString(a->shape) + " and " + shapeString(b->shape) +
                " do not broadcast");
  const std::string &op = n.op_type();
  if (folds(*a) && folds(*b)) {
    if (!checkFoldSize(n, *shape))
      return false;
    std::vector<double> x = broadcastValues(*a, *shape), y = broadcastValues(*b, *shape), out;
    for (size_t i = 0; i < x.size(); ++i)
      out.push_back(op == "Equal" ? x[i] == y[i] : op == "Less" ? x[i] < y[i] : x[i] > y[i]);
    defineConst(n, F32, *shape, std::move(out));
    values[n.output(0)].mask = true;
    return true;
  }
  if (op != "Equal" || a->dtype != F32 || b->dtype != F32)
    return unsupportedAttr(n, "a run-time comparison of " + DType_Name(a->dtype) + " " +
                                  shapeString(a->shape) + " and " + DType_Name(b->dtype) + " " +
                                  shapeString(b->shape) + " (only Equal of floats)");
  define(n, 0, F32, *shape, emit("equal", {use(*a), use(*b)}, {}, n.output(0)));
  values[n.output(0)].mask = true;
  return true;
}

/// Cast to bool: folded to a 0/1 mask for a known value; no node for a mask (nn.equal's output).
bool Importer::importCastToBool(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x)
    return false;
  if (folds(*x)) {
    std::vector<double> out;
    for (double v : *x->constant)
      out.push_back(v != 0);
    defineConst(n, F32, x->shape, std::move(out));
    values[n.output(0)].mask = true;
    return true;
  }
  if (!x->mask)
    return unsupportedAttr(n, "a run-time cast of " + DType_Name(x->dtype) + " to bool");
  return importIdentity(n);
}

/// Whether the known condition `cond`, broadcast to `out` (..., T, T), is the causal pattern:
/// key j after query i (j > i) where `above` is 1, and its complement where `above` is 0.
/// Read in `cond`'s own shape (it must hold the whole T x T matrix; leading dimensions may
/// broadcast), never at the scores' size.
static bool isCausal(const Value &cond, const Shape &out, bool above) {
  size_t rank = cond.shape.size();
  if (out.size() < 2 || rank < 2 || out[out.size() - 1] != out[out.size() - 2] ||
      cond.shape[rank - 1] != out.back() || cond.shape[rank - 2] != out.back())
    return false;
  int64_t t = out.back();
  const std::vector<double> &c = *cond.constant;
  for (size_t k = 0; k < c.size(); ++k) {
    int64_t i = (k / t) % t, j = k % t;
    if ((c[k] != 0) != ((j > i) == above))
      return false;
  }
  return true;
}

/// Where: folded when all three are known; with a known condition, the branch it always takes,
/// or one nn.causal_mask for the causal pattern of masked_fill(mask, fill): where(j > i, fill,
/// x) or where(j <= i, x, fill) with a scalar fill.
bool Importer::importWhere(const onnx::NodeProto &n) {
  const Value *c = input(n, 0), *a = c ? input(n, 1) : nullptr, *b = a ? input(n, 2) : nullptr;
  if (!b || !checkAttrs(n, {}))
    return false;
  std::optional<Shape> ab = broadcastShapes(a->shape, b->shape);
  std::optional<Shape> shape = ab ? broadcastShapes(c->shape, *ab) : std::nullopt;
  if (!shape)
    return fail(opName(n) + ": shapes " + shapeString(c->shape) + ", " + shapeString(a->shape) +
                " and " + shapeString(b->shape) + " do not broadcast");
  if (a->dtype != b->dtype)
    return fail(opName(n) + ": branches have different dtypes (" + DType_Name(a->dtype) + ", " +
                DType_Name(b->dtype) + ")");
  if (!folds(*c))
    return unsupportedAttr(n, "a condition computed at run time (nnc folds masks known at "
                              "import, such as causal masks)");
  if (folds(*a) && folds(*b)) {
    if (!checkFoldSize(n, *shape))
      return false;
    std::vector<double> cs = broadcastValues(*c, *shape), as = broadcastValues(*a, *shape),
                        bs = broadcastValues(*b, *shape), out;
    for (size_t i = 0; i < cs.size(); ++i)
      out.push_back(cs[i] != 0 ? as[i] : bs[i]);
    defineConst(n, a->dtype, *shape, std::move(out));
    return true;
  }
  const std::vector<double> &cv = *c->constant;
  bool allTrue = std::all_of(cv.begin(), cv.end(), [](double v) { return v != 0; });
  bool allFalse = std::all_of(cv.begin(), cv.end(), [](double v) { return v == 0; });
  if ((allTrue && a->shape == *shape) || (allFalse && b->shape == *shape)) {
    Value taken = allTrue ? *a : *b; // no node: the output names the branch's tensor
    if (isWeight(taken))
      taken.name = use(allTrue ? *a : *b);
    if (taken.name.empty())
      taken.origin = n.output(0);
    values[n.output(0)] = taken;
    return true;
  }
  // masked_fill(mask, fill): the fill a known scalar, the other branch the (..., T, T) scores.
  bool fillFirst = folds(*a) && a->constant->size() == 1 && !folds(*b);
  bool fillSecond = folds(*b) && b->constant->size() == 1 && !folds(*a);
  const Value *scores = fillFirst ? b : a, *fill = fillFirst ? a : b;
  if ((fillFirst || fillSecond) && scores->shape == *shape && a->dtype == F32 &&
      isCausal(*c, *shape, /*above=*/fillFirst)) {
    std::map<std::string, Attribute> attrs;
    double value = (*fill->constant)[0];
    if (!(std::isinf(value) && value < 0))
      attrs["fill"] = floatAttribute(value);
    define(n, 0, F32, *shape, emit("causal_mask", {use(*scores)}, attrs, n.output(0)));
    return true;
  }
  return unsupportedAttr(n, "this mask (a known condition nnc recognizes only as a causal "
                            "mask of (..., T, T) scores with a scalar fill)");
}

/// Trilu: folded for a known input (a mask built with torch.triu/tril in forward); at run time
/// the lower triangle (upper=0, k=0) of (..., T, T) is nn.causal_mask with fill 0.
bool Importer::importTrilu(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"upper"}))
    return false;
  int64_t k = 0;
  if (n.input_size() > 1 && !n.input(1).empty()) {
    std::optional<std::vector<int64_t>> given = constInts(n, 1, "k");
    if (!given)
      return false;
    k = given->empty() ? 0 : (*given)[0];
  }
  bool upper = intAttr(n, "upper", 1);
  int64_t rank = x->shape.size();
  if (rank < 2)
    return fail(opName(n) + ": input " + shapeString(x->shape) + " is not a matrix");
  int64_t rows = x->shape[rank - 2], cols = x->shape[rank - 1];
  if (folds(*x)) {
    std::vector<double> out = *x->constant;
    for (size_t e = 0; e < out.size(); ++e) {
      int64_t i = (e / cols) % rows, j = e % cols;
      if (upper ? j - i < k : j - i > k)
        out[e] = 0;
    }
    defineConst(n, x->dtype, x->shape, std::move(out));
    return true;
  }
  if (upper || k != 0 || rows != cols || x->dtype != F32)
    return unsupportedAttr(n, std::string("a run-time ") + (upper ? "upper" : "lower") +
                                  " triangle with k=" + std::to_string(k) + " of " +
                                  shapeString(x->shape) + " (only the lower one, k=0, square)");
  define(n, 0, F32, x->shape,
         emit("causal_mask", {use(*x)}, {{"fill", floatAttribute(0.0)}}, n.output(0)));
  return true;
}

/// Pow with a known scalar exponent: 2 -> x * x (the decomposed LayerNorm's variance),
/// 0.5 -> sqrt, 1 -> no node; folded for a known base.
bool Importer::importPow(const onnx::NodeProto &n) {
  const Value *x = input(n, 0), *e = x ? input(n, 1) : nullptr;
  if (!e || !checkAttrs(n, {}))
    return false;
  if (!folds(*e) || e->constant->size() != 1)
    return unsupportedAttr(n, "an exponent that is not a scalar known at import");
  double p = (*e->constant)[0];
  if (folds(*x)) {
    std::vector<double> out;
    for (double v : *x->constant)
      out.push_back(std::pow(v, p));
    defineConst(n, x->dtype, x->shape, std::move(out));
    return true;
  }
  if (p == 1)
    return importIdentity(n);
  if (p != 2 && p != 0.5) {
    // Whole exponents print as integers where they fit one (a huge or non-finite one does not).
    bool whole = p == std::trunc(p) && std::abs(p) < 0x1p63;
    return unsupportedAttr(n, "exponent " + (whole ? std::to_string(int64_t(p))
                                                   : std::to_string(p)) +
                                  " (only 2, 0.5 and 1)");
  }
  std::string in = use(*x);
  define(n, 0, x->dtype, x->shape,
         p == 2 ? emit("mul", {in, in}, {}, n.output(0)) : emit("sqrt", {in}, {}, n.output(0)));
  return true;
}

/// ReduceMean, ReduceSum: nn.reduce_mean, nn.reduce_sum over the axes (an attribute before
/// opset 18 (ReduceSum: 13), an input after; all axes when none), keepdims as ONNX's default 1.
bool Importer::importReduce(const onnx::NodeProto &n) {
  const Value *x = input(n, 0);
  if (!x || !checkAttrs(n, {"axes", "keepdims", "noop_with_empty_axes"}))
    return false;
  bool sum = n.op_type() == "ReduceSum";
  int64_t axesInputSince = sum ? 13 : 18;
  std::optional<std::vector<int64_t>> axes;
  if (opset >= axesInputSince && n.input_size() > 1 && !n.input(1).empty()) {
    if (!(axes = constInts(n, 1, "axes")))
      return false;
  } else if (opset < axesInputSince) {
    axes = intsAttr(n, "axes");
  }
  int64_t rank = x->shape.size();
  if (rank == 0)
    return importIdentity(n); // the mean or sum of one value
  if (!axes || axes->empty()) {
    if (intAttr(n, "noop_with_empty_axes", 0))
      return importIdentity(n);
    axes = std::vector<int64_t>();
    for (int64_t i = 0; i < rank; ++i)
      axes->push_back(i);
  }
  bool keep = intAttr(n, "keepdims", 1);
  std::vector<bool> reduced(rank, false);
  for (int64_t &a : *axes) {
    if (!normalizeAxis(a, rank, "axis"))
      return false;
    reduced[a] = true;
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i)
    if (!reduced[i] || keep)
      out.push_back(reduced[i] ? 1 : x->shape[i]);
  Attribute keepAttr;
  keepAttr.set_b(keep);
  define(n, 0, x->dtype, out,
         emit(sum ? "reduce_sum" : "reduce_mean", {use(*x)},
              {{"axes", intsAttribute(*axes)}, {"keepdim", keepAttr}}, n.output(0)));
  return true;
}

/// LayerNormalization (opset 17): nn.layer_norm over the dimensions from `axis` on, whose
/// shape Scale and B have; a missing B is zeros. The Mean and InvStdDev outputs are not
/// supported (PyTorch's export writes only Y).
bool Importer::importLayerNorm(const onnx::NodeProto &n) {
  const Value *x = input(n, 0), *scale = x ? input(n, 1) : nullptr;
  if (!scale || !checkAttrs(n, {"axis", "epsilon", "stash_type"}))
    return false;
  const Value *bias = input(n, 2, /*optional=*/true);
  if (!error.empty())
    return false;
  for (int i = 1; i < n.output_size(); ++i)
    if (!n.output(i).empty())
      return unsupportedAttr(n, "the Mean and InvStdDev outputs");
  int64_t rank = x->shape.size(), axis = intAttr(n, "axis", -1);
  if (!normalizeAxis(axis, rank, "axis"))
    return false;
  Shape normalized(x->shape.begin() + axis, x->shape.end());
  if (scale->shape != normalized || (bias && bias->shape != normalized))
    return fail(opName(n) + ": Scale " + shapeString(scale->shape) +
                (bias ? " and B " + shapeString(bias->shape) : "") + " must have the shape " +
                shapeString(normalized) + " of the dimensions from axis " + std::to_string(axis) +
                " of " + shapeString(x->shape));
  std::string b;
  if (bias) {
    b = use(*bias);
  } else {
    Value zeros{F32, normalized, std::vector<double>(numElements(normalized), 0.0), false,
                nodeName + "/zero_bias", ""};
    b = use(zeros);
  }
  std::map<std::string, Attribute> attrs;
  double epsilon = floatAttr(n, "epsilon", 1e-5);
  if (std::abs(epsilon - 1e-5) > 1e-12)
    attrs["epsilon"] = floatAttribute(epsilon);
  define(n, 0, x->dtype, x->shape,
         emit("layer_norm", {use(*x), use(*scale), b}, attrs, n.output(0)));
  return true;
}

/// Gather of one known index along any axis (x[:, 0], a class token): nn.slice of that index,
/// then nn.reshape dropping the axis.
bool Importer::importGatherScalar(const onnx::NodeProto &n, const Value &data, int64_t axis) {
  if (data.shape.empty())
    return fail(opName(n) + ": cannot gather from a scalar");
  int64_t index = saturatedInt((*values[n.input(1)].constant)[0]);
  int64_t dim = data.shape[axis];
  if (index < -dim || index >= dim)
    return fail(opName(n) + ": index " + std::to_string(index) + " is out of range for axis " +
                std::to_string(axis) + " of " + shapeString(data.shape));
  if (index < 0)
    index += dim;
  Shape start(data.shape.size(), 0), limit = data.shape, out;
  start[axis] = index;
  limit[axis] = index + 1;
  for (size_t i = 0; i < data.shape.size(); ++i)
    if (static_cast<int64_t>(i) != axis)
      out.push_back(data.shape[i]);
  std::string row = emit("slice", {use(data)},
                         {{"start", intsAttribute(start)}, {"limit", intsAttribute(limit)}},
                         n.output(0) + "/row");
  define(n, 0, data.dtype, out,
         emit("reshape", {row}, {{"shape", intsAttribute(out)}}, n.output(0)));
  return true;
}

//===----------------------------------------------------------------------===//
// LayerNorm written out
//===----------------------------------------------------------------------===//

/// Finds LayerNorm over the last axis as the TorchScript exporter writes it before opset 17:
///   m = ReduceMean(x, [-1]); c = Sub(x, m); v = ReduceMean(Pow(c, 2), [-1]);
///   y = Div(c, Sqrt(Add(v, eps))), then optionally Mul(y, weight) and Add(., bias)
/// (weight and bias 1-D initializers), each intermediate read only by the next (c by Pow and
/// Div). The nodes become one nn.layer_norm, named after the last.
void Importer::matchLayerNormPatterns() {
  const onnx::GraphProto &g = proto.graph();
  std::map<std::string, std::vector<const onnx::NodeProto *>> readers;
  std::map<std::string, const onnx::NodeProto *> producer;
  for (const onnx::NodeProto &n : g.node()) {
    for (const std::string &in : n.input())
      readers[in].push_back(&n);
    for (const std::string &out : n.output())
      producer[out] = &n;
  }
  std::set<std::string> outputs;
  for (const onnx::ValueInfoProto &out : g.output())
    outputs.insert(out.name());
  // The one node reading `v`, when it is an `op` with one output and `v` no graph output.
  auto onlyReader = [&](const std::string &v, const char *op) -> const onnx::NodeProto * {
    auto it = readers.find(v);
    if (outputs.count(v) || it == readers.end() || it->second.size() != 1 ||
        it->second[0]->op_type() != op || it->second[0]->output_size() != 1)
      return nullptr;
    return it->second[0];
  };
  // A float scalar from an initializer or a Constant node.
  auto scalar = [&](const std::string &name) -> std::optional<double> {
    Value v;
    std::string saved = error;
    auto it = producer.find(name);
    bool read = false;
    if (auto init = values.find(name); init != values.end() && init->second.constant)
      v = init->second, read = true;
    else if (it != producer.end() && it->second->op_type() == "Constant" &&
             it->second->attribute_size() == 1 && it->second->attribute(0).name() == "value")
      read = readTensor(it->second->attribute(0).t(), "", v);
    error = saved;
    if (!read || v.dtype != F32 || v.constant->size() != 1)
      return std::nullopt;
    return (*v.constant)[0];
  };
  auto lastAxisMean = [&](const onnx::NodeProto &n) {
    std::optional<std::vector<int64_t>> axes = intsAttr(n, "axes");
    return n.op_type() == "ReduceMean" && n.input_size() == 1 && n.output_size() == 1 &&
           axes == std::vector<int64_t>{-1} && intAttr(n, "keepdims", 1) == 1;
  };
  auto vector1d = [&](const std::string &name) {
    auto it = values.find(name);
    return it != values.end() && isWeight(it->second) && it->second.shape.size() == 1;
  };
  // The operand of binary `n` other than `v`, or "" when `v` is not one of its two.
  auto other = [](const onnx::NodeProto &n, const std::string &v) -> std::string {
    if (n.input_size() != 2)
      return "";
    return n.input(0) == v ? n.input(1) : n.input(1) == v ? n.input(0) : "";
  };
  for (const onnx::NodeProto &mean : g.node()) {
    if (!lastAxisMean(mean))
      continue;
    const std::string &x = mean.input(0);
    const onnx::NodeProto *sub = onlyReader(mean.output(0), "Sub");
    if (!sub || sub->input_size() != 2 || sub->input(0) != x || sub->input(1) != mean.output(0))
      continue;
    const std::string &c = sub->output(0);
    auto cReaders = readers.find(c);
    if (outputs.count(c) || cReaders == readers.end() || cReaders->second.size() != 2)
      continue;
    const onnx::NodeProto *pow = nullptr, *div = nullptr;
    for (const onnx::NodeProto *r : cReaders->second) {
      if (r->op_type() == "Pow")
        pow = r;
      else if (r->op_type() == "Div")
        div = r;
    }
    if (!pow || !div || pow->input_size() != 2 || div->input_size() != 2 ||
        pow->output_size() != 1 || div->output_size() != 1 || pow->input(0) != c ||
        scalar(pow->input(1)) != 2.0 || div->input(0) != c)
      continue;
    const onnx::NodeProto *var = onlyReader(pow->output(0), "ReduceMean");
    if (!var || !lastAxisMean(*var))
      continue;
    const onnx::NodeProto *addEps = onlyReader(var->output(0), "Add");
    std::optional<double> eps = addEps ? scalar(other(*addEps, var->output(0))) : std::nullopt;
    if (!eps)
      continue;
    const onnx::NodeProto *sqrt = onlyReader(addEps->output(0), "Sqrt");
    if (!sqrt || div->input(1) != sqrt->output(0) || onlyReader(sqrt->output(0), "Div") != div)
      continue;
    WrittenLayerNorm found{x, "", "", *eps};
    std::vector<const onnx::NodeProto *> chain = {&mean, sub, pow, var, addEps, sqrt, div};
    const onnx::NodeProto *mul = onlyReader(div->output(0), "Mul");
    if (mul && vector1d(other(*mul, div->output(0)))) {
      found.weight = other(*mul, div->output(0));
      chain.push_back(mul);
      const onnx::NodeProto *add = onlyReader(mul->output(0), "Add");
      if (add && vector1d(other(*add, mul->output(0)))) {
        found.bias = other(*add, mul->output(0));
        chain.push_back(add);
      }
    }
    layerNormAt[chain.back()] = found;
    chain.pop_back();
    folded.insert(chain.begin(), chain.end());
  }
}

/// The node that ends a written-out LayerNorm: nn.layer_norm over the last axis, with ones and
/// zeros for a missing weight and bias.
bool Importer::importFusedLayerNorm(const onnx::NodeProto &n) {
  const WrittenLayerNorm &ln = layerNormAt.at(&n);
  auto operand = [&](const std::string &name) -> const Value * {
    auto it = values.find(name);
    if (it == values.end())
      fail("LayerNorm input '" + name + "' is not defined before its use");
    return it == values.end() ? nullptr : &it->second;
  };
  const Value *x = operand(ln.input);
  if (!x)
    return false;
  if (x->shape.empty() || x->dtype != F32)
    return fail("LayerNorm (written out, ending at " + opName(n) + ") of a " +
                DType_Name(x->dtype) + " " + shapeString(x->shape) + " input");
  Shape last = {x->shape.back()};
  std::vector<std::string> operands = {use(*x)};
  for (const auto &[name, fill, suffix] : {std::tuple{ln.weight, 1.0, "/ones"},
                                           std::tuple{ln.bias, 0.0, "/zeros"}}) {
    if (name.empty()) {
      Value constant{F32, last, std::vector<double>(last[0], fill), false, nodeName + suffix, ""};
      operands.push_back(use(constant));
      continue;
    }
    const Value *v = operand(name);
    if (!v)
      return false;
    if (v->shape != last)
      return fail("LayerNorm (written out, ending at " + opName(n) + "): '" + name + "' " +
                  shapeString(v->shape) + " does not match the normalized axis " +
                  shapeString(last));
    operands.push_back(use(*v));
  }
  std::map<std::string, Attribute> attrs;
  if (std::abs(ln.epsilon - 1e-5) > 1e-12)
    attrs["epsilon"] = floatAttribute(ln.epsilon);
  define(n, 0, F32, x->shape, emit("layer_norm", operands, attrs, n.output(0)));
  return true;
}

void addTransformerOps(std::map<std::string, OpEntry> &table) {
  table.insert({
      {"ConstantOfShape", {&Importer::importConstantOfShape, "folded to a constant"}},
      {"Equal", {&Importer::importCompare, "folded for constants; equal (floats) at run time"}},
      {"Exp", {&Importer::importUnary, "exp"}},
      {"Expand", {&Importer::importExpand, "broadcast (folded for constants)"}},
      {"Greater", {&Importer::importCompare, "folded for constants (masks)"}},
      {"LayerNormalization",
       {&Importer::importLayerNorm, "layer_norm (Y output only; B optional)"}},
      {"Less", {&Importer::importCompare, "folded for constants (masks)"}},
      {"Pow", {&Importer::importPow, "mul (exponent 2), sqrt (0.5); folded for constants"}},
      {"Range", {&Importer::importRange, "folded to a constant"}},
      {"ReduceMean", {&Importer::importReduce, "reduce_mean"}},
      {"ReduceSum", {&Importer::importReduce, "reduce_sum"}},
      {"Slice",
       {&Importer::importSlice, "slice (starts/ends/axes/steps known at import, positive "
                                "steps; folded for constants)"}},
      {"Split", {&Importer::importSplit, "one slice per output"}},
      {"Sqrt", {&Importer::importUnary, "sqrt"}},
      {"Trilu", {&Importer::importTrilu, "folded for constants; causal_mask (fill 0) for the "
                                          "lower triangle at run time"}},
      {"Where",
       {&Importer::importWhere, "folded for constants; causal_mask for a causal "
                                "masked_fill(-inf); a known all-true/false condition: a branch"}},
  });
}

} // namespace nnc::onnx_import
