// The ops of the Model builder: one function per node.op, each checking its operands' shapes
// and dtypes, computing the output type and emitting a single node. The checks follow the node
// vocabulary that the importer maps 1:1 to the `nn` dialect, so mistakes surface here, by name.
//
// Attributes are written only when they differ from the op's default or are required, so the
// saved model reads like the code that built it.
#include "frontend/Model.h"

#include <cmath>

namespace nnc::frontend {

/// Emits one node: resolves its name, validates its inputs, collects attributes, and on finish()
/// appends the node and returns its output. Any failure goes into the model's sticky error,
/// prefixed with "node '<name>' (<op>): ".
class NodeBuilder {
public:
  NodeBuilder(Model &model, const std::string &op, const std::string &name,
              const std::vector<Tensor> &inputs)
      : model_(model), op_(op), name_(name) {
    if (!model_.ok())
      return;
    if (name_.empty()) {
      // Auto names count per op ("relu_1", "relu_2"), skipping names the user already took.
      do
        name_ = op + "_" + std::to_string(++model_.opCounts_[op]);
      while (model_.hasTensor(name_));
    } else if (model_.hasTensor(name_)) {
      fail("duplicate name");
      return;
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].valid()) {
        fail("input " + std::to_string(i) + " is not a valid tensor");
        return;
      }
      if (inputs[i].model() != &model_) {
        fail("input '" + inputs[i].name() + "' belongs to another model");
        return;
      }
      node_.add_inputs(inputs[i].name());
    }
    ok_ = true;
  }

  explicit operator bool() const { return ok_; }

  Tensor fail(const std::string &message) {
    ok_ = false;
    return model_.fail("node '" + name_ + "' (" + op_ + "): " + message);
  }

  /// Fails unless all `tensors` share one dtype (and, with `requireFloat`, a float one).
  bool checkDTypes(const std::vector<Tensor> &tensors, bool requireFloat = true) {
    for (const Tensor &t : tensors) {
      if (t.dtype() != tensors[0].dtype()) {
        fail("dtype mismatch: '" + tensors[0].name() + "' is " + formatDType(tensors[0].dtype()) +
             ", '" + t.name() + "' is " + formatDType(t.dtype()));
        return false;
      }
    }
    if (requireFloat && !isFloat(tensors[0].dtype())) {
      fail("expects a float dtype, got " + formatDType(tensors[0].dtype()));
      return false;
    }
    return true;
  }

  Attribute &attr(const std::string &key) { return (*node_.mutable_attrs())[key]; }
  void attrInt(const std::string &key, int64_t v) { attr(key).set_i(v); }
  void attrFloat(const std::string &key, double v) { attr(key).set_f(v); }
  void attrString(const std::string &key, const std::string &v) { attr(key).set_s(v); }
  void attrBool(const std::string &key, bool v) { attr(key).set_b(v); }
  void attrInts(const std::string &key, const std::vector<int64_t> &v) {
    IntList *list = attr(key).mutable_ints();
    for (int64_t x : v)
      list->add_values(x);
  }
  void attrPair(const std::string &key, Pair v) { attrInts(key, {v[0], v[1]}); }

  Tensor finish(const Shape &shape, DType dtype) {
    node_.set_name(name_);
    node_.set_op(op_);
    node_.add_outputs(name_);
    *model_.proto_.add_nodes() = std::move(node_);
    model_.tensors_.insert(name_);
    return Tensor(&model_, name_, shape, dtype);
  }

private:
  Model &model_;
  std::string op_;
  std::string name_;
  Node node_;
  bool ok_ = false;
};

/// Python-style axis in [-rank, rank) -> [0, rank); false when out of range.
static bool normalizeAxis(int64_t axis, int64_t rank, int64_t &out) {
  if (axis < -rank || axis >= rank)
    return false;
  out = axis < 0 ? axis + rank : axis;
  return true;
}

/// Numpy broadcasting: align trailing dims; each pair must be equal or contain a 1.
static bool broadcast(const Shape &a, const Shape &b, Shape &out) {
  size_t rank = std::max(a.size(), b.size());
  out.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1)
      return false;
    out[rank - 1 - i] = std::max(da, db);
  }
  return true;
}

static int64_t product(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Tensor Model::constant(const Shape &shape, const std::vector<float> &values, DType dtype,
                       const std::string &name) {
  NodeBuilder n(*this, "constant", name, {});
  if (!n)
    return {};
  if (dtype == DTYPE_UNSET)
    return n.fail("dtype must be set");
  for (int64_t d : shape)
    if (d <= 0)
      return n.fail("shape " + formatShape(shape) + " has a non-positive dimension");
  if (static_cast<int64_t>(values.size()) != product(shape))
    return n.fail("shape " + formatShape(shape) + " has " + std::to_string(product(shape)) +
                  " elements but " + std::to_string(values.size()) + " values were given");
  if (isInteger(dtype))
    for (float v : values)
      if (v != std::floor(v))
        return n.fail("integer constant has non-integral value " + std::to_string(v));
  TensorValue *value = n.attr("value").mutable_tensor();
  value->mutable_type()->set_dtype(dtype);
  for (int64_t d : shape)
    value->mutable_type()->add_shape(d);
  for (float v : values)
    value->add_values(v);
  return n.finish(shape, dtype);
}

Tensor Model::scalar(double value, DType dtype, const std::string &name) {
  return constant({}, {static_cast<float>(value)}, dtype, name);
}

Tensor Model::linear(Tensor x, Tensor weight, Tensor bias, const std::string &name) {
  std::vector<Tensor> inputs = {x, weight};
  if (bias.valid())
    inputs.push_back(bias);
  NodeBuilder n(*this, "linear", name, inputs);
  if (!n || !n.checkDTypes(inputs))
    return {};
  if (weight.rank() != 2)
    return n.fail("weight must have rank 2 (out, in), got " + formatShape(weight.shape()));
  if (x.rank() < 1 || x.dim(-1) != weight.dim(1))
    return n.fail("input " + formatShape(x.shape()) + " does not end in the weight's " +
                  std::to_string(weight.dim(1)) + " input features");
  if (bias.valid() && bias.shape() != Shape{weight.dim(0)})
    return n.fail("bias must have shape [" + std::to_string(weight.dim(0)) + "], got " +
                  formatShape(bias.shape()));
  Shape out = x.shape();
  out.back() = weight.dim(0);
  return n.finish(out, x.dtype());
}

Tensor Model::matmul(Tensor a, Tensor b, const std::string &name) {
  NodeBuilder n(*this, "matmul", name, {a, b});
  if (!n || !n.checkDTypes({a, b}))
    return {};
  if (a.rank() < 2 || b.rank() < 2)
    return n.fail("operands must have rank >= 2, got " + formatShape(a.shape()) + " and " +
                  formatShape(b.shape()));
  if (a.dim(-1) != b.dim(-2))
    return n.fail("contracting dimensions differ: " + formatShape(a.shape()) + " @ " +
                  formatShape(b.shape()));
  Shape batch;
  if (!broadcast(Shape(a.shape().begin(), a.shape().end() - 2),
                 Shape(b.shape().begin(), b.shape().end() - 2), batch))
    return n.fail("cannot broadcast batch dimensions of " + formatShape(a.shape()) + " and " +
                  formatShape(b.shape()));
  batch.push_back(a.dim(-2));
  batch.push_back(b.dim(-1));
  return n.finish(batch, a.dtype());
}

Tensor Model::binary(const std::string &op, Tensor a, Tensor b, const std::string &name) {
  NodeBuilder n(*this, op, name, {a, b});
  if (!n || !n.checkDTypes({a, b}, /*requireFloat=*/false))
    return {};
  Shape out;
  if (!broadcast(a.shape(), b.shape(), out))
    return n.fail("cannot broadcast " + formatShape(a.shape()) + " with " + formatShape(b.shape()));
  return n.finish(out, a.dtype());
}

Tensor Model::add(Tensor a, Tensor b, const std::string &name) { return binary("add", a, b, name); }
Tensor Model::sub(Tensor a, Tensor b, const std::string &name) { return binary("sub", a, b, name); }
Tensor Model::mul(Tensor a, Tensor b, const std::string &name) { return binary("mul", a, b, name); }
Tensor Model::div(Tensor a, Tensor b, const std::string &name) { return binary("div", a, b, name); }

Tensor Model::unary(const std::string &op, Tensor x, const std::string &name) {
  NodeBuilder n(*this, op, name, {x});
  if (!n || !n.checkDTypes({x}))
    return {};
  return n.finish(x.shape(), x.dtype());
}

Tensor Model::relu(Tensor x, const std::string &name) { return unary("relu", x, name); }
Tensor Model::stopGradient(Tensor x, const std::string &name) {
  return unary("stop_gradient", x, name);
}
Tensor Model::tanh(Tensor x, const std::string &name) { return unary("tanh", x, name); }
Tensor Model::sigmoid(Tensor x, const std::string &name) { return unary("sigmoid", x, name); }

Tensor Model::clamp(Tensor x, std::optional<double> min, std::optional<double> max,
                    const std::string &name) {
  NodeBuilder n(*this, "clamp", name, {x});
  if (!n || !n.checkDTypes({x}))
    return {};
  if (min)
    n.attrFloat("min", *min);
  if (max)
    n.attrFloat("max", *max);
  return n.finish(x.shape(), x.dtype());
}

Tensor Model::gelu(Tensor x, const std::string &approximate, const std::string &name) {
  NodeBuilder n(*this, "gelu", name, {x});
  if (!n || !n.checkDTypes({x}))
    return {};
  if (approximate != "none" && approximate != "tanh")
    return n.fail("approximate must be \"none\" or \"tanh\", got \"" + approximate + "\"");
  if (approximate != "none")
    n.attrString("approximate", approximate);
  return n.finish(x.shape(), x.dtype());
}

static Tensor softmaxLike(NodeBuilder &n, Tensor x, int64_t axis) {
  int64_t normalized;
  if (!n || !n.checkDTypes({x}))
    return {};
  if (!normalizeAxis(axis, x.rank(), normalized))
    return n.fail("axis " + std::to_string(axis) + " is out of range for " +
                  formatShape(x.shape()));
  if (axis != -1)
    n.attrInt("axis", axis);
  return n.finish(x.shape(), x.dtype());
}

Tensor Model::softmax(Tensor x, int64_t axis, const std::string &name) {
  NodeBuilder n(*this, "softmax", name, {x});
  return softmaxLike(n, x, axis);
}

Tensor Model::logSoftmax(Tensor x, int64_t axis, const std::string &name) {
  NodeBuilder n(*this, "log_softmax", name, {x});
  return softmaxLike(n, x, axis);
}

Tensor Model::layerNorm(Tensor x, Tensor weight, Tensor bias, double epsilon,
                        const std::string &name) {
  NodeBuilder n(*this, "layer_norm", name, {x, weight, bias});
  if (!n || !n.checkDTypes({x, weight, bias}))
    return {};
  // weight and bias cover the trailing dims of x: the dims being normalized.
  Shape trailing(x.shape().end() - std::min<int64_t>(weight.rank(), x.rank()), x.shape().end());
  if (weight.rank() == 0 || weight.shape() != trailing)
    return n.fail("weight " + formatShape(weight.shape()) + " is not the trailing dims of input " +
                  formatShape(x.shape()));
  if (bias.shape() != weight.shape())
    return n.fail("bias " + formatShape(bias.shape()) + " differs from weight " +
                  formatShape(weight.shape()));
  if (!(epsilon > 0))
    return n.fail("epsilon must be positive, got " + std::to_string(epsilon));
  if (epsilon != 1e-5)
    n.attrFloat("epsilon", epsilon);
  return n.finish(x.shape(), x.dtype());
}

Tensor Model::batchNorm(Tensor x, Tensor weight, Tensor bias, Tensor runningMean,
                        Tensor runningVar, double epsilon, double momentum,
                        const std::string &name) {
  std::vector<Tensor> inputs = {x, weight, bias, runningMean, runningVar};
  NodeBuilder n(*this, "batch_norm", name, inputs);
  if (!n || !n.checkDTypes(inputs))
    return {};
  if (x.rank() != 2 && x.rank() != 4)
    return n.fail("expects input (N, C) or (N, C, H, W), got " + formatShape(x.shape()));
  for (const Tensor &t : {weight, bias, runningMean, runningVar})
    if (t.shape() != Shape{x.dim(1)})
      return n.fail("expects per-channel tensors of shape [" + std::to_string(x.dim(1)) +
                    "], got " + formatShape(t.shape()));
  if (!(epsilon > 0))
    return n.fail("epsilon must be positive, got " + std::to_string(epsilon));
  if (!(momentum >= 0 && momentum <= 1))
    return n.fail("momentum must be in [0, 1], got " + std::to_string(momentum));
  if (epsilon != 1e-5)
    n.attrFloat("epsilon", epsilon);
  if (momentum != 0.1)
    n.attrFloat("momentum", momentum);
  return n.finish(x.shape(), x.dtype());
}

Tensor Model::conv2d(Tensor x, Tensor weight, Tensor bias, Pair stride, Pair padding, Pair dilation,
                     int64_t groups, const std::string &name) {
  std::vector<Tensor> inputs = {x, weight};
  if (bias.valid())
    inputs.push_back(bias);
  NodeBuilder n(*this, "conv2d", name, inputs);
  if (!n || !n.checkDTypes(inputs))
    return {};
  if (x.rank() != 4 || weight.rank() != 4)
    return n.fail("expects input (N,C,H,W) and weight (O,C/groups,KH,KW), got " +
                  formatShape(x.shape()) + " and " + formatShape(weight.shape()));
  for (int i = 0; i < 2; ++i)
    if (stride[i] <= 0 || padding[i] < 0 || dilation[i] <= 0)
      return n.fail("stride and dilation must be positive and padding non-negative");
  if (groups <= 0 || x.dim(1) % groups != 0 || weight.dim(0) % groups != 0)
    return n.fail("groups " + std::to_string(groups) + " must divide input channels " +
                  std::to_string(x.dim(1)) + " and output channels " +
                  std::to_string(weight.dim(0)));
  if (weight.dim(1) * groups != x.dim(1))
    return n.fail("input has " + std::to_string(x.dim(1)) + " channels, weight " +
                  formatShape(weight.shape()) + " expects " +
                  std::to_string(weight.dim(1) * groups));
  if (bias.valid() && bias.shape() != Shape{weight.dim(0)})
    return n.fail("bias must have shape [" + std::to_string(weight.dim(0)) + "], got " +
                  formatShape(bias.shape()));
  Shape out = {x.dim(0), weight.dim(0), 0, 0};
  for (int i = 0; i < 2; ++i) {
    int64_t span = dilation[i] * (weight.dim(2 + i) - 1) + 1;
    int64_t padded = x.dim(2 + i) + 2 * padding[i];
    if (padded < span)
      return n.fail("kernel " + formatShape(weight.shape()) + " does not fit input " +
                    formatShape(x.shape()));
    out[2 + i] = (padded - span) / stride[i] + 1;
  }
  if (stride != Pair{1, 1})
    n.attrPair("stride", stride);
  if (padding != Pair{0, 0})
    n.attrPair("padding", padding);
  if (dilation != Pair{1, 1})
    n.attrPair("dilation", dilation);
  if (groups != 1)
    n.attrInt("groups", groups);
  return n.finish(out, x.dtype());
}

Tensor Model::pool2d(const std::string &op, Tensor x, Pair kernel, Pair stride, Pair padding,
                     const std::string &name) {
  NodeBuilder n(*this, op, name, {x});
  if (!n || !n.checkDTypes({x}))
    return {};
  if (x.rank() != 4)
    return n.fail("expects input (N,C,H,W), got " + formatShape(x.shape()));
  Shape out = {x.dim(0), x.dim(1), 0, 0};
  for (int i = 0; i < 2; ++i) {
    if (kernel[i] <= 0 || stride[i] <= 0)
      return n.fail("kernel_size and stride must be positive");
    // PyTorch's rule: a window must never lie entirely in the padding.
    if (padding[i] < 0 || 2 * padding[i] > kernel[i])
      return n.fail("padding must be between 0 and half the kernel size");
    int64_t padded = x.dim(2 + i) + 2 * padding[i];
    if (padded < kernel[i])
      return n.fail("kernel " + formatShape({kernel[0], kernel[1]}) + " does not fit input " +
                    formatShape(x.shape()));
    out[2 + i] = (padded - kernel[i]) / stride[i] + 1;
  }
  n.attrPair("kernel_size", kernel);
  if (stride != kernel)
    n.attrPair("stride", stride);
  if (padding != Pair{0, 0})
    n.attrPair("padding", padding);
  return n.finish(out, x.dtype());
}

Tensor Model::maxPool2d(Tensor x, Pair kernel, Pair stride, Pair padding, const std::string &name) {
  return pool2d("max_pool2d", x, kernel, stride, padding, name);
}

Tensor Model::avgPool2d(Tensor x, Pair kernel, Pair stride, Pair padding, const std::string &name) {
  return pool2d("avg_pool2d", x, kernel, stride, padding, name);
}

Tensor Model::embedding(Tensor indices, Tensor weight, const std::string &name) {
  NodeBuilder n(*this, "embedding", name, {indices, weight});
  if (!n)
    return {};
  if (!isInteger(indices.dtype()))
    return n.fail("indices must be i32 or i64, got " + formatDType(indices.dtype()));
  if (!n.checkDTypes({weight}))
    return {};
  if (weight.rank() != 2)
    return n.fail("weight must have rank 2 (num, dim), got " + formatShape(weight.shape()));
  Shape out = indices.shape();
  out.push_back(weight.dim(1));
  return n.finish(out, weight.dtype());
}

Tensor Model::dropout(Tensor x, double rate, const std::string &name) {
  NodeBuilder n(*this, "dropout", name, {x});
  if (!n || !n.checkDTypes({x}))
    return {};
  if (!(rate >= 0 && rate < 1))
    return n.fail("rate must be in [0, 1), got " + std::to_string(rate));
  n.attrFloat("rate", rate);
  return n.finish(x.shape(), x.dtype());
}

Tensor Model::reshape(Tensor x, const Shape &shape, const std::string &name) {
  NodeBuilder n(*this, "reshape", name, {x});
  if (!n)
    return {};
  for (int64_t d : shape)
    if (d <= 0)
      return n.fail("target shape " + formatShape(shape) + " has a non-positive dimension");
  if (product(shape) != x.numElements())
    return n.fail("cannot reshape " + formatShape(x.shape()) + " (" +
                  std::to_string(x.numElements()) + " elements) to " + formatShape(shape));
  n.attrInts("shape", shape);
  return n.finish(shape, x.dtype());
}

Tensor Model::transpose(Tensor x, const std::vector<int64_t> &permutation,
                        const std::string &name) {
  NodeBuilder n(*this, "transpose", name, {x});
  if (!n)
    return {};
  std::vector<bool> seen(x.rank(), false);
  Shape out;
  bool valid = static_cast<int64_t>(permutation.size()) == x.rank();
  for (int64_t p : permutation) {
    if (!valid || p < 0 || p >= x.rank() || seen[p]) {
      valid = false;
      break;
    }
    seen[p] = true;
    out.push_back(x.dim(p));
  }
  if (!valid)
    return n.fail("permutation " + formatShape(permutation) + " is not a permutation of rank " +
                  std::to_string(x.rank()));
  n.attrInts("permutation", permutation);
  return n.finish(out, x.dtype());
}

Tensor Model::concat(const std::vector<Tensor> &xs, int64_t axis, const std::string &name) {
  NodeBuilder n(*this, "concat", name, xs);
  if (!n)
    return {};
  if (xs.empty())
    return n.fail("needs at least one input");
  if (!n.checkDTypes(xs, /*requireFloat=*/false))
    return {};
  int64_t a;
  if (!normalizeAxis(axis, xs[0].rank(), a))
    return n.fail("axis " + std::to_string(axis) + " is out of range for " +
                  formatShape(xs[0].shape()));
  Shape out = xs[0].shape();
  for (size_t i = 1; i < xs.size(); ++i) {
    Shape s = xs[i].shape();
    if (s.size() != out.size())
      return n.fail("inputs have different ranks: " + formatShape(xs[0].shape()) + " and " +
                    formatShape(s));
    int64_t along = s[a];
    s[a] = out[a];
    if (s != out)
      return n.fail("inputs differ outside axis " + std::to_string(axis) + ": " +
                    formatShape(xs[0].shape()) + " and " + formatShape(xs[i].shape()));
    out[a] += along;
  }
  n.attrInt("axis", axis);
  return n.finish(out, xs[0].dtype());
}

Tensor Model::slice(Tensor x, const std::vector<int64_t> &start, const std::vector<int64_t> &limit,
                    const std::vector<int64_t> &step, const std::string &name) {
  NodeBuilder n(*this, "slice", name, {x});
  if (!n)
    return {};
  size_t rank = x.shape().size();
  if (start.size() != rank || limit.size() != rank || (!step.empty() && step.size() != rank))
    return n.fail("start, limit and step need one entry per dimension of " +
                  formatShape(x.shape()));
  Shape out(rank);
  bool unitSteps = true;
  for (size_t i = 0; i < rank; ++i) {
    int64_t s = step.empty() ? 1 : step[i];
    if (s <= 0 || start[i] < 0 || start[i] >= limit[i] || limit[i] > x.shape()[i])
      return n.fail("dimension " + std::to_string(i) +
                    ": need 0 <= start < limit <= " + std::to_string(x.shape()[i]) +
                    " and step > 0, got start " + std::to_string(start[i]) + ", limit " +
                    std::to_string(limit[i]) + ", step " + std::to_string(s));
    out[i] = (limit[i] - start[i] + s - 1) / s;
    unitSteps = unitSteps && s == 1;
  }
  n.attrInts("start", start);
  n.attrInts("limit", limit);
  if (!unitSteps)
    n.attrInts("step", step);
  return n.finish(out, x.dtype());
}

Tensor Model::reduce(const std::string &op, Tensor x, const std::vector<int64_t> &axes,
                     bool keepdim, const std::string &name) {
  NodeBuilder n(*this, op, name, {x});
  if (!n)
    return {};
  if (op == "reduce_mean" && !n.checkDTypes({x}))
    return {};
  std::vector<bool> reduced(x.rank(), false);
  for (int64_t axis : axes) {
    int64_t a;
    if (!normalizeAxis(axis, x.rank(), a) || reduced[a])
      return n.fail("axes " + formatShape(axes) + " are out of range or repeated for " +
                    formatShape(x.shape()));
    reduced[a] = true;
  }
  if (axes.empty())
    return n.fail("axes must not be empty");
  Shape out;
  for (int64_t i = 0; i < x.rank(); ++i) {
    if (!reduced[i])
      out.push_back(x.dim(i));
    else if (keepdim)
      out.push_back(1);
  }
  n.attrInts("axes", axes);
  if (keepdim)
    n.attrBool("keepdim", true);
  return n.finish(out, x.dtype());
}

Tensor Model::reduceSum(Tensor x, const std::vector<int64_t> &axes, bool keepdim,
                        const std::string &name) {
  return reduce("reduce_sum", x, axes, keepdim, name);
}
Tensor Model::reduceMean(Tensor x, const std::vector<int64_t> &axes, bool keepdim,
                         const std::string &name) {
  return reduce("reduce_mean", x, axes, keepdim, name);
}
Tensor Model::reduceMax(Tensor x, const std::vector<int64_t> &axes, bool keepdim,
                        const std::string &name) {
  return reduce("reduce_max", x, axes, keepdim, name);
}

Tensor Model::causalMask(Tensor scores, const std::string &name) {
  NodeBuilder n(*this, "causal_mask", name, {scores});
  if (!n || !n.checkDTypes({scores}))
    return {};
  if (scores.rank() < 2 || scores.dim(-1) != scores.dim(-2))
    return n.fail("expects scores (..., T, T), got " + formatShape(scores.shape()));
  return n.finish(scores.shape(), scores.dtype());
}

Tensor Model::crossEntropy(Tensor logits, Tensor target, double labelSmoothing,
                           const std::string &reduction, const std::string &name) {
  NodeBuilder n(*this, "cross_entropy", name, {logits, target});
  if (!n || !n.checkDTypes({logits}))
    return {};
  if (logits.rank() < 1)
    return n.fail("logits must have a class dimension, got shape []");
  Shape classIndices(logits.shape().begin(), logits.shape().end() - 1);
  if (isInteger(target.dtype())) {
    if (target.shape() != classIndices)
      return n.fail("class-index target must have shape " + formatShape(classIndices) +
                    " for logits " + formatShape(logits.shape()) + ", got " +
                    formatShape(target.shape()));
  } else if (target.dtype() != logits.dtype() || target.shape() != logits.shape()) {
    return n.fail("probability target must be " + formatDType(logits.dtype()) +
                  formatShape(logits.shape()) + " like the logits, got " +
                  formatDType(target.dtype()) + formatShape(target.shape()));
  }
  if (!(labelSmoothing >= 0 && labelSmoothing < 1))
    return n.fail("label_smoothing must be in [0, 1), got " + std::to_string(labelSmoothing));
  if (reduction != "mean" && reduction != "sum")
    return n.fail("reduction must be \"mean\" or \"sum\", got \"" + reduction + "\"");
  if (labelSmoothing != 0)
    n.attrFloat("label_smoothing", labelSmoothing);
  if (reduction != "mean")
    n.attrString("reduction", reduction);
  return n.finish({}, logits.dtype());
}

Tensor Model::mseLoss(Tensor pred, Tensor target, const std::string &name) {
  NodeBuilder n(*this, "mse_loss", name, {pred, target});
  if (!n || !n.checkDTypes({pred, target}))
    return {};
  if (pred.shape() != target.shape())
    return n.fail("prediction " + formatShape(pred.shape()) + " and target " +
                  formatShape(target.shape()) + " differ in shape");
  return n.finish({}, pred.dtype());
}

} // namespace nnc::frontend
