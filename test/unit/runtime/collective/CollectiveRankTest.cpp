// The collectives as every rank sees them: ctest runs this under `mpirun -np 2`. main creates the
// process's one communicator; `--engine=nccl` runs the same tests on GPU memory (exit code 77,
// "skipped", where nccl cannot run).
//
// With `--scenario=NAME`, main instead plays one failure that ends the job, for
// CollectiveTest.cpp to check from outside: `mismatch` (rank 1 skips an all-reduce), `timeout`
// (rank 1 sleeps through rank 0's 2 s timeout), `early-exit` (rank 1 ends while rank 0 goes on),
// `peer-dies` (rank 1 is killed while rank 0 waits).
// `--scenario=bench` prints timings instead.
#include "runtime/collective/Communicator.h"
#include "runtime/collective/RankLayout.h"
#include "runtime/device/Drivers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <errno.h>
#include <random>
#include <set>
#include <signal.h>
#include <thread>
#include <unistd.h>

namespace nnrt {
namespace {

Communicator *comm = nullptr;
Device *gpu = nullptr; // nccl only: where the floats live

/// Floats where the engine reduces them: host memory for mpi, GPU memory for nccl.
class Floats {
public:
  explicit Floats(const std::vector<float> &values) : host_(values) {
    if (!gpu)
      return;
    nnc::StatusOr<void *> memory = gpu->allocate(int64_t(values.size() * 4 + 4));
    EXPECT_TRUE(memory.ok()) << memory.status().message();
    device_ = memory.ok() ? *memory : nullptr;
    EXPECT_TRUE(gpu->copy(device_, values.data(), int64_t(values.size() * 4)).ok());
    EXPECT_TRUE(gpu->synchronize().ok()); // the contract: written before the all-reduce starts
  }
  ~Floats() {
    if (device_)
      gpu->free(device_);
  }
  float *data() { return gpu ? static_cast<float *>(device_) : host_.data(); }
  int64_t count() const { return int64_t(host_.size()); }
  std::vector<float> values() {
    if (gpu) {
      EXPECT_TRUE(gpu->copy(host_.data(), device_, count() * 4).ok());
      EXPECT_TRUE(gpu->synchronize().ok());
    }
    return host_;
  }

private:
  std::vector<float> host_;
  void *device_ = nullptr;
};

/// rank * 1000 + i: integers, so every rank's sum and the mean i + 500 * (size - 1) are exact.
std::vector<float> rankValues(int64_t count) {
  std::vector<float> values(count);
  for (int64_t i = 0; i < count; ++i)
    values[i] = float(comm->rank() * 1000 + i % 1000);
  return values;
}

float expectedMean(int64_t i) { return float(i % 1000 + 500 * (comm->size() - 1)); }

TEST(CollectiveRankTest, MeanIsExact) {
  Floats floats(rankValues(1000));
  ASSERT_TRUE(comm->startAllReduceMean("exact mean", floats.data(), floats.count()).ok());
  nnc::Status status = comm->wait();
  ASSERT_TRUE(status.ok()) << status.message();
  std::vector<float> mean = floats.values();
  for (int64_t i = 0; i < floats.count(); ++i)
    ASSERT_EQ(mean[i], expectedMean(i)) << "at " << i;
}

// Started back to back and waited for afterwards, as the executor overlaps buckets of gradients
// with the backward pass: each wait() completes the oldest one.
TEST(CollectiveRankTest, OverlappedStartsCompleteInOrder) {
  std::vector<int64_t> counts = {1, 4096, 300000, 7, 0};
  std::vector<std::unique_ptr<Floats>> buffers;
  for (size_t b = 0; b < counts.size(); ++b) {
    buffers.push_back(std::make_unique<Floats>(rankValues(counts[b])));
    std::string tag = "bucket " + std::to_string(b);
    ASSERT_TRUE(comm->startAllReduceMean(tag, buffers[b]->data(), counts[b]).ok());
  }
  for (size_t b = 0; b < counts.size(); ++b) {
    nnc::Status status = comm->wait();
    ASSERT_TRUE(status.ok()) << status.message();
    std::vector<float> mean = buffers[b]->values();
    for (int64_t i = 0; i < counts[b]; ++i)
      ASSERT_EQ(mean[i], expectedMean(i)) << "bucket " << b << " at " << i;
  }
}

// The timings behind nnrun --collective-stats. The last rank starts 100 ms late, so rank 0,
// waiting at once, spends that long communicating, nearly all of it agreeing (its thread waits
// for the peer in the agreement check), and blocked in wait(): none of it hidden.
TEST(CollectiveRankTest, StatsTimeEachAllReduce) {
  CollectiveStats before = comm->stats();
  Floats floats(rankValues(4096));
  if (comm->rank() == comm->size() - 1)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(comm->startAllReduceMean("late peer", floats.data(), floats.count()).ok());
  nnc::Status status = comm->wait();
  ASSERT_TRUE(status.ok()) << status.message();
  CollectiveStats after = comm->stats();
  EXPECT_EQ(after.allReduces, before.allReduces + 1);
  if (comm->rank() != 0)
    return;
  auto communicating = after.communicating - before.communicating;
  auto blocked = after.blocked - before.blocked;
  auto agreeing = after.agreeing - before.agreeing;
  EXPECT_GE(communicating, std::chrono::milliseconds(90));
  EXPECT_GE(agreeing, std::chrono::milliseconds(90));
  EXPECT_LE(agreeing, communicating);
  EXPECT_GE(blocked, std::chrono::milliseconds(90));
  EXPECT_LT(blocked, std::chrono::seconds(5));
}

TEST(CollectiveRankTest, AllReduceSumOfMetrics) {
  double values[3] = {double(comm->rank()), 1.5, -2.0 * comm->rank()};
  nnc::Status status = comm->allReduceSum("loss and accuracy", values, 3);
  ASSERT_TRUE(status.ok()) << status.message();
  double ranks = comm->size() * (comm->size() - 1) / 2.0; // 0 + 1 + ... + size-1
  EXPECT_EQ(values[0], ranks);
  EXPECT_EQ(values[1], 1.5 * comm->size());
  EXPECT_EQ(values[2], -2.0 * ranks);
}

// A sum started after an all-reduce that nobody waited for yet runs after it, and the all-reduce's
// result is still there for wait().
TEST(CollectiveRankTest, SumAfterPendingAllReduce) {
  Floats floats(rankValues(5000));
  ASSERT_TRUE(comm->startAllReduceMean("pending", floats.data(), floats.count()).ok());
  double one = 1;
  ASSERT_TRUE(comm->allReduceSum("ranks", &one, 1).ok());
  EXPECT_EQ(one, comm->size());
  ASSERT_TRUE(comm->wait().ok());
  EXPECT_EQ(floats.values()[4999], expectedMean(4999));
}

TEST(CollectiveRankTest, Barrier) {
  nnc::Status status = comm->barrier("end of epoch 0");
  EXPECT_TRUE(status.ok()) << status.message();
}

// Data-parallel replicas stay identical only if every rank gets the same bits; with 3 or more
// ranks the order of the additions could differ between ranks.
TEST(CollectiveRankTest, RanksGetTheSameBits) {
  std::mt19937 random(1234 + comm->rank());
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> values(100003);
  for (float &v : values)
    v = normal(random);
  Floats floats(values);
  ASSERT_TRUE(comm->startAllReduceMean("random", floats.data(), floats.count()).ok());
  ASSERT_TRUE(comm->wait().ok());
  std::vector<float> mean = floats.values();
  // Each rank's checksum (a 31-bit integer, exact as a double); the sum is size * it iff all agree.
  uint32_t hash = 2166136261u;
  for (float v : mean) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    hash = (hash ^ bits) * 16777619u;
  }
  double checksum = double(hash & 0x7fffffff), sum = checksum;
  ASSERT_TRUE(comm->allReduceSum("checksums", &sum, 1).ok());
  EXPECT_EQ(sum, checksum * comm->size());
}

// ZeRO-1 (issue 20): a reduce-scatter gives each rank its part of the mean (exact here, as in
// MeanIsExact), and an all-gather puts every rank's part back in rank order; both are ordered
// after an all-reduce started before them. Host memory (the executor stages shards there).
TEST(CollectiveRankTest, ReduceScatterThenAllGather) {
  if (gpu)
    GTEST_SKIP();
  const int64_t shard = 3001;
  std::vector<float> whole = rankValues(shard * comm->size()), mine(shard);
  Floats pending(rankValues(10));
  ASSERT_TRUE(comm->startAllReduceMean("pending", pending.data(), pending.count()).ok());
  nnc::Status status = comm->reduceScatterMean("w.grad", whole.data(), mine.data(), shard);
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_TRUE(comm->wait().ok());
  for (int64_t i = 0; i < shard; ++i)
    ASSERT_EQ(mine[i], expectedMean(comm->rank() * shard + i)) << "at " << i;
  std::vector<float> gathered(whole.size());
  status = comm->allGather("w", mine.data(), gathered.data(), shard);
  ASSERT_TRUE(status.ok()) << status.message();
  for (int64_t i = 0; i < int64_t(gathered.size()); ++i)
    ASSERT_EQ(gathered[i], expectedMean(i)) << "at " << i;
}

TEST(CollectiveRankTest, WaitWithoutStartFails) {
  nnc::Status status = comm->wait();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "wait() without a started all-reduce");
  EXPECT_TRUE(comm->barrier("still usable").ok());
}

// Point to point, as a pipeline uses it: each rank sends to both neighbours (on a ring) at once,
// 4 MB each (past eager sizes, so MPI needs both sides), three rounds, then receives them in
// order: sends return at once, so nobody waits on a neighbour's send.
TEST(CollectiveRankTest, NeighboursSendToEachOtherAtOnce) {
  if (gpu) // point to point moves host memory
    GTEST_SKIP();
  int size = comm->size(), rank = comm->rank();
  std::set<int> peers = {(rank + 1) % size, (rank + size - 1) % size};
  peers.erase(rank);
  const int64_t count = 1 << 20;
  for (int round = 0; round < 3; ++round) {
    std::vector<float> out(count, float(rank * 10 + round));
    for (int peer : peers)
      ASSERT_TRUE(comm->send(peer, "round " + std::to_string(round), out.data(), count * 4).ok());
  }
  for (int round = 0; round < 3; ++round)
    for (int peer : peers) {
      std::vector<float> in(count, -1);
      nnc::Status status = comm->recv(peer, "round " + std::to_string(round), in.data(), count * 4);
      ASSERT_TRUE(status.ok()) << status.message();
      EXPECT_EQ(in.front(), float(peer * 10 + round));
      EXPECT_EQ(in.back(), float(peer * 10 + round));
    }
  // Collectives after point-to-point traffic still agree.
  ASSERT_TRUE(comm->barrier("after the messages").ok());
}

// Groups: ranks of the same parity form one (color = rank % 2, numbered by rank), as the data
// ranks of one pipeline stage do. Each group's mean, sum and point-to-point messages stay
// inside it, and the whole communicator still works between the groups' collectives.
TEST(CollectiveRankTest, GroupsReduceAmongTheirOwnRanks) {
  if (gpu) // groups run on the mpi engine
    GTEST_SKIP();
  int rank = comm->rank(), size = comm->size();
  nnc::StatusOr<std::unique_ptr<Communicator>> made =
      comm->split(rank % 2, rank, "parity group " + std::to_string(rank % 2));
  ASSERT_TRUE(made.ok()) << made.status().message();
  Communicator &group = **made;
  std::vector<int> members;
  for (int r = rank % 2; r < size; r += 2)
    members.push_back(r);
  ASSERT_EQ(group.size(), int(members.size()));
  ASSERT_EQ(group.rank(), rank / 2);
  // The mean of the members' ranks: integers and halves, exact in float.
  std::vector<float> values(100, float(rank));
  ASSERT_TRUE(group.startAllReduceMean("group mean", values.data(), 100).ok());
  nnc::Status waited = group.wait();
  ASSERT_TRUE(waited.ok()) << waited.message();
  float mean = 0;
  for (int r : members)
    mean += float(r);
  mean /= float(members.size());
  EXPECT_EQ(values.front(), mean);
  EXPECT_EQ(values.back(), mean);
  double sum = rank;
  ASSERT_TRUE(comm->allReduceSum("between the groups' collectives", &sum, 1).ok());
  EXPECT_EQ(sum, double(size * (size - 1) / 2));
  if (group.size() > 1) { // the group's first two ranks exchange one message each way
    int peer = 1 - group.rank();
    if (group.rank() < 2) {
      int out = rank, in = -1;
      ASSERT_TRUE(group.send(peer, "hello", &out, sizeof out).ok());
      nnc::Status received = group.recv(peer, "hello", &in, sizeof in);
      ASSERT_TRUE(received.ok()) << received.message();
      EXPECT_EQ(in, members[size_t(peer)]);
    }
    // A peer outside the group is refused, named in the group's numbering.
    char byte = 0;
    EXPECT_NE(group.send(group.size(), "outside", &byte, 1).message().find("is not another rank"),
              std::string::npos);
  }
  nnc::Status closed = group.close();
  ASSERT_TRUE(closed.ok()) << closed.message();
  ASSERT_TRUE(comm->barrier("after the groups").ok());
}

// The data x pipeline layout over every rank as replicas of one stage (D = size, P = 1): the
// data group is everyone, each pipeline is one rank; a job of the wrong size is refused alike
// on every rank, before any split.
TEST(CollectiveRankTest, RankLayoutMakesItsGroups) {
  if (gpu || comm->size() == 1) // groups run on the mpi engine; one rank makes none
    GTEST_SKIP();
  int size = comm->size(), rank = comm->rank();
  nnc::StatusOr<RankLayout> wrong = makeRankLayout(comm, {size, 2, 1}, "model.plan");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message(),
            "model.plan: the plan has 2 pipeline stages" +
                (size > 1 ? " of " + std::to_string(size) + " data-parallel ranks each"
                          : std::string()) +
                ": run it with mpirun -np " + std::to_string(2 * size) + " (this job has " +
                std::to_string(size) + " ranks)");
  nnc::StatusOr<RankLayout> layout = makeRankLayout(comm, {size, 1, 1}, "model.plan");
  ASSERT_TRUE(layout.ok()) << layout.status().message();
  EXPECT_EQ(layout->stage, 0);
  EXPECT_EQ(layout->dataRank, rank);
  ASSERT_NE(layout->dataGroup(), nullptr);
  EXPECT_EQ(layout->dataGroup()->size(), size);
  EXPECT_EQ(layout->pipelineGroup(), nullptr); // P = 1: no pipeline
  EXPECT_EQ(layout->tensorGroup(), nullptr);
  double sum = 1;
  ASSERT_TRUE(layout->dataGroup()->allReduceSum("replicas", &sum, 1).ok());
  EXPECT_EQ(sum, double(size));
  nnc::Status closed = layout->close();
  ASSERT_TRUE(closed.ok()) << closed.message();
}

// Every rank as the parts of one tensor-parallel replica (T = size): the tensor group is the
// world itself; a job of the wrong size names T and the replicas.
TEST(CollectiveRankTest, RankLayoutPlacesTensorRanksInnermost) {
  if (gpu || comm->size() == 1)
    GTEST_SKIP();
  int size = comm->size(), rank = comm->rank();
  nnc::StatusOr<RankLayout> wrong = makeRankLayout(comm, {2, 1, size}, "model.plan");
  ASSERT_FALSE(wrong.ok());
  std::string t = std::to_string(size);
  EXPECT_EQ(wrong.status().message(),
            "model.plan: the plan splits its layers over " + t +
                " ranks (nnc compile --tensor-parallel " + t +
                ") in each of 2 data-parallel replicas, so run it with mpirun -np " +
                std::to_string(2 * size) + ", not " + t + " ranks");
  nnc::StatusOr<RankLayout> layout = makeRankLayout(comm, {1, 1, size}, "model.plan");
  ASSERT_TRUE(layout.ok()) << layout.status().message();
  EXPECT_EQ(layout->tensorRank, rank);
  EXPECT_EQ(layout->dataRank, 0);
  EXPECT_EQ(layout->tensorGroup(), comm);
  EXPECT_EQ(layout->dataGroup(), nullptr);
  EXPECT_EQ(layout->describe(), "rank layout: " + t + " ranks = data 1 x pipeline 1 x tensor " +
                                    t + "; rank r = (p*D + d)*T + t (stage p, data rank d, "
                                        "tensor rank t)");
  nnc::Status closed = layout->close();
  ASSERT_TRUE(closed.ok()) << closed.message();
}

TEST(CollectiveRankTest, PointToPointRefusesBadPeers) {
  char byte = 0;
  EXPECT_NE(comm->send(comm->rank(), "to myself", &byte, 1).message().find(
                "is not another rank"),
            std::string::npos);
  EXPECT_NE(comm->recv(comm->size(), "from nowhere", &byte, 1).message().find(
                "is not another rank"),
            std::string::npos);
}

// --- Scenarios: failures that end the job --------------------------------------------------

int fail(const nnc::Status &status) {
  std::fprintf(stderr, "%s: error: %s\n", program_invocation_short_name, status.message().c_str());
  std::fflush(stderr);
  return 1;
}

nnc::Status allReduce(Communicator &comm, std::string_view tag) {
  std::vector<float> values(256, float(comm.rank()));
  if (nnc::Status status = comm.startAllReduceMean(tag, values.data(), int64_t(values.size()));
      !status.ok())
    return status;
  return comm.wait();
}

int runScenario(std::string_view scenario) {
  auto timeout =
      std::chrono::seconds(scenario == "timeout" || scenario == "p2p-timeout" ? 2 : 30);
  nnc::StatusOr<std::unique_ptr<Communicator>> created = createCommunicator("mpi", timeout);
  if (!created.ok())
    return fail(created.status());
  Communicator &comm = **created;
  if (nnc::Status status = allReduce(comm, "step 0"); !status.ok())
    return fail(status);
  if (scenario == "mismatch") {
    // Rank 1 skips step 1's all-reduce and goes on to the end of the epoch.
    nnc::Status status =
        comm.rank() == 1 ? comm.barrier("end of epoch") : allReduce(comm, "step 1");
    return status.ok() ? 0 : fail(status);
  }
  if (scenario == "timeout") {
    if (comm.rank() == 1)
      std::this_thread::sleep_for(std::chrono::seconds(20)); // mpirun ends it before that
    nnc::Status status = allReduce(comm, "step 1");
    return status.ok() ? 0 : fail(status);
  }
  if (scenario == "early-exit") {
    // Rank 1 ends (destroying its communicator) while rank 0 goes on with step 1.
    if (comm.rank() == 1) {
      created->reset();
      return 0;
    }
    nnc::Status status = allReduce(comm, "step 1");
    return status.ok() ? 0 : fail(status);
  }
  if (scenario == "p2p-mismatch") {
    // Rank 0 sends the activation of micro-batch 2; rank 1 expects micro-batch 1's.
    float values[4] = {1, 2, 3, 4};
    nnc::Status status = comm.rank() == 0
                             ? comm.send(1, "activation of micro-batch 2", values, sizeof values)
                             : comm.recv(0, "activation of micro-batch 1", values, sizeof values);
    if (status.ok() && comm.rank() == 0)
      status = comm.barrier("end");
    return status.ok() ? 0 : fail(status);
  }
  if (scenario == "p2p-timeout") {
    // Rank 1 waits for a message rank 0 never sends.
    if (comm.rank() == 0)
      std::this_thread::sleep_for(std::chrono::seconds(20)); // mpirun ends it before that
    float values[4];
    nnc::Status status = comm.recv(0, "gradient of micro-batch 0", values, sizeof values);
    return status.ok() ? 0 : fail(status);
  }
  if (scenario == "peer-dies") {
    if (comm.rank() == 1)
      raise(SIGKILL);
    nnc::Status status = allReduce(comm, "step 1");
    return status.ok() ? 0 : fail(status);
  }
  if (scenario == "bench") {
    auto time = [&](const char *what, int64_t count, int repeats) {
      std::vector<float> values(count, 1.0f);
      std::vector<double> seconds;
      for (int r = 0; r < repeats; ++r) {
        auto start = std::chrono::steady_clock::now();
        (void)comm.startAllReduceMean(what, values.data(), count);
        (void)comm.wait();
        seconds.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
      std::sort(seconds.begin(), seconds.end());
      if (comm.rank() == 0)
        std::printf("%-22s %9lld floats: median %9.1f us  (min %9.1f, max %9.1f) n=%d\n", what,
                    (long long)count, seconds[repeats / 2] * 1e6, seconds.front() * 1e6,
                    seconds.back() * 1e6, repeats);
    };
    // Overlap: an all-reduce started before a stretch of single-threaded compute, waited for
    // after it, against each alone.
    auto compute = [] {
      volatile float seed = 1, sink = 0; // volatile: the loop is not folded away
      float x = seed;
      for (int i = 0; i < 5000000; ++i)
        x = x * 0.9999999f + 1e-7f;
      sink = x;
      (void)sink;
    };
    auto overlap = [&](int64_t count, int repeats) {
      std::vector<float> values(count, 1.0f);
      std::vector<double> alone, reduce, both;
      auto seconds = [](auto start) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      };
      for (int r = 0; r < repeats; ++r) {
        (void)comm.barrier("overlap");
        auto start = std::chrono::steady_clock::now();
        compute();
        alone.push_back(seconds(start));
        (void)comm.barrier("overlap");
        start = std::chrono::steady_clock::now();
        (void)comm.startAllReduceMean("overlap", values.data(), count);
        (void)comm.wait();
        reduce.push_back(seconds(start));
        (void)comm.barrier("overlap");
        start = std::chrono::steady_clock::now();
        (void)comm.startAllReduceMean("overlap", values.data(), count);
        compute();
        (void)comm.wait();
        both.push_back(seconds(start));
      }
      for (auto *v : {&alone, &reduce, &both})
        std::sort(v->begin(), v->end());
      if (comm.rank() == 0)
        std::printf("overlap %lld floats: compute %.1f ms, all-reduce %.1f ms, both %.1f ms "
                    "(medians of %d)\n",
                    (long long)count, alone[repeats / 2] * 1e3, reduce[repeats / 2] * 1e3,
                    both[repeats / 2] * 1e3, repeats);
    };
    overlap(1 << 22, 15);
    overlap(1 << 18, 15);
    time("small all-reduce", 16, 201);
    time("1 MB all-reduce", 1 << 18, 51);
    time("16 MB all-reduce", 1 << 22, 15);
    return 0;
  }
  return fail(nnc::Status::error("unknown scenario '" + std::string(scenario) + "'"));
}

} // namespace
} // namespace nnrt

int main(int argc, char **argv) {
  using namespace nnrt;
  std::string engine = "mpi";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--scenario=", 11) == 0)
      return runScenario(argv[i] + 11);
    if (std::strncmp(argv[i], "--engine=", 9) == 0)
      engine = argv[i] + 9;
  }
  ::testing::InitGoogleTest(&argc, argv);
  std::unique_ptr<Device> device;
  if (engine == "nccl") {
    nnc::StatusOr<std::unique_ptr<Device>> created = createDevice("cuda");
    if (!created.ok()) {
      std::printf("skipped: %s\n", created.status().message().c_str());
      return 77;
    }
    device = std::move(*created);
    gpu = device.get();
  }
  nnc::StatusOr<std::unique_ptr<Communicator>> created =
      createCommunicator(engine, std::chrono::seconds(30));
  if (!created.ok()) {
    std::fprintf(stderr, "error: %s\n", created.status().message().c_str());
    return 1;
  }
  comm = created->get();
  int result = RUN_ALL_TESTS();
  // Every rank must agree that every rank passed, or one would hang in the final barrier while
  // the other exits.
  double failures = result != 0, total = failures;
  if (!comm->allReduceSum("test results", &total, 1).ok() || total != 0)
    result = 1;
  created->reset();
  return result;
}
