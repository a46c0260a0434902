// The calling side of the mpi engine's Communicator: it numbers and queues each collective for
// the communicator's thread (a Worker, MpiWorker.h) and waits for it, naming a peer that stops
// inside a blocking reduction; split() makes groups; close() ends the thread and MPI.
#include "runtime/collective/MpiWorker.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <thread>

namespace nnrt::collective {

namespace {

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

} // namespace nnrt::collective
