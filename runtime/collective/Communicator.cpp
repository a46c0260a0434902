// The engine registry for communicators: "mpi" and "nccl" (runtime/collective/Communicator.h).
#include "runtime/collective/Communicator.h"

#include "runtime/collective/MpiCommunicator.h"

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

bool launchedByMpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr;
}

} // namespace nnrt
