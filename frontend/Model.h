// The graph builder of the C++ frontend: a Model collects graph inputs, parameters and nodes into
// an nnc::Model proto, checking shapes as each op is applied so that mistakes surface with the
// name of the node or layer that made them, long before `nnc compile` runs.
//
// Errors are sticky: the first one is recorded, every later call returns an invalid Tensor and
// records nothing, and save() refuses to write. Callers check m.ok() once at the end.
#pragma once

#include "proto/model.pb.h"
#include "support/Status.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace nnc::frontend {

class Model;
class NodeBuilder;

using Shape = std::vector<int64_t>;
using Pair = std::array<int64_t, 2>;

/// "[128,784]"; used in every shape error message.
std::string formatShape(const Shape &shape);
/// "f32", "i64", ...
std::string formatDType(DType dtype);
bool isFloat(DType dtype);
bool isInteger(DType dtype);

/// A handle to one named tensor of a Model (a graph input, a parameter or a node's output). It is
/// cheap to copy; a default-constructed or failed Tensor is invalid.
class Tensor {
public:
  Tensor() = default;

  bool valid() const { return model_ != nullptr; }
  const std::string &name() const { return name_; }
  const Shape &shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Model *model() const { return model_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  /// Dimension `i`; negative `i` counts from the end as in Python. Requires -rank <= i < rank.
  int64_t dim(int64_t i) const { return shape_[i < 0 ? i + rank() : i]; }
  int64_t numElements() const;

private:
  friend class Model;
  friend class NodeBuilder;
  Tensor(Model *model, std::string name, Shape shape, DType dtype)
      : model_(model), name_(std::move(name)), shape_(std::move(shape)), dtype_(dtype) {}

  Model *model_ = nullptr;
  std::string name_;
  Shape shape_;
  DType dtype_ = DTYPE_UNSET;
};

/// Initializers with PyTorch's meaning, as nnc::Initializer protos.
namespace init {
Initializer zeros();
Initializer ones();
Initializer constant(double value);
Initializer uniform(double low, double high);
Initializer normal(double mean, double stddev);
/// PyTorch's default for Linear/Conv weights (gain left at 0, meaning sqrt(1/3)).
Initializer kaimingUniform(int64_t fanIn);
Initializer xavierUniform(int64_t fanIn, int64_t fanOut);
} // namespace init

class Model {
public:
  explicit Model(std::string name);
  // Tensors keep a pointer to their Model, so it stays where it was built.
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  // --- Errors ------------------------------------------------------------------------------
  bool ok() const { return error_.empty(); }
  /// The first error recorded, or "" when ok.
  const std::string &error() const { return error_; }
  /// Records `message` unless an error is already recorded. Always returns an invalid Tensor so
  /// that callers can write `return m.fail(...)`.
  Tensor fail(const std::string &message);

  // --- Graph inputs and parameters ---------------------------------------------------------
  Tensor input(const std::string &name, const Shape &shape, DType dtype = F32,
               GraphInput::Role role = GraphInput::FEATURES);
  /// A frozen parameter is a buffer the optimizer leaves alone.
  Tensor parameter(const std::string &name, const Shape &shape, const Initializer &init,
                   DType dtype = F32, bool frozen = false);

  // --- Ops (one per node.op); an empty `name` picks "<op>_<n>" -------------------------------
  Tensor constant(const Shape &shape, const std::vector<float> &values, DType dtype = F32,
                  const std::string &name = "");
  /// A rank-0 constant; broadcasts against anything.
  Tensor scalar(double value, DType dtype = F32, const std::string &name = "");

  /// x (..., in), weight (out, in), optional bias (out) -> (..., out).
  Tensor linear(Tensor x, Tensor weight, Tensor bias = {}, const std::string &name = "");
  /// a (..., M, K) @ b (..., K, N) -> (..., M, N); batch dims broadcast.
  Tensor matmul(Tensor a, Tensor b, const std::string &name = "");
  Tensor add(Tensor a, Tensor b, const std::string &name = "");
  Tensor sub(Tensor a, Tensor b, const std::string &name = "");
  Tensor mul(Tensor a, Tensor b, const std::string &name = "");
  Tensor div(Tensor a, Tensor b, const std::string &name = "");

  Tensor relu(Tensor x, const std::string &name = "");
  /// The identity, through which no gradient flows (PyTorch's detach). Custom gradients:
  /// add(x, stopGradient(sub(f(x), x))) computes f(x) but trains as the identity.
  Tensor stopGradient(Tensor x, const std::string &name = "");
  Tensor tanh(Tensor x, const std::string &name = "");
  Tensor sigmoid(Tensor x, const std::string &name = "");
  /// min(max(x, min), max), a bound left out (nullopt) is no bound; NaN stays NaN. ReLU6 is
  /// clamp(x, 0, 6).
  Tensor clamp(Tensor x, std::optional<double> min, std::optional<double> max,
               const std::string &name = "");
  /// approximate: "none" or "tanh".
  Tensor gelu(Tensor x, const std::string &approximate = "none", const std::string &name = "");
  Tensor softmax(Tensor x, int64_t axis = -1, const std::string &name = "");
  Tensor logSoftmax(Tensor x, int64_t axis = -1, const std::string &name = "");
  /// weight and bias have the shape of x's trailing dims.
  Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double epsilon = 1e-5,
                   const std::string &name = "");
  /// Batch normalization over dimension 1 of x (N, C) or (N, C, H, W): batch statistics in a
  /// train step (updating the frozen parameters runningMean and runningVar, PyTorch's momentum),
  /// the running statistics in evaluation and prediction.
  Tensor batchNorm(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar,
                   double epsilon = 1e-5, double momentum = 0.1, const std::string &name = "");

  /// x (N, C, H, W), weight (O, C/groups, KH, KW), optional bias (O) -> (N, O, H', W').
  Tensor conv2d(Tensor x, Tensor weight, Tensor bias = {}, Pair stride = {1, 1},
                Pair padding = {0, 0}, Pair dilation = {1, 1}, int64_t groups = 1,
                const std::string &name = "");
  Tensor maxPool2d(Tensor x, Pair kernel, Pair stride, Pair padding = {0, 0},
                   const std::string &name = "");
  Tensor avgPool2d(Tensor x, Pair kernel, Pair stride, Pair padding = {0, 0},
                   const std::string &name = "");

  /// indices (int, any shape), weight (V, D) -> (..., D).
  Tensor embedding(Tensor indices, Tensor weight, const std::string &name = "");
  Tensor dropout(Tensor x, double rate, const std::string &name = "");

  Tensor reshape(Tensor x, const Shape &shape, const std::string &name = "");
  Tensor transpose(Tensor x, const std::vector<int64_t> &permutation, const std::string &name = "");
  Tensor concat(const std::vector<Tensor> &xs, int64_t axis, const std::string &name = "");
  /// One start/limit (and optional step) per dim; limit is exclusive.
  Tensor slice(Tensor x, const std::vector<int64_t> &start, const std::vector<int64_t> &limit,
               const std::vector<int64_t> &step = {}, const std::string &name = "");
  Tensor reduceSum(Tensor x, const std::vector<int64_t> &axes, bool keepdim = false,
                   const std::string &name = "");
  Tensor reduceMean(Tensor x, const std::vector<int64_t> &axes, bool keepdim = false,
                    const std::string &name = "");
  Tensor reduceMax(Tensor x, const std::vector<int64_t> &axes, bool keepdim = false,
                   const std::string &name = "");
  /// scores (..., T, T): entries above the diagonal become -inf.
  Tensor causalMask(Tensor scores, const std::string &name = "");

  /// logits (..., C); target int (...) class indices or float (..., C) probabilities -> scalar.
  Tensor crossEntropy(Tensor logits, Tensor target, double labelSmoothing = 0.0,
                      const std::string &reduction = "mean", const std::string &name = "");
  Tensor mseLoss(Tensor pred, Tensor target, const std::string &name = "");

  // --- Training and output -----------------------------------------------------------------
  /// The loss must be a float scalar of this model.
  void setLoss(Tensor loss);
  void addOutput(Tensor output);
  TrainingSpec &training() { return *proto_.mutable_training(); }

  /// Claims a layer name (layers call this from their constructor); records an error for an
  /// empty or duplicate name.
  bool declareLayer(const std::string &name, const std::string &kind);

  const nnc::Model &proto() const { return proto_; }
  /// Total number of parameter elements.
  int64_t parameterCount() const;
  /// "model 'mlp': 12 nodes, 6 parameters (269322 values)".
  std::string summary() const;
  /// Writes the binary model.pb; refuses when an error was recorded or no loss was set.
  Status save(const std::string &path) const;

private:
  friend class NodeBuilder;
  bool hasTensor(const std::string &name) const { return tensors_.count(name) != 0; }
  /// Common checks for inputs and parameters; returns false after recording an error.
  bool checkNewTensor(const std::string &what, const std::string &name, const Shape &shape,
                      DType dtype);
  Tensor unary(const std::string &op, Tensor x, const std::string &name);
  Tensor binary(const std::string &op, Tensor a, Tensor b, const std::string &name);
  Tensor pool2d(const std::string &op, Tensor x, Pair kernel, Pair stride, Pair padding,
                const std::string &name);
  Tensor reduce(const std::string &op, Tensor x, const std::vector<int64_t> &axes, bool keepdim,
                const std::string &name);

  nnc::Model proto_;
  std::string error_;
  std::set<std::string> tensors_; // inputs, parameters and node outputs
  std::set<std::string> layers_;
  std::map<std::string, int64_t> opCounts_; // for "<op>_<n>" auto names
};

} // namespace nnc::frontend
