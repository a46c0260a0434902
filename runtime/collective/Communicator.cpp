// The engine registry for communicators: "mpi" and "nccl" (runtime/collective/Communicator.h).
#include "runtime/collective/Communicator.h"

#include "runtime/collective/MpiCommunicator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace nnrt {

nnc::StatusOr<std::unique_ptr<Communicator>> createCommunicator(std::string_view engine,
                                                                std::chrono::seconds timeout) {
  if (timeout.count() <= 0)
    return nnc::Status::error("collective timeout must be positive, not " +
                              std::to_string(timeout.count()) + " s");
  if (engine == "mpi")
    return collective::createMpiCommunicator(engine, timeout, nullptr);
  if (engine == "nccl") {
    // Before MPI: a missing library fails fast, on every rank alike.
    nnc::StatusOr<std::unique_ptr<collective::MeanReducer>> reducer =
        collective::createNcclReducer();
    if (!reducer.ok())
      return reducer.status();
    return collective::createMpiCommunicator(engine, timeout, std::move(*reducer));
  }
  return nnc::Status::error("unknown collective engine '" + std::string(engine) +
                            "' (available: mpi, nccl)");
}

nnc::Status Communicator::reduceScatterMean(std::string_view tag, const float *, float *,
                                            int64_t) {
  return nnc::Status::error("reduce-scatter of " + std::string(tag) +
                            ": this communicator has no reduce-scatter");
}

nnc::Status Communicator::allGather(std::string_view tag, const float *, float *, int64_t) {
  return nnc::Status::error("all-gather of " + std::string(tag) +
                            ": this communicator has no all-gather");
}

bool launchedByMpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr;
}

double CollectiveStats::hiddenFraction() const {
  if (communicating.count() <= 0)
    return 0;
  double exposed = double(blocked.count()) / double(communicating.count());
  return std::clamp(1 - exposed, 0.0, 1.0);
}

nnc::StatusOr<std::string> summarizeCollectiveStats(Communicator &communicator) {
  CollectiveStats mine = communicator.stats();
  double sums[4] = {double(mine.allReduces), double(mine.communicating.count()),
                    double(mine.blocked.count()), double(mine.agreeing.count())};
  if (nnc::Status s = communicator.allReduceSum("the collective statistics", sums, 4); !s.ok())
    return s;
  CollectiveStats all;
  all.allReduces = int64_t(sums[0]);
  all.communicating = std::chrono::nanoseconds(int64_t(sums[1]));
  all.blocked = std::chrono::nanoseconds(int64_t(sums[2]));
  double ranks = communicator.size();
  char line[256];
  std::snprintf(line, sizeof line,
                "collectives: %lld all-reduces per rank, %.1f ms communicating (%.1f ms "
                "agreeing), %.1f ms blocked in wait (mean per rank), %.1f%% hidden behind compute",
                static_cast<long long>(sums[0] / ranks), sums[1] / ranks * 1e-6,
                sums[3] / ranks * 1e-6, sums[2] / ranks * 1e-6, 100 * all.hiddenFraction());
  return std::string(line);
}

nnc::Status Communicator::allReduceSumFloats(std::string_view group, std::string_view tag, float *,
                                        int64_t) {
  return nnc::Status::error("tensor all-reduce of " + std::string(tag) + " over group '" +
                       std::string(group) + "': this communicator cannot sum floats");
}

} // namespace nnrt
