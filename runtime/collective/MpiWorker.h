// Internal to the mpi engine: what the communicator's calling side (MpiCommunicator.cpp) and its
// thread share. The thread is a Worker: its loop, the agreement check before every collective,
// the roll call and the timeouts are in MpiWorker.cpp; the data of each kind of collective
// (means, sums, shards, splits, point to point) in MpiCollectives.cpp.
#pragma once

#include "runtime/collective/MpiCommunicator.h"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace nnrt::collective {

enum class Kind : int32_t {
  Mean = 1, Sum = 2, Barrier = 3, Send = 4, Recv = 5, Split = 6, TensorSum = 7,
  ReduceScatter = 8, AllGather = 9 // ZeRO-1 (issue 20)
};
const char *kindName(Kind kind);

/// "all-reduce #3 of train_step (step 17)".
std::string describe(Kind kind, int64_t sequence, std::string_view tag);

struct Job {
  Kind kind = Kind::Barrier;
  int64_t sequence = 0;
  std::string tag;
  float *floats = nullptr;
  double *doubles = nullptr;
  int64_t count = 0;
  // ReduceScatter and AllGather (ZeRO-1): `floats` is the whole (count floats), `shard` this
  // rank's count / size part.
  float *shard = nullptr;
  // Send and Recv: the other rank; a send's message (P2pHeader, then the bytes); where a
  // receive's bytes go (`count` of them).
  int peer = -1;
  std::vector<char> message;
  void *into = nullptr;
  // Split: this rank's color and key; the group made (MPI_COMM_NULL where this rank is in none)
  // and its members, numbered as in the outermost communicator.
  int color = 0, key = 0;
  MPI_Comm group = MPI_COMM_NULL;
  std::vector<int> members;
  // Written by the communicator's thread under State::mutex.
  bool done = false;
  nnc::Status status;
  // On the communicator's thread, for CollectiveStats: taken off the queue, every rank known
  // to be in it, done.
  Clock::time_point begun, agreed, finished;
};

/// What every rank contributes to a collective's check: enough to compare it and to name it.
struct Agreement {
  int64_t sequence;
  int64_t count;
  uint64_t tagHash; // the whole tag, which `tag` may truncate
  int32_t kind;
  char tag[100];    // NUL-terminated
};
static_assert(sizeof(Agreement) == 128, "Agreement travels as raw bytes");

/// One collective's Agreements in flight: this rank's, every rank's, and the requests.
struct AgreementExchange {
  explicit AgreementExchange(int ranks) : all(size_t(ranks)) {}
  Agreement mine = {};
  std::vector<Agreement> all;
  std::vector<MPI_Request> receives, sends;
  std::vector<int> peers;  // the rank each receive is from
};

/// What precedes a point-to-point message's bytes: its number on the (sender, receiver) channel
/// and its tag, which the receiver compares with what it expects.
struct P2pHeader {
  int64_t sequence;
  int64_t bytes;
  uint64_t tagHash;
  char tag[104]; // NUL-terminated
};
static_assert(sizeof(P2pHeader) == 128, "P2pHeader travels as raw bytes");
constexpr int kP2pTag = 7; // the MPI tag of every pipeline message: the header tells them apart
constexpr int kAgreementTag = 8; // every collective's Agreement, sent to every other rank
constexpr int kRollCallTag = 9;  // after a timeout: "I am alive, stuck in this collective"
// How long a rank that timed out waits for the others' roll-call notes. Ranks stuck in the same
// collective time out within milliseconds of each other (their deadlines start when they agree).
constexpr auto kRollCallWindow = std::chrono::seconds(2);

uint64_t fnv1a(std::string_view text);

/// The SIGTERM note (MpiWorker.cpp): writes the published line; publishes "<prefix>stopped by
/// the launcher <where>".
void writeTerminationNote();
void setTerminationNote(const std::string &prefix, const std::string &where);

// --- The state the compute thread and the communicator's thread share ---------------------
struct State {
  State(std::string engine, std::chrono::seconds timeout, std::unique_ptr<MeanReducer> reducer)
      : engine(std::move(engine)), timeout(timeout), reducer(std::move(reducer)) {}

  const std::string engine;
  const std::chrono::seconds timeout;
  std::unique_ptr<MeanReducer> reducer; // null: MPI on host memory
  MPI_Comm comm = MPI_COMM_NULL;        // the thread's own duplicate of MPI_COMM_WORLD
  int rank = 0, size = 1;               // set before `ready`

  std::mutex mutex;
  std::condition_variable changed;
  bool ready = false; // setup finished, with setupStatus
  nnc::Status setupStatus;
  std::deque<std::shared_ptr<Job>> queue;
  bool stopping = false;
  bool exited = false;
  // The first failure; every later collective fails with it.
  nnc::Status failure;
  // What the thread is doing, so that wait() notices a thread stuck inside MPI or NCCL.
  const Job *busy = nullptr;
  Clock::time_point busySince;
  // A host mean inside MPI_Allreduce, which blocks: wait() names the rank that stops inside it.
  const Job *reducing = nullptr;
  Clock::time_point reducingSince;
  // The one roll call (rollCall()), whose buffers MPI may still write.
  bool rollCallTaken = false;
  std::shared_ptr<AgreementExchange> rollCallNotes;
  // The step of the orderly end the thread is in ("MPI_Finalize"), for close()'s message.
  const char *ending = "the end of the communicator's thread";

  // A group made by split(): MPI belongs to the outermost communicator (no MPI_Init or
  // MPI_Finalize here, only MPI_Comm_free), and messages name ranks by their numbers there.
  bool ownsMpi = true;
  std::shared_ptr<State> parent; // the communicator split() made this group from
  std::string group;            // "data group of stage 1"; empty for the outermost
  std::vector<int> outerRanks;  // this group's rank r is rank outerRanks[r] outside
  int outerSize = 1;

  /// Rank r of this communicator as the outermost one numbers it.
  int outer(int r) const { return outerRanks.empty() ? r : outerRanks[size_t(r)]; }

  /// "rank 1 of 2: ", or for a group "rank 3 of 4: data group of stage 1 (ranks 1, 3): ".
  std::string prefix() const {
    std::string p = "rank " + std::to_string(outer(rank)) + " of " +
                    std::to_string(group.empty() ? size : outerSize) + ": ";
    if (group.empty())
      return p;
    p += group + " (ranks ";
    for (size_t i = 0; i < outerRanks.size(); ++i)
      p += (i ? ", " : "") + std::to_string(outerRanks[i]);
    return p + "): ";
  }
};

/// After a timeout, the peers that sent no roll-call note by `until` (MpiWorker.cpp).
std::vector<int> rollCall(State &s, const Job &job, Clock::time_point until);
/// "rank 1" or "ranks 1, 3", numbered as in the outermost communicator.
std::string nameRanks(const State &s, const std::vector<int> &ranks);
/// " did not complete within 60 s: rank 1 stopped answering inside it (hung or died)": a
/// reduction the ranks agreed on that did not finish in time; the roll call names the rank that
/// stopped inside it.
std::string reductionTimedOut(State &s, const Job &job, Clock::time_point deadline);

/// The communicator's thread: setup, then the collectives in order, then MPI_Finalize. Its
/// thread, checks and timeouts are in MpiWorker.cpp, the data of each kind in MpiCollectives.cpp.
class Worker {
public:
  explicit Worker(std::shared_ptr<State> state) : s_(std::move(state)) {}
  void operator()();

private:
  // The thread (MpiWorker.cpp).
  nnc::Status setUp();
  void serve();
  // Only after a clean run: a timed-out request is still pending, and MPI_Finalize would wait on
  // peers that may be gone.
  void finish();
  void setEnding(const char *step);
  nnc::Status run(const std::shared_ptr<Job> &shared);
  /// Do all ranks mean the same collective? Each rank sends its Agreement to every other and
  /// receives theirs, so a rank that never answers is known by name. Requests still pending at
  /// the deadline cannot be cancelled: abandoned_ keeps their buffers alive.
  nnc::Status agree(const Job &job, Clock::time_point deadline);
  /// Every rank's Agreement is `mine`, or the error names the first that differs and how.
  nnc::Status compareAgreements(const std::vector<Agreement> &all, const Agreement &mine) const;

  // The data of each kind of collective (MpiCollectives.cpp).
  /// Moves the data. The host mean blocks in MPI_Allreduce: Open MPI's non-blocking reduction
  /// (libnbc), polled, took 1.2x as long for 1 MB and 1.5-2x for 16 MB on 2 ranks. A peer that
  /// stops inside it is named by wait(), which runs the roll call while this thread is held.
  /// The rest is polled until the deadline.
  nnc::Status reduce(const Job &job, Clock::time_point deadline);
  /// ZeRO-1: MPI_Ireduce_scatter_block (then / size: the mean) or MPI_Iallgather of
  /// count / size floats per rank, polled until it ends (true) or the deadline (false).
  nnc::StatusOr<bool> shardCollective(const Job &job, Clock::time_point deadline);
  /// MPI_Iallreduce (a sum, in place), polled until it ends (true) or the deadline (false).
  nnc::StatusOr<bool> sumInPlace(void *data, int count, MPI_Datatype type,
                                 Clock::time_point deadline);
  /// The sum over the ranks in place, then / size.
  nnc::Status hostMean(const Job &job);
  /// The sum over the ranks in place, in pieces that MPI's int counts can hold; blocking, marked
  /// as held so that a waiting caller can name a peer that stops inside it.
  nnc::Status hostSum(const Job &job);
  /// MPI_Comm_split, after every rank agreed to it; the group's members as the outermost
  /// communicator numbers them.
  nnc::Status splitNow(Job &job);
  /// Posts a send and keeps it, with its message, until MPI is done with it.
  nnc::Status startSend(const std::shared_ptr<Job> &job);
  /// Forgets the sends MPI has finished with.
  nnc::Status testSends();
  nnc::Status finishSends(Clock::time_point deadline);
  /// The next message from job.peer, checked against what this rank expects.
  nnc::Status receive(const Job &job, Clock::time_point deadline);

  std::shared_ptr<State> s_;
  bool mpiInitialized_ = false;
  bool sigtermInstalled_ = false;
  std::vector<std::pair<std::shared_ptr<Job>, MPI_Request>> sends_; // posted, not yet done
  // Agreements whose requests timed out: MPI may still write into them.
  std::vector<std::shared_ptr<AgreementExchange>> abandoned_;
};

/// Starts `state`'s thread and waits, at most its timeout, for its setup.
nnc::StatusOr<std::unique_ptr<Communicator>> startCommunicator(std::shared_ptr<State> state);

} // namespace nnrt::collective
