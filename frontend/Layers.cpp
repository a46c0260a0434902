// PyTorch-style layers: parameters with PyTorch's default initializers, input checks phrased in
// the layer's own terms (features, channels), and the nodes each layer emits through the Model's
// ops. Every layer's parameters are f32; mixed precision is a TrainingSpec setting.
#include "frontend/Layers.h"

#include <cmath>

namespace nnc::frontend {

Layer::Layer(Model &model, std::string name, std::string kind)
    : model_(model), name_(std::move(name)), kind_(std::move(kind)) {
  model_.declareLayer(name_, kind_);
}

bool Layer::begin(const Tensor &x) {
  if (!model_.ok())
    return false;
  if (!x.valid() || x.model() != &model_) {
    fail("input is not a valid tensor of this model");
    return false;
  }
  ++calls_;
  return true;
}

std::string Layer::nodeName() const {
  return calls_ <= 1 ? name_ : name_ + "/call" + std::to_string(calls_);
}

std::string Layer::nodeName(const std::string &what) const { return nodeName() + "/" + what; }

Tensor Layer::fail(const std::string &message) {
  return model_.fail("layer '" + name_ + "' (" + kind_ + "): " + message);
}

bool Layer::checkPositive(const std::string &what, int64_t value) {
  if (value > 0)
    return true;
  fail(what + " must be positive, got " + std::to_string(value));
  return false;
}

bool Layer::checkConvArguments(int64_t inChannels, int64_t outChannels, int64_t kernel,
                               int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
  if (!checkPositive("in_channels", inChannels) || !checkPositive("out_channels", outChannels) ||
      !checkPositive("kernel_size", kernel) || !checkPositive("stride", stride) ||
      !checkPositive("dilation", dilation) || !checkPositive("groups", groups))
    return false;
  if (padding < 0) {
    fail("padding must be non-negative, got " + std::to_string(padding));
    return false;
  }
  if (inChannels % groups != 0 || outChannels % groups != 0) {
    fail("groups " + std::to_string(groups) + " must divide in_channels " +
         std::to_string(inChannels) + " and out_channels " + std::to_string(outChannels));
    return false;
  }
  return true;
}

bool Layer::checkFloatInput(const Tensor &x) {
  if (x.dtype() == F32)
    return true;
  fail("input is " + formatDType(x.dtype()) + ", expected f32");
  return false;
}

/// "input has 300 features, expected 256" for (..., features) layers.
static std::string featureMismatch(const Tensor &x, int64_t expected) {
  if (x.rank() == 0)
    return "input has shape [], expected (..., " + std::to_string(expected) + ")";
  return "input has " + std::to_string(x.dim(-1)) + " features, expected " +
         std::to_string(expected);
}

// --- Linear ----------------------------------------------------------------------------------

Linear::Linear(Model &model, const std::string &name, int64_t inFeatures, int64_t outFeatures,
               bool bias)
    : Layer(model, name, "Linear"), in_(inFeatures), out_(outFeatures) {
  if (!checkPositive("in_features", in_) || !checkPositive("out_features", out_))
    return;
  weight_ = model_.parameter(name_ + ".weight", {out_, in_}, init::kaimingUniform(in_));
  if (bias) {
    double bound = 1.0 / std::sqrt(static_cast<double>(in_));
    bias_ = model_.parameter(name_ + ".bias", {out_}, init::uniform(-bound, bound));
  }
}

Tensor Linear::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  if (x.rank() == 0 || x.dim(-1) != in_)
    return fail(featureMismatch(x, in_));
  return model_.linear(x, weight_, bias_, nodeName());
}

// --- Conv2d ----------------------------------------------------------------------------------

Conv2d::Conv2d(Model &model, const std::string &name, int64_t inChannels, int64_t outChannels,
               int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, int64_t groups,
               bool bias)
    : Layer(model, name, "Conv2d"), in_(inChannels), stride_(stride), padding_(padding),
      dilation_(dilation), groups_(groups) {
  if (!checkConvArguments(inChannels, outChannels, kernel, stride, padding, dilation, groups))
    return;
  // PyTorch's fan_in for a conv weight (O, C/groups, K, K) is C/groups * K * K.
  int64_t fanIn = inChannels / groups * kernel * kernel;
  weight_ = model_.parameter(name_ + ".weight", {outChannels, inChannels / groups, kernel, kernel},
                             init::kaimingUniform(fanIn));
  if (bias) {
    double bound = 1.0 / std::sqrt(static_cast<double>(fanIn));
    bias_ = model_.parameter(name_ + ".bias", {outChannels}, init::uniform(-bound, bound));
  }
}

Tensor Conv2d::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  if (x.rank() != 4)
    return fail("expects input (N, C, H, W), got " + formatShape(x.shape()));
  if (x.dim(1) != in_)
    return fail("input has " + std::to_string(x.dim(1)) + " channels, expected " +
                std::to_string(in_));
  return model_.conv2d(x, weight_, bias_, {stride_, stride_}, {padding_, padding_},
                       {dilation_, dilation_}, groups_, nodeName());
}

Conv1d::Conv1d(Model &model, const std::string &name, int64_t inChannels, int64_t outChannels,
               int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, int64_t groups,
               bool bias)
    : Layer(model, name, "Conv1d"), in_(inChannels), stride_(stride), padding_(padding),
      dilation_(dilation), groups_(groups) {
  if (!checkConvArguments(inChannels, outChannels, kernel, stride, padding, dilation, groups))
    return;
  // PyTorch's fan_in for a Conv1d weight (O, C/groups, K) is C/groups * K.
  int64_t fanIn = inChannels / groups * kernel;
  weight_ = model_.parameter(name_ + ".weight", {outChannels, inChannels / groups, kernel},
                             init::kaimingUniform(fanIn));
  if (bias) {
    double bound = 1.0 / std::sqrt(static_cast<double>(fanIn));
    bias_ = model_.parameter(name_ + ".bias", {outChannels}, init::uniform(-bound, bound));
  }
}

Tensor Conv1d::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  if (x.rank() != 3)
    return fail("expects input (N, C, L), got " + formatShape(x.shape()));
  if (x.dim(1) != in_)
    return fail("input has " + std::to_string(x.dim(1)) + " channels, expected " +
                std::to_string(in_));
  // (N, C, L) -> (N, C, 1, L), the weight (O, C/g, K) -> (O, C/g, 1, K), and back after.
  Tensor x2d = model_.reshape(x, {x.dim(0), x.dim(1), 1, x.dim(2)}, nodeName("input_2d"));
  const Shape &w = weight_.shape();
  Tensor w2d = model_.reshape(weight_, {w[0], w[1], 1, w[2]}, nodeName("weight_2d"));
  Tensor y = model_.conv2d(x2d, w2d, bias_, {1, stride_}, {0, padding_}, {1, dilation_}, groups_,
                           nodeName());
  if (!y.valid())
    return {};
  return model_.reshape(y, {y.dim(0), y.dim(1), y.dim(3)}, nodeName("output_1d"));
}

// --- Pooling ---------------------------------------------------------------------------------

Pool2d::Pool2d(Model &model, const std::string &name, const std::string &kind, bool isMax,
               int64_t kernel, std::optional<int64_t> stride, int64_t padding)
    : Layer(model, name, kind), isMax_(isMax), kernel_(kernel), stride_(stride.value_or(kernel)),
      padding_(padding) {
  if (!checkPositive("kernel_size", kernel_) || !checkPositive("stride", stride_))
    return;
  if (padding_ < 0 || 2 * padding_ > kernel_)
    fail("padding must be between 0 and half the kernel size, got " + std::to_string(padding_));
}

Tensor Pool2d::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  if (x.rank() != 4)
    return fail("expects input (N, C, H, W), got " + formatShape(x.shape()));
  Pair kernel = {kernel_, kernel_}, stride = {stride_, stride_}, padding = {padding_, padding_};
  return isMax_ ? model_.maxPool2d(x, kernel, stride, padding, nodeName())
                : model_.avgPool2d(x, kernel, stride, padding, nodeName());
}

// --- Dropout and normalization ---------------------------------------------------------------

Dropout::Dropout(Model &model, const std::string &name, double rate)
    : Layer(model, name, "Dropout"), rate_(rate) {
  if (!(rate >= 0 && rate < 1))
    fail("rate must be in [0, 1), got " + std::to_string(rate));
}

Tensor Dropout::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  return model_.dropout(x, rate_, nodeName());
}

LayerNorm::LayerNorm(Model &model, const std::string &name, int64_t dim, double epsilon)
    : Layer(model, name, "LayerNorm"), dim_(dim), epsilon_(epsilon) {
  if (!checkPositive("normalized dim", dim))
    return;
  if (!(epsilon > 0)) {
    fail("epsilon must be positive, got " + std::to_string(epsilon));
    return;
  }
  weight_ = model_.parameter(name_ + ".weight", {dim}, init::ones());
  bias_ = model_.parameter(name_ + ".bias", {dim}, init::zeros());
}

Tensor LayerNorm::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  if (x.rank() == 0 || x.dim(-1) != dim_)
    return fail(featureMismatch(x, dim_));
  return model_.layerNorm(x, weight_, bias_, epsilon_, nodeName());
}

// --- BatchNorm -------------------------------------------------------------------------------

BatchNorm::BatchNorm(Model &model, const std::string &name, const char *kind, int64_t rank,
                     int64_t channels, double epsilon, double momentum)
    : Layer(model, name, kind), rank_(rank), channels_(channels), epsilon_(epsilon),
      momentum_(momentum) {
  if (!checkPositive("num_features", channels))
    return;
  if (!(epsilon > 0)) {
    fail("epsilon must be positive, got " + std::to_string(epsilon));
    return;
  }
  if (!(momentum >= 0 && momentum <= 1)) {
    fail("momentum must be in [0, 1], got " + std::to_string(momentum));
    return;
  }
  weight_ = model_.parameter(name_ + ".weight", {channels}, init::ones());
  bias_ = model_.parameter(name_ + ".bias", {channels}, init::zeros());
  runningMean_ = model_.parameter(name_ + ".running_mean", {channels}, init::zeros(), F32,
                                  /*frozen=*/true);
  runningVar_ = model_.parameter(name_ + ".running_var", {channels}, init::ones(), F32,
                                 /*frozen=*/true);
}

Tensor BatchNorm::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  if (x.rank() != rank_)
    return fail(std::string("expects input ") + (rank_ == 2 ? "(N, C)" : "(N, C, H, W)") +
                ", got " + formatShape(x.shape()));
  if (x.dim(1) != channels_)
    return fail("input has " + std::to_string(x.dim(1)) + " channels, expected " +
                std::to_string(channels_));
  return model_.batchNorm(x, weight_, bias_, runningMean_, runningVar_, epsilon_, momentum_,
                          nodeName());
}

// --- Embedding -------------------------------------------------------------------------------

Embedding::Embedding(Model &model, const std::string &name, int64_t num, int64_t dim)
    : Layer(model, name, "Embedding") {
  if (!checkPositive("num_embeddings", num) || !checkPositive("embedding_dim", dim))
    return;
  weight_ = model_.parameter(name_ + ".weight", {num, dim}, init::normal(0.0, 1.0));
}

Tensor Embedding::operator()(Tensor indices) {
  if (!begin(indices))
    return {};
  if (!isInteger(indices.dtype()))
    return fail("indices are " + formatDType(indices.dtype()) + ", expected i32 or i64");
  return model_.embedding(indices, weight_, nodeName());
}

// --- Attention -------------------------------------------------------------------------------

CausalSelfAttention::CausalSelfAttention(Model &model, const std::string &name, int64_t dModel,
                                         int64_t heads)
    : Layer(model, name, "CausalSelfAttention"), dModel_(dModel), heads_(heads),
      qkv_(model, name + ".qkv", dModel, 3 * dModel), proj_(model, name + ".proj", dModel, dModel) {
  if (checkPositive("heads", heads) && dModel % heads != 0)
    fail("d_model " + std::to_string(dModel) + " is not divisible by " + std::to_string(heads) +
         " heads");
}

// 1. qkv = x W_qkv^T + b                      (B, T, 3d)
// 2. q, k, v = slices of qkv, split into heads  (B, H, T, hd); k lands as (B, H, hd, T)
// 3. probs = softmax(causal_mask(q @ k^T / sqrt(hd)))   (B, H, T, T)
// 4. y = merge_heads(probs @ v) W_proj^T + b   (B, T, d)
Tensor CausalSelfAttention::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  if (x.rank() != 3 || x.dim(2) != dModel_)
    return fail("expects input (B, T, " + std::to_string(dModel_) + "), got " +
                formatShape(x.shape()));
  int64_t b = x.dim(0), t = x.dim(1), d = dModel_, h = heads_, hd = d / h;
  Tensor qkv = qkv_(x); // (B, T, 3d)

  // Slice part i of qkv and move its heads in front of the sequence dim with `permutation`.
  auto splitHeads = [&](int64_t i, const std::string &what,
                        const std::vector<int64_t> &permutation) {
    Tensor part = model_.slice(qkv, {0, 0, i * d}, {b, t, (i + 1) * d}, {}, nodeName(what));
    Tensor split = model_.reshape(part, {b, t, h, hd}, nodeName(what + "_heads"));
    return model_.transpose(split, permutation, nodeName(what + "_t"));
  };
  Tensor q = splitHeads(0, "q", {0, 2, 1, 3});  // (B, H, T, hd)
  Tensor kT = splitHeads(1, "k", {0, 2, 3, 1}); // (B, H, hd, T): k already transposed for q @ k^T
  Tensor v = splitHeads(2, "v", {0, 2, 1, 3});  // (B, H, T, hd)

  Tensor scores = model_.matmul(q, kT, nodeName("qk")); // (B, H, T, T)
  Tensor scale =
      model_.scalar(1.0 / std::sqrt(static_cast<double>(hd)), x.dtype(), nodeName("scale"));
  scores = model_.mul(scores, scale, nodeName("scaled"));
  scores = model_.causalMask(scores, nodeName("mask"));
  Tensor probs = model_.softmax(scores, -1, nodeName("probs"));

  Tensor y = model_.matmul(probs, v, nodeName("pv"));         // (B, H, T, hd)
  y = model_.transpose(y, {0, 2, 1, 3}, nodeName("merge_t")); // (B, T, H, hd)
  y = model_.reshape(y, {b, t, d}, nodeName("merge"));        // (B, T, d)
  return proj_(y);
}

// --- Activations and reshaping ---------------------------------------------------------------

Tensor ReLU::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  return model_.relu(x, nodeName());
}

Tensor Tanh::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  return model_.tanh(x, nodeName());
}

GELU::GELU(Model &model, const std::string &name, std::string approximate)
    : Layer(model, name, "GELU"), approximate_(std::move(approximate)) {
  if (approximate_ != "none" && approximate_ != "tanh")
    fail("approximate must be \"none\" or \"tanh\", got \"" + approximate_ + "\"");
}

Tensor GELU::operator()(Tensor x) {
  if (!begin(x) || !checkFloatInput(x))
    return {};
  return model_.gelu(x, approximate_, nodeName());
}

Tensor Flatten::operator()(Tensor x) {
  if (!begin(x))
    return {};
  if (x.rank() < 2)
    return fail("expects input (N, ...) of rank >= 2, got " + formatShape(x.shape()));
  return model_.reshape(x, {x.dim(0), x.numElements() / x.dim(0)}, nodeName());
}

} // namespace nnc::frontend
