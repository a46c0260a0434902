// Monitor: the fan-out, the detector's place in it, and the sinks' construction from the flags.
#include "runtime/monitor/Monitor.h"

#include "runtime/monitor/HtmlReport.h"
#include "runtime/monitor/JsonLines.h"
#include "runtime/monitor/Progress.h"
#include "runtime/monitor/TensorBoard.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace nnrt::monitor {

using nnc::Status;

namespace {

/// Adds its lifetime to a Monitor's time.
class Timed {
public:
  explicit Timed(double &total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Timed() {
    total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

private:
  double &total_;
  std::chrono::steady_clock::time_point start_;
};

template <typename Event>
Status fanOut(std::vector<std::unique_ptr<Hook>> &sinks, const Event &event,
              Status (Hook::*method)(const Event &)) {
  for (auto &sink : sinks)
    if (Status s = ((*sink).*method)(event); !s.ok())
      return s;
  return Status();
}

} // namespace

Status Monitor::stepEnd(const StepEvent &event) {
  Timed timed(seconds_);
  if (Status s = fanOut(sinks_, event, &Hook::onStepEnd); !s.ok())
    return s;
  if (event.gradNorm && !event.skipped)
    if (std::optional<AnomalyEvent> spike =
            detector_.onGradNorm(event.step, event.epoch, *event.gradNorm))
      return anomaly(*spike);
  return Status();
}

Status Monitor::evalEnd(const EvalEvent &event) {
  Timed timed(seconds_);
  return fanOut(sinks_, event, &Hook::onEvalEnd);
}

Status Monitor::epochEnd(const EpochEvent &event) {
  Timed timed(seconds_);
  if (std::optional<AnomalyEvent> found =
          detector_.onEpoch(event.epoch, event.trainLoss, event.valLoss)) {
    found->step = event.step;
    if (Status s = anomaly(*found); !s.ok())
      return s;
  }
  return fanOut(sinks_, event, &Hook::onEpochEnd);
}

Status Monitor::anomaly(const AnomalyEvent &event) {
  Timed timed(seconds_);
  return fanOut(sinks_, event, &Hook::onAnomaly);
}

Status Monitor::sample(const SampleEvent &event) {
  Timed timed(seconds_);
  return fanOut(sinks_, event, &Hook::onSample);
}

Status Monitor::runEnd() {
  Status first;
  for (auto &sink : sinks_)  // close every sink, report the first failure
    if (Status s = sink->onRunEnd(); !s.ok() && first.ok())
      first = s;
  return first;
}

nnc::StatusOr<std::unique_ptr<Monitor>> createMonitor(const MonitorOptions &options,
                                                      std::ostream &out, int64_t classes,
                                                      const std::string &title) {
  AnomalyConfig anomaly = options.anomaly;
  if (anomaly.underfitLoss == 0 && classes > 1)
    anomaly.underfitLoss = 0.5 * std::log(double(classes));
  auto monitor = std::make_unique<Monitor>(anomaly);
  ProgressMode mode = ProgressMode::None;
  if (options.progress == "bar" ||
      (options.progress == "auto" && &out == &std::cout && ::isatty(STDOUT_FILENO)))
    mode = ProgressMode::Bar;
  else if (options.progress == "plain")
    mode = ProgressMode::Plain;
  monitor->add(std::make_unique<ProgressSink>(out, mode));
  if (!options.metricsJsonl.empty()) {
    nnc::StatusOr<std::unique_ptr<Hook>> sink = openJsonLines(options.metricsJsonl, options.resumeStep);
    if (!sink.ok())
      return sink.status();
    monitor->add(std::move(*sink));
  }
  if (!options.tensorboardDir.empty()) {
    nnc::StatusOr<std::unique_ptr<Hook>> sink = openTensorBoard(options.tensorboardDir, options.runName, options.resumeStep);
    if (!sink.ok())
      return sink.status();
    monitor->add(std::move(*sink));
  }
  if (!options.reportPath.empty())
    monitor->add(std::make_unique<HtmlReport>(options.reportPath, title, options.configuration,
                                              options.classNames));
  return monitor;
}

int64_t residentBytes() {
  FILE *file = std::fopen("/proc/self/statm", "r");
  if (!file)
    return 0;
  long long size = 0, resident = 0;
  int fields = std::fscanf(file, "%lld %lld", &size, &resident);
  std::fclose(file);
  return fields == 2 ? int64_t(resident) * int64_t(::sysconf(_SC_PAGESIZE)) : 0;
}

double wallTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

} // namespace nnrt::monitor
