// The communicator's thread, its queue, the agreement check that precedes every collective, the
// timeouts, and the note a SIGTERM prints. The mpi engine's mean (host memory) is here too.
//
// A collective, on the communicator's thread:
//   1. publish "while in all-reduce #3 of X" for the SIGTERM handler;
//   2. send every other rank this rank's Agreement (number, kind, count, tag) and receive
//      theirs, polled until the deadline, and compare: a rank that skipped or reordered a
//      collective, or passes another count, is named on every rank; so is a rank that never
//      answers, at the deadline;
//   3. reduce the data: MPI_Allreduce for a host mean (blocking: the fastest), MPI_Iallreduce
//      for metric sums and the MeanReducer (nccl), polled until the deadline. A barrier needs
//      nothing more: the gather waited for every rank;
//   4. hand the Status to the compute thread.
// A timeout starts a roll call: the rank sends every peer one note ("alive, in this
// collective") and waits until 2 s after the deadline for theirs. Ranks stuck in the same
// collective time out together and answer; a rank that stopped or died does not, and is named.
// A host mean held inside MPI_Allreduce past the timeout has its roll call run by the caller
// waiting for it (MPI_THREAD_MULTIPLE), since this thread cannot leave MPI. Timed-out requests
// cannot be cancelled: the communicator then fails everything and skips MPI_Finalize. A peer
// that dies makes mpirun end this process (SIGTERM: the note names the collective).
//
// Groups: split() runs MPI_Comm_split as a collective (agreed like the others) and gives the new
// communicator a State and a thread of its own, so collectives on different groups never wait
// on each other; its messages name ranks as the outermost communicator numbers them.
//
// The end: close() runs a last barrier, then MPI_Finalize, and gives up on each after the
// timeout (a peer that stops just before finalizing leaves the others waiting inside it).
#include "runtime/collective/MpiCommunicator.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <errno.h>
#include <mutex>
#include <sched.h>
#include <signal.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace nnrt::collective {

nnc::StatusOr<bool> pollUntil(Clock::time_point deadline,
                              const std::function<nnc::StatusOr<bool>()> &test) {
  // Spinning first keeps small collectives fast (a round trip over shared memory is a few
  // microseconds); sleeping afterwards keeps a waiting thread off the two cores compute needs.
  constexpr auto kSpin = std::chrono::microseconds(200);
  constexpr auto kLongestSleep = std::chrono::microseconds(100);
  Clock::time_point start = Clock::now();
  auto sleep = std::chrono::microseconds(5);
  for (;;) {
    nnc::StatusOr<bool> done = test();
    if (!done.ok() || *done)
      return done;
    Clock::time_point now = Clock::now();
    if (now >= deadline)
      return false;
    if (now - start < kSpin) {
      sched_yield();
      continue;
    }
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, kLongestSleep);
  }
}

std::string describeMpiError(const char *call, int code) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return std::string(call) + " failed: MPI error " + std::to_string(code);
  return std::string(call) + " failed: " + std::string(text, length);
}

namespace {

enum class Kind : int32_t {
  Mean = 1, Sum = 2, Barrier = 3, Send = 4, Recv = 5, Split = 6, TensorSum = 7,
  ReduceScatter = 8, AllGather = 9 // ZeRO-1 (issue 20)
};

const char *kindName(Kind kind) {
  switch (kind) {
  case Kind::Mean:
    return "all-reduce";
  case Kind::Sum:
    return "metric sum";
  case Kind::Barrier:
    return "barrier";
  case Kind::Send:
    return "send";
  case Kind::Recv:
    return "receive";
  case Kind::Split:
    return "group split";
  case Kind::TensorSum:
    return "tensor all-reduce";
  case Kind::ReduceScatter:
    return "reduce-scatter";
  case Kind::AllGather:
    return "all-gather";
  }
  return "collective";
}

/// "all-reduce #3 of train_step (step 17)".
std::string describe(Kind kind, int64_t sequence, std::string_view tag) {
  return std::string(kindName(kind)) + " #" + std::to_string(sequence) + " of " + std::string(tag);
}

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

uint64_t fnv1a(std::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text)
    hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

// --- The note a SIGTERM prints -------------------------------------------------------------
// Process-wide, like the signal disposition it serves (one communicator per process). The
// communicator's thread writes the line that is not published, then publishes it, so the
// handler reads a whole line unless two updates race one write(2).
struct TerminationNote {
  char lines[2][512];
  size_t lengths[2] = {0, 0};
  std::atomic<int> current{0};
};
TerminationNote terminationNote;
struct sigaction previousSigterm;

void writeTerminationNote() {
  int i = terminationNote.current.load(std::memory_order_acquire);
  ssize_t written = write(STDERR_FILENO, terminationNote.lines[i], terminationNote.lengths[i]);
  (void)written;
}

extern "C" void onSigterm(int) {
  writeTerminationNote();
  // Then whatever SIGTERM did before (by default, end the process), once this handler returns.
  sigaction(SIGTERM, &previousSigterm, nullptr);
  raise(SIGTERM);
}

/// `prefix`: "rank 1 of 2: " (State::prefix).
void setTerminationNote(const std::string &prefix, const std::string &where) {
  std::string line = std::string(program_invocation_short_name) + ": " + prefix +
                     "stopped by the launcher " + where;
  int next = 1 - terminationNote.current.load(std::memory_order_relaxed);
  size_t length = std::min(line.size(), sizeof terminationNote.lines[next] - 2);
  std::memcpy(terminationNote.lines[next], line.data(), length);
  terminationNote.lines[next][length] = '\n';
  terminationNote.lengths[next] = length + 1;
  terminationNote.current.store(next, std::memory_order_release);
}

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

// --- Messages every rank sends every other: Agreements and the roll call -------------------

/// Fills `agreement` with what names `job` on every rank.
void describeJob(const Job &job, Agreement &agreement) {
  agreement = {};
  agreement.sequence = job.sequence;
  agreement.count = job.count;
  agreement.tagHash = fnv1a(job.tag);
  agreement.kind = static_cast<int32_t>(job.kind);
  std::strncpy(agreement.tag, job.tag.c_str(), sizeof agreement.tag - 1);
}

/// Posts the receive of every peer's Agreement and the send of `exchange.mine` to each, on
/// `mpiTag`.
nnc::Status post(const State &s, AgreementExchange &exchange, int mpiTag) {
  exchange.all[s.rank] = exchange.mine;
  for (int r = 0; r < s.size; ++r) {
    if (r == s.rank)
      continue;
    MPI_Request receive, send;
    if (int code = MPI_Irecv(&exchange.all[r], sizeof(Agreement), MPI_BYTE, r, mpiTag, s.comm,
                             &receive);
        code != MPI_SUCCESS)
      return nnc::Status::error(": " + describeMpiError("MPI_Irecv", code));
    exchange.receives.push_back(receive);
    exchange.peers.push_back(r);
    if (int code = MPI_Isend(&exchange.mine, sizeof(Agreement), MPI_BYTE, r, mpiTag, s.comm,
                             &send);
        code != MPI_SUCCESS)
      return nnc::Status::error(": " + describeMpiError("MPI_Isend", code));
    exchange.sends.push_back(send);
  }
  return nnc::Status();
}

/// The peers whose message in `exchange` has not arrived.
std::vector<int> notArrived(AgreementExchange &exchange) {
  std::vector<int> missing;
  for (size_t i = 0; i < exchange.receives.size(); ++i) {
    int arrived = 0;
    // A completed request is MPI_REQUEST_NULL, which tests as arrived.
    MPI_Test(&exchange.receives[i], &arrived, MPI_STATUS_IGNORE);
    if (!arrived)
      missing.push_back(exchange.peers[i]);
  }
  return missing;
}

/// After a timeout: which peers are silent? This rank sends every peer one note ("alive, in
/// `job`") and waits until `until` (the deadline + kRollCallWindow) for theirs. Ranks that timed
/// out beside it send theirs too; a stopped or dead rank cannot. Ranks stuck in one reduction
/// share its deadline, so their windows close together: before a rank that ends makes mpirun
/// resume (SIGCONT) a stopped one, which would then answer. Runs once per process (the communicator fails afterwards), on
/// the communicator's thread or, when that thread is held inside a blocking reduction, on the
/// calling thread (MPI_THREAD_MULTIPLE). Returns the peers that sent no note.
std::vector<int> rollCall(State &s, const Job &job, Clock::time_point until) {
  auto call = std::make_shared<AgreementExchange>(s.size);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.rollCallTaken)
      return {};
    s.rollCallTaken = true;
    s.rollCallNotes = call; // MPI may still use it: a silent peer never matches the requests
  }
  describeJob(job, call->mine);
  if (!post(s, *call, kRollCallTag).ok())
    return call->peers; // no roll call: every peer is a suspect
  (void)pollUntil(until, [&]() -> nnc::StatusOr<bool> {
    int received = 0;
    MPI_Testall(int(call->receives.size()), call->receives.data(), &received,
                MPI_STATUSES_IGNORE);
    return received != 0;
  });
  return notArrived(*call);
}

std::vector<int> intersect(const std::vector<int> &a, const std::vector<int> &b) {
  std::vector<int> both;
  for (int r : a)
    if (std::find(b.begin(), b.end(), r) != b.end())
      both.push_back(r);
  return both;
}

/// "rank 1" or "ranks 1, 3", numbered as in the outermost communicator.
std::string nameRanks(const State &s, const std::vector<int> &ranks) {
  std::string names = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i)
    names += (i ? ", " : "") + std::to_string(s.outer(ranks[i]));
  return names;
}

/// " did not complete within 60 s: rank 1 stopped answering inside it (hung or died)": a
/// reduction the ranks agreed on that did not finish in time; the roll call names the rank that
/// stopped inside it.
std::string reductionTimedOut(State &s, const Job &job, Clock::time_point deadline) {
  std::vector<int> silent = rollCall(s, job, deadline + kRollCallWindow);
  std::string within = " did not complete within " + std::to_string(s.timeout.count()) + " s";
  if (silent.empty())
    return within + ", yet every rank answered after it (MPI or NCCL made no progress)";
  return within + ": " + nameRanks(s, silent) + " stopped answering inside it (hung or died)";
}

/// The communicator's thread: setup, then the collectives in order, then MPI_Finalize.
class Worker {
public:
  explicit Worker(std::shared_ptr<State> state) : s_(std::move(state)) {}

  void operator()() {
    nnc::Status status = setUp();
    {
      std::lock_guard<std::mutex> lock(s_->mutex);
      s_->ready = true;
      s_->setupStatus = status;
      if (!status.ok())
        s_->failure = status;
    }
    s_->changed.notify_all();
    if (status.ok())
      serve();
    finish();
  }

private:
  nnc::Status setUp() {
    if (!s_->ownsMpi) { // a group: MPI is up and split() made its communicator
      MPI_Comm_set_errhandler(s_->comm, MPI_ERRORS_RETURN);
      return nnc::Status();
    }
    // This thread makes every MPI call but one: the roll call wait() runs while this thread is
    // held inside a blocking reduction. Hence MPI_THREAD_MULTIPLE (no slower here for
    // MPI_Allreduce of 64 B to 16 MB than MPI_THREAD_FUNNELED).
    int provided = 0;
    if (int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
        code != MPI_SUCCESS)
      return nnc::Status::error(s_->engine + ": " + describeMpiError("MPI_Init_thread", code));
    mpiInitialized_ = true;
    if (provided < MPI_THREAD_MULTIPLE)
      return nnc::Status::error(s_->engine + ": this MPI offers no MPI_THREAD_MULTIPLE");
    // Our own communicator, whose errors come back as codes instead of aborting the job.
    if (int code = MPI_Comm_dup(MPI_COMM_WORLD, &s_->comm); code != MPI_SUCCESS)
      return nnc::Status::error(s_->engine + ": " + describeMpiError("MPI_Comm_dup", code));
    MPI_Comm_set_errhandler(s_->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(s_->comm, &s_->rank);
    MPI_Comm_size(s_->comm, &s_->size);
    if (s_->reducer)
      if (nnc::Status status = s_->reducer->setUp(s_->comm, s_->rank, s_->size,
                                                  Clock::now() + s_->timeout);
          !status.ok())
        return nnc::Status::error(s_->engine + ": " + s_->prefix() + status.message());
    setTerminationNote(s_->prefix(), "before its first collective");
    struct sigaction action = {};
    action.sa_handler = onSigterm;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, &previousSigterm);
    sigtermInstalled_ = true;
    return nnc::Status();
  }

  void serve() {
    for (;;) {
      std::shared_ptr<Job> job;
      nnc::Status failure;
      {
        std::unique_lock<std::mutex> lock(s_->mutex);
        // Sends in flight make progress only inside MPI calls: test them while idle.
        while (!s_->stopping && s_->queue.empty() && !sends_.empty()) {
          lock.unlock();
          (void)testSends();
          lock.lock();
          s_->changed.wait_for(lock, std::chrono::microseconds(200));
        }
        s_->changed.wait(lock, [&] { return s_->stopping || !s_->queue.empty(); });
        if (s_->queue.empty())
          return;
        job = s_->queue.front();
        s_->queue.pop_front();
        failure = s_->failure;
        s_->busy = job.get();
        s_->busySince = Clock::now();
      }
      job->begun = s_->busySince;
      nnc::Status status = failure.ok() ? run(job) : failure;
      Clock::time_point finished = Clock::now();
      {
        std::lock_guard<std::mutex> lock(s_->mutex);
        job->finished = finished;
        job->done = true;
        job->status = status;
        if (!status.ok() && s_->failure.ok())
          s_->failure = status;
        s_->busy = nullptr;
      }
      s_->changed.notify_all();
    }
  }

  // Only after a clean run: a timed-out request is still pending, and MPI_Finalize would wait on
  // peers that may be gone.
  void finish() {
    bool clean;
    {
      std::lock_guard<std::mutex> lock(s_->mutex);
      clean = s_->failure.ok();
    }
    if (sigtermInstalled_)
      sigaction(SIGTERM, &previousSigterm, nullptr);
    if (clean && mpiInitialized_) {
      if (s_->reducer) {
        setEnding("the NCCL teardown");
        s_->reducer->tearDown();
      }
      setEnding("MPI_Comm_free");
      MPI_Comm_free(&s_->comm);
      setEnding("MPI_Finalize");
      MPI_Finalize();
    } else if (clean && !s_->ownsMpi) {
      setEnding("MPI_Comm_free");
      MPI_Comm_free(&s_->comm);
    }
    {
      std::lock_guard<std::mutex> lock(s_->mutex);
      s_->exited = true;
    }
    s_->changed.notify_all();
  }

  void setEnding(const char *step) {
    std::lock_guard<std::mutex> lock(s_->mutex);
    s_->ending = step;
  }

  nnc::Status run(const std::shared_ptr<Job> &shared) {
    const Job &job = *shared;
    std::string what = describe(job.kind, job.sequence, job.tag);
    setTerminationNote(s_->prefix(), "while in " + what);
    Clock::time_point deadline = Clock::now() + s_->timeout;
    nnc::Status status;
    if (job.kind == Kind::Send || job.kind == Kind::Recv) {
      status = job.kind == Kind::Send ? startSend(shared) : receive(job, deadline);
    } else {
      // A collective follows the sends before it: every rank's earlier messages are on their
      // way.
      status = finishSends(deadline);
      if (status.ok())
        status = agree(job, deadline);
      if (status.ok()) {
        shared->agreed = Clock::now();
        status = reduce(job, deadline);
      }
      if (status.ok() && job.kind == Kind::Split)
        status = splitNow(*shared);
    }
    // The errors below say what went wrong with `what`: " got no answer ...", ": MPI_...".
    if (!status.ok())
      return nnc::Status::error(s_->prefix() + what + status.message());
    setTerminationNote(s_->prefix(), "between collectives (the last: " + what + ")");
    return status;
  }

  /// Do all ranks mean the same collective? Each rank sends its Agreement to every other and
  /// receives theirs, so a rank that never answers is known by name. Requests still pending at
  /// the deadline cannot be cancelled: abandoned_ keeps their buffers alive.
  nnc::Status agree(const Job &job, Clock::time_point deadline) {
    auto exchange = std::make_shared<AgreementExchange>(s_->size);
    describeJob(job, exchange->mine);
    if (nnc::Status status = post(*s_, *exchange, kAgreementTag); !status.ok())
      return status;
    nnc::StatusOr<bool> gathered = pollUntil(deadline, [&]() -> nnc::StatusOr<bool> {
      int received = 0, sent = 0;
      if (int code = MPI_Testall(int(exchange->receives.size()), exchange->receives.data(),
                                 &received, MPI_STATUSES_IGNORE);
          code != MPI_SUCCESS)
        return nnc::Status::error(describeMpiError("MPI_Testall", code));
      if (int code = MPI_Testall(int(exchange->sends.size()), exchange->sends.data(), &sent,
                                 MPI_STATUSES_IGNORE);
          code != MPI_SUCCESS)
        return nnc::Status::error(describeMpiError("MPI_Testall", code));
      return received && sent;
    });
    if (!gathered.ok())
      return nnc::Status::error(": " + gathered.status().message());
    if (!*gathered) {
      abandoned_.push_back(exchange);
      std::vector<int> missing = notArrived(*exchange);
      if (missing.empty()) // every Agreement came; a peer never took this rank's
        return nnc::Status::error(" got no answer from a rank that never took this one's "
                                  "message within " + std::to_string(s_->timeout.count()) +
                                  " s (it hung, died or diverged)");
      // A peer that is alive but stuck in an earlier collective answers the roll call; should
      // every missing one answer, they are named all the same.
      std::vector<int> silent = intersect(missing, rollCall(*s_, job, deadline + kRollCallWindow));
      return nnc::Status::error(" got no answer from " +
                                nameRanks(*s_, silent.empty() ? missing : silent) + " within " +
                                std::to_string(s_->timeout.count()) +
                                " s (it hung, died or diverged)");
    }
    return compareAgreements(exchange->all, exchange->mine);
  }

  /// Every rank's Agreement is `mine`, or the error names the first that differs and how.
  nnc::Status compareAgreements(const std::vector<Agreement> &all, const Agreement &mine) const {
    for (int r = 0; r < s_->size; ++r) {
      const Agreement &theirs = all[r];
      if (theirs.sequence != mine.sequence || theirs.kind != mine.kind ||
          theirs.tagHash != mine.tagHash) {
        std::string tag(theirs.tag, strnlen(theirs.tag, sizeof theirs.tag));
        return nnc::Status::error(" does not match rank " + std::to_string(s_->outer(r)) +
                                  ", which is at " +
                                  describe(static_cast<Kind>(theirs.kind), theirs.sequence, tag) +
                                  " (the ranks diverged)");
      }
      if (theirs.count != mine.count)
        return nnc::Status::error(" has " + std::to_string(mine.count) + " values here but " +
                                  std::to_string(theirs.count) + " on rank " +
                                  std::to_string(s_->outer(r)));
    }
    return nnc::Status();
  }

  /// The data. The host mean blocks in MPI_Allreduce: Open MPI's non-blocking reduction
  /// (libnbc), polled, took 1.2x as long for 1 MB and 1.5-2x for 16 MB on 2 ranks. A peer that
  /// stops inside it is named by wait(), which runs the roll call while this thread is held.
  /// The rest is polled until the deadline.
  nnc::Status reduce(const Job &job, Clock::time_point deadline) {
    auto fail = [](const std::string &message) { return nnc::Status::error(": " + message); };
    if (job.count == 0)
      return nnc::Status();
    nnc::StatusOr<bool> done = true;
    if (job.kind == Kind::Mean && s_->reducer) {
      if (nnc::Status status = s_->reducer->start(job.floats, job.count); !status.ok())
        return fail(status.message());
      done = pollUntil(deadline, [&] { return s_->reducer->test(); });
      if (done.ok() && !*done)
        s_->reducer->abandon();
    } else if (job.kind == Kind::Mean) {
      if (nnc::Status status = hostMean(job); !status.ok())
        return fail(status.message());
    } else if (job.kind == Kind::TensorSum) {
      if (nnc::Status status = hostSum(job); !status.ok())
        return fail(status.message());
    } else if (job.kind == Kind::Sum) {
      // A few metrics: non-blocking and polled, so a peer that stops inside it is a timeout.
      done = sumInPlace(job.doubles, job.count, MPI_DOUBLE, deadline);
    } else if (job.kind == Kind::ReduceScatter || job.kind == Kind::AllGather) {
      done = shardCollective(job, deadline);
    }
    if (!done.ok())
      return fail(done.status().message());
    if (!*done)
      return nnc::Status::error(reductionTimedOut(*s_, job, deadline)); // the buffer stays MPI's
    return nnc::Status();
  }

  /// ZeRO-1: MPI_Ireduce_scatter_block (then / size: the mean) or MPI_Iallgather of
  /// count / size floats per rank, polled until it ends (true) or the deadline (false).
  nnc::StatusOr<bool> shardCollective(const Job &job, Clock::time_point deadline) {
    int shardCount = int(job.count / s_->size);
    bool scatter = job.kind == Kind::ReduceScatter;
    const char *call = scatter ? "MPI_Ireduce_scatter_block" : "MPI_Iallgather";
    MPI_Request request;
    int code = scatter ? MPI_Ireduce_scatter_block(job.floats, job.shard, shardCount, MPI_FLOAT,
                                                   MPI_SUM, s_->comm, &request)
                       : MPI_Iallgather(job.shard, shardCount, MPI_FLOAT, job.floats, shardCount,
                                        MPI_FLOAT, s_->comm, &request);
    if (code != MPI_SUCCESS)
      return nnc::Status::error(describeMpiError(call, code));
    nnc::StatusOr<bool> done = pollUntil(deadline, [&]() -> nnc::StatusOr<bool> {
      int flag = 0;
      if (int code = MPI_Test(&request, &flag, MPI_STATUS_IGNORE); code != MPI_SUCCESS)
        return nnc::Status::error(describeMpiError(call, code));
      return flag != 0;
    });
    if (done.ok() && *done && scatter)
      for (int i = 0; i < shardCount; ++i)
        job.shard[i] /= float(s_->size);
    return done;
  }

  /// MPI_Iallreduce (a sum, in place), polled until it ends (true) or the deadline (false).
  nnc::StatusOr<bool> sumInPlace(void *data, int count, MPI_Datatype type,
                                 Clock::time_point deadline) {
    MPI_Request request;
    if (int code = MPI_Iallreduce(MPI_IN_PLACE, data, count, type, MPI_SUM, s_->comm, &request);
        code != MPI_SUCCESS)
      return nnc::Status::error(describeMpiError("MPI_Iallreduce", code));
    return pollUntil(deadline, [&]() -> nnc::StatusOr<bool> {
      int flag = 0;
      if (int code = MPI_Test(&request, &flag, MPI_STATUS_IGNORE); code != MPI_SUCCESS)
        return nnc::Status::error(describeMpiError("MPI_Iallreduce", code));
      return flag != 0;
    });
  }

  /// The sum over the ranks in place, then / size.
  nnc::Status hostMean(const Job &job) {
    nnc::Status status = hostSum(job);
    if (status.ok() && s_->size > 1) {
      // Division, not a multiplication by 1/size: exact whenever the mean is representable.
      float size = float(s_->size);
      for (int64_t i = 0; i < job.count; ++i)
        job.floats[i] /= size;
    }
    return status;
  }

  /// The sum over the ranks in place, in pieces that MPI's int counts can hold; blocking, marked
  /// as held so that a waiting caller can name a peer that stops inside it.
  nnc::Status hostSum(const Job &job) {
    {
      std::lock_guard<std::mutex> lock(s_->mutex);
      s_->reducing = &job;
      s_->reducingSince = Clock::now();
    }
    constexpr int64_t kPiece = int64_t(1) << 30;
    nnc::Status status;
    for (int64_t offset = 0; offset < job.count && status.ok(); offset += kPiece) {
      int count = int(std::min(kPiece, job.count - offset));
      if (int code = MPI_Allreduce(MPI_IN_PLACE, job.floats + offset, count, MPI_FLOAT, MPI_SUM,
                                   s_->comm);
          code != MPI_SUCCESS)
        status = nnc::Status::error(describeMpiError("MPI_Allreduce", code));
    }
    {
      std::lock_guard<std::mutex> lock(s_->mutex);
      s_->reducing = nullptr;
    }
    return status;
  }

  /// MPI_Comm_split, after every rank agreed to it; the group's members as the outermost
  /// communicator numbers them.
  nnc::Status splitNow(Job &job) {
    if (int code = MPI_Comm_split(s_->comm, job.color, job.key, &job.group);
        code != MPI_SUCCESS)
      return nnc::Status::error(": " + describeMpiError("MPI_Comm_split", code));
    MPI_Group mine, theirs;
    MPI_Comm_group(s_->comm, &mine);
    MPI_Comm_group(job.group, &theirs);
    int size = 0;
    MPI_Group_size(theirs, &size);
    std::vector<int> ranks(size_t(size), 0), here(size_t(size), 0);
    for (int r = 0; r < size; ++r)
      ranks[size_t(r)] = r;
    MPI_Group_translate_ranks(theirs, size, ranks.data(), mine, here.data());
    MPI_Group_free(&mine);
    MPI_Group_free(&theirs);
    for (int r : here)
      job.members.push_back(s_->outer(r));
    return nnc::Status();
  }

  /// Posts a send and keeps it, with its message, until MPI is done with it.
  nnc::Status startSend(const std::shared_ptr<Job> &job) {
    MPI_Request request;
    if (int code = MPI_Isend(job->message.data(), int(job->message.size()), MPI_BYTE, job->peer,
                             kP2pTag, s_->comm, &request);
        code != MPI_SUCCESS)
      return nnc::Status::error(" to rank " + std::to_string(s_->outer(job->peer)) + ": " +
                                describeMpiError("MPI_Isend", code));
    sends_.push_back({job, request});
    return testSends();
  }

  /// Forgets the sends MPI has finished with.
  nnc::Status testSends() {
    for (size_t i = 0; i < sends_.size();) {
      int flag = 0;
      if (int code = MPI_Test(&sends_[i].second, &flag, MPI_STATUS_IGNORE); code != MPI_SUCCESS)
        return nnc::Status::error(": " + describeMpiError("MPI_Test", code));
      if (flag)
        sends_.erase(sends_.begin() + long(i));
      else
        ++i;
    }
    return nnc::Status();
  }

  nnc::Status finishSends(Clock::time_point deadline) {
    nnc::StatusOr<bool> done = pollUntil(deadline, [&]() -> nnc::StatusOr<bool> {
      if (nnc::Status status = testSends(); !status.ok())
        return status;
      return sends_.empty();
    });
    if (!done.ok())
      return done.status();
    if (!*done) {
      std::vector<int> peers;
      for (const auto &[job, request] : sends_)
        if (std::find(peers.begin(), peers.end(), job->peer) == peers.end())
          peers.push_back(job->peer);
      return nnc::Status::error(": earlier sends to " + nameRanks(*s_, peers) +
                                " were not received within " +
                                std::to_string(s_->timeout.count()) +
                                " s (it died or diverged)");
    }
    return nnc::Status();
  }

  /// The next message from job.peer, checked against what this rank expects.
  nnc::Status receive(const Job &job, Clock::time_point deadline) {
    std::vector<char> message(sizeof(P2pHeader) + size_t(job.count));
    MPI_Request request;
    if (int code = MPI_Irecv(message.data(), int(message.size()), MPI_BYTE, job.peer, kP2pTag,
                             s_->comm, &request);
        code != MPI_SUCCESS)
      return nnc::Status::error(" from rank " + std::to_string(s_->outer(job.peer)) + ": " +
                                describeMpiError("MPI_Irecv", code));
    MPI_Status status;
    nnc::StatusOr<bool> done = pollUntil(deadline, [&]() -> nnc::StatusOr<bool> {
      if (nnc::Status sent = testSends(); !sent.ok())
        return sent;
      int flag = 0;
      if (int code = MPI_Test(&request, &flag, &status); code != MPI_SUCCESS)
        return nnc::Status::error(describeMpiError("MPI_Test", code));
      return flag != 0;
    });
    if (!done.ok())
      return nnc::Status::error(" from rank " + std::to_string(s_->outer(job.peer)) + ": " +
                                done.status().message());
    if (!*done)
      return nnc::Status::error(" from rank " + std::to_string(s_->outer(job.peer)) +
                                " got nothing within " +
                                std::to_string(s_->timeout.count()) +
                                " s (a peer died or diverged)");
    int received = 0;
    MPI_Get_count(&status, MPI_BYTE, &received);
    P2pHeader header = {};
    if (size_t(received) >= sizeof header)
      std::memcpy(&header, message.data(), sizeof header);
    std::string theirs(header.tag, strnlen(header.tag, sizeof header.tag));
    if (size_t(received) < sizeof header || header.sequence != job.sequence ||
        header.tagHash != fnv1a(job.tag))
      return nnc::Status::error(" from rank " + std::to_string(s_->outer(job.peer)) + " got " +
                                describe(Kind::Send, header.sequence, theirs) +
                                " instead (the ranks diverged)");
    if (header.bytes != job.count || size_t(received) != message.size())
      return nnc::Status::error(" from rank " + std::to_string(s_->outer(job.peer)) + " got " +
                                std::to_string(header.bytes) + " bytes, expected " +
                                std::to_string(job.count));
    std::memcpy(job.into, message.data() + sizeof header, size_t(job.count));
    return nnc::Status();
  }

  std::shared_ptr<State> s_;
  bool mpiInitialized_ = false;
  bool sigtermInstalled_ = false;
  std::vector<std::pair<std::shared_ptr<Job>, MPI_Request>> sends_; // posted, not yet done
  // Agreements whose requests timed out: MPI may still write into them.
  std::vector<std::shared_ptr<AgreementExchange>> abandoned_;
};

/// Starts `state`'s thread and waits, at most its timeout, for its setup.
nnc::StatusOr<std::unique_ptr<Communicator>> startCommunicator(std::shared_ptr<State> state);

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator(std::shared_ptr<State> state, std::thread thread)
      : s_(std::move(state)), thread_(std::move(thread)) {}

  ~MpiCommunicator() override {
    (void)close();
    if (thread_.joinable())
      thread_.detach(); // stuck inside MPI: it keeps `s_` alive
  }

  // A last barrier, so that every rank reaches MPI_Finalize (which waits for all of them) only
  // once all are done, and a rank that leaves early shows up as a mismatch on the others. Then
  // the thread finalizes, given the timeout: a peer that stopped after the barrier holds
  // MPI_Finalize forever.
  nnc::Status close() override {
    if (closed_)
      return closeStatus_;
    closed_ = true;
    bool healthy;
    {
      std::lock_guard<std::mutex> lock(s_->mutex);
      healthy = s_->failure.ok();
    }
    if (healthy)
      closeStatus_ = barrier("the communicator's end");
    {
      std::lock_guard<std::mutex> lock(s_->mutex);
      s_->stopping = true;
    }
    s_->changed.notify_all();
    // A failed thread skips MPI_Finalize and is done at once, unless it is stuck in an MPI call.
    std::unique_lock<std::mutex> lock(s_->mutex);
    bool stuck = !healthy && s_->busy;
    auto limit = healthy && closeStatus_.ok() ? s_->timeout : std::chrono::seconds(2);
    bool exited = !stuck && s_->changed.wait_for(lock, limit, [&] { return s_->exited; });
    if (!exited && closeStatus_.ok() && healthy)
      closeStatus_ = nnc::Status::error(
          s_->prefix() + s_->ending + " did not finish within " +
          std::to_string(s_->timeout.count()) +
          " s (a peer stopped or died after the last barrier)");
    lock.unlock();
    if (exited)
      thread_.join();
    return closeStatus_;
  }

  int rank() const override { return s_->rank; }
  int size() const override { return s_->size; }

  nnc::Status startAllReduceMean(std::string_view tag, float *data, int64_t count) override {
    if (count < 0 || (count > 0 && !data))
      return nnc::Status::error("all-reduce of " + std::string(tag) + ": " +
                                std::to_string(count) + " values at " +
                                (data ? "a buffer" : "a null pointer"));
    std::shared_ptr<Job> job = makeJob(Kind::Mean, tag, count);
    job->floats = data;
    if (nnc::Status status = enqueue(job); !status.ok())
      return status;
    started_.push_back(std::move(job));
    return nnc::Status();
  }

  nnc::Status wait() override {
    if (started_.empty())
      return nnc::Status::error("wait() without a started all-reduce");
    std::shared_ptr<Job> job = std::move(started_.front());
    started_.pop_front();
    Clock::time_point entered = Clock::now();
    nnc::Status status = waitFor(*job);
    stats_.blocked += Clock::now() - entered;
    if (status.ok()) { // done: the thread wrote begun and finished before it said so
      ++stats_.allReduces;
      stats_.communicating += job->finished - job->begun;
      stats_.agreeing += job->agreed - job->begun;
    }
    return status;
  }

  CollectiveStats stats() const override { return stats_; }
  SignalNote signalNote() const override { return &writeTerminationNote; }

  nnc::Status allReduceSum(std::string_view tag, double *values, int count) override {
    if (count < 0 || (count > 0 && !values))
      return nnc::Status::error("metric sum of " + std::string(tag) + ": " +
                                std::to_string(count) + " values at " +
                                (values ? "a buffer" : "a null pointer"));
    std::shared_ptr<Job> job = makeJob(Kind::Sum, tag, count);
    job->doubles = values;
    if (nnc::Status status = enqueue(job); !status.ok())
      return status;
    return waitFor(*job);
  }

  nnc::Status allReduceSumFloats(std::string_view group, std::string_view tag, float *data,
                                 int64_t count) override {
    if (group != "tensor")
      return nnc::Status::error(s_->prefix() + "tensor all-reduce of " + std::string(tag) +
                                ": no group '" + std::string(group) + "' (only \"tensor\")");
    if (count < 0 || (count > 0 && !data))
      return nnc::Status::error("tensor all-reduce of " + std::string(tag) + ": " +
                                std::to_string(count) + " values at " +
                                (data ? "a buffer" : "a null pointer"));
    std::shared_ptr<Job> job = makeJob(Kind::TensorSum, tag, count);
    job->floats = data;
    if (nnc::Status status = enqueue(job); !status.ok())
      return status;
    return waitFor(*job);
  }

  nnc::Status reduceScatterMean(std::string_view tag, const float *data, float *shard,
                                int64_t shardCount) override {
    return shardJob(Kind::ReduceScatter, tag, const_cast<float *>(data), shard, shardCount);
  }

  nnc::Status allGather(std::string_view tag, const float *shard, float *data,
                        int64_t shardCount) override {
    return shardJob(Kind::AllGather, tag, data, const_cast<float *>(shard), shardCount);
  }

  nnc::Status barrier(std::string_view tag) override {
    std::shared_ptr<Job> job = makeJob(Kind::Barrier, tag, 0);
    if (nnc::Status status = enqueue(job); !status.ok())
      return status;
    return waitFor(*job);
  }

  nnc::Status send(int peer, std::string_view tag, const void *data, int64_t bytes) override {
    if (nnc::Status status = checkPeer(peer, "send of", tag, data, bytes); !status.ok())
      return status;
    auto job = makePointToPoint(Kind::Send, peer, tag, bytes, ++sent_[peer]);
    P2pHeader header = {};
    header.sequence = job->sequence;
    header.bytes = bytes;
    header.tagHash = fnv1a(tag);
    std::strncpy(header.tag, job->tag.c_str(), sizeof header.tag - 1);
    job->message.resize(sizeof header + size_t(bytes));
    std::memcpy(job->message.data(), &header, sizeof header);
    if (bytes > 0)
      std::memcpy(job->message.data() + sizeof header, data, size_t(bytes));
    return enqueue(std::move(job)); // the thread posts it; a failure shows at a later call
  }

  nnc::Status recv(int peer, std::string_view tag, void *data, int64_t bytes) override {
    if (nnc::Status status = checkPeer(peer, "receive of", tag, data, bytes); !status.ok())
      return status;
    auto job = makePointToPoint(Kind::Recv, peer, tag, bytes, ++received_[peer]);
    job->into = data;
    if (nnc::Status status = enqueue(job); !status.ok())
      return status;
    return waitFor(*job);
  }

  nnc::StatusOr<std::unique_ptr<Communicator>> split(int color, int key,
                                                     std::string_view name) override {
    if (s_->reducer)
      return nnc::Status::error(s_->prefix() + "communicator groups are not built for the " +
                                s_->engine + " engine (use mpi)");
    if (color < 0)
      return nnc::Status::error(s_->prefix() + "group color " + std::to_string(color) +
                                " of " + std::string(name) + " is negative");
    // The tag is the same on every rank, whichever group it joins.
    std::shared_ptr<Job> job = makeJob(Kind::Split, "communicator groups", 0);
    job->color = color;
    job->key = key;
    if (nnc::Status status = enqueue(job); !status.ok())
      return status;
    if (nnc::Status status = waitFor(*job); !status.ok())
      return status;
    auto group = std::make_shared<State>(s_->engine, s_->timeout, nullptr);
    group->ownsMpi = false;
    group->parent = s_;
    group->comm = job->group;
    group->group = std::string(name);
    group->outerRanks = job->members;
    group->outerSize = s_->group.empty() ? s_->size : s_->outerSize;
    group->size = int(job->members.size());
    auto me = std::find(job->members.begin(), job->members.end(), s_->outer(s_->rank));
    group->rank = int(me - job->members.begin());
    return startCommunicator(std::move(group));
  }

private:
  nnc::Status checkPeer(int peer, const char *what, std::string_view tag, const void *data,
                        int64_t bytes) const {
    if (peer < 0 || peer >= s_->size || peer == s_->rank)
      return nnc::Status::error(s_->prefix() + what + " " + std::string(tag) + ": rank " +
                                std::to_string(peer) + " is not another rank of " +
                                std::to_string(s_->size));
    if (bytes < 0 || bytes > INT32_MAX - int64_t(sizeof(P2pHeader)) || (bytes > 0 && !data))
      return nnc::Status::error(s_->prefix() + what + " " + std::string(tag) + ": " +
                                std::to_string(bytes) + " bytes");
    return nnc::Status();
  }

  /// A reduce-scatter or all-gather (ZeRO-1), queued after every earlier collective and waited
  /// for. `whole` holds size() * shardCount floats; the Agreement compares that count.
  nnc::Status shardJob(Kind kind, std::string_view tag, float *whole, float *shard,
                       int64_t shardCount) {
    if (shardCount < 0 || shardCount > INT32_MAX || (shardCount > 0 && (!whole || !shard)))
      return nnc::Status::error(s_->prefix() + kindName(kind) + " of " + std::string(tag) + ": " +
                                std::to_string(shardCount) + " values per rank");
    std::shared_ptr<Job> job = makeJob(kind, tag, shardCount * s_->size);
    job->floats = whole;
    job->shard = shard;
    if (nnc::Status status = enqueue(job); !status.ok())
      return status;
    return waitFor(*job);
  }

  /// Messages are numbered per (this rank, peer) channel, apart from the collectives' numbers,
  /// which every rank must share.
  std::shared_ptr<Job> makePointToPoint(Kind kind, int peer, std::string_view tag, int64_t bytes,
                                        int64_t sequence) {
    auto job = std::make_shared<Job>();
    job->kind = kind;
    job->sequence = sequence;
    job->tag = std::string(tag);
    job->count = bytes;
    job->peer = peer;
    return job;
  }

  std::shared_ptr<Job> makeJob(Kind kind, std::string_view tag, int64_t count) {
    auto job = std::make_shared<Job>();
    job->kind = kind;
    job->sequence = ++sequence_;
    job->tag = std::string(tag);
    job->count = count;
    return job;
  }

  nnc::Status enqueue(std::shared_ptr<Job> job) {
    if (nnc::Status failed = parentFailure(); !failed.ok())
      return failed;
    {
      std::lock_guard<std::mutex> lock(s_->mutex);
      if (!s_->failure.ok())
        return s_->failure;
      s_->queue.push_back(std::move(job));
    }
    s_->changed.notify_all();
    return nnc::Status();
  }

  /// A failure of a group is the job's: the communicators it was split from fail with it, so
  /// that none waits in its last barrier for ranks that are gone, nor takes more work.
  nnc::Status waitFor(const Job &job) {
    nnc::Status status = waitForJob(job);
    if (!status.ok())
      for (State *outer = s_->parent.get(); outer; outer = outer->parent.get()) {
        {
          std::lock_guard<std::mutex> lock(outer->mutex);
          if (outer->failure.ok())
            outer->failure = status;
        }
        outer->changed.notify_all();
      }
    return status;
  }

  /// The failure of a communicator this group was split from, if any.
  nnc::Status parentFailure() const {
    for (State *outer = s_->parent.get(); outer; outer = outer->parent.get()) {
      std::lock_guard<std::mutex> lock(outer->mutex);
      if (!outer->failure.ok())
        return outer->failure;
    }
    return nnc::Status();
  }

  // The thread times out every collective itself, except a host mean inside MPI_Allreduce: once
  // that has taken the timeout, this thread runs the roll call and names the rank that stopped
  // inside it. The last check is a backstop for a thread that never comes back from MPI or NCCL
  // all the same.
  nnc::Status waitForJob(const Job &job) {
    // After the timeout the thread may spend kRollCallWindow on the roll call.
    const auto grace = kRollCallWindow + std::chrono::seconds(3);
    std::unique_lock<std::mutex> lock(s_->mutex);
    while (!job.done) {
      s_->changed.wait_for(lock, std::chrono::milliseconds(200));
      if (job.done)
        break;
      Clock::time_point now = Clock::now();
      if (const Job *held = s_->reducing; held && now - s_->reducingSince > s_->timeout) {
        Job named; // what names it, copied: the thread may finish it meanwhile
        named.kind = held->kind;
        named.sequence = held->sequence;
        named.tag = held->tag;
        named.count = held->count;
        Clock::time_point deadline = s_->reducingSince + s_->timeout;
        lock.unlock(); // the roll call takes kRollCallWindow
        std::string why = reductionTimedOut(*s_, named, deadline);
        lock.lock();
        if (s_->reducing != held || held->sequence != named.sequence) // it completed after all
          continue;
        if (s_->failure.ok())
          s_->failure = nnc::Status::error(
              s_->prefix() + describe(named.kind, named.sequence, named.tag) + why);
        return s_->failure;
      }
      if (s_->busy && now - s_->busySince > s_->timeout + grace) {
        if (s_->failure.ok())
          s_->failure = nnc::Status::error(
              s_->prefix() + describe(job.kind, job.sequence, job.tag) + " has not come back "
              "from MPI or NCCL in " + std::to_string((s_->timeout + grace).count()) +
              " s (a peer stopped or died inside it)");
        return s_->failure;
      }
    }
    return job.status;
  }

  std::shared_ptr<State> s_;
  std::thread thread_;
  bool closed_ = false;
  nnc::Status closeStatus_;
  int64_t sequence_ = 0;
  std::deque<std::shared_ptr<Job>> started_; // by startAllReduceMean, for wait()
  std::map<int, int64_t> sent_, received_;    // point-to-point messages per peer
  CollectiveStats stats_;                     // the calling thread's, like started_
};

} // namespace

nnc::StatusOr<std::unique_ptr<Communicator>>
createMpiCommunicator(std::string_view engine, std::chrono::seconds timeout,
                      std::unique_ptr<MeanReducer> reducer) {
  static std::atomic<bool> used{false};
  if (used.exchange(true))
    return nnc::Status::error(std::string(engine) +
                              ": this process already set up MPI once (one communicator per "
                              "process)");
  return startCommunicator(
      std::make_shared<State>(std::string(engine), timeout, std::move(reducer)));
}

namespace {

nnc::StatusOr<std::unique_ptr<Communicator>> startCommunicator(std::shared_ptr<State> state) {
  std::thread thread{Worker(state)};
  std::unique_lock<std::mutex> lock(state->mutex);
  if (!state->changed.wait_for(lock, state->timeout + std::chrono::seconds(5),
                               [&] { return state->ready; })) {
    lock.unlock();
    thread.detach(); // stuck in MPI_Init or the reducer's setup; it keeps `state` alive
    return nnc::Status::error(state->engine + ": setting up did not finish within " +
                              std::to_string(state->timeout.count()) + " s");
  }
  nnc::Status status = state->setupStatus;
  lock.unlock();
  if (!status.ok()) {
    thread.join();
    return status;
  }
  return std::unique_ptr<Communicator>(
      std::make_unique<MpiCommunicator>(std::move(state), std::move(thread)));
}

} // namespace

} // namespace nnrt::collective
