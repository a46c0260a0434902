// The one Communicator implementation: a thread that owns MPI (initialized on it) runs the
// queued collectives, checks that the ranks agree on each, and times them out; the one MPI call
// made elsewhere is the roll call of a caller whose reduction is held in MPI_Allreduce. What
// reduces startAllReduceMean's floats is a MeanReducer: MPI on host memory
// (MpiCollectives.cpp), or NCCL on device memory (NcclReducer.cpp). The parts: MpiWorker.h.
#pragma once

#include "runtime/collective/Communicator.h"

#include <mpi.h>

#include <functional>

namespace nnrt::collective {

using Clock = std::chrono::steady_clock;

/// Reduces startAllReduceMean's floats. Every method runs on the communicator's thread, which
/// also makes every MPI call; a method may use MPI on `comm`.
class MeanReducer {
public:
  virtual ~MeanReducer() = default;
  /// Once, after MPI is up (nccl: creates the NCCL communicator). Gives up at `deadline`.
  virtual nnc::Status setUp(MPI_Comm comm, int rank, int size, Clock::time_point deadline) = 0;
  /// Starts the in-place mean of `count` floats at `data` (count > 0); test() says when it ends.
  virtual nnc::Status start(float *data, int64_t count) = 0;
  /// Whether the started mean is complete, or why it failed.
  virtual nnc::StatusOr<bool> test() = 0;
  /// Gives up on a started mean that took too long; the reducer is not used again.
  virtual void abandon() = 0;
  /// Orderly release before MPI_Finalize, when every rank got this far.
  virtual void tearDown() = 0;
};

/// Calls `test` until it says done (true) or fails, or until `deadline` (false). It spins for a
/// few microseconds, then sleeps between calls, so that a waiting comm thread leaves the cores
/// to compute. MPI makes progress only inside calls such as MPI_Test, so `test` must make one.
nnc::StatusOr<bool> pollUntil(Clock::time_point deadline,
                              const std::function<nnc::StatusOr<bool>()> &test);

/// "MPI_Iallreduce failed: MPI_ERR_COUNT: invalid count argument".
std::string describeMpiError(const char *call, int code);

/// A communicator whose means run on `reducer`, or on MPI over host memory when it is null.
/// `engine` ("mpi", "nccl") prefixes setup errors.
nnc::StatusOr<std::unique_ptr<Communicator>>
createMpiCommunicator(std::string_view engine, std::chrono::seconds timeout,
                      std::unique_ptr<MeanReducer> reducer);

/// The nccl engine's reducer, or why it cannot exist here (NcclReducer.cpp); it loads libnccl and
/// libcuda but touches no GPU until setUp.
nnc::StatusOr<std::unique_ptr<MeanReducer>> createNcclReducer();

} // namespace nnrt::collective
