// The training loop behind `nnrun --train`: feed a plan's "train_step" one batch of a stacked
// dataset per step, with the learning rate, and read back the loss. The compiled step updates
// the parameters and optimizer state in place, so the loop only moves inputs in and the loss out.
//
//   auto binding = bindTrainStep(plan, "model.plan", data);   // which input is which
//   TrainOptions options;
//   options.steps = 100;
//   train(exec, *binding, data, options, [](int64_t step, float loss) { ... });
#pragma once

#include "proto/plan.pb.h"
#include "runtime/HostTensor.h"
#include "runtime/LossScale.h"
#include "runtime/monitor/NonfiniteOrigin.h"
#include "support/StatusOr.h"

#include <functional>
#include <optional>
#include <string>

namespace nnrt {

class Communicator;
class Executor;

/// The train_step input that takes the learning rate (f32, shape []).
inline constexpr const char *kLearningRateInput = "nnc.learning_rate";
/// The optional train_step input that takes the 1-based step number (f32, shape []), which
/// Adam's bias correction needs.
inline constexpr const char *kStepInput = "nnc.step";
/// The optional train_step input that takes the run's seed (i64, shape []), which keys dropout.
inline constexpr const char *kRngKeyInput = "nnc.rng_key";

/// A dataset: many batches stacked along axis 0, as two files hold them.
struct TrainData {
  HostTensor features, labels;  // (N * batch, ...) each
  std::string featuresPath, labelsPath;  // for error messages
};

/// With gradient accumulation the plan has accumulate_step (one micro-batch: forward,
/// backward, sums the gradients) and apply_step (the update), run `steps` times and once.
struct ApplyBinding {
  nnc::TensorSlice learningRate;
  std::optional<nnc::TensorSlice> stepNumber;  // the update's number, for Adam
  int64_t steps = 1;                           // micro-batches per update
};

/// Which of train_step's tensors is which, and how many batches the data holds. Copies, so a
/// binding made before Executor::prepare took the plan stays valid.
struct TrainBinding {
  std::string stepFunction = "train_step";     // or accumulate_step
  std::optional<ApplyBinding> apply;           // with gradient accumulation
  nnc::TensorSlice features, labels, learningRate;
  std::optional<nnc::TensorSlice> stepNumber;  // when train_step takes nnc.step
  std::optional<nnc::TensorSlice> rngKey;      // when train_step takes nnc.rng_key
  nnc::TensorSlice loss;  // output 0, one f32
  std::optional<LossScaleWatch> lossScale;     // when the plan scales its loss (fp16)
  /// The update's "update_skipped" and find_nonfinite, when the plan guards its updates.
  std::optional<nnc::TensorSlice> updateSkipped;
  std::optional<NonfiniteProbe> probe;
  int64_t batches = 0;    // N
};

/// Matches `data` to `plan`'s "train_step". The inputs other
/// than nnc.learning_rate, nnc.step and nnc.rng_key must be exactly two, features and labels:
///   1. if "predict" takes an input named like exactly one of them, that one is the features;
///   2. otherwise the one assignment under which both files fit (dtype, rank, trailing dims);
///      when both assignments fit (same type for features and labels), the plan is ambiguous.
/// Then each file must hold a whole, equal number N >= 1 of its input's batches (dimension 0).
/// Errors start with the file they concern: `planPath`, data.featuresPath or data.labelsPath.
nnc::StatusOr<TrainBinding> bindTrainStep(const nnc::Plan &plan, const std::string &planPath,
                                          const TrainData &data);

enum class BatchOrder { Sequential };  // step i takes batch i mod N

struct TrainOptions {
  int64_t steps = 1;
  float learningRate = 0.01f;
  BatchOrder order = BatchOrder::Sequential;
  uint64_t seed = 0;  // fed to nnc.rng_key when train_step takes it (the plan's seed by default)
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

/// Runs train_step options.steps times on `executor` (whose plan `binding` was made from), every
/// input written before every step: the compiler may reuse an input's slice once it is dead, so
/// nothing survives from one step to the next but the parameters. Calls onStep(i, loss) after
/// each step. Errors are the executor's ("function 'train_step', node 'fc1': ...").
nnc::Status train(Executor &executor, const TrainBinding &binding, const TrainData &data,
                  const TrainOptions &options,
                  const std::function<void(int64_t step, float loss)> &onStep);

} // namespace nnrt
