// Where each rank sits when data and pipeline parallelism run together (`nnc compile
// --data-parallel D --pipeline-stages P`, `mpirun -np D*P`): rank = p*D + d, the data rank d
// innermost among a stage's ranks, so that a tensor-parallel dimension T can later go innermost
// of all (rank = (p*D + d)*T + t) without moving the others. Two groups per rank:
//   - the data group: the D ranks of stage p (gradient means; the loss mean over replicas);
//   - the pipeline group: the P stages of pipeline d (activations and gradients, point to point;
//     the sums over stages: the clipping norm, the non-finite count).
//
//   nnc::StatusOr<RankLayout> layout = makeRankLayout(world, D, P, "model.plan");
//   layout->stage, layout->dataGroup(), layout->pipelineGroup() ...; layout->close();
#pragma once

#include "runtime/collective/Communicator.h"

#include <memory>
#include <string>

namespace nnrt {

struct RankLayout {
  int data = 1, pipeline = 1;  // D and P
  int dataRank = 0, stage = 0; // d and p of this rank
  /// The D ranks of this stage; null when D is 1 (no data parallelism).
  Communicator *dataGroup() const { return dataGroup_.get(); }
  /// The P stages of this rank's pipeline: a group of the world, or the world itself when D is 1.
  Communicator *pipelineGroup() const { return pipelineGroup_ ? pipelineGroup_.get() : world_; }
  /// "rank layout: 4 ranks = data 2 x pipeline 2; rank r = p*D + d (stage p, data rank d)".
  std::string describe() const;
  /// Closes the groups (each ends with a barrier among its ranks); before the world's close().
  nnc::Status close();
  /// After a failure: lets go of the groups without closing them, whose last barrier would wait
  /// for peers that failed too or are gone (the process is about to end; mpirun ends the rest).
  void abandon();

  Communicator *world_ = nullptr;
  std::unique_ptr<Communicator> dataGroup_, pipelineGroup_;
};

/// Splits `world` (null: one process) into the groups of `data` x `pipeline` ranks. A world of
/// another size fails, the same on every rank and before any work: "model.plan: the plan has
/// 2 pipeline stages of 2 data-parallel ranks each: run it with mpirun -np 4 (this job has 3
/// ranks)".
nnc::StatusOr<RankLayout> makeRankLayout(Communicator *world, int data, int pipeline,
                                         const std::string &planPath);

} // namespace nnrt
