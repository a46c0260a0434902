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
#include "runtime/trainer/StepRunner.h"
#include "runtime/trainer/TrainLoop.h"

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

} // namespace nnrt
