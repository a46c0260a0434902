// The monitor the trainer talks to: it fans each event out to the sinks the flags chose, and
// runs the anomaly detector on the way (gradient-norm spikes after steps, over/underfitting after
// epochs), turning its findings into anomaly events for every sink.
//
//   MonitorOptions options;  options.reportPath = "run.html";
//   auto monitor = createMonitor(options, std::cout, /*classes=*/10, "mlp.plan");
//   monitor->stepEnd(step);  ...  monitor->runEnd();
#pragma once

#include "runtime/monitor/Anomaly.h"
#include "support/StatusOr.h"

#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace nnrt::monitor {

struct MonitorOptions {
  /// The terminal line: auto (a progress bar when `out` is a terminal, else nothing beyond the
  /// trainer's per-epoch lines), bar, plain (a line every 10% of an epoch), none. Anomaly
  /// warnings are printed in every mode.
  std::string progress = "auto";
  std::string metricsJsonl;    // --metrics-jsonl FILE
  std::string tensorboardDir;  // --tensorboard DIR
  std::string reportPath;      // --report FILE.html
  AnomalyConfig anomaly;
  /// TensorBoard writes under tensorboardDir/runName, so runs sharing a directory stay apart.
  std::string runName = "run";
  /// A resumed run: the checkpoint's step. The JSON lines and TensorBoard events written after
  /// it (by the run that was interrupted) are dropped and the files continued, so every step
  /// appears exactly once. -1: a new run, whose files start empty.
  int64_t resumeStep = -1;
  /// The report's configuration table and class names.
  std::vector<std::pair<std::string, std::string>> configuration;
  std::vector<std::string> classNames;
};

class Monitor {
public:
  explicit Monitor(AnomalyConfig config) : detector_(config) {}
  void add(std::unique_ptr<Hook> sink) { sinks_.push_back(std::move(sink)); }

  nnc::Status stepEnd(const StepEvent &event);
  nnc::Status evalEnd(const EvalEvent &event);
  /// Runs the epoch diagnosis first, so its warning precedes the epoch's own line.
  nnc::Status epochEnd(const EpochEvent &event);
  nnc::Status anomaly(const AnomalyEvent &event);
  nnc::Status sample(const SampleEvent &event);
  nnc::Status runEnd();

  /// Wall time spent in the calls above (the detector and every sink), plus what a caller adds
  /// for building the events: what monitoring costs the run.
  double seconds() const { return seconds_; }
  void addSeconds(double seconds) { seconds_ += seconds; }

private:
  AnomalyDetector detector_;
  std::vector<std::unique_ptr<Hook>> sinks_;
  double seconds_ = 0;
};

/// The sinks `options` asks for, writing to `out` (the terminal sink) and to files; errors name
/// the file that cannot be created. `classes` (0: unknown) sets the underfitting threshold,
/// half the loss of a uniform guess; `title` heads the report.
nnc::StatusOr<std::unique_ptr<Monitor>> createMonitor(const MonitorOptions &options,
                                                      std::ostream &out, int64_t classes,
                                                      const std::string &title);

/// The process's resident memory in bytes (/proc/self/statm), 0 where unknown.
int64_t residentBytes();
/// Seconds since the Unix epoch.
double wallTime();

} // namespace nnrt::monitor
