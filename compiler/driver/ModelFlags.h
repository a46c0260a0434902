// The flags of `nnc compile` and `nnc import` that shape the model before it compiles: the
// training spec (an ONNX model carries none; they override a model.pb's) and the batch size.
#pragma once

#include "llvm/Support/CommandLine.h"

#include <cstdint>
#include <optional>
#include <string>

namespace nnc {
class Model;

/// Sets the leading (batch) dimension of every graph input of `model` to `batchSize`, and the
/// leading dimension of each reshape target that equals the old batch. Fails (one line in
/// `error`) when the inputs disagree on their batch.
bool setBatchSize(Model &model, int64_t batchSize, std::string &error);

/// The values of the flags below; unset ones leave the model as it is.
struct ModelOptions {
  std::optional<int64_t> batchSize, accumulationSteps, epochs, seed;
  std::optional<double> labelSmoothing, lr, weightDecay, momentum, clipNorm;
  std::string loss, training, optimizer, betas, precision;  // empty: not given
  bool inference = false; // --inference: no training spec, the plan only predicts
};

/// Reads `path` (an nnc model, binary or .pbtxt, or an ONNX file), then applies the batch size
/// and the training options. `needLoss`: an ONNX model without a loss is refused (compiling
/// needs a loss; importing does not). With `options.inference` the model's training spec is
/// dropped instead, and a training flag is refused. On failure returns false with one line in
/// `error`.
bool loadModel(const std::string &path, const ModelOptions &options, bool needLoss, Model &model,
               std::string &error);

/// Declares the flags (in `category`, so `--help` lists them).
struct ModelFlags {
  explicit ModelFlags(llvm::cl::OptionCategory &category);
  /// What was given on the command line.
  ModelOptions values() const;

  llvm::cl::opt<int64_t> batchSize;
  llvm::cl::opt<std::string> loss;
  llvm::cl::opt<double> labelSmoothing;
  llvm::cl::opt<std::string> training;
  llvm::cl::opt<std::string> optimizer;
  llvm::cl::opt<double> lr;
  llvm::cl::opt<double> weightDecay;
  llvm::cl::opt<std::string> betas;
  llvm::cl::opt<double> momentum;
  llvm::cl::opt<double> clipNorm;
  llvm::cl::opt<std::string> precision;
  llvm::cl::opt<int64_t> accumulationSteps;
  llvm::cl::opt<int64_t> epochs;
  llvm::cl::opt<int64_t> seed;
  llvm::cl::opt<bool> inference;
};

} // namespace nnc
