// The communicator's thread (a Worker), its queue, the agreement check that precedes every
// collective, the roll call, the timeouts, and the note a SIGTERM prints. The data of each kind of
// collective is in MpiCollectives.cpp; the calling side in MpiCommunicator.cpp.
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
#include "runtime/collective/MpiWorker.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <thread>
#include <unistd.h>

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

uint64_t fnv1a(std::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text)
    hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

namespace {

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

extern "C" void onSigterm(int) {
  writeTerminationNote();
  // Then whatever SIGTERM did before (by default, end the process), once this handler returns.
  sigaction(SIGTERM, &previousSigterm, nullptr);
  raise(SIGTERM);
}

} // namespace

void writeTerminationNote() {
  int i = terminationNote.current.load(std::memory_order_acquire);
  ssize_t written = write(STDERR_FILENO, terminationNote.lines[i], terminationNote.lengths[i]);
  (void)written;
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

// --- Messages every rank sends every other: Agreements and the roll call -------------------
namespace {

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

std::vector<int> intersect(const std::vector<int> &a, const std::vector<int> &b) {
  std::vector<int> both;
  for (int r : a)
    if (std::find(b.begin(), b.end(), r) != b.end())
      both.push_back(r);
  return both;
}

} // namespace

/// After a timeout: which peers are silent? This rank sends every peer one note ("alive, in
/// `job`") and waits until `until` (the deadline + kRollCallWindow) for theirs. Ranks that timed
/// out beside it send theirs too; a stopped or dead rank cannot. Ranks stuck in one reduction
/// share its deadline, so their windows close together: before a rank that ends makes mpirun
/// resume (SIGCONT) a stopped one, which would then answer. Runs once per process (the
/// communicator fails afterwards), on the communicator's thread or, when that thread is held
/// inside a blocking reduction, on the calling thread (MPI_THREAD_MULTIPLE). Returns the peers
/// that sent no note.
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

// --- The communicator's thread ------------------------------------------------------------

void Worker::operator()() {
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

nnc::Status Worker::setUp() {
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

void Worker::serve() {
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

void Worker::finish() {
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

void Worker::setEnding(const char *step) {
  std::lock_guard<std::mutex> lock(s_->mutex);
  s_->ending = step;
}

nnc::Status Worker::run(const std::shared_ptr<Job> &shared) {
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

nnc::Status Worker::agree(const Job &job, Clock::time_point deadline) {
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

nnc::Status Worker::compareAgreements(const std::vector<Agreement> &all,
                                      const Agreement &mine) const {
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

} // namespace nnrt::collective
