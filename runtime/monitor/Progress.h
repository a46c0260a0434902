// The terminal sink: a progress bar redrawn in place (epoch, step, loss, LR, rate, time) when the output
// is a terminal, periodic plain lines on request, "warning: ..." lines for every anomaly and
// "sample at step S: ..." lines for a language model's generated text.
// The trainer's own per-epoch lines stay as they are; the bar is cleared before each.
#pragma once

#include "runtime/monitor/Hooks.h"

#include <chrono>
#include <ostream>

namespace nnrt::monitor {

enum class ProgressMode { None, Bar, Plain };

class ProgressSink : public Hook {
public:
  ProgressSink(std::ostream &out, ProgressMode mode) : out_(out), mode_(mode) {}

  nnc::Status onStepEnd(const StepEvent &event) override;
  nnc::Status onEvalEnd(const EvalEvent &event) override;
  nnc::Status onEpochEnd(const EpochEvent &event) override;
  nnc::Status onAnomaly(const AnomalyEvent &event) override;
  nnc::Status onSample(const SampleEvent &event) override;
  nnc::Status onRunEnd() override;

  /// "epoch 2/5  step 45/100  [#########...........]  loss 0.4321  lr 0.001  1234 samples/s
  /// 0:31<1:05" (elapsed < ETA)
  static std::string describe(const StepEvent &event, double samplesPerSecond,
                              double elapsedSeconds, double etaSeconds, int width);

private:
  void clearBar();

  std::ostream &out_;
  ProgressMode mode_;
  bool barShown_ = false;
  int64_t firstStep_ = -1;  // the run's (or resumed run's) first step, for the ETA
  double samples_ = 0;      // trained since then, for the mean rate
  std::chrono::steady_clock::time_point start_, lastDraw_;
};

} // namespace nnrt::monitor
