// Issue 23: one thread when two lose. On a shared machine another process can hold one of the
// cores; every parallel region of a step (each GEMM, each split kernel) then waits for the thread
// that lost its core, and a step on two threads can take 2-3x as long as on one. The governor
// picks, for a function that runs again and again (a train step), the faster of all threads and
// one, from the measured time of its runs: it runs the current choice, tries the other now and
// then (two runs, the better one counts), switches when the other is clearly faster, and tries
// less often while the choice holds (more often again when the times jump). A run whose thread
// waited for a core (Linux's run-queue delay, /proc/thread-self/schedstat) for a tenth of its
// time says another job has started: the other choice is tried at once, not after the interval,
// which short jobs (a few slow steps) would never reach.
#pragma once

#include <chrono>
#include <cstdint>

namespace nnrt {

class ThreadGovernor {
public:
  /// Chooses between `maxThreads` and 1.
  explicit ThreadGovernor(int maxThreads) : maxThreads_(maxThreads) {}

  /// Threads for the next run.
  int next();
  /// The wall time of the run that next() was asked for, and how long its thread waited for a
  /// core in that time.
  void record(double seconds, double waitedForCore = 0);

  /// Runs between tries of the other choice: the first, and the most.
  static constexpr int64_t kFirstInterval = 8, kMaxInterval = 512;
  /// Switch when the other choice takes less than this fraction of the current one's time.
  static constexpr double kSwitchBelow = 0.85;
  /// A run whose thread waited for a core this fraction of its time was contended.
  static constexpr double kContendedWait = 0.1;

private:
  int threadsOf(int arm) const { return arm == 0 ? maxThreads_ : 1; }
  void finishTry();

  int maxThreads_;
  int current_ = 0;             // 0: all threads, 1: one thread
  int tryRuns_ = 0;             // runs of the other choice left in this try (0: not trying)
  double tryBest_ = 0;          // the try's faster run
  double estimate_ = 0;         // the current choice's run time (moving average; 0: none yet)
  double lastTried_ = 0;        // estimate_ when the other choice was last tried
  int64_t runs_ = 0;            // runs recorded
  int64_t sinceTry_ = 0;
  int64_t interval_ = kFirstInterval;
  bool contended_ = false;       // the current choice's last run waited for a core
  bool triedContended_ = false;  // the last try was made while runs were contended
};

/// One governed run, as a scope: sets the OpenMP pool's threads (oneDNN's and the kernels') to
/// the governor's choice; on leaving, records the run's time and restores the pool's setting.
/// A null governor does nothing.
class GovernedRun {
public:
  explicit GovernedRun(ThreadGovernor *governor);
  ~GovernedRun();
  GovernedRun(const GovernedRun &) = delete;
  GovernedRun &operator=(const GovernedRun &) = delete;

private:
  ThreadGovernor *governor_;
  int before_ = 0;
  std::chrono::steady_clock::time_point start_;
  double waitedBefore_ = 0;
};

} // namespace nnrt
