// The data x pipeline x tensor rank layout and its communicator groups (see RankLayout.h).
#include "runtime/collective/RankLayout.h"

namespace nnrt {

namespace {

std::string count(int n, const char *what) { return std::to_string(n) + " " + what; }

/// "model.plan: the plan has 2 pipeline stages of 2 data-parallel ranks each: run it with
/// mpirun -np 4 (this job has 3 ranks)", or for tensor parallelism "model.plan: the plan splits
/// its layers over 2 ranks (nnc compile --tensor-parallel 2) in each of 2 data-parallel
/// replicas, so run it with mpirun -np 4, not 3 ranks".
std::string wrongSize(RankShape shape, int size, const std::string &planPath) {
  std::string ranks = std::to_string(size) + (size == 1 ? " process" : " ranks");
  std::string job = "mpirun -np " + std::to_string(shape.ranks());
  if (shape.tensor <= 1) {
    std::string layout = count(shape.pipeline, "pipeline stages");
    if (shape.data > 1)
      layout += " of " + count(shape.data, "data-parallel ranks each");
    return planPath + ": the plan has " + layout + ": run it with " + job + " (this job has " +
           (size == 1 ? "1 rank)" : ranks + ")");
  }
  std::string replicas;
  if (shape.pipeline > 1)
    replicas = count(shape.pipeline, "pipeline stages");
  if (shape.pipeline > 1 && shape.data > 1)
    replicas += " of ";
  if (shape.data > 1)
    replicas += count(shape.data, "data-parallel replicas");
  std::string t = std::to_string(shape.tensor);
  return planPath + ": the plan splits its layers over " + t +
         " ranks (nnc compile --tensor-parallel " + t + ")" +
         (replicas.empty() ? "" : " in each of " + replicas) + ", so run it with " + job +
         ", not " + ranks;
}

/// Every rank calls it (MPI_Comm_split is a collective over the world).
nnc::Status splitInto(Communicator &world, int color, int key, const std::string &name,
                      std::unique_ptr<Communicator> &into) {
  nnc::StatusOr<std::unique_ptr<Communicator>> group = world.split(color, key, name);
  if (!group.ok())
    return group.status();
  into = std::move(*group);
  return nnc::Status();
}

} // namespace

std::string RankLayout::describe() const {
  std::string ranks = std::to_string(data * pipeline * tensor) + " ranks = data " +
                      std::to_string(data) + " x pipeline " + std::to_string(pipeline);
  if (tensor <= 1)
    return "rank layout: " + ranks + "; rank r = p*D + d (stage p, data rank d)";
  return "rank layout: " + ranks + " x tensor " + std::to_string(tensor) +
         "; rank r = (p*D + d)*T + t (stage p, data rank d, tensor rank t)";
}

nnc::Status RankLayout::close() {
  nnc::Status status;
  for (std::unique_ptr<Communicator> *group : {&tensorGroup_, &dataGroup_, &pipelineGroup_})
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
  (void)tensorGroup_.release();
}

nnc::StatusOr<RankLayout> makeRankLayout(Communicator *world, RankShape shape,
                                         const std::string &planPath) {
  int size = world ? world->size() : 1;
  if (shape.data < 1 || shape.pipeline < 1 || shape.tensor < 1 || size != shape.ranks())
    return nnc::Status::error(wrongSize(shape, size, planPath));
  RankLayout layout;
  layout.data = shape.data;
  layout.pipeline = shape.pipeline;
  layout.tensor = shape.tensor;
  layout.world_ = world;
  int rank = world ? world->rank() : 0;
  int D = shape.data, P = shape.pipeline, T = shape.tensor;
  layout.tensorRank = rank % T;
  layout.dataRank = rank / T % D;
  layout.stage = rank / T / D;
  int p = layout.stage, d = layout.dataRank, t = layout.tensorRank;
  // The same order on every rank; a dimension alone in the world needs no group of its own.
  nnc::Status s;
  if (D > 1)
    s = splitInto(*world, p * T + t, d, "data group of stage " + std::to_string(p) +
                      (T > 1 ? ", tensor rank " + std::to_string(t) : ""),
                  layout.dataGroup_);
  if (s.ok() && (D > 1 || T > 1) && P > 1)
    s = splitInto(*world, d * T + t, p, "pipeline of data rank " + std::to_string(d) +
                      (T > 1 ? ", tensor rank " + std::to_string(t) : ""),
                  layout.pipelineGroup_);
  if (s.ok() && (D > 1 || P > 1) && T > 1)
    s = splitInto(*world, p * D + d, t, "tensor group of stage " + std::to_string(p) +
                      ", data rank " + std::to_string(d),
                  layout.tensorGroup_);
  if (!s.ok())
    return s;
  return layout;
}

} // namespace nnrt
