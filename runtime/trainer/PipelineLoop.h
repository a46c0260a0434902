// Pipeline parallelism behind `nnrun --train` on a pipelined plan (nnc compile
// --pipeline-stages S, with --data-parallel D: mpirun -np D*S, RankLayout.h): under
// `mpirun -np S`, rank s runs stage s's plan through the stage's
// 1F1B actions once per update. Micro-batch j of update i is the files' batch i*M + j (mod N):
// the stage that reads the features gets its rows, the one that reads the labels gets theirs,
// and activations and gradients travel between neighbouring ranks. The stages are one replica:
// the step runner feeds their per-step scalars and runs their updates as for one process.
//
//   auto binding = bindPipelineStage(plan.pipeline(), rank, "model.plan", data);
//   trainPipeline(exec, *binding, data, options, dataGroup, [](int64_t step, float loss) {});
#pragma once

#include "proto/plan.pb.h"
#include "runtime/trainer/Binding.h"
#include "runtime/trainer/Evaluate.h"
#include "runtime/trainer/StepRunner.h"
#include "runtime/trainer/TrainLoop.h"

#include <memory>
#include <optional>

namespace nnrt {

/// Which of a stage's tensors is which.
struct PipelineBinding {
  int stage = 0, stages = 1;
  int64_t microBatches = 1;
  std::vector<nnc::PipelineAction> actions;  // one update's, in order
  // accumulate_step: the stage's input (features, or nnc.pipe.in), the labels (last stage), the
  // gradient from the next stage (others); its outputs: the loss, the gradient to send back.
  std::optional<nnc::TensorSlice> features, labels, pipeIn, gradIn;
  std::optional<nnc::TensorSlice> stepNumber, rngKey;
  nnc::TensorSlice loss;
  std::optional<nnc::TensorSlice> gradOut;
  // forward_step (every stage but the last): the same inputs, and the activation it sends.
  std::optional<nnc::TensorSlice> forwardFeatures, forwardPipeIn, forwardStepNumber,
      forwardRngKey, pipeOut;
  trainer::ApplyBinding apply;  // apply_step
  int64_t batches = 0;  // N: whole micro-batches in the files
};

/// Matches `pipeline`'s stage `stage` to the data: a graph input of the stage takes the file
/// whose type fits it (features or labels). Errors name `planPath` or the file.
nnc::StatusOr<PipelineBinding> bindPipelineStage(const nnc::PipelineSchedule &pipeline, int stage,
                                                 const std::string &planPath,
                                                 const TrainData &data);

/// Runs options.steps updates of this rank's stage on `executor` (prepared with the stage's
/// plan), talking to its neighbours through options.group (the pipeline's stages). `dataGroup`:
/// the replicas of this stage under data x pipeline parallelism (null: none); data rank d of D
/// takes the files' batch (i*M + j)*D + d for micro-batch j of update i. onStep(i, loss) gets
/// update i's loss, the mean over its micro-batches and the replicas, on every rank.
nnc::Status trainPipeline(Executor &executor, const PipelineBinding &binding,
                          const TrainData &data, const TrainOptions &options,
                          Communicator *dataGroup,
                          const std::function<void(int64_t step, float loss)> &onStep);

/// A pipelined plan under `nnrun --fit` (trainer::fit drives it through FitConfig::pipeline):
/// a trainer step is one update of the pipeline on a batch of M micro-batches, evaluation runs
/// each batch through the stages (predict on every stage but the last, eval_step there), and
/// checkpoints stay logical: every stage's tensors gathered on world rank 0, under the names a
/// one-process plan of the model has.
class PipelineFit {
public:
  /// `pipeline`: the stages of this rank's pipeline; `data`: this stage's replicas (null: none).
  /// Errors name `planPath`.
  static nnc::StatusOr<std::unique_ptr<PipelineFit>>
  create(Executor &executor, const nnc::PipelineSchedule &schedule, int stage,
         Communicator *pipeline, Communicator *data, uint64_t seed, const std::string &planPath);
  ~PipelineFit();

  /// One update (numbered from 0) on `batch`, M micro-batches of rows() rows each, at rate `lr`;
  /// its loss (the mean over the micro-batches and the replicas) on every rank, and whether any
  /// rank was asked to stop.
  nnc::StatusOr<float> train(const trainer::Batch &batch, int64_t update, float lr, bool &stop);
  /// Evaluation through the stages (evaluate() with it).
  trainer::EvalStep &evalStep();
  /// This stage's parameters and optimizer state, prefixed; not its accumulators, which are zero
  /// between updates (a one-process plan of the model has none).
  nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>>
  capture(const std::string &prefix = "") const;
  /// Every stage's `tensors` (a collective of the pipeline), gathered on world rank 0, each name
  /// once (the loss scale's state is alike on every stage); empty on the other ranks.
  nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>>
  gather(std::vector<std::pair<std::string, HostTensor>> tensors);
  /// Whether this rank writes checkpoints (world rank 0: stage 0 of data rank 0).
  bool writes() const;

  struct State;

private:
  explicit PipelineFit(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

/// What --fit needs of a pipelined plan: the model's inputs (stage 0's features, the last
/// stage's labels and classes), the batch of one update (M micro-batches), the last stage's
/// eval_step. Errors name `planPath`.
nnc::StatusOr<trainer::FitBinding> bindPipelineFit(const nnc::PipelineSchedule &schedule,
                                                   const std::string &planPath);

/// The plan that stands for a pipelined plan where --fit checks a checkpoint and reads the
/// recipe: stage 0's training spec, seed and metadata, and every stage's parameters but the
/// accumulators, each name once.
nnc::Plan logicalPlan(const nnc::Plan &pipelined);

} // namespace nnrt
