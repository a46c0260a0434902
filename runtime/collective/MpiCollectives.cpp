// The data of each kind of collective, moved by the communicator's thread (a Worker, see
// MpiWorker.h) once the ranks agreed on it: means and sums of floats, metric sums, ZeRO-1's
// shards, group splits, and the point-to-point messages of pipelines.
#include "runtime/collective/MpiWorker.h"

#include <algorithm>
#include <cstring>

namespace nnrt::collective {

nnc::Status Worker::reduce(const Job &job, Clock::time_point deadline) {
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

nnc::StatusOr<bool> Worker::shardCollective(const Job &job, Clock::time_point deadline) {
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

nnc::StatusOr<bool> Worker::sumInPlace(void *data, int count, MPI_Datatype type,
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

nnc::Status Worker::hostMean(const Job &job) {
  nnc::Status status = hostSum(job);
  if (status.ok() && s_->size > 1) {
    // Division, not a multiplication by 1/size: exact whenever the mean is representable.
    float size = float(s_->size);
    for (int64_t i = 0; i < job.count; ++i)
      job.floats[i] /= size;
  }
  return status;
}

nnc::Status Worker::hostSum(const Job &job) {
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

nnc::Status Worker::splitNow(Job &job) {
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

nnc::Status Worker::startSend(const std::shared_ptr<Job> &job) {
  MPI_Request request;
  if (int code = MPI_Isend(job->message.data(), int(job->message.size()), MPI_BYTE, job->peer,
                           kP2pTag, s_->comm, &request);
      code != MPI_SUCCESS)
    return nnc::Status::error(" to rank " + std::to_string(s_->outer(job->peer)) + ": " +
                              describeMpiError("MPI_Isend", code));
  sends_.push_back({job, request});
  return testSends();
}

nnc::Status Worker::testSends() {
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

nnc::Status Worker::finishSends(Clock::time_point deadline) {
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

nnc::Status Worker::receive(const Job &job, Clock::time_point deadline) {
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

} // namespace nnrt::collective
