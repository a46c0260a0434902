// The governor's rules (ThreadGovernor.h says why it exists). The first run of a function is not
// counted (page faults, first-touch of the arena).
#include "runtime/ThreadGovernor.h"

#include <algorithm>
#include <cstdio>
#include <fcntl.h>
#include <omp.h>
#include <unistd.h>

namespace nnrt {
namespace {

/// Seconds the calling thread has waited on a run queue (the second field of Linux's
/// schedstat), or 0 where the kernel does not say. The file stays open: one pread per call.
double waitedForCoreSeconds() {
  thread_local int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  char text[128];
  ssize_t n = fd < 0 ? -1 : pread(fd, text, sizeof text - 1, 0);
  if (n <= 0)
    return 0;
  text[n] = '\0';
  unsigned long long onCpu = 0, waited = 0;
  return std::sscanf(text, "%llu %llu", &onCpu, &waited) == 2 ? double(waited) * 1e-9 : 0;
}

} // namespace

int ThreadGovernor::next() {
  if (maxThreads_ <= 1)
    return 1;
  // Contention that the last try did not see: try the other choice now.
  bool newlyContended = contended_ && !triedContended_ && current_ == 0;
  if (tryRuns_ == 0 && runs_ > 1 && (sinceTry_ >= interval_ || newlyContended)) {
    tryRuns_ = 2; // the first run after a switch may pay for caches the other core filled
    tryBest_ = 0;
  }
  return threadsOf(tryRuns_ > 0 ? 1 - current_ : current_);
}

void ThreadGovernor::record(double seconds, double waitedForCore) {
  if (maxThreads_ <= 1 || runs_++ == 0)
    return;
  if (tryRuns_ == 0)
    contended_ = waitedForCore > kContendedWait * seconds;
  if (tryRuns_ > 0) {
    tryBest_ = tryBest_ == 0 ? seconds : std::min(tryBest_, seconds);
    if (--tryRuns_ == 0)
      finishTry();
    return;
  }
  ++sinceTry_;
  estimate_ = estimate_ == 0 ? seconds : 0.7 * estimate_ + 0.3 * seconds;
  // The current choice's time moved since the last try (another job started or ended): look
  // again soon. The moving average, not one run: single runs jump at every preemption.
  if (lastTried_ > 0 && (estimate_ > 1.5 * lastTried_ || estimate_ < lastTried_ / 1.5))
    interval_ = std::min(interval_, 2 * kFirstInterval);
}

void ThreadGovernor::finishTry() {
  sinceTry_ = 0;
  triedContended_ = contended_;
  lastTried_ = estimate_;
  if (estimate_ > 0 && tryBest_ < kSwitchBelow * estimate_) {
    current_ = 1 - current_;
    estimate_ = lastTried_ = tryBest_;
    interval_ = kFirstInterval;
    return;
  }
  interval_ = std::min(2 * interval_, kMaxInterval);
}

GovernedRun::GovernedRun(ThreadGovernor *governor) : governor_(governor) {
  if (!governor_)
    return;
  before_ = omp_get_max_threads();
  omp_set_num_threads(governor_->next());
  waitedBefore_ = waitedForCoreSeconds();
  start_ = std::chrono::steady_clock::now();
}

GovernedRun::~GovernedRun() {
  if (!governor_)
    return;
  governor_->record(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
      waitedForCoreSeconds() - waitedBefore_);
  omp_set_num_threads(before_);
}

} // namespace nnrt
