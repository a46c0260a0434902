// PyTorch-style layers on top of the Model builder. A layer is constructed with the model, a
// name and its sizes, creating its parameters ("<layer>.weight", "<layer>.bias") with PyTorch's
// default initializers; applying it with operator() checks the input against the layer's sizes and
// emits its nodes.
//
// Naming: a layer's main node is named after the layer ("fc1"); auxiliary nodes are
// "<layer>/<what>" ("attn0/qk"). Applying a layer again (weight sharing) names that call's nodes
// "<layer>/call<n>" and "<layer>/call<n>/<what>". Shape errors read
// "layer 'fc2' (Linear): input has 300 features, expected 256".
#pragma once

#include "frontend/Model.h"

#include <optional>

namespace nnc::frontend {

/// What every layer shares: its model, name and kind, and how it names its nodes and errors.
class Layer {
public:
  const std::string &name() const { return name_; }
  const std::string &kind() const { return kind_; }

protected:
  Layer(Model &model, std::string name, std::string kind);

  /// Starts one application to `x`; false (with an error recorded if none was) when the model
  /// already failed or `x` is not a valid tensor of this model.
  bool begin(const Tensor &x);
  /// The main node of the current call: "<layer>", or "<layer>/call<n>" from the second call on.
  std::string nodeName() const;
  /// An auxiliary node of the current call: "<nodeName()>/<what>".
  std::string nodeName(const std::string &what) const;
  /// Records "layer '<name>' (<kind>): <message>" and returns an invalid Tensor.
  Tensor fail(const std::string &message);
  bool checkPositive(const std::string &what, int64_t value);
  bool checkFloatInput(const Tensor &x);
  /// A convolution's sizes, as PyTorch checks them (Conv1d, Conv2d).
  bool checkConvArguments(int64_t inChannels, int64_t outChannels, int64_t kernel, int64_t stride,
                          int64_t padding, int64_t dilation, int64_t groups);

  Model &model_;
  std::string name_;
  std::string kind_;
  int64_t calls_ = 0;
};

/// y = x W^T + b over the last dim: (..., in) -> (..., out).
class Linear : public Layer {
public:
  Linear(Model &model, const std::string &name, int64_t inFeatures, int64_t outFeatures,
         bool bias = true);
  Tensor operator()(Tensor x);
  Tensor weight() const { return weight_; }
  Tensor bias() const { return bias_; }

private:
  int64_t in_, out_;
  Tensor weight_, bias_;
};

/// (N, in, H, W) -> (N, out, H', W') with a square kernel.
class Conv2d : public Layer {
public:
  Conv2d(Model &model, const std::string &name, int64_t inChannels, int64_t outChannels,
         int64_t kernel, int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1,
         int64_t groups = 1, bool bias = true);
  Tensor operator()(Tensor x);
  Tensor weight() const { return weight_; }
  Tensor bias() const { return bias_; }

private:
  int64_t in_, stride_, padding_, dilation_, groups_;
  Tensor weight_, bias_;
};

/// PyTorch's Conv1d, (N, in, L) -> (N, out, L'): a Conv2d with H = 1 between reshapes, its
/// weight kept as PyTorch's (out, in / groups, kernel).
class Conv1d : public Layer {
public:
  Conv1d(Model &model, const std::string &name, int64_t inChannels, int64_t outChannels,
         int64_t kernel, int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1,
         int64_t groups = 1, bool bias = true);
  Tensor operator()(Tensor x);
  Tensor weight() const { return weight_; }
  Tensor bias() const { return bias_; }

private:
  int64_t in_, stride_, padding_, dilation_, groups_;
  Tensor weight_, bias_;
};

/// Shared by MaxPool2d and AvgPool2d: a square window, stride defaulting to the kernel size.
class Pool2d : public Layer {
public:
  Tensor operator()(Tensor x);

protected:
  Pool2d(Model &model, const std::string &name, const std::string &kind, bool isMax, int64_t kernel,
         std::optional<int64_t> stride, int64_t padding);

private:
  bool isMax_;
  int64_t kernel_, stride_, padding_;
};

class MaxPool2d : public Pool2d {
public:
  MaxPool2d(Model &model, const std::string &name, int64_t kernel,
            std::optional<int64_t> stride = std::nullopt, int64_t padding = 0)
      : Pool2d(model, name, "MaxPool2d", /*isMax=*/true, kernel, stride, padding) {}
};

class AvgPool2d : public Pool2d {
public:
  AvgPool2d(Model &model, const std::string &name, int64_t kernel,
            std::optional<int64_t> stride = std::nullopt, int64_t padding = 0)
      : Pool2d(model, name, "AvgPool2d", /*isMax=*/false, kernel, stride, padding) {}
};

class Dropout : public Layer {
public:
  Dropout(Model &model, const std::string &name, double rate);
  Tensor operator()(Tensor x);

private:
  double rate_;
};

/// Normalizes over the last dim, which must have size `dim`.
class LayerNorm : public Layer {
public:
  LayerNorm(Model &model, const std::string &name, int64_t dim, double epsilon = 1e-5);
  Tensor operator()(Tensor x);
  Tensor weight() const { return weight_; }
  Tensor bias() const { return bias_; }

private:
  int64_t dim_;
  double epsilon_;
  Tensor weight_, bias_;
};

/// PyTorch's BatchNorm1d (input (N, C)) and BatchNorm2d (input (N, C, H, W)): parameters
/// "<layer>.weight" and "<layer>.bias", running statistics "<layer>.running_mean" and
/// "<layer>.running_var" (frozen parameters that every train step updates).
class BatchNorm : public Layer {
public:
  Tensor operator()(Tensor x);
  Tensor weight() const { return weight_; }
  Tensor bias() const { return bias_; }

protected:
  BatchNorm(Model &model, const std::string &name, const char *kind, int64_t rank,
            int64_t channels, double epsilon, double momentum);

private:
  int64_t rank_, channels_;
  double epsilon_, momentum_;
  Tensor weight_, bias_, runningMean_, runningVar_;
};

class BatchNorm1d : public BatchNorm {
public:
  BatchNorm1d(Model &model, const std::string &name, int64_t features, double epsilon = 1e-5,
              double momentum = 0.1)
      : BatchNorm(model, name, "BatchNorm1d", 2, features, epsilon, momentum) {}
};

class BatchNorm2d : public BatchNorm {
public:
  BatchNorm2d(Model &model, const std::string &name, int64_t channels, double epsilon = 1e-5,
              double momentum = 0.1)
      : BatchNorm(model, name, "BatchNorm2d", 4, channels, epsilon, momentum) {}
};

/// int indices (...) -> (..., dim) rows of a (num, dim) table.
class Embedding : public Layer {
public:
  Embedding(Model &model, const std::string &name, int64_t num, int64_t dim);
  Tensor operator()(Tensor indices);
  Tensor weight() const { return weight_; }

private:
  Tensor weight_;
};

/// nanoGPT's multi-head causal self-attention: (B, T, d) -> (B, T, d), with sub-layers
/// "<layer>.qkv" (d -> 3d) and "<layer>.proj" (d -> d).
class CausalSelfAttention : public Layer {
public:
  CausalSelfAttention(Model &model, const std::string &name, int64_t dModel, int64_t heads);
  Tensor operator()(Tensor x);

private:
  int64_t dModel_, heads_;
  Linear qkv_, proj_;
};

/// Element-wise activations.
class ReLU : public Layer {
public:
  ReLU(Model &model, const std::string &name) : Layer(model, name, "ReLU") {}
  Tensor operator()(Tensor x);
};

class Tanh : public Layer {
public:
  Tanh(Model &model, const std::string &name) : Layer(model, name, "Tanh") {}
  Tensor operator()(Tensor x);
};

class GELU : public Layer {
public:
  /// approximate: "none" (exact erf form) or "tanh".
  GELU(Model &model, const std::string &name, std::string approximate = "none");
  Tensor operator()(Tensor x);

private:
  std::string approximate_;
};

/// (N, d1, d2, ...) -> (N, d1 * d2 * ...).
class Flatten : public Layer {
public:
  Flatten(Model &model, const std::string &name) : Layer(model, name, "Flatten") {}
  Tensor operator()(Tensor x);
};

} // namespace nnc::frontend
