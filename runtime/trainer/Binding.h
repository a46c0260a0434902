// Which of a plan's tensors the trainer feeds and reads: the training step (StepBinding, shared
// with the other loops), with its features told apart from its labels by predict's input names;
// eval_step's features, labels, loss and first model output (the logits, for accuracy).
#pragma once

#include "proto/plan.pb.h"
#include "runtime/trainer/Dataset.h"
#include "runtime/trainer/StepRunner.h"
#include "support/StatusOr.h"

#include <optional>

namespace nnrt::trainer {

struct EvalBinding {
  nnc::TensorSlice features, labels, loss;
  std::optional<nnc::TensorSlice> logits;  // output 1, (B, ..., classes) matching the labels
};

struct FitBinding {
  StepBinding train;
  std::optional<EvalBinding> eval;  // absent: the plan has no eval_step
  ModelInputs model;                // per-batch types and the class count
  int64_t batch = 0;                // the functions' fixed batch size (dim 0)
  /// The plan's labels are class probabilities, f32 (batch, classes) (soft targets, which
  /// mixup needs); the data still holds class ids (model.labels), which the trainer turns into
  /// one-hot or mixed rows as it feeds them.
  bool softLabels = false;
};

/// Binds train_step (required) and eval_step. Features are the input predict also takes (else
/// train_step's first data input); eval_step's inputs are matched by name. Errors:
/// "<planPath>: function 'train_step' has no input 'nnc.learning_rate'", ...
nnc::StatusOr<FitBinding> bindFit(const nnc::Plan &plan, const std::string &planPath);

} // namespace nnrt::trainer
