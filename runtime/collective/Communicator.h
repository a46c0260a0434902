// Communicator: the collectives data-parallel training needs — the mean of the gradients over all
// ranks, sums of a few metrics, barriers — among the processes mpirun started. Two engines:
// "mpi" reduces host memory with Open MPI; "nccl" reduces device memory with NCCL and uses MPI
// for everything else (its bootstrap, the checks below, metrics and barriers).
//
// How a collective runs:
//   1. the calling (compute) thread numbers it (#1, #2, ...), queues it and goes on computing;
//   2. the communicator's own thread, the only one that calls MPI and NCCL, takes collectives in
//      order. For each it first gathers every rank's (number, kind, size, tag) and compares them,
//      so ranks that diverged stop with a message naming both sides instead of hanging or mixing
//      unrelated data; then it reduces the data. It gives up after the timeout, naming the rank
//      that stopped answering, found by a roll call among the ranks that timed out (wait() runs
//      it when the reduction is held inside MPI): "rank 0 of 2: all-reduce #3 of train_step
//      (step 17) did not complete within 60 s: rank 1 stopped answering inside it (hung or
//      died)";
//   3. wait() hands back the result of the oldest collective started with startAllReduceMean.
//
// After a failure the communicator refuses further work: report the error and end the process
// with a non-zero status; mpirun then stops the other ranks. Should wait() report that the
// communicator's thread never came back from MPI or NCCL, or close() that it never finished
// MPI_Finalize, end the process with std::_Exit: exit() would run destructors under that thread.
// close() (or destroying the communicator) runs a last barrier (a rank that ends early thus
// shows up on the others as a mismatch), then MPI_Finalize. While a communicator exists, a
// SIGTERM (what mpirun sends the surviving ranks when one dies) prints which collective was
// pending before the process dies: "nnrun: rank 1 of 2: stopped by the launcher while in
// all-reduce #3 of train_step (step 17)".
//
// One thread uses a communicator. MPI can be initialized once per process, so a process creates
// at most one communicator in its lifetime with createCommunicator; groups of its ranks (the data
// ranks of one pipeline stage, the stages of one pipeline) come from split(), each a
// communicator of its own.
#pragma once

#include "support/StatusOr.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace nnrt {

/// Where the time of the all-reduces went (startAllReduceMean .. wait), for telling how much of
/// the communication the compute thread did not wait for. Two clock reads on each thread per
/// collective.
struct CollectiveStats {
  int64_t allReduces = 0; // completed by wait()
  /// The communicator's thread working on them: from taking each off the queue to its data being
  /// reduced (the agreement check and any wait for a slower peer included). Collectives run one
  /// at a time, so these intervals never overlap.
  std::chrono::nanoseconds communicating{0};
  /// Of that, the agreement check: a round trip, plus waiting for the last rank to get there.
  std::chrono::nanoseconds agreeing{0};
  /// The calling thread inside wait(), i.e. communication it could not hide behind compute.
  std::chrono::nanoseconds blocked{0};
  /// 1 - blocked / communicating, within [0, 1] (0 when nothing was communicated).
  double hiddenFraction() const;
};

class Communicator {
public:
  virtual ~Communicator() = default;
  /// This process's rank, 0 .. size() - 1, and the number of ranks (mpirun's -np).
  virtual int rank() const = 0;
  virtual int size() const = 0;

  /// Starts replacing `count` floats at `data` with their mean over all ranks, in place, and
  /// returns at once. `data` must stay untouched until the matching wait(). `tag` says what the
  /// values are, for messages ("train_step (step 17)"). mpi: host memory. nccl: memory of this
  /// rank's GPU, already written (synchronize the device first).
  virtual nnc::Status startAllReduceMean(std::string_view tag, float *data, int64_t count) = 0;
  /// Completes the oldest collective started by startAllReduceMean (first in, first out). Fails
  /// on a mismatch between the ranks, a timeout or an MPI/NCCL error, naming the collective.
  virtual nnc::Status wait() = 0;
  /// Replaces `count` doubles in host memory with their sum over the ranks, blocking (metrics).
  /// Ordered after every collective started before it.
  virtual nnc::Status allReduceSum(std::string_view tag, double *values, int count) = 0;
  /// Returns once every rank has reached the same barrier.
  virtual nnc::Status barrier(std::string_view tag) = 0;

  /// Point to point (pipeline parallelism). send copies `bytes` at `data` (host memory) for rank
  /// `peer` and returns at once, so two neighbours sending to each other never wait on each
  /// other; a failure surfaces at a later call. recv waits, at most the timeout, for the next
  /// message from `peer` and fails unless it is `tag` with `bytes` bytes: messages between two
  /// ranks are numbered, so ranks that diverged are named instead of mixing data.
  virtual nnc::Status send(int peer, std::string_view tag, const void *data, int64_t bytes) = 0;
  virtual nnc::Status recv(int peer, std::string_view tag, void *data, int64_t bytes) = 0;
  /// Ends the communicator: a last barrier, then MPI_Finalize, each given at most the timeout.
  /// Fails naming the step that did not finish ("rank 0 of 2: MPI_Finalize did not finish
  /// within 60 s ..."): a peer stopped just before finalizing. The destructor closes a
  /// communicator not closed yet.
  virtual nnc::Status close() { return nnc::Status(); }
  /// This rank's all-reduce timings so far (none for a communicator that does not measure).
  virtual CollectiveStats stats() const { return {}; }
  /// A function a signal handler may call (it is async-signal-safe) to write one line on what
  /// this rank is doing ("stopped by the launcher while in all-reduce #3 ..."), for a SIGTERM
  /// that the training loop handles; null where there is nothing to say.
  using SignalNote = void (*)();
  virtual SignalNote signalNote() const { return nullptr; }

  /// Communicator groups (data x pipeline parallelism): a new communicator over the ranks of
  /// this one that pass the same `color`, numbered in the order of `key` (MPI_Comm_split). Every
  /// rank of this communicator calls it, as a collective. The group has its own thread,
  /// numbering, agreement checks, timeouts and roll call; its messages name the ranks of this
  /// communicator and the group ("rank 3 of 4: data group of stage 1 (ranks 1, 3): ...").
  /// `name` says which group it is. Close every group before the communicator it came from.
  virtual nnc::StatusOr<std::unique_ptr<Communicator>> split(int color, int key,
                                                             std::string_view name) {
    (void)color, (void)key;
    return nnc::Status::error("communicator groups (" + std::string(name) +
                              ") need the mpi engine");
  }
  /// Tensor parallelism: replaces `count` floats in host memory with their sum over the ranks
  /// of `group`, blocking, inside a step. Only "tensor" exists today, and it is every rank.
  /// Ordered after every collective started before it, checked and timed out like those
  /// ("tensor all-reduce #5 of function 'train_step', node 'fc2' (step 3)"). The default,
  /// for a communicator without it, fails naming the collective.
  virtual nnc::Status allReduceSumFloats(std::string_view group, std::string_view tag,
                                         float *data, int64_t count);
  // --- ZeRO-1 (issue 20): shards of a flattened tensor, one per rank ------------------------
  // Both block, are numbered, checked against the peers and timed out like the all-reduce
  // ("reduce-scatter #5 of ..."), and run after every collective started before them. Host
  // memory. A communicator without them fails.
  /// The mean over the ranks of the size() * `shardCount` floats at `data`; this rank's part,
  /// elements [rank() * shardCount, (rank() + 1) * shardCount), is written to `shard`.
  virtual nnc::Status reduceScatterMean(std::string_view tag, const float *data, float *shard,
                                        int64_t shardCount);
  /// Every rank's `shardCount` floats at `shard`, in rank order, written to `data`
  /// (size() * shardCount floats).
  virtual nnc::Status allGather(std::string_view tag, const float *shard, float *data,
                                int64_t shardCount);
};

/// One line on the all-reduces of every rank, summed over the ranks (a collective: every rank
/// calls it): "collectives: 40 all-reduces per rank, 12.3 ms communicating (5.1 ms agreeing),
/// 3.4 ms blocked in wait (mean per rank), 72.4% hidden behind compute".
nnc::StatusOr<std::string> summarizeCollectiveStats(Communicator &communicator);

/// A communicator of the named engine, "mpi" or "nccl", whose collectives give up after
/// `timeout` (and whose setup does too). Fails in one line where the engine cannot run:
/// "nccl: CUDA is not available: libcuda.so.1 not found". Without mpirun, a communicator of
/// size 1.
nnc::StatusOr<std::unique_ptr<Communicator>> createCommunicator(std::string_view engine,
                                                                std::chrono::seconds timeout);

/// True when this process was started by mpirun (OMPI_COMM_WORLD_SIZE or PMI_SIZE is set).
bool launchedByMpi();

} // namespace nnrt
