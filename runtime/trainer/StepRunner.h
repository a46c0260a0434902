// The step runner: the one place that feeds a training step's inputs, runs it, applies the update
// when it is due, reduces the loss over the ranks and finds where a skipped update's non-finite
// value started. `nnrun --train` (TrainLoop), `--fit` (Trainer) and pipeline stages
// (PipelineLoop) all drive their steps through it; each keeps only its own order of batches.
//
//   StepBinding binding = *bindStep(plan, "model.plan", dataInputs);  // which input is which
//   StepRunner runner(executor, seed, group);
//   float loss = *runner.runMicroBatch(binding, {&x, &y, number}, lr);
//   runner.apply(*binding.apply, lr, update);                          // with accumulation
#pragma once

#include "proto/plan.pb.h"
#include "runtime/HostTensor.h"
#include "runtime/monitor/NonfiniteOrigin.h"
#include "runtime/trainer/LossScale.h"
#include "support/StatusOr.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnrt {

class Communicator;
class Executor;

/// The step input that takes the learning rate (f32, shape []).
inline constexpr const char *kLearningRateInput = "nnc.learning_rate";
/// The optional step input that takes the 1-based step number (f32, shape []), which Adam's bias
/// correction and dropout's masks need.
inline constexpr const char *kStepInput = "nnc.step";
/// The optional step input that takes the rank's random key (i64, shape []), which keys dropout.
inline constexpr const char *kRngKeyInput = "nnc.rng_key";

} // namespace nnrt

namespace nnrt::trainer {

/// The key a data-parallel rank feeds to nnc.rng_key: the run's seed, the ranks' streams kept
/// apart by golden-ratio spacing. Rank 0's key is the seed itself.
uint64_t rankRngKey(uint64_t seed, int rank);

/// With gradient accumulation the plan has accumulate_step (one micro-batch: forward, backward,
/// sums the gradients) and apply_step (the update), run `steps` times and once.
struct ApplyBinding {
  nnc::TensorSlice learningRate;
  std::optional<nnc::TensorSlice> stepNumber;  // the update's number, for Adam
  int64_t steps = 1;                           // micro-batches per update
};

/// Which of a plan's training-step tensors is which. Copies, so a binding made before
/// Executor::prepare took the plan stays valid.
struct StepBinding {
  /// "train_step", or "accumulate_step" with gradient accumulation: then `apply` runs the update
  /// after every `apply->steps` micro-batches and takes the learning rate.
  std::string function = "train_step";
  std::optional<ApplyBinding> apply;
  nnc::TensorSlice features, labels, learningRate;
  nnc::TensorSlice loss;                       // output 0, one f32
  std::optional<nnc::TensorSlice> stepNumber;  // nnc.step, f32 [], 1-based
  std::optional<nnc::TensorSlice> rngKey;      // nnc.rng_key, i64 []
  std::optional<nnc::TensorSlice> gradNorm;    // "grad_norm": the pre-clip global norm, f32 []
                                               // (plans that clip gradients)
  std::optional<LossScaleWatch> lossScale;     // fp16: the scale and skipped-step outputs
  /// "update_skipped" of the update (train_step or apply_step): the plan kept every parameter
  /// because the loss or a gradient was not finite; find_nonfinite then says where it started.
  std::optional<nnc::TensorSlice> updateSkipped;
  std::optional<NonfiniteProbe> probe;

  int64_t microBatches() const { return apply ? apply->steps : 1; }
};

/// Binds `plan`'s step, in order:
///   1. train_step, or accumulate_step with apply_step (its inputs: the rate and step number);
///   2. the step's per-step scalars (nnc.learning_rate, nnc.step, nnc.rng_key) and its loss;
///   3. the fp16 loss scale, the update guard and find_nonfinite.
/// The step's other inputs are its data: they go to `dataInputs`, and which is the features is
/// the caller's to say (bindFit by predict's input names, --train by the files' types). Errors
/// start with `planPath`.
nnc::StatusOr<StepBinding> bindStep(const nnc::Plan &plan, const std::string &planPath,
                                    std::vector<nnc::TensorSlice> &dataInputs);

/// One micro-batch as the step was fed: its data and its 1-based number (nnc.step).
struct MicroBatch {
  const HostTensor *features = nullptr, *labels = nullptr;
  int64_t number = 0;
};

class StepRunner {
public:
  /// `group`: the data-parallel ranks (null: one replica; a pipeline's stages are one replica);
  /// this rank's dropout key is rankRngKey(seed, its rank).
  StepRunner(Executor &executor, uint64_t seed, Communicator *group);

  Executor &executor() const { return executor_; }
  uint64_t rngKey() const { return rngKey_; }
  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  /// Whether this process writes files for the group (rank 0 of all: the ranks of one
  /// tensor-parallel replica share rank() and ranks()).
  bool writesFiles() const;

  /// Feeds one micro-batch (features, labels, the rate unless apply_step takes it, nnc.step and
  /// nnc.rng_key), runs binding.function and returns its loss, this rank's.
  nnc::StatusOr<float> runMicroBatch(const StepBinding &binding, const MicroBatch &batch,
                                     float learningRate);
  /// apply_step: the update numbered `update` (1-based) at `learningRate`.
  nnc::Status apply(const ApplyBinding &binding, float learningRate, int64_t update);
  /// `loss` becomes the mean over the ranks; `stop` whether any rank was asked to stop
  /// (SIGINT/SIGTERM). `what` names the collective ("the loss of step 3").
  nnc::Status reduceLoss(const std::string &what, float &loss, bool &stop);

  /// Whether the guarded plan skipped the update just run (false for an unguarded plan).
  nnc::StatusOr<bool> updateSkipped(const StepBinding &binding);
  /// After a skipped update: find_nonfinite run on the update's micro-batches, fed as they were,
  /// until one shows where the first non-finite value started; the earliest over the ranks
  /// (its `step` is the micro-batch's number). Nothing when every checked value was finite.
  nnc::StatusOr<std::optional<RankedOrigin>> locateNonfinite(const StepBinding &binding,
                                                             const std::vector<MicroBatch> &fed);

  /// The pieces, for loops with other step functions (a pipeline stage's forward_step):
  /// writes one input of `function`, errors naming it.
  nnc::Status write(std::string_view function, const nnc::TensorSlice &slice,
                    const HostTensor &value);
  /// Writes nnc.step (`number`) and nnc.rng_key, for the inputs `function` has.
  nnc::Status writeStepScalars(std::string_view function,
                               const std::optional<nnc::TensorSlice> &stepNumber,
                               const std::optional<nnc::TensorSlice> &rngKey, int64_t number);
  /// Reads one output of `function`, errors naming it.
  nnc::StatusOr<HostTensor> read(std::string_view function, const nnc::TensorSlice &slice);

private:
  Executor &executor_;
  Communicator *group_;
  int rank_ = 0, ranks_ = 1;
  uint64_t rngKey_;
};

} // namespace nnrt::trainer
