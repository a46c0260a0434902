// ProgressSink. The ETA is the remaining steps times the mean wall time per step since this
// process started training (evaluations included, so it does not undershoot); the rate is the
// samples trained since then over that time.
#include "runtime/monitor/Progress.h"

#include <cstdio>

namespace nnrt::monitor {

using nnc::Status;

namespace {

std::string clock(double seconds) {
  long long s = seconds > 0 ? static_cast<long long>(seconds + 0.5) : 0;
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%lld:%02lld", s / 60, s % 60);
  return text;
}

} // namespace

std::string ProgressSink::describe(const StepEvent &e, double samplesPerSecond,
                                   double elapsedSeconds, double etaSeconds, int width) {
  double fraction = e.stepsPerEpoch ? double(e.batchInEpoch) / double(e.stepsPerEpoch) : 0;
  int filled = int(fraction * width + 0.5);
  std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
  char text[256];
  std::snprintf(text, sizeof text,
                "epoch %lld/%lld  step %lld/%lld  [%s]  loss %.4f  lr %.4g  %.0f samples/s  %s<%s",
                static_cast<long long>(e.epoch), static_cast<long long>(e.epochs),
                static_cast<long long>(e.batchInEpoch), static_cast<long long>(e.stepsPerEpoch),
                bar.c_str(), e.loss, e.lr, samplesPerSecond, clock(elapsedSeconds).c_str(),
                clock(etaSeconds).c_str());
  return text;
}

Status ProgressSink::onStepEnd(const StepEvent &e) {
  auto now = std::chrono::steady_clock::now();
  if (firstStep_ < 0) {
    firstStep_ = e.step - 1;
    start_ = now;
  }
  samples_ += e.samplesPerSecond * e.stepSeconds;  // the step's global batch
  if (mode_ == ProgressMode::None)
    return Status();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double eta = double(e.totalSteps - e.step) * elapsed / double(e.step - firstStep_);
  double rate = elapsed > 0 ? samples_ / elapsed : 0;
  if (mode_ == ProgressMode::Bar) {
    // Redraw at most ten times a second: a terminal write per step would cost more than the step.
    if (barShown_ && now - lastDraw_ < std::chrono::milliseconds(100) &&
        e.batchInEpoch != e.stepsPerEpoch)
      return Status();
    lastDraw_ = now;
    out_ << "\r\x1b[2K" << describe(e, rate, elapsed, eta, 30) << std::flush;
    barShown_ = true;
    return Status();
  }
  int64_t tenth = std::max<int64_t>(e.stepsPerEpoch / 10, 1);
  if (e.batchInEpoch % tenth == 0 && e.batchInEpoch != e.stepsPerEpoch)
    out_ << "progress: " << describe(e, rate, elapsed, eta, 20) << std::endl;
  return Status();
}

void ProgressSink::clearBar() {
  if (!barShown_)
    return;
  out_ << "\r\x1b[2K" << std::flush;
  barShown_ = false;
}

Status ProgressSink::onEvalEnd(const EvalEvent &) {
  clearBar();
  return Status();
}

Status ProgressSink::onEpochEnd(const EpochEvent &) {
  clearBar();
  return Status();
}

Status ProgressSink::onAnomaly(const AnomalyEvent &event) {
  clearBar();
  if (event.kind == AnomalyEvent::NonFiniteLoss || event.kind == AnomalyEvent::NonFiniteValue)
    return Status();  // the trainer says it: an error that stops the run, or a skipped step
  out_ << "warning: " << event.message << "\n";
  return Status();
}

Status ProgressSink::onSample(const SampleEvent &event) {
  clearBar();
  // One line: the prompt, a bar, the generated text, with newlines and tabs shown as escapes.
  auto printable = [](const std::string &text) {
    std::string shown;
    for (char c : text)
      shown += c == '\n' ? "\\n" : c == '\t' ? "\\t" : std::string(1, c);
    return shown;
  };
  out_ << "sample at step " << event.step << ": " << printable(event.prompt) << "|"
       << printable(event.text) << "\n";
  return Status();
}

Status ProgressSink::onRunEnd() {
  clearBar();
  return Status();
}

} // namespace nnrt::monitor
