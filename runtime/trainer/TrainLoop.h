// The training loop behind `nnrun --train`: feed a plan's training step one batch of a stacked
// dataset per step, with the learning rate, and read back the loss. The compiled step updates
// the parameters and optimizer state in place; the step runner (StepRunner.h) feeds and runs it,
// so this loop only picks each step's batch and reports.
//
//   auto binding = bindTrainStep(plan, "model.plan", data);   // which input is which
//   TrainOptions options;
//   options.steps = 100;
//   train(exec, *binding, data, options, [](int64_t step, float loss) { ... });
#pragma once

#include "proto/plan.pb.h"
#include "runtime/HostTensor.h"
#include "runtime/trainer/LossScale.h"
#include "runtime/trainer/StepRunner.h"
#include "support/StatusOr.h"

#include <functional>
#include <string>

namespace nnrt {

class Communicator;
class Executor;

/// A dataset: many batches stacked along axis 0, as two files hold them.
struct TrainData {
  HostTensor features, labels;  // (N * batch, ...) each
  std::string featuresPath, labelsPath;  // for error messages
};

/// Matches `data` to `plan`'s training step (bindStep). The step's inputs other than
/// nnc.learning_rate, nnc.step and nnc.rng_key must be exactly two, features and labels:
///   1. if "predict" takes an input named like exactly one of them, that one is the features;
///   2. otherwise the one assignment under which both files fit (dtype, rank, trailing dims);
///      when both assignments fit (same type for features and labels), the plan is ambiguous.
/// Then each file must hold a whole, equal number N >= 1 of its input's batches (dimension 0).
/// Errors start with the file they concern: `planPath`, data.featuresPath or data.labelsPath.
nnc::StatusOr<trainer::StepBinding> bindTrainStep(const nnc::Plan &plan,
                                                  const std::string &planPath,
                                                  const TrainData &data);

/// N: the whole batches of `binding`'s features that `data` holds (bindTrainStep checked them).
int64_t batchCount(const trainer::StepBinding &binding, const TrainData &data);

enum class BatchOrder { Sequential };  // step i takes batch i mod N

struct TrainOptions {
  int64_t steps = 1;
  float learningRate = 0.01f;
  BatchOrder order = BatchOrder::Sequential;
  uint64_t seed = 0;  // keys nnc.rng_key when the step takes it (the plan's seed by default)
  /// Called after each step of a plan that scales its loss (fp16); the loop has already
  /// stopped with an error if the scale fell below its floor.
  std::function<void(int64_t step, const LossScaleReading &)> onLossScale;
  /// A guarded plan skipped update `step` (a non-finite loss or gradient; every parameter kept
  /// its value). Without skipNonFinite the loop stops with an error naming the node where the
  /// first non-finite value appeared; with it, it calls onSkipped with that message and goes on.
  bool skipNonFinite = false;
  std::function<void(int64_t step, const std::string &message)> onSkipped;
  /// Data parallelism: the ranks sharing each step (not owned). Step i's global batch is the
  /// file's batches i*R .. i*R+R-1 (mod N), rank r takes the r-th; the reported loss is the
  /// mean over the ranks, and each rank keys dropout differently.
  Communicator *group = nullptr;
};

/// Runs options.steps updates on `executor` (whose plan `binding` was made from): each one
/// micro-batch through train_step, or the plan's accumulation steps through accumulate_step and
/// then apply_step. Calls onStep(i, loss) after each. Errors are the executor's
/// ("function 'train_step', node 'fc1': ...").
nnc::Status train(Executor &executor, const trainer::StepBinding &binding, const TrainData &data,
                  const TrainOptions &options,
                  const std::function<void(int64_t step, float loss)> &onStep);

} // namespace nnrt
