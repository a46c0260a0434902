// The collectives from outside a job: what createCommunicator says where an engine cannot run,
// and the failures that end a job, each played by nnrt-collective-rank-tests --scenario=NAME
// under mpirun: every rank must name the collective and the disagreeing rank, and the job must
// end non-zero, quickly, instead of hanging.
#include "runtime/collective/Communicator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <sys/wait.h>

namespace nnrt {
namespace {

bool loadable(const char *library) {
  void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (handle)
    dlclose(handle);
  return handle != nullptr;
}

TEST(CollectiveTest, UnknownEngine) {
  nnc::StatusOr<std::unique_ptr<Communicator>> comm =
      createCommunicator("gloo", std::chrono::seconds(5));
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().message(), "unknown collective engine 'gloo' (available: mpi, nccl)");
}

TEST(CollectiveTest, TimeoutMustBePositive) {
  nnc::StatusOr<std::unique_ptr<Communicator>> comm =
      createCommunicator("mpi", std::chrono::seconds(0));
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().message(), "collective timeout must be positive, not 0 s");
}

// No GPU here: one line saying what is missing, before MPI is touched.
TEST(CollectiveTest, NcclUnavailableWithoutGpu) {
  if (loadable("libcuda.so.1"))
    GTEST_SKIP() << "libcuda.so.1 is present on this machine";
  nnc::StatusOr<std::unique_ptr<Communicator>> comm =
      createCommunicator("nccl", std::chrono::seconds(5));
  ASSERT_FALSE(comm.ok());
  const std::string &message = comm.status().message();
  EXPECT_EQ(message.rfind("nccl: ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
#if NNRT_COLLECTIVE_WITH_NCCL
  if (loadable("libnccl.so.2")) {
    EXPECT_EQ(message, "nccl: CUDA is not available: libcuda.so.1 not found");
  }
#endif
}

TEST(CollectiveTest, LaunchedByMpiReadsTheLauncherEnvironment) {
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("PMI_SIZE");
  EXPECT_FALSE(launchedByMpi());
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  EXPECT_TRUE(launchedByMpi());
  unsetenv("OMPI_COMM_WORLD_SIZE");
  setenv("PMI_SIZE", "4", 1);
  EXPECT_TRUE(launchedByMpi());
  unsetenv("PMI_SIZE");
}

// hidden = 1 - blocked / communicating, clamped: waking the waiting thread can make blocked a
// little longer than the communication itself.
TEST(CollectiveTest, HiddenFraction) {
  using std::chrono::milliseconds;
  CollectiveStats stats;
  EXPECT_EQ(stats.hiddenFraction(), 0.0);
  stats.communicating = milliseconds(40);
  stats.blocked = milliseconds(10);
  EXPECT_DOUBLE_EQ(stats.hiddenFraction(), 0.75);
  stats.blocked = milliseconds(0);
  EXPECT_DOUBLE_EQ(stats.hiddenFraction(), 1.0);
  stats.blocked = milliseconds(41);
  EXPECT_DOUBLE_EQ(stats.hiddenFraction(), 0.0);
}

struct JobResult {
  int exitCode = -1;
  std::string output; // stdout and stderr of mpirun and both ranks
  double seconds = 0;
};

JobResult runScenario(const std::string &scenario) {
  std::string command = std::string(NNRT_MPIEXEC) +
                        " -np 2 --oversubscribe --allow-run-as-root --mca mpi_yield_when_idle 1 " +
                        NNRT_COLLECTIVE_RANK_TESTS + " --scenario=" + scenario + " 2>&1";
  JobResult result;
  auto start = std::chrono::steady_clock::now();
  FILE *pipe = popen(command.c_str(), "r");
  if (!pipe)
    return result;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe))
    result.output.append(buffer, n);
  int status = pclose(pipe);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// Rank 1 skips step 1's all-reduce: both ranks stop at the next collective, naming each other's.
TEST(CollectiveFailureTest, SequenceMismatchStopsEveryRank) {
  JobResult job = runScenario("mismatch");
  EXPECT_NE(job.exitCode, 0) << job.output;
  EXPECT_NE(job.output.find("nnrt-collective-rank-tests: error: rank 0 of 2: all-reduce #2 of "
                            "step 1 does not match rank 1, which is at barrier #2 of end of "
                            "epoch (the ranks diverged)"),
            std::string::npos)
      << job.output;
  EXPECT_NE(job.output.find("nnrt-collective-rank-tests: error: rank 1 of 2: barrier #2 of end of "
                            "epoch does not match rank 0, which is at all-reduce #2 of step 1 "
                            "(the ranks diverged)"),
            std::string::npos)
      << job.output;
}

// Rank 1 sleeps 20 s; rank 0 gives up after its 2 s timeout, naming rank 1, and mpirun ends
// rank 1.
TEST(CollectiveFailureTest, TimeoutNamesTheCollectiveAndTheSilentRank) {
  JobResult job = runScenario("timeout");
  EXPECT_NE(job.exitCode, 0) << job.output;
  EXPECT_NE(job.output.find("nnrt-collective-rank-tests: error: rank 0 of 2: all-reduce #2 of "
                            "step 1 got no answer from rank 1 within 2 s (it hung, died or "
                            "diverged)"),
            std::string::npos)
      << job.output;
  EXPECT_NE(job.output.find("nnrt-collective-rank-tests: rank 1 of 2: stopped by the launcher "
                            "between collectives (the last: all-reduce #1 of step 0)"),
            std::string::npos)
      << job.output;
  EXPECT_LT(job.seconds, 15) << job.output;
}

// Rank 1 ends early: its communicator's last barrier meets rank 0's next all-reduce.
TEST(CollectiveFailureTest, EarlyExitIsAMismatch) {
  JobResult job = runScenario("early-exit");
  EXPECT_NE(job.exitCode, 0) << job.output;
  EXPECT_NE(job.output.find("nnrt-collective-rank-tests: error: rank 0 of 2: all-reduce #2 of "
                            "step 1 does not match rank 1, which is at barrier #2 of the "
                            "communicator's end (the ranks diverged)"),
            std::string::npos)
      << job.output;
  EXPECT_LT(job.seconds, 15) << job.output;
}

// Point to point: the receiver names what it expected and what came.
TEST(CollectiveFailureTest, PointToPointMismatchNamesBoth) {
  JobResult job = runScenario("p2p-mismatch");
  EXPECT_NE(job.exitCode, 0) << job.output;
  EXPECT_NE(job.output.find("nnrt-collective-rank-tests: error: rank 1 of 2: receive #1 of "
                            "activation of micro-batch 1 from rank 0 got send #1 of activation "
                            "of micro-batch 2 instead (the ranks diverged)"),
            std::string::npos)
      << job.output;
  EXPECT_LT(job.seconds, 15) << job.output;
}

TEST(CollectiveFailureTest, PointToPointTimeoutNamesTheMessage) {
  JobResult job = runScenario("p2p-timeout");
  EXPECT_NE(job.exitCode, 0) << job.output;
  EXPECT_NE(job.output.find("nnrt-collective-rank-tests: error: rank 1 of 2: receive #1 of "
                            "gradient of micro-batch 0 from rank 0 got nothing within 2 s (a peer "
                            "died or diverged)"),
            std::string::npos)
      << job.output;
  EXPECT_LT(job.seconds, 15) << job.output;
}

// Rank 1 is killed; mpirun sends SIGTERM to rank 0, which says what it was waiting for.
TEST(CollectiveFailureTest, PeerDeathNamesThePendingCollective) {
  JobResult job = runScenario("peer-dies");
  EXPECT_NE(job.exitCode, 0) << job.output;
  EXPECT_NE(job.output.find("nnrt-collective-rank-tests: rank 0 of 2: stopped by the launcher "
                            "while in all-reduce #2 of step 1"),
            std::string::npos)
      << job.output;
  EXPECT_LT(job.seconds, 15) << job.output;
}

} // namespace
} // namespace nnrt
