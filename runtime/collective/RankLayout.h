// Where each rank sits when data, pipeline and tensor parallelism run together (`nnc compile
// --data-parallel D --pipeline-stages P --tensor-parallel T`, `mpirun -np D*P*T`):
// rank = (p*D + d)*T + t, the tensor rank t innermost (the T ranks of one layer's parts are
// neighbours, on one machine when a job spans several), then the data rank d, then the stage p.
// Three groups per rank:
//   - the tensor group: the T ranks of stage p of replica d (a split layer's all-reduces, the
//     gathers of split parameters);
//   - the data group: the D ranks of stage p holding tensor part t (gradient means, each shard
//     averaged over the replicas holding the same shard; the loss mean over replicas);
//   - the pipeline group: the P stages of pipeline (d, t) (activations and gradients, point to
//     point between the same t of adjacent stages; the sums over stages: the clipping norm, the
//     non-finite count).
//
//   nnc::StatusOr<RankLayout> layout = makeRankLayout(world, {D, P, T}, "model.plan");
//   layout->stage, layout->dataGroup(), layout->tensorGroup() ...; layout->close();
#pragma once

#include "runtime/collective/Communicator.h"

#include <memory>
#include <string>

namespace nnrt {

/// The parallelism a plan was compiled for: D x P x T ranks.
struct RankShape {
  int data = 1, pipeline = 1, tensor = 1;
  int ranks() const { return data * pipeline * tensor; }
};

struct RankLayout {
  int data = 1, pipeline = 1, tensor = 1; // D, P and T
  int dataRank = 0, stage = 0, tensorRank = 0; // d, p and t of this rank
  /// The D ranks of this stage holding this tensor part; null when D is 1.
  Communicator *dataGroup() const { return dataGroup_.get(); }
  /// The P stages of this rank's pipeline: a group of the world, or the world itself when D and
  /// T are 1; null when P is 1.
  Communicator *pipelineGroup() const { return group(pipelineGroup_, pipeline); }
  /// The T ranks of this rank's stage and replica: a group of the world, or the world itself
  /// when D and P are 1; null when T is 1.
  Communicator *tensorGroup() const { return group(tensorGroup_, tensor); }
  /// "rank layout: 4 ranks = data 2 x pipeline 2; rank r = p*D + d (stage p, data rank d)",
  /// with " x tensor T" and its rank formula when T > 1.
  std::string describe() const;
  /// Closes the groups (each ends with a barrier among its ranks); before the world's close().
  nnc::Status close();
  /// After a failure: lets go of the groups without closing them, whose last barrier would wait
  /// for peers that failed too or are gone (the process is about to end; mpirun ends the rest).
  void abandon();

  Communicator *world_ = nullptr;
  std::unique_ptr<Communicator> dataGroup_, pipelineGroup_, tensorGroup_;

private:
  Communicator *group(const std::unique_ptr<Communicator> &split, int size) const {
    return size <= 1 ? nullptr : split ? split.get() : world_;
  }
};

/// Splits `world` (null: one process) into the groups of `shape`'s ranks. A world of another
/// size fails, the same on every rank and before any work: "model.plan: the plan has
/// 2 pipeline stages of 2 data-parallel ranks each: run it with mpirun -np 4 (this job has 3
/// ranks)".
nnc::StatusOr<RankLayout> makeRankLayout(Communicator *world, RankShape shape,
                                         const std::string &planPath);

} // namespace nnrt
