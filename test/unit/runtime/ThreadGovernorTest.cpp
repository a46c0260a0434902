// The adaptive-threads governor (issue 23), fed made-up run times: no clock, no threads.
#include "runtime/ThreadGovernor.h"

#include <gtest/gtest.h>

namespace nnrt {
namespace {

/// Runs the governor `runs` times with a machine where a run takes `twoThreads` seconds on two
/// threads and `oneThread` on one; returns how many runs used one thread.
int runOnOne(ThreadGovernor &governor, int runs, double twoThreads, double oneThread) {
  int onOne = 0;
  for (int i = 0; i < runs; ++i) {
    int threads = governor.next();
    onOne += threads == 1;
    governor.record(threads == 1 ? oneThread : twoThreads);
  }
  return onOne;
}

TEST(ThreadGovernorTest, KeepsAllThreadsWhenTheyAreFaster) {
  ThreadGovernor governor(2);
  // A quiet machine: two threads take 0.55 of one thread's time. Tries of one thread get rarer
  // (8, 16, ... runs apart, two runs each): about 14 of 1000 runs.
  int onOne = runOnOne(governor, 1000, 0.55, 1.0);
  EXPECT_GT(onOne, 0);
  EXPECT_LE(onOne, 20);
  EXPECT_EQ(governor.next(), 2);
}

TEST(ThreadGovernorTest, ChoosesOneThreadWhenTwoLose) {
  ThreadGovernor governor(2);
  // Another job holds a core: two threads take 2.5x one thread's time.
  int onOne = runOnOne(governor, 100, 2.5, 1.0);
  EXPECT_GE(onOne, 85);
  EXPECT_EQ(governor.next(), 1);
}

TEST(ThreadGovernorTest, ReturnsToAllThreadsWhenTheOtherJobEnds) {
  ThreadGovernor governor(2);
  runOnOne(governor, 100, 2.5, 1.0);
  ASSERT_EQ(governor.next(), 1);
  governor.record(1.0);
  // The core is free again: one thread still takes 1.0, two now 0.55. The governor tries two
  // threads within its (growing, at most 512-run) interval and stays there.
  runOnOne(governor, 600, 0.55, 1.0);
  EXPECT_EQ(governor.next(), 2);
  governor.record(0.55);
  int onOne = runOnOne(governor, 100, 0.55, 1.0);
  EXPECT_LE(onOne, 4);
}

/// As runOnOne, where a run on two threads also waited for a core `waitedShare` of its time.
int runOnOneWaiting(ThreadGovernor &governor, int runs, double twoThreads, double oneThread,
                    double waitedShare) {
  int onOne = 0;
  for (int i = 0; i < runs; ++i) {
    int threads = governor.next();
    onOne += threads == 1;
    double seconds = threads == 1 ? oneThread : twoThreads;
    governor.record(seconds, threads == 1 ? 0.0 : waitedShare * seconds);
  }
  return onOne;
}

TEST(ThreadGovernorTest, WaitingForACoreTriesOneThreadAtOnce) {
  // Another job holds a core from the start of a short job: the runs' waits for a core say so,
  // and the governor tries one thread at the third run (the first is not counted) instead of
  // after kFirstInterval runs; by the fifth it has switched.
  ThreadGovernor waiting(2);
  EXPECT_EQ(runOnOneWaiting(waiting, 4, 2.5, 1.0, 0.3), 2);
  EXPECT_EQ(waiting.next(), 1);
  // Without the waits the same runs stay on two threads until the interval is reached.
  ThreadGovernor blind(2);
  EXPECT_EQ(runOnOne(blind, 4, 2.5, 1.0), 0);
  EXPECT_EQ(blind.next(), 2);
}

TEST(ThreadGovernorTest, ShortWaitsAndLosingTriesDoNotRepeat) {
  // Waits of 5% of a run are noise, not another job: no early try.
  ThreadGovernor quiet(2);
  EXPECT_EQ(runOnOneWaiting(quiet, int(ThreadGovernor::kFirstInterval), 0.55, 1.0, 0.05), 0);
  // Contended, but two threads still win: one early try (two runs), then the usual interval.
  ThreadGovernor contended(2);
  EXPECT_EQ(runOnOneWaiting(contended, int(ThreadGovernor::kFirstInterval) + 2, 0.6, 1.0, 0.3),
            2);
  EXPECT_EQ(contended.next(), 2);
}

TEST(ThreadGovernorTest, NoisyTimesWithinTheMarginDoNotSwitch) {
  ThreadGovernor governor(2);
  // One thread only 10% faster: inside kSwitchBelow's margin, so two threads stay.
  runOnOne(governor, 200, 1.0, 0.9);
  EXPECT_EQ(governor.next(), 2);
}

TEST(ThreadGovernorTest, OneThreadPoolNeverSwitches) {
  ThreadGovernor governor(1);
  EXPECT_EQ(runOnOne(governor, 50, 2.5, 1.0), 50);
}

} // namespace
} // namespace nnrt
