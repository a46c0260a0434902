// The data x pipeline rank layout and its communicator groups (see RankLayout.h).
#include "runtime/collective/RankLayout.h"

namespace nnrt {

std::string RankLayout::describe() const {
  return "rank layout: " + std::to_string(data * pipeline) + " ranks = data " +
         std::to_string(data) + " x pipeline " + std::to_string(pipeline) +
         "; rank r = p*D + d (stage p, data rank d)";
}

nnc::Status RankLayout::close() {
  nnc::Status status;
  for (std::unique_ptr<Communicator> *group : {&dataGroup_, &pipelineGroup_})
    if (*group)
      if (nnc::Status s = (*group)->close(); !s.ok() && status.ok())
        status = s;
  return status;
}

void RankLayout::abandon() {
  // Never destroyed: a communicator's destructor closes it. Its thread stays parked (or inside
  // MPI, holding its own state) until the process ends.
  (void)dataGroup_.release();
  (void)pipelineGroup_.release();
}

nnc::StatusOr<RankLayout> makeRankLayout(Communicator *world, int data, int pipeline,
                                         const std::string &planPath) {
  int size = world ? world->size() : 1;
  if (data < 1 || pipeline < 1 || size != data * pipeline) {
    std::string shape = std::to_string(pipeline) + " pipeline stages";
    if (data > 1)
      shape += " of " + std::to_string(data) + " data-parallel ranks each";
    return nnc::Status::error(planPath + ": the plan has " + shape + ": run it with mpirun -np " +
                              std::to_string(data * pipeline) + " (this job has " +
                              std::to_string(size) + (size == 1 ? " rank)" : " ranks)"));
  }
  RankLayout layout;
  layout.data = data;
  layout.pipeline = pipeline;
  layout.world_ = world;
  int rank = world ? world->rank() : 0;
  layout.stage = rank / data;
  layout.dataRank = rank % data;
  if (data == 1)
    return layout; // the world is the pipeline
  nnc::StatusOr<std::unique_ptr<Communicator>> dataGroup =
      world->split(layout.stage, layout.dataRank,
                   "data group of stage " + std::to_string(layout.stage));
  if (!dataGroup.ok())
    return dataGroup.status();
  layout.dataGroup_ = std::move(*dataGroup);
  nnc::StatusOr<std::unique_ptr<Communicator>> pipelineGroup =
      world->split(layout.dataRank, layout.stage,
                   "pipeline of data rank " + std::to_string(layout.dataRank));
  if (!pipelineGroup.ok())
    return pipelineGroup.status();
  layout.pipelineGroup_ = std::move(*pipelineGroup);
  return layout;
}

} // namespace nnrt
