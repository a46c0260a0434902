// The JSON-lines sink (--metrics-jsonl FILE): one object per event, "event" naming its kind
// ("step", "eval", "epoch", "anomaly", "sample"); non-finite numbers are null. Flushed at every
// evaluation and epoch end, so a plotting script can follow a running job. The fields of each
// kind are documented in docs/metrics-jsonl.md.
#pragma once

#include "runtime/monitor/Hooks.h"
#include "support/StatusOr.h"

#include <memory>

namespace nnrt::monitor {

/// `resumeStep` >= 0: continue the file of an interrupted run from that step (see
/// MonitorOptions::resumeStep); else start it empty.
nnc::StatusOr<std::unique_ptr<Hook>> openJsonLines(const std::string &path,
                                                   int64_t resumeStep = -1);

/// The JSON object for each event (no newline), for the sink and its tests.
std::string toJson(const StepEvent &event);
std::string toJson(const EvalEvent &event);
std::string toJson(const EpochEvent &event);
std::string toJson(const AnomalyEvent &event);
std::string toJson(const SampleEvent &event);

} // namespace nnrt::monitor
