// Which of a plan's tensors the trainer feeds and reads: train_step's features, labels and
// per-step scalars (nnc.learning_rate, optional nnc.step and nnc.rng_key) and its loss; eval_step's
// features, labels, loss and first model output (the logits, for accuracy).
#pragma once

#include "proto/plan.pb.h"
#include "runtime/LossScale.h"
#include "runtime/TrainLoop.h"
#include "runtime/monitor/NonfiniteOrigin.h"
#include "runtime/trainer/Dataset.h"
#include "support/StatusOr.h"

#include <optional>

namespace nnrt::trainer {

struct StepBinding {
  nnc::TensorSlice features, labels, learningRate, loss;
  std::optional<nnc::TensorSlice> stepNumber;  // nnc.step, f32 [], 1-based
  std::optional<nnc::TensorSlice> rngKey;      // nnc.rng_key, i64 []: the run's seed
  std::optional<LossScaleWatch> lossScale;     // fp16: the scale and skipped-step outputs
  /// "train_step", or "accumulate_step" with gradient accumulation: then `apply` runs the
  /// update after every `apply->steps` micro-batches and takes the learning rate.
  std::string function = "train_step";
  std::optional<ApplyBinding> apply;
  std::optional<nnc::TensorSlice> gradNorm;    // "grad_norm": the pre-clip global norm, f32 []
                                               // (plans that clip gradients)
  /// "update_skipped" of the update (train_step or apply_step): the plan kept every parameter
  /// because the loss or a gradient was not finite; find_nonfinite then says where it started.
  std::optional<nnc::TensorSlice> updateSkipped;
  std::optional<NonfiniteProbe> probe;
};

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
